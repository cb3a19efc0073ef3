// Command wsecho is a WebSocket echo server (RFC 6455) built on ws6455. It
// echoes every message with its own type (text stays text, binary stays
// binary), answers pings, echoes close codes, and serves a playground page
// at / where a person can connect, send messages and watch the events.
//
// Usage:
//
//	wsecho [-addr :8080] [-trace] [-deflate] [-deflate-takeover] [-max-message 16777216] [-mode events] [-tls CERT,KEY|auto] [-http2]
//
// The address defaults to :8080, or :$PORT when PORT is set. With -trace
// every frame read and written is printed in an annotated form, so a
// learner can watch the protocol on the wire. It logs with log/slog and
// shuts down gracefully on SIGINT or SIGTERM: every connection gets a
// 1001 "going away" close frame.
//
// permessage-deflate (RFC 7692) is accepted by default, without context
// takeover in either direction (handshake.DefaultDeflateConfig): the
// server asks every client for client_no_context_takeover, so an idle
// connection holds no compressor or decompressor. -deflate-takeover keeps
// the context instead, for a better ratio on small messages at up to
// 64 KiB per idle connection.
//
// By default it serves in event mode (server.EventHandler): an idle
// connection holds no goroutine and no buffer, which is what an echo
// service with many quiet clients wants. -mode goroutines serves with a
// goroutine per connection (server.Handler) instead, the simpler model
// to read; both echo alike.
//
// With -tls CERT,KEY (or -tls auto: a self-signed certificate for
// localhost made at start, for local use only; its SHA-256 fingerprint is
// logged) it serves HTTPS through net/http instead of its own listener,
// with HTTP/1.1 and HTTP/2 offered by ALPN. A browser that loaded the
// page over HTTP/2 opens its WebSockets as streams of that same
// connection (RFC 8441 extended CONNECT) rather than one TLS connection
// each; the page shows which it got. For that, net/http needs
// GODEBUG=http2xconnect=1 at start, so wsecho re-executes itself once
// with it (serve.HTTP2 in cmd/internal/serve explains why this is safe
// and what happens when it cannot); -http2=false serves HTTP/1.1 only. Each
// WebSocket is logged with how it arrived: request="CONNECT
// :protocol=websocket" (HTTP/2) or request="GET Upgrade: websocket"
// (HTTP/1.1). Over TLS, event mode serves each connection with a
// goroutine (there is no socket to poll under TLS or a stream), with the
// same callbacks.
package main

import (
	"context"
	"crypto/tls"
	"embed"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/cmd/internal/trace"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
)

//go:embed static
var static embed.FS

func main() { serve.Main("wsecho", run) }

// run starts the server and blocks until ctx ends, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("wsecho", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", serve.DefaultAddr(), "`address` to listen on (host:port); default :8080 or :$PORT")
	trace := fl.Bool("trace", false, "print every frame read and written (to stdout)")
	deflate := fl.Bool("deflate", true, "accept permessage-deflate compression (RFC 7692); on here, unlike wschat, because an echo service is where people try the extension")
	takeover := fl.Bool("deflate-takeover", false, "with -deflate, keep compression context between messages (RFC 7692 §7.1.1): better ratio for small similar messages, but each idle connection then keeps up to 32 KiB of window per direction; off: both sides are asked for no context takeover and an idle connection holds none")
	maxMsg := fl.Int64("max-message", frame.DefaultMaxMessageSize, "largest message accepted, in `bytes` (after decompression); -1 for no limit")
	origins := fl.Bool("any-origin", true, "accept browser connections from any Origin; on here, unlike wschat, because an echo service is public and holds nothing a foreign page could abuse; false enforces same-origin")
	logLevel := fl.String("log", "info", "log `level`: debug, info, warn, error")
	mode := fl.String("mode", "events", "serving `model`: events (no goroutine per idle connection) or goroutines (one per connection)")
	tlsSpec := fl.String("tls", "", serve.TLSFlagHelp)
	h2 := fl.Bool("http2", true, "with -tls, offer HTTP/2 (ALPN h2), over which browsers carry WebSockets as streams of one connection (RFC 8441); "+
		"needs GODEBUG=http2xconnect=1, which wsecho adds by re-executing itself once at start; false: HTTP/1.1 only")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "wsecho: a WebSocket echo server (RFC 6455) with a playground page at /\n\n")
		fmt.Fprintf(fl.Output(), "Usage: wsecho [flags]\n\nFlags:\n")
		fl.PrintDefaults()
		fmt.Fprintf(fl.Output(), "\nExamples:\n  wsecho                       listen on :8080, open http://localhost:8080/\n  wsecho -addr 127.0.0.1:9001  for the conformance runner: wsconform -url ws://127.0.0.1:9001\n  wsecho -trace                print every frame\n  wsecho -tls auto             HTTPS and HTTP/2 with a self-signed certificate (local use only): open https://localhost:8080/\n")
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see wsecho -h)", fl.Arg(0))
	}
	log, err := serve.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}

	// With -tls, decide about HTTP/2 first: serve.HTTP2 may re-execute
	// the process (its doc says why), which must happen before anything
	// is started.
	var tlsConfig *tls.Config
	var fingerprint string
	if *tlsSpec != "" {
		if tlsConfig, fingerprint, err = serve.TLSConfig(*tlsSpec); err != nil {
			return err
		}
		*h2 = serve.HTTP2(log, *h2, func() error { return reexec(log) })
	}

	sub, err := fs.Sub(static, "static")
	if err != nil {
		return err
	}
	conns := newConnLog(connLogSize)
	srv := &server.Server{
		Config: frame.Config{MaxMessageSize: *maxMsg},
		HTTP:   pages(http.FileServerFS(sub), conns),
		Logger: log,
	}
	// The Server header names the implementation, as Autobahn's reports
	// show it (its "agent"); without one they say UnknownServer.
	srv.Upgrader.ExtraHeaders = map[string][]string{"Server": {serverHeader}}
	switch *mode {
	case "events":
		srv.Events = echoEvents{log}
	case "goroutines":
		srv.Handler = server.HandlerFunc(echo)
	default:
		return fmt.Errorf("-mode %q: want events or goroutines", *mode)
	}
	if *origins {
		srv.Upgrader.CheckOrigin = func(*handshake.Request) bool { return true }
	}
	if *deflate {
		srv.Upgrader.Compression = handshake.DefaultDeflateConfig()
		if *takeover {
			srv.Upgrader.Compression.Mode = handshake.CompressionFull
		}
	}
	var t *tracer
	if *trace {
		t = &tracer{w: stdout}
		srv.Config.Trace = t.frame
	}
	ln, err := serve.Listen(srv, *addr)
	if err != nil {
		return err
	}
	if tlsConfig == nil {
		// The plain listener: the server accepts and upgrades by itself
		// (every WebSocket is HTTP/1.1 here); the handshake hook records
		// the ones the playground asks about.
		srv.TraceHandshake = func(remote net.Addr, req *handshake.Request, res *handshake.Result, err error) {
			if err == nil && req != nil && req.URL != nil && req.URL.RawQuery != "" {
				conns.add(req.URL.Query().Get("id"), connInfo{Proto: req.Proto, Request: http1Request})
			}
			if t != nil {
				t.handshake(remote, req, res, err)
			}
		}
		log.Info("listening", "addr", ln.Addr().String(), "page", pageURL(ln.Addr(), "http"), "deflate", *deflate, "deflate-takeover", *deflate && *takeover, "mode", *mode)
		return serve.Run(ctx, log, srv, ln)
	}
	if t != nil {
		srv.TraceHandshake = t.handshake
	}
	hs := newHTTPSServer(srv, tlsConfig, *h2, conns, log)
	log.Info("listening", "addr", ln.Addr().String(), "page", pageURL(ln.Addr(), "https"), "tls", *tlsSpec, "cert-sha256", fingerprint,
		"http2", *h2, "deflate", *deflate, "deflate-takeover", *deflate && *takeover, "mode", *mode)
	return serve.RunTLS(ctx, log, srv, hs, ln)
}

// reexec is serve.Reexec; tests, which run run in the test process,
// replace it.
var reexec = serve.Reexec

// echo sends every message back with its own opcode (RFC 6455 §5.6) until
// the connection closes. The buffer is reused, so echoing allocates
// nothing once it has grown to the largest message.
func echo(c *frame.Conn, _ *handshake.Result) {
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil {
			return
		}
		buf = msg
		if err := c.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// echoEvents is echo in event mode: the server calls OnMessage for each
// message that arrives, and no goroutine waits between messages.
type echoEvents struct{ log *slog.Logger }

func (echoEvents) OnOpen(*frame.Conn, *handshake.Result) {}

// OnMessage sends the message back with its own opcode (RFC 6455 §5.6).
// msg is the server's reused buffer, so echoing allocates nothing.
func (echoEvents) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	c.WriteMessage(op, msg) // an error ends the connection; OnClose follows
}

func (e echoEvents) OnClose(c *frame.Conn, err error) {
	e.log.Debug("connection closed", "remote", c.NetConn().RemoteAddr(), "code", int(frame.CloseStatus(err)), "err", err)
}

// serverHeader is sent in every response.
const serverHeader = "ws6455-wsecho"

// pages serves the playground with the Server header, and answers a plain
// GET of the WebSocket path, /ws (a browser tab opened on the socket's
// URL), with 426 Upgrade Required (RFC 6455 §4.2.2 uses it for a version
// the server does not speak; RFC 9110 §15.5.22 for "switch protocols
// first") and a sentence saying what the URL is for, instead of a 404.
//
// It also answers GET /conninfo?id=ID (see connLog).
func pages(files http.Handler, conns *connLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", serverHeader)
		switch r.URL.Path {
		case "/ws":
			ws, page := "ws", "http"
			if r.TLS != nil {
				ws, page = "wss", "https"
			}
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Version", "13")
			http.Error(w, "426 Upgrade Required: this is wsecho's WebSocket endpoint (RFC 6455). "+
				"Connect with a WebSocket client, e.g. new WebSocket(\""+ws+"://"+r.Host+"/ws\") in a browser, "+
				"wsc "+ws+"://"+r.Host+"/ws, or open "+page+"://"+r.Host+"/ for the playground.", http.StatusUpgradeRequired)
			return
		case "/conninfo":
			conns.serveHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// pageURL is the playground's address as a browser can open it: a
// listener on every address ([::]:8080, 0.0.0.0:8080) is reached at
// localhost.
func pageURL(a net.Addr, scheme string) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return scheme + "://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// tracer prints, for -trace, each opening handshake (RFC 6455 §4) and
// each frame (§5.2), so that a learner sees both parts of the protocol.
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *tracer) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func (t *tracer) frame(c *frame.Conn, dir frame.Direction, h frame.Header, p []byte) {
	t.printf("%s %s\n", c.NetConn().RemoteAddr(), trace.Frame(dir, h, p))
}

// handshake prints the request, how Sec-WebSocket-Accept is computed from
// the key (§4.2.2 step 5.4: base64(SHA-1(key + GUID))), and the answer.
func (t *tracer) handshake(remote net.Addr, req *handshake.Request, res *handshake.Result, err error) {
	t.printf("%s opening handshake (RFC 6455 §4):\n%s", remote, trace.Handshake(req, res, err))
}
