package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/server"
)

// This file is wsecho -tls: the playground and the echo on a net/http
// server over TLS, where a WebSocket arrives either as an HTTP/1.1
// upgrade (RFC 6455 §4.1), hijacked from its TLS connection, or as an
// HTTP/2 extended CONNECT (RFC 8441 §4), one stream of a connection that
// may carry many. server.Server.ServeHTTP handles both.

// The two ways a WebSocket opening handshake arrives, as the request log
// and /conninfo name them.
const (
	http1Request = "GET Upgrade: websocket"      // RFC 6455 §4.1
	http2Request = "CONNECT :protocol=websocket" // RFC 8441 §4
)

// newHTTPSServer is the net/http server of -tls (serve.HTTPSServer) with
// wsecho's handler, HTTP/2 if h2 (serve.HTTP2 decided it may).
func newHTTPSServer(ws *server.Server, cfg *tls.Config, h2 bool, conns *connLog, log *slog.Logger) *http.Server {
	hs := serve.HTTPSServer(ws, &httpsHandler{ws: ws, pages: ws.HTTP, conns: conns, log: log}, cfg, h2, log)
	// Each TLS connection gets a number, which the request log and
	// /conninfo show: WebSockets with the same number share one
	// connection (HTTP/2 streams, RFC 8441).
	var seq atomic.Uint64
	hs.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connNumKey{}, seq.Add(1))
	}
	return hs
}

type connNumKey struct{}

// httpsHandler routes the requests of wsecho's net/http server: every
// WebSocket opening handshake, on any path (as on the plain listener),
// goes to the WebSocket server, the rest to the pages. "Every" includes
// every CONNECT: that is what makes advertising
// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3) safe, since no handler
// of this server can receive an extended CONNECT it does not understand
// (golang/go#71128; see serve.HTTP2). A CONNECT that is
// not a WebSocket's is refused by the WebSocket server's handshake.
type httpsHandler struct {
	ws    *server.Server
	pages http.Handler
	conns *connLog
	log   *slog.Logger
}

func (h *httpsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var request string
	switch {
	case r.Method == http.MethodConnect:
		request = "CONNECT :protocol=" + r.Header.Get(":protocol")
	case server.IsWebSocketUpgrade(r):
		request = http1Request
	default:
		h.pages.ServeHTTP(w, r)
		return
	}
	num, _ := r.Context().Value(connNumKey{}).(uint64)
	id := r.URL.Query().Get("id")
	alpn := ""
	if r.TLS != nil {
		alpn = r.TLS.NegotiatedProtocol
	}
	h.log.Info("websocket request", "request", request, "proto", r.Proto, "path", r.URL.Path, "id", id, "conn", num, "alpn", alpn, "remote", r.RemoteAddr)
	h.conns.add(id, connInfo{Proto: r.Proto, Request: request, Conn: num, ALPN: alpn})
	h.ws.ServeHTTP(w, r)
}

// connLog remembers how the last WebSockets that carried an id in their
// URL (/ws?id=ID) arrived, so that a page can ask: GET /conninfo?id=ID.
// A browser shows a page script nothing of a WebSocket's transport, not
// even whether it rode on HTTP/1.1 or HTTP/2; the server knows. The echo
// itself stays a pure echo: the id is a query parameter it ignores, and
// the answer comes on a separate request. Ids are chosen by the page (128
// random bits), so one client cannot guess another's; the log is bounded
// (the oldest id is forgotten first).
type connLog struct {
	mu    sync.Mutex
	m     map[string]connInfo
	order []string // ring of ids, oldest at next
	next  int
	added chan struct{} // closed and replaced on every add
}

// connInfoWait is how long GET /conninfo waits for an id it does not know
// yet. On the plain path the id is recorded by Server.TraceHandshake,
// which runs just after the 101 has gone out, so a page that asks as soon
// as its socket opens can be a moment early.
const connInfoWait = 2 * time.Second

// connLogSize bounds connLog.
const connLogSize = 1024

// connInfo is what GET /conninfo answers, as JSON.
type connInfo struct {
	Proto   string `json:"proto"`          // "HTTP/1.1" or "HTTP/2.0"
	Request string `json:"request"`        // http1Request or http2Request
	Conn    uint64 `json:"conn,omitempty"` // the TLS connection's number (-tls only)
	ALPN    string `json:"alpn,omitempty"` // "h2", "http/1.1" (-tls only)
}

func newConnLog(n int) *connLog {
	return &connLog{m: make(map[string]connInfo, n), order: make([]string, n), added: make(chan struct{})}
}

// validID: 1 to 64 characters of [A-Za-z0-9_-].
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (l *connLog) add(id string, info connInfo) {
	if !validID(id) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[id]; !ok {
		if old := l.order[l.next]; old != "" {
			delete(l.m, old)
		}
		l.order[l.next] = id
		l.next = (l.next + 1) % len(l.order)
	}
	l.m[id] = info
	close(l.added)
	l.added = make(chan struct{})
}

func (l *connLog) get(id string) (connInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	info, ok := l.m[id]
	return info, ok
}

// wait is get, waiting up to max (or until ctx ends) for id to be added.
func (l *connLog) wait(ctx context.Context, id string, max time.Duration) (connInfo, bool) {
	t := time.NewTimer(max)
	defer t.Stop()
	for {
		l.mu.Lock()
		info, ok := l.m[id]
		added := l.added
		l.mu.Unlock()
		if ok {
			return info, true
		}
		select {
		case <-added:
		case <-t.C:
			return connInfo{}, false
		case <-ctx.Done():
			return connInfo{}, false
		}
	}
}

// serveHTTP answers GET /conninfo?id=ID with the connInfo as JSON, or
// 404 if no WebSocket with that id is remembered within connInfoWait.
func (l *connLog) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id := r.URL.Query().Get("id")
	if !validID(id) {
		http.Error(w, "400 want /conninfo?id=ID, the id given in the WebSocket's URL (1 to 64 of A-Z a-z 0-9 _ -)", http.StatusBadRequest)
		return
	}
	info, ok := l.wait(r.Context(), id, connInfoWait)
	if !ok {
		http.Error(w, "404 no WebSocket with this id (yet, or any more)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(info)
}
