// Command wschat is a 1-to-1 chat relay over WebSockets (RFC 6455) with a
// chat page at /: it serves ws6455's relay.Hub. Every connection gets an
// id from the server; a client sends {"to":"<id>","message":"..."} and the
// relay delivers it to that one client, then tells the sender whether it
// did.
//
// Usage:
//
//	wschat [-addr :8080] [-queue 256] [-stuck-timeout 10s] [-max-message 65536] [-tls CERT,KEY|auto] [-http2] ...
//
// The address defaults to :8080, or :$PORT when PORT is set. Open
// http://localhost:8080/ in two browser tabs, paste one tab's id into the
// other (or pick it from the Online list) and chat. WebSocket clients
// connect to ws://host:port/ws (any path is served by the relay).
//
// The protocol, with all its rules (envelopes, error codes, presence,
// delivery, closing, flow control, stuck clients), is the documentation of
// package server/relay:
//
//	go doc github.com/ws6455/ws6455/server/relay
//
// It logs with log/slog and shuts down gracefully on SIGINT or SIGTERM:
// every connection gets a 1001 "going away" close frame.
//
// With -tls CERT,KEY (or -tls auto: a self-signed certificate for
// localhost made at start, for local use only; its SHA-256 fingerprint is
// logged) it serves HTTPS through net/http instead of its own listener,
// with HTTP/1.1 and HTTP/2 offered by ALPN, as wsecho does: the page at /
// (and /healthz) as before, and the relay at wss://host:port/ws (any
// path), reached by an HTTP/1.1 upgrade (RFC 6455 §4.1) or, from a
// browser that loaded the page over HTTP/2, as a stream of that same
// connection (RFC 8441 extended CONNECT). For that, net/http needs
// GODEBUG=http2xconnect=1 at start, so wschat re-executes itself once
// with it (serve.HTTP2 in cmd/internal/serve explains why this is safe
// and what happens when it cannot); -http2=false serves HTTP/1.1 only.
//
// Several wschat processes make one relay when they share a NATS server or
// cluster: start each with -nats nats://HOST:4222 (and -nats-creds,
// -nats-tls-ca, -nats-tls-cert, -nats-tls-key, -nats-name as needed).
// Clients connect to any of them and talk to clients of all. Such a node
// serves GET /healthz: 200 with {"nats_connected":true,...} and the
// node's counts while it is connected to NATS, 503 while it is not. It
// logs its counts when they change shape (nodes seen or dropped, NATS
// lost or back) and every minute, and on shutdown it leaves the relay's
// presence before closing its clients with 1001. Without -nats, wschat
// is a single relay and needs nothing else. The rules across nodes
// (subjects, error codes bus_unavailable and bus_timeout, faults) are in
// package server/relay's documentation, "Several nodes".
package main

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
	"github.com/ws6455/ws6455/server/relay"
)

//go:embed static
var static embed.FS

func main() { serve.Main("wschat", run) }

const usageProtocol = `
Protocol: JSON objects in text messages, for example
  on connect  <- {"type":"welcome","id":"<your id>","max_message":65536}
  send        -> {"to":"<id>","ref":1,"message":"hi"}
  answer      <- {"type":"ack","to":"<id>","ref":1}  or  {"type":"error","code":"...",...}
The protocol with all its rules (error codes, presence, delivery, closing, stuck clients):
  go doc github.com/ws6455/ws6455/server/relay
`

// run starts the relay and blocks until ctx ends, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("wschat", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", serve.DefaultAddr(), "`address` to listen on (host:port); default :8080 or :$PORT")
	queue := fl.Int("queue", relay.DefaultQueueSize, "`messages` that may wait to be written to one connection")
	queueBytes := fl.Int("queue-bytes", relay.DefaultQueueBytes, "`bytes` of messages that may wait to be written to one connection")
	maxPending := fl.Int("max-pending", relay.DefaultMaxPending, "`requests` of one connection whose answers are not yet written to it; beyond, its requests wait")
	maxMsg := fl.Int("max-message", relay.DefaultMaxMessageSize, "largest request accepted, in `bytes` of JSON; larger ones are answered too_large")
	stuck := fl.Duration("stuck-timeout", relay.DefaultStuckTimeout, "close a connection with 1008 when a write to it stays blocked this long")
	deflate := fl.Bool("deflate", false, "accept permessage-deflate compression (RFC 7692), without context takeover as wsecho does (idle connections hold no compression state); off here, unlike wsecho, because short chat messages compress little without the shared window")
	anyOrigin := fl.Bool("any-origin", false, "accept browser connections from pages of any Origin; off here, unlike wsecho, so that a foreign page cannot chat as a visitor's browser (default: same origin only)")
	natsURL := fl.String("nats", "", "join the relay of the wschat nodes on this NATS `URL` (nats://host:4222; comma-separated for a cluster); default: a single relay")
	natsCreds := fl.String("nats-creds", "", "NATS credentials `file` (with -nats)")
	natsCA := fl.String("nats-tls-ca", "", "CA certificates `file` to verify the NATS server's TLS certificate (with -nats; implies TLS)")
	natsCert := fl.String("nats-tls-cert", "", "client certificate `file` for NATS TLS (with -nats and -nats-tls-key)")
	natsKey := fl.String("nats-tls-key", "", "client key `file` for NATS TLS (with -nats and -nats-tls-cert)")
	natsName := fl.String("nats-name", "", "this node's `name` in NATS and in logs (with -nats; default: the host name)")
	logLevel := fl.String("log", "info", "log `level`: debug (joins and leaves), info, warn, error")
	tlsSpec := fl.String("tls", "", serve.TLSFlagHelp)
	h2 := fl.Bool("http2", true, "with -tls, offer HTTP/2 (ALPN h2), over which browsers carry WebSockets as streams of one connection (RFC 8441); "+
		"needs GODEBUG=http2xconnect=1, which wschat adds by re-executing itself once at start; false: HTTP/1.1 only")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintf(w, "wschat: a 1-to-1 chat relay over WebSockets (RFC 6455) with a chat page at /\n\n")
		fmt.Fprintf(w, "Usage: wschat [flags]\n\nFlags:\n")
		fl.PrintDefaults()
		fmt.Fprint(w, usageProtocol)
		fmt.Fprintf(w, "\nExamples:\n  wschat                        listen on :8080; open http://localhost:8080/ in two tabs\n  wschat -addr 127.0.0.1:9002   WebSocket clients connect to ws://127.0.0.1:9002/ws\n"+
			"  wschat -tls auto              HTTPS and HTTP/2 with a self-signed certificate (local use only): open https://localhost:8080/\n")
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see wschat -h)", fl.Arg(0))
	}
	for name, v := range map[string]int{"queue": *queue, "queue-bytes": *queueBytes, "max-pending": *maxPending, "max-message": *maxMsg} {
		if v <= 0 {
			return fmt.Errorf("-%s must be positive", name)
		}
	}
	if *stuck <= 0 {
		return errors.New("-stuck-timeout must be positive")
	}
	if *natsURL == "" && (*natsCreds != "" || *natsCA != "" || *natsCert != "" || *natsKey != "" || *natsName != "") {
		return errors.New("the -nats-* flags need -nats")
	}
	if (*natsCert == "") != (*natsKey == "") {
		return errors.New("-nats-tls-cert and -nats-tls-key go together")
	}
	log, err := serve.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}
	// With -tls, decide about HTTP/2 first: serve.HTTP2 may re-execute
	// the process (its doc says why), which must happen before anything
	// is started (NATS, the listener).
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
	hub := &relay.Hub{
		QueueSize:      *queue,
		QueueBytes:     *queueBytes,
		MaxPending:     *maxPending,
		MaxMessageSize: *maxMsg,
		StuckTimeout:   *stuck,
		Logger:         log,
	}
	srv := &server.Server{
		Handler: hub,
		HTTP:    http.FileServerFS(sub),
		Logger:  log,
	}
	var node *relay.Node
	if *natsURL != "" {
		name := *natsName
		if name == "" {
			name, _ = os.Hostname()
		}
		opts := append(relay.NATSOptions(log), nats.Name("wschat "+name))
		if *natsCreds != "" {
			opts = append(opts, nats.UserCredentials(*natsCreds))
		}
		if *natsCA != "" {
			opts = append(opts, nats.RootCAs(*natsCA))
		}
		if *natsCert != "" {
			opts = append(opts, nats.ClientCert(*natsCert, *natsKey))
		}
		// RetryOnFailedConnect: a node starts while NATS is down and
		// joins when it comes up.
		nc, err := nats.Connect(*natsURL, opts...)
		if err != nil {
			return fmt.Errorf("-nats: %w", err)
		}
		defer nc.Close()
		if node, err = relay.JoinNATS(hub, nc, relay.NodeConfig{Name: name}); err != nil {
			return err
		}
		defer node.Leave() // at once if shutdown below did it already
		mux := http.NewServeMux()
		mux.Handle("/", srv.HTTP)
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { healthz(w, node) })
		srv.HTTP = mux
	}
	if *anyOrigin {
		srv.Upgrader.CheckOrigin = func(*handshake.Request) bool { return true }
	}
	if *deflate {
		srv.Upgrader.Compression = handshake.DefaultDeflateConfig()
	}
	ln, err := serve.Listen(srv, *addr)
	if err != nil {
		return err
	}
	serveUntil := func(ctx context.Context) error { return serve.Run(ctx, log, srv, ln) }
	if tlsConfig == nil {
		log.Info("listening", "addr", ln.Addr().String(), "page", "http://"+ln.Addr().String()+"/",
			"queue", *queue, "stuck_timeout", *stuck, "max_message", *maxMsg, "deflate", *deflate, "nats", *natsURL != "")
	} else {
		hs := serve.HTTPSServer(srv, webSockets(srv, srv.HTTP, log), tlsConfig, *h2, log)
		serveUntil = func(ctx context.Context) error { return serve.RunTLS(ctx, log, srv, hs, ln) }
		log.Info("listening", "addr", ln.Addr().String(), "page", "https://"+ln.Addr().String()+"/", "tls", *tlsSpec, "cert-sha256", fingerprint, "http2", *h2,
			"queue", *queue, "stuck_timeout", *stuck, "max_message", *maxMsg, "deflate", *deflate, "nats", *natsURL != "")
	}
	if node == nil {
		return serveUntil(ctx)
	}
	// On shutdown the node leaves presence first (the other nodes drop
	// its clients at once), then serve.Run (serve.RunTLS with -tls)
	// closes the clients with 1001.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	defer close(ran)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s := node.Stats()
				log.Info("relay: node stats", "node", s.Node, "nats_connected", s.Connected, "clients", s.Clients,
					"nodes", s.Nodes, "remote_clients", s.RemoteClients)
				continue
			case <-ctx.Done():
				node.Leave()
				cancel()
			case <-ran:
			}
			return
		}
	}()
	return serveUntil(runCtx)
}

// reexec is serve.Reexec; tests, which run run in the test process,
// replace it.
var reexec = serve.Reexec

// webSockets is the handler of wschat's net/http server (-tls): every
// WebSocket opening handshake, on any path as on the plain listener, goes
// to the relay's server ws, which answers both kinds (server.Server.ServeHTTP):
// the HTTP/1.1 upgrade (RFC 6455 §4.1) and every CONNECT, the extended
// CONNECT of RFC 8441 §4 among them (one that is not a WebSocket's is
// refused by the handshake). That no other handler ever receives an
// extended CONNECT is what makes advertising
// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3) safe: see serve.HTTP2.
// The rest goes to pages (the chat page, /healthz).
func webSockets(ws *server.Server, pages http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && !server.IsWebSocketUpgrade(r) {
			pages.ServeHTTP(w, r)
			return
		}
		log.Debug("websocket request", "method", r.Method, "proto", r.Proto, "path", r.URL.Path, "remote", r.RemoteAddr)
		ws.ServeHTTP(w, r)
	})
}

// healthz answers GET /healthz: 200 while the node is connected to NATS,
// 503 while it is not, with the node's counts in JSON.
func healthz(w http.ResponseWriter, node *relay.Node) {
	s := node.Stats()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !s.Connected {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(s)
}
