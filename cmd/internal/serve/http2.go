package serve

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/ws6455/ws6455/server"
)

// ReexecEnv marks a process started by Reexec, so that it never
// re-executes itself again (which would loop if GODEBUG had no effect).
const ReexecEnv = "WS6455_REEXEC_HTTP2XCONNECT"

// extendedConnectEnabled reports whether this process's net/http HTTP/2
// server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL. A variable so that
// tests can ask the other question.
var extendedConnectEnabled = server.ExtendedConnectEnabled

// HTTP2 decides whether a server that is about to serve TLS may offer
// HTTP/2, with want the -http2 flag. It returns true when net/http
// advertises extended CONNECT already. Otherwise, if want, it calls reexec
// (normally Reexec, which does not return when it succeeds); when that
// fails, or without want, it returns false: serve HTTP/1.1 only. It logs
// what it decided and why. Call it before listening or starting any
// goroutine that matters: Reexec replaces the process.
//
// WebSockets over HTTP/2 (RFC 8441) and GODEBUG=http2xconnect=1: what the
// binaries do, and why.
//
// A browser carries a WebSocket as a stream of an HTTP/2 connection
// (an extended CONNECT, RFC 8441 §4) only if the server's SETTINGS frame
// says SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (§3). net/http's HTTP/2
// server (Go 1.26) sends that setting, and accepts extended CONNECT
// requests, only if the environment variable GODEBUG contains
// http2xconnect=1 when the process starts: net/http reads it once, in its
// init function, with os.Getenv. A //go:debug directive does not reach it
// and setting the variable with os.Setenv in main is too late.
//
// The setting is off by default because of golang/go#71128: a server
// that advertised it while its handlers knew nothing of extended CONNECT
// made browsers send their WebSockets as CONNECT requests that the
// handlers then refused, so pages that had worked over HTTP/1.1 broke.
// The setting is a promise about every handler of the server, not about
// the process.
//
// The choices were: (a) document the variable and leave it to the user,
// so that `wsecho -tls auto` would serve HTTP/2 without WebSockets over it,
// silently, for everyone who did not read the documentation; (b) check at
// start-up and refuse to start, which makes every user type the variable;
// (c) turn it on from inside the binary. The binaries do (c), within the
// condition under which the promise holds:
//
//   - A binary that serves TLS with HTTP/2, and whose http.Server sends
//     every WebSocket request, an extended CONNECT included, on any path,
//     to a server.Server (which answers RFC 8441 requests: see
//     server.Server.ServeHTTP), re-executes itself once at start-up with
//     http2xconnect=1 appended to GODEBUG (Reexec), before it listens or
//     starts anything, and logs one line saying so. The promise then holds
//     because every handler handles extended CONNECT: exactly the
//     condition golang/go#71128 lacked.
//   - If the re-execution is impossible (no os.Executable, exec fails),
//     or was done and did not help (a Go whose net/http ignores the
//     variable), or the user set http2xconnect=0 explicitly, or -http2=false,
//     the binary serves HTTP/1.1 only over TLS and logs a warning that
//     says what to do. HTTP/2 without the setting would be safe (browsers
//     then open a separate HTTP/1.1 connection per WebSocket), but it
//     would hide the misconfiguration behind a page that says HTTP/2
//     while its WebSockets are not: -http2 asks for WebSockets over
//     HTTP/2, so without them the binary says so and serves the one
//     protocol it can serve fully. And it never advertises the setting
//     without handling it.
//
// Whether net/http advertises the setting is asked of net/http itself
// (server.ExtendedConnectEnabled), not read from GODEBUG by this package,
// so that the binaries stay right when a later Go turns it on by default:
// then they re-execute nothing. Library users, who own their http.Server
// and its other handlers, decide for themselves; the server package
// documents the variable.
func HTTP2(log *slog.Logger, want bool, reexec func() error) bool {
	if !want {
		log.Info("HTTP/2 off (-http2=false): serving HTTP/1.1 only over TLS; each WebSocket takes a TLS connection of its own")
		return false
	}
	if extendedConnectEnabled() {
		return true
	}
	err := reexec()
	log.Warn("serving HTTP/1.1 only over TLS: net/http does not advertise WebSockets over HTTP/2 (RFC 8441 SETTINGS_ENABLE_CONNECT_PROTOCOL) in this process, "+
		"and offering HTTP/2 without it is not what -http2 asks for; to get HTTP/2, start with GODEBUG=http2xconnect=1 in the environment, or pass -http2=false to silence this",
		"why", err)
	return false
}

// Reexec re-executes the running program with the same arguments and
// environment plus http2xconnect=1 in GODEBUG (and ReexecEnv=1), so that
// net/http's HTTP/2 server advertises extended CONNECT (see HTTP2). It does not return when it succeeds: the process image is
// replaced, keeping its process ID and open files (stdin, stdout,
// stderr); whatever the program did before is lost, so call it first. It
// returns an error saying why it did not re-execute.
func Reexec(log *slog.Logger) error {
	env, err := reexecEnv(os.Environ())
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot re-execute: %w", err)
	}
	log.Info("re-executing with GODEBUG=http2xconnect=1, so that browsers may carry WebSockets over HTTP/2 (RFC 8441); every handler of this server handles extended CONNECT",
		"exe", exe)
	err = syscall.Exec(exe, os.Args, env)
	return fmt.Errorf("cannot re-execute %s: %w", exe, err)
}

// reexecEnv is environ with http2xconnect=1 added to GODEBUG and the
// ReexecEnv marker set; an error if the process was re-executed already
// or the user turned the setting off in GODEBUG.
func reexecEnv(environ []string) ([]string, error) {
	env := make([]string, 0, len(environ)+2)
	godebug := ""
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case ReexecEnv:
			if v != "" {
				return nil, fmt.Errorf("already re-executed with GODEBUG=%q (%s is set), and net/http still does not advertise extended CONNECT: this Go does not know http2xconnect", os.Getenv("GODEBUG"), ReexecEnv)
			}
			continue
		case "GODEBUG":
			godebug = v
			continue
		}
		env = append(env, kv)
	}
	for s := range strings.SplitSeq(godebug, ",") {
		if k, v, _ := strings.Cut(strings.TrimSpace(s), "="); k == "http2xconnect" && v != "1" {
			return nil, fmt.Errorf("GODEBUG sets %s: the user turned extended CONNECT off", strings.TrimSpace(s))
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(env, "GODEBUG="+godebug+"http2xconnect=1", ReexecEnv+"=1"), nil
}
