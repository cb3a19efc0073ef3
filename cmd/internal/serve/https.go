package serve

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/ws6455/ws6455/server"
)

// HTTPSServer is the net/http server of a -tls flag: h, which must send
// every WebSocket request to ws (an HTTP/1.1 upgrade, RFC 6455 §4.1, and
// every CONNECT, so that an RFC 8441 §4 extended CONNECT never reaches a
// handler that does not know it: see HTTP2), served over TLS with cfg,
// with HTTP/1.1 and, if h2 (HTTP2 decided it may), HTTP/2, chosen by
// ALPN. Its timeouts and header limit are ws's. Serve it with RunTLS.
func HTTPSServer(ws *server.Server, h http.Handler, cfg *tls.Config, h2 bool, log *slog.Logger) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(h2)
	return &http.Server{
		Handler:   h,
		TLSConfig: cfg,
		Protocols: &protos,
		// No ReadTimeout or WriteTimeout: they would end WebSockets
		// (a stream's deadlines are the WebSocket server's business).
		ReadHeaderTimeout: durationOr(ws.HandshakeTimeout, server.DefaultHandshakeTimeout),
		IdleTimeout:       durationOr(ws.IdleTimeout, server.DefaultIdleTimeout),
		MaxHeaderBytes:    ws.Upgrader.Limits.MaxHeaderBlock(),
		// TLS handshake errors (a browser refusing the self-signed
		// certificate, say) are normal here: debug level.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
