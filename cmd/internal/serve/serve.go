// Package serve is what the server commands (wsecho, wschat) share around
// their server.Server: main with signal handling and exit codes, the
// listen address default, the log/slog logger from a -log level, and
// serving until the context ends followed by a graceful Shutdown.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/server"
)

// Main runs run with the command-line arguments until SIGINT or SIGTERM,
// and exits: 0 after -h, 1 with "name: error" on stderr after an error.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// DefaultAddr is the default of -addr: :8080, or :$PORT when PORT is set.
func DefaultAddr() string {
	if p := os.Getenv("PORT"); p != "" {
		return ":" + p
	}
	return ":8080"
}

// Logger is a text log/slog logger on w at the level named by a -log flag
// (debug, info, warn, error).
func Logger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Listen listens on addr for srv (server.Server.Listen: no TCP keep-alive
// under the server's own pings), with an error that says what to do.
func Listen(srv *server.Server, addr string) (net.Listener, error) {
	ln, err := srv.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w (is another process using the port? try -addr 127.0.0.1:0)", err)
	}
	return ln, nil
}

// Run serves srv on ln until ctx ends, then shuts it down: a 1001 close
// frame to every connection (RFC 6455 §7.4.1), waiting up to 5 s for the
// close handshakes. It logs each step; a listener error ends it early.
func Run(ctx context.Context, log *slog.Logger, srv *server.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: sending 1001 to every connection", "conns", srv.NumConns())
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	<-errc
	log.Info("stopped")
	return nil
}

// RunTLS serves hs over TLS on ln (hs.TLSConfig holds the certificate),
// with the WebSocket server ws mounted in hs's handler, until ctx ends;
// then it shuts both down within 5 s: ws sends 1001 to every WebSocket,
// those upgraded from HTTP/1.1 and those on HTTP/2 streams alike (RFC
// 6455 §7.4.1), while hs stops accepting, sends GOAWAY on its HTTP/2
// connections and closes connections as they fall idle. A listener error
// ends it early.
func RunTLS(ctx context.Context, log *slog.Logger, ws *server.Server, hs *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: sending 1001 to every connection", "conns", ws.NumConns())
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hsDone := make(chan error, 1)
	go func() { hsDone <- hs.Shutdown(sctx) }()
	if err := ws.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	if err := <-hsDone; err != nil {
		log.Warn("HTTP shutdown incomplete; closing what is left", "err", err)
		hs.Close()
	}
	<-errc
	log.Info("stopped")
	return nil
}
