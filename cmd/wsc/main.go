// Command wsc is a WebSocket client (RFC 6455) for the terminal and for
// scripts, in the spirit of wscat and websocat, built on ws6455.
//
//	wsc [flags] URL
//
// URL is ws:// or wss://; http:// and https:// are taken as ws:// and
// wss://, and a URL without a scheme (localhost:8080) as ws://.
//
// Each line read from stdin is sent as a text message (a binary one with
// -b); each message received is printed on stdout, text as is and binary as
// hex. When stdin ends, wsc starts the close handshake (RFC 6455 §7.1.2)
// with the --close status and exits once the server has answered; when
// the server closes first, wsc prints its close code and reason on
// stderr. With -x MESSAGE it sends one message, prints the first reply and
// exits.
//
// The exit status tells a script what happened: 0 success, 1 no reply to
// -x or another failure, 2 usage error, 3 the opening handshake failed
// (connection refused, TLS, proxy, an HTTP status other than 101), 4 the
// connection ended abnormally. Run wsc -h for the flags and details.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// Exit statuses, documented in usage.
const (
	exitOK        = 0 // closed normally, or -x got its reply
	exitFailure   = 1 // -x got no reply, stdin could not be read, interrupted while connecting
	exitUsage     = 2 // bad flags, URL, header, close code, --cacert file
	exitHandshake = 3 // RFC 6455 §4.1 failed: TCP, proxy, TLS, non-101, bad 101
	exitAbnormal  = 4 // the connection ended other than normally (§7.1.5, §7.4)
)

const usage = `wsc: a WebSocket client (RFC 6455) for the terminal and for scripts

Usage: wsc [flags] URL

URL is ws://host[:port]/path or wss://host[:port]/path; http:// is taken as
ws://, https:// as wss://, and a URL without a scheme (localhost:8080,
example.com/chat) as ws://. Each line read from stdin is sent as a text
message (binary with -b); each message received is printed on stdout, one
per line: text as is, binary as hex (raw bytes, with no newline, with
--raw). When stdin ends, wsc sends a close frame (--close) and exits once
the server has answered. When the server closes first, wsc prints its close
code and reason on stderr. Flags may come after the URL.

Messages:
  -b, --binary               send each stdin line as a binary message
      --raw                  print binary messages as raw bytes instead of hex
  -x, --execute MESSAGE      send MESSAGE, print the first reply, close, exit.
                             The reply is the first message received after
                             connecting; a server that greets first (wschat
                             sends a welcome) needs --match
      --match REGEXP         with -x: the reply is the first message that
                             matches REGEXP (Go syntax); others are skipped
      --timeout DURATION     with -x: how long to wait for the reply (default 10s);
                             without -x: close after DURATION (default: no limit)
      --close CODE[:REASON]  close status sent when stdin ends or after -x
                             (default 1000; 1000-1003, 1007-1014, 3000-4999)
      --ping DURATION        send a ping every DURATION and print each pong's
                             round-trip time on stderr
      --max-message BYTES    largest message accepted (default 16777216; -1: no limit)

Opening handshake:
  -H, --header 'Name: value' add a request header (repeatable)
  -s, --subprotocol PROTO    offer a subprotocol (repeatable, most preferred first)
      --origin ORIGIN        send an Origin header, as a browser does
      --compress             offer permessage-deflate (RFC 7692); off by default
      --http2[=MODE]         open the WebSocket on an HTTP/2 stream (RFC 8441 extended
                             CONNECT): --http2 or --http2=prefer falls back to
                             HTTP/1.1 when the server does not offer it (as browsers
                             and curl --http2 do) and says on stderr which was
                             used; --http2=require fails instead (exit 3).
                             wss:// negotiates h2 in TLS; ws:// speaks HTTP/2 with
                             prior knowledge (h2c). A Go server offers it only when
                             started with GODEBUG=http2xconnect=1
      --handshake-timeout DURATION
                             limit for TCP, proxy, TLS and handshake (default 10s)
      --proxy URL            HTTP proxy to tunnel through with CONNECT (default:
                             HTTP_PROXY for ws://, HTTPS_PROXY for wss://, NO_PROXY)

TLS (wss://):
  -k, --insecure             do not verify the server's certificate
      --cacert FILE          trust the CA certificates in FILE (PEM) instead of
                             the system's

Diagnostics (on stderr):
      --show-frames          print every frame sent and received, annotated
                             with the fields of RFC 6455 §5.2 (as wsecho -trace)
  -v, --verbose              print the handshake request and response, and logs
  -h, --help                 print this help

Exit status:
  0  success: the connection was closed normally, by the server with 1000,
     1001 or no status (1005), or by wsc with the server answering; with -x,
     the reply was printed
  1  -x got no reply (--timeout passed, or the server closed first);
     stdin could not be read; interrupted before the connection was open
  2  usage error: bad flag, URL, header, close code, --cacert file
  3  the opening handshake failed: connection refused, DNS, proxy, TLS, an
     invalid 101, or a status other than 101 (its status, header fields
     and the first 4096 bytes of its body are printed)
  4  abnormal close: the server closed with a code other than 1000/1001,
     wsc failed the connection on a protocol violation, the TCP connection
     ended without a close frame (1006), or the server did not answer
     wsc's close frame in time

Ctrl-C closes the connection with 1001 (going away); a second one quits at once.

Examples:
  wsc ws://localhost:8080/ws                       interactive
  wsc localhost:8080                               the same as ws://localhost:8080/
  echo hello | wsc ws://localhost:8080/ws          send one line, print the echo
  wsc -x '{"op":"status"}' --timeout 5s wss://example.com/api
  wsc -x '{"type":"list","ref":1}' --match '"ref":1' ws://localhost:8080/ws
                                                   ask wschat, skip its welcome
  wsc -H 'Authorization: Bearer TOKEN' -s chat.v1 wss://example.com/chat
  wsc --show-frames -x hi ws://localhost:8080/ws   watch the frames on the wire
  wsc -b --raw ws://localhost:8080/ws < lines > replies.bin
  wsc --http2 -k -x hi wss://localhost:8443/ws     over HTTP/2 if the server offers it
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default action so that a
		// second Ctrl-C ends wsc at once, even mid close handshake.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	url         *url.URL
	binary      bool
	raw         bool
	execute     *string
	match       *regexp.Regexp
	timeout     time.Duration
	timeoutSet  bool
	closeCode   frame.CloseCode
	closeReason string
	ping        time.Duration
	maxMessage  int64

	header      map[string][]string
	protocols   []string
	origin      string
	compress    bool
	http2       handshake.HTTP2Mode
	hsTimeout   time.Duration
	proxy       string
	insecure    bool
	cacert      string
	showFrames  bool
	verbose     bool
	defaultTime time.Duration // -x reply wait when --timeout is not given

	spelled spelling // how the flags were typed, for messages
}

// spelling records how each flag was typed on the command line: "--close"
// or "-close" (the flag package accepts both), so that messages name a
// flag the way the user wrote it.
type spelling map[string]string

// of returns how the flag with these names (aliases, short first) was
// typed last, or its usual spelling if it was not typed.
func (sp spelling) of(names ...string) string {
	for _, n := range names {
		if typed, ok := sp[n]; ok {
			return typed
		}
	}
	if n := names[0]; len(n) == 1 {
		return "-" + n
	}
	return "--" + names[0]
}

// scanSpelling reads how each flag of fl is typed in args, following the
// flag package's grammar: "-name" or "--name", "=value" or a value in the
// next argument unless the flag is boolean; "--" ends the flags.
func scanSpelling(fl *flag.FlagSet, args []string) spelling {
	sp := spelling{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue // the URL
		}
		dashes := "-"
		if a[1] == '-' {
			dashes = "--"
		}
		name, _, hasValue := strings.Cut(a[len(dashes):], "=")
		f := fl.Lookup(name)
		if f == nil {
			continue
		}
		sp[name] = dashes + name
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && (!ok || !bf.IsBoolFlag()) {
			i++ // the next argument is the value
		}
	}
	return sp
}

// flagErrRe matches the flag package's errors that name a flag as "-name".
var flagErrRe = regexp.MustCompile(`^(flag provided but not defined: |flag needs an argument: |invalid value "(?:[^"\\]|\\.)*" for flag |invalid boolean value "(?:[^"\\]|\\.)*" for )-([^\s:]+)(.*)$`)

// respell rewrites a flag package error to name the flag as it was typed
// (the flag package always writes "-name"). consumed are the arguments the
// failed Parse took, the offending flag last or next to last.
func respell(err error, consumed []string) error {
	m := flagErrRe.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	name := m[2]
	typed := "-" + name
	for i := len(consumed) - 1; i >= 0; i-- {
		a := consumed[i]
		if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == name && strings.HasPrefix(a, "-") {
			typed = a[:len(a)-len(strings.TrimLeft(a, "-"))] + name
			break
		}
	}
	return errors.New(m[1] + typed + m[3])
}

// headerFlag collects -H 'Name: value'.
type headerFlag struct{ h map[string][]string }

func (f *headerFlag) String() string { return "" }

func (f *headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("header %q is not 'Name: value'", s)
	}
	f.h[name] = append(f.h[name], strings.TrimSpace(value))
	return nil
}

// listFlag collects a repeatable string flag.
type listFlag struct{ p *[]string }

func (f listFlag) String() string     { return "" }
func (f listFlag) Set(s string) error { *f.p = append(*f.p, s); return nil }

// closeFlag parses CODE[:REASON] (RFC 6455 §7.4, §5.5.1).
type closeFlag struct{ o *options }

func (f closeFlag) String() string { return "" }

func (f closeFlag) Set(s string) error {
	codeStr, reason, _ := strings.Cut(s, ":")
	n, err := strconv.ParseUint(codeStr, 10, 16)
	if err != nil {
		return fmt.Errorf("close code %q is not a number", codeStr)
	}
	code := frame.CloseCode(n)
	if !code.ValidOnWire() {
		return fmt.Errorf("close code %d may not be sent (RFC 6455 §7.4: use 1000-1003, 1007-1014 or 3000-4999)", n)
	}
	if !utf8.ValidString(reason) {
		return errors.New("close reason is not valid UTF-8 (RFC 6455 §5.5.1)")
	}
	if len(reason) > frame.MaxControlPayload-2 {
		return fmt.Errorf("close reason is %d bytes; at most %d fit in a close frame (RFC 6455 §5.5)", len(reason), frame.MaxControlPayload-2)
	}
	f.o.closeCode, f.o.closeReason = code, reason
	return nil
}

// http2Flag parses --http2[=prefer|require]; bare --http2 is prefer.
type http2Flag struct{ o *options }

func (f http2Flag) String() string   { return "" }
func (f http2Flag) IsBoolFlag() bool { return true }

func (f http2Flag) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "prefer":
		f.o.http2 = handshake.HTTP2Prefer
	case "require":
		f.o.http2 = handshake.HTTP2Require
	case "false", "off":
		f.o.http2 = handshake.HTTP2Off
	default:
		return fmt.Errorf("%q: want prefer or require", s)
	}
	return nil
}

// executeFlag records -x, which may be an empty message.
type executeFlag struct{ o *options }

func (f executeFlag) String() string     { return "" }
func (f executeFlag) Set(s string) error { f.o.execute = &s; return nil }

// matchFlag parses --match.
type matchFlag struct{ o *options }

func (f matchFlag) String() string { return "" }

func (f matchFlag) Set(s string) error {
	re, err := regexp.Compile(s)
	if err != nil {
		return fmt.Errorf("not a regular expression: %w", err)
	}
	f.o.match = re
	return nil
}

// parseDuration is time.ParseDuration with an error that shows the form.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration: write it like 500ms, 30s or 2m")
	}
	return d, nil
}

// durationFlag is a time.Duration flag with parseDuration's error.
type durationFlag struct{ p *time.Duration }

func (f durationFlag) String() string { return "" }

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err == nil {
		*f.p = d
	}
	return err
}

// timeoutFlag records --timeout and whether it was given.
type timeoutFlag struct{ o *options }

func (f timeoutFlag) String() string { return "" }

func (f timeoutFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("negative duration")
	}
	f.o.timeout, f.o.timeoutSet = d, true
	return nil
}

// parseArgs parses the command line. Flags may come before and after the
// URL; "--" ends the flags.
func parseArgs(args []string) (*options, error) {
	o := &options{
		closeCode:   frame.CloseNormal,
		maxMessage:  frame.DefaultMaxMessageSize,
		header:      map[string][]string{},
		hsTimeout:   10 * time.Second,
		defaultTime: 10 * time.Second,
	}
	fl := newFlagSet(o)
	o.spelled = scanSpelling(fl, args)
	sp := o.spelled

	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, respell(err, args[:len(args)-len(fl.Args())])
		}
		rest := fl.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch len(pos) {
	case 0:
		return nil, errors.New("no URL given")
	case 1:
	default:
		return nil, fmt.Errorf("one URL expected, got %d arguments: %q", len(pos), pos)
	}
	u, err := parseURL(pos[0])
	if err != nil {
		return nil, err
	}
	o.url = u
	if o.ping < 0 {
		return nil, fmt.Errorf("%s: negative duration", sp.of("ping"))
	}
	if o.maxMessage == 0 || o.maxMessage < -1 {
		return nil, fmt.Errorf("%s must be positive, or -1 for no limit", sp.of("max-message"))
	}
	if o.origin != "" {
		for k := range o.header {
			if strings.EqualFold(k, "Origin") {
				return nil, fmt.Errorf("both %s and %s 'Origin: ...' given; use one", sp.of("origin"), sp.of("H", "header"))
			}
		}
		o.header["Origin"] = []string{o.origin}
	}
	if o.match != nil && o.execute == nil {
		return nil, fmt.Errorf("%s goes with -x: it picks which message is the reply", sp.of("match"))
	}
	if o.execute != nil && !o.timeoutSet {
		o.timeout = o.defaultTime
	}
	if o.execute != nil && !o.binary && !utf8.ValidString(*o.execute) {
		return nil, fmt.Errorf("%s: a text message must be valid UTF-8 (RFC 6455 §5.6); use -b for binary", sp.of("x", "execute"))
	}
	// Build the request once now, so that a bad header, subprotocol or URL
	// is a usage error rather than a failed handshake.
	hs := handshake.ClientHandshake{URL: u, Key: handshake.NewKey(), Protocols: o.protocols, Header: o.header}
	if o.compress {
		hs.Compression = &handshake.DeflateOffer{}
	}
	if _, err := hs.AppendRequest(nil); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "handshake: "))
	}
	return o, nil
}

// parseURL reads the URL argument as wscat and websocat do: ws:// and
// wss:// as they are; http:// as ws:// and https:// as wss:// (the same
// connection, RFC 6455 §3: "ws" and "wss" use HTTP's ports and TLS
// rules); and an argument without a scheme, such as localhost:8080 or
// example.com/chat, as ws://.
func parseURL(arg string) (*url.URL, error) {
	const form = "type ws://host[:port]/path or wss://host[:port]/path"
	raw := arg
	if !strings.Contains(raw, "://") {
		raw = "ws://" + strings.TrimPrefix(raw, "//")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("URL %q: %v; %s", arg, err, form)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("URL %q: the scheme must be ws://, wss://, http:// or https:// (none means ws://)", arg)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host; %s", arg, form)
	}
	return u, nil
}

// newFlagSet defines wsc's flags on o. Long names have single-letter
// aliases where wscat, websocat or curl have them; usage lists them all.
func newFlagSet(o *options) *flag.FlagSet {
	fl := flag.NewFlagSet("wsc", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.Usage = func() {}
	both := func(short, long string, v flag.Value) {
		if short != "" {
			fl.Var(v, short, "")
		}
		fl.Var(v, long, "")
	}
	boolBoth := func(p *bool, short, long string) {
		if short != "" {
			fl.BoolVar(p, short, false, "")
		}
		fl.BoolVar(p, long, false, "")
	}
	boolBoth(&o.binary, "b", "binary")
	boolBoth(&o.raw, "", "raw")
	both("x", "execute", executeFlag{o})
	both("", "timeout", timeoutFlag{o})
	both("", "match", matchFlag{o})
	both("", "close", closeFlag{o})
	fl.Var(durationFlag{&o.ping}, "ping", "")
	fl.Int64Var(&o.maxMessage, "max-message", o.maxMessage, "")
	both("H", "header", &headerFlag{o.header})
	both("s", "subprotocol", listFlag{&o.protocols})
	fl.StringVar(&o.origin, "origin", "", "")
	boolBoth(&o.compress, "", "compress")
	fl.Var(http2Flag{o}, "http2", "")
	fl.Var(durationFlag{&o.hsTimeout}, "handshake-timeout", "")
	fl.StringVar(&o.proxy, "proxy", "", "")
	boolBoth(&o.insecure, "k", "insecure")
	fl.StringVar(&o.cacert, "cacert", "", "")
	boolBoth(&o.showFrames, "", "show-frames")
	boolBoth(&o.verbose, "v", "verbose")
	return fl
}

// run is wsc: it parses args, dials, and runs the session until the
// connection ends, returning the exit status. Tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	errw := &syncWriter{w: stderr}
	o, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(errw, "wsc: %v\nRun 'wsc -h' for help.\n", err)
		return exitUsage
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	s := &session{
		o:      o,
		stdout: stdout,
		errw:   errw,
		log:    slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: level})),
	}
	d, err := s.dialer()
	if err != nil {
		fmt.Fprintf(errw, "wsc: %v\n", err)
		return exitUsage
	}
	var rec *recordingConn
	if o.verbose {
		// Record the bytes of the handshake to print them (see verbose.go).
		d.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			nc, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			rec = &recordingConn{Conn: nc}
			return rec, nil
		}
	}

	s.log.Debug("connecting", "url", o.url.Redacted(), "handshake_timeout", o.hsTimeout)
	c, resp, err := d.Dial(ctx, o.url.String())
	if o.verbose {
		s.printHandshake(rec, resp)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(errw, "wsc: interrupted while connecting: %v\n", err)
			return exitFailure
		}
		var se *handshake.StatusError
		if errors.As(err, &se) && se.Response != nil {
			s.printRefused(se.Response)
			return exitHandshake
		}
		fmt.Fprintf(errw, "wsc: %v%s\n", err, handshakeHint(err))
		return exitHandshake
	}
	s.c = c
	if o.http2 == handshake.HTTP2Prefer {
		// --http2 may have fallen back: say which protocol carried the
		// WebSocket.
		if resp.Proto == handshake.ProtoHTTP2 {
			fmt.Fprintf(errw, "wsc: connected over HTTP/2 (RFC 8441 extended CONNECT)\n")
		} else {
			fmt.Fprintf(errw, "wsc: the server does not offer WebSocket over HTTP/2; connected over %s\n", resp.Proto)
		}
	}
	s.logConnected(resp)
	return s.run(ctx, stdin)
}

// handshakeHint suggests a fix for common handshake failures.
func handshakeHint(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.Is(err, handshake.ErrExtendedConnectUnsupported):
		return " (--http2=prefer falls back to HTTP/1.1)"
	case errors.As(err, &ua):
		return " (trust the server's CA with --cacert FILE, or skip verification with --insecure)"
	case errors.As(err, &hn), errors.As(err, &ci):
		return " (skip verification with --insecure)"
	}
	return ""
}

// printRefused reports a server's answer other than 101 (RFC 6455 §4.1
// step 1): the status with a hint for the common cases, the header fields
// (unless -v printed them already) and the start of the body, e.g.
//
//	wsc: handshake refused: 403 Forbidden (a server may refuse an Origin: see --origin)
//	< HTTP/1.1 403 Forbidden
//	< Content-Length: 19
//	<
//	origin not allowed
func (s *session) printRefused(resp *handshake.Response) {
	var b strings.Builder
	_, status, _ := strings.Cut(resp.StatusLine, " ")
	if len(status) == 3 {
		// No reason phrase: use the usual one.
		if t := handshake.StatusText(resp.StatusCode); t != "" {
			status += " " + t
		}
	}
	b.WriteString("wsc: handshake refused: ")
	b.WriteString(status)
	b.WriteString(refusalHint(resp))
	b.WriteByte('\n')
	if !s.o.verbose {
		for _, l := range responseLines(resp) {
			b.WriteString("< ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteString("<\n")
	}
	if len(resp.Body) > 0 {
		body := printable(resp.Body)
		b.WriteString(body)
		if !strings.HasSuffix(body, "\n") {
			b.WriteByte('\n')
		}
	}
	if resp.BodyTruncated {
		fmt.Fprintf(&b, "wsc: (the body is cut here: wsc shows at most %d bytes of it, as they arrive within --handshake-timeout)\n", handshake.MaxErrorBody)
	}
	s.errw.Write([]byte(b.String()))
}

// refusalHint suggests what to do about a refused handshake.
func refusalHint(resp *handshake.Response) string {
	h := resp.Header
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return " (the server did not switch protocols: is the URL a WebSocket endpoint?)"
	case code >= 300 && code < 400:
		if loc := h.Get("Location"); loc != "" {
			return " (wsc does not follow redirects; the server points to " + strconv.Quote(loc) + ")"
		}
		return " (wsc does not follow redirects)"
	case code == 401:
		return " (send credentials: -H 'Authorization: ...')"
	case code == 403:
		return " (a server may refuse an Origin: see --origin)"
	case code == 404:
		return " (check the URL's path)"
	case code == 426:
		// RFC 6455 §4.4: the server lists the versions it speaks.
		if v := h.Get("Sec-Websocket-Version"); v != "" && strings.TrimSpace(v) != "13" {
			return " (the server speaks Sec-WebSocket-Version " + v + "; wsc speaks 13)"
		}
	case code == 429 || code == 503:
		if v := h.Get("Retry-After"); v != "" {
			return " (retry after " + v + ")"
		}
	}
	return ""
}

// printable makes a body from the network safe to print on a terminal:
// CRLF becomes LF, tabs and newlines stay, and other control characters
// and bytes that are not UTF-8 are shown as Go escapes (\x1b, \u0085).
func printable(p []byte) string {
	var b strings.Builder
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == '\r' && len(p) > 1 && p[1] == '\n':
			// dropped: the '\n' follows
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", p[0])
		case unicode.IsControl(r):
			if r < 0x80 {
				fmt.Fprintf(&b, "\\x%02x", r)
			} else {
				fmt.Fprintf(&b, "\\u%04x", r)
			}
		default:
			b.Write(p[:n])
		}
		p = p[n:]
	}
	return b.String()
}

// dialer builds the handshake.Dialer from the options.
func (s *session) dialer() (*handshake.Dialer, error) {
	o := s.o
	d := &handshake.Dialer{
		Header:           o.header,
		Protocols:        o.protocols,
		HandshakeTimeout: o.hsTimeout,
		Proxy:            handshake.ProxyFromEnvironment,
		HTTP2:            o.http2,
		FrameConfig: frame.Config{
			MaxMessageSize: o.maxMessage,
			OnPong:         s.onPong,
		},
	}
	if o.hsTimeout == 0 {
		d.HandshakeTimeout = -1 // --handshake-timeout 0: no limit
	}
	if o.compress {
		d.Compression = &handshake.DeflateOffer{}
	}
	if o.showFrames {
		d.FrameConfig.Trace = s.traceFrame
	}
	if o.proxy != "" {
		pu, err := url.Parse(o.proxy)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("%s %q: want http://host:port or https://host:port", o.spelled.of("proxy"), o.proxy)
		}
		d.Proxy = handshake.ProxyURL(pu)
	}
	if o.insecure || o.cacert != "" {
		cfg := &tls.Config{InsecureSkipVerify: o.insecure}
		if o.cacert != "" {
			pem, err := os.ReadFile(o.cacert)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", o.spelled.of("cacert"), err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s %s: no PEM certificate found", o.spelled.of("cacert"), o.cacert)
			}
			cfg.RootCAs = pool
		}
		d.TLSClientConfig = cfg
	}
	return d, nil
}

// syncWriter serialises writes to stderr, which several goroutines share:
// the reader (frames, pongs), writers (frames) and the logger.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
