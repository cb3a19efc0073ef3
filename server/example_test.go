package server_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
)

// dialEcho connects to url, sends msg and returns the reply.
func dialEcho(url, msg string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := handshake.DefaultDialer.Dial(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(frame.OpText, []byte(msg))
	_, reply, err := c.ReadMessage(nil)
	if err != nil {
		log.Fatal(err)
	}
	return string(reply)
}

// An echo server mounted on a net/http mux, the way a gorilla or coder
// program is written: three imports, frame (messages), handshake (the
// result of the opening handshake) and server (serving).
func ExampleServer_ServeHTTP() {
	ws := &server.Server{Handler: server.HandlerFunc(func(c *frame.Conn, hs *handshake.Result) {
		var buf []byte
		for {
			op, msg, err := c.ReadMessage(buf)
			if err != nil {
				return // the peer's close, or 1006: frame.CloseStatus(err)
			}
			buf = msg
			c.WriteMessage(op, msg)
		}
	})}
	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer ws.Shutdown(context.Background())

	fmt.Println(dialEcho("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", "hello"))
	// Output: hello
}

// Upgrade in a handler of one's own: header fields set on w.Header() (a
// cookie) go out in the 101, and the handler owns the connection.
func ExampleServer_Upgrade() {
	ws := &server.Server{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !server.IsWebSocketUpgrade(r) {
			fmt.Fprintln(w, "a page")
			return
		}
		w.Header().Set("Set-Cookie", "session=42")
		c, _, err := ws.Upgrade(w, r)
		if err != nil {
			return // the error response has been written
		}
		defer c.Close()
		c.WriteMessage(frame.OpText, []byte("welcome"))
	}))
	defer hs.Close()
	defer ws.Shutdown(context.Background())

	c, resp, err := handshake.DefaultDialer.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, _ := c.ReadMessage(nil)
	fmt.Println(resp.Header.Get("Set-Cookie"), string(msg))
	// Output: session=42 welcome
}

// Shutdown sends 1001 "going away" to every connection (RFC 6455 §7.4.1)
// and returns when their close handshakes are over, or at ctx's deadline.
func ExampleServer_Shutdown() {
	ws := &server.Server{Handler: server.HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
		for {
			if _, _, err := c.ReadMessage(nil); err != nil {
				return
			}
		}
	})}
	hs := httptest.NewServer(ws)
	defer hs.Close()
	c, _, err := handshake.DefaultDialer.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	read := make(chan error)
	go func() { _, _, err := c.ReadMessage(nil); read <- err }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(ws.Shutdown(ctx), frame.CloseStatus(<-read))
	// Output: <nil> 1001 going away
}

// How refused handshakes are written on the net/http adapter (gorilla's
// Upgrader.Error), and the subprotocol both ends agreed on.
func ExampleServer_HTTPError() {
	ws := &server.Server{
		Upgrader: handshake.Upgrader{Protocols: []string{"chat.v2"}},
		HTTPError: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"status":%d}`, status)
		},
		Handler: server.HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
			c.WriteMessage(frame.OpText, []byte("server speaks "+c.Subprotocol()))
			c.Close()
		}),
	}
	hs := httptest.NewServer(ws)
	defer hs.Close()
	defer ws.Shutdown(context.Background())

	resp, err := http.Get(hs.URL) // not an upgrade: refused
	if err != nil {
		log.Fatal(err)
	}
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body[:n]))

	d := &handshake.Dialer{Protocols: []string{"chat.v2", "chat.v1"}}
	c, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, _ := c.ReadMessage(nil)
	fmt.Println(c.Subprotocol(), string(msg))
	// Output:
	// 400 {"status":400}
	// chat.v2 server speaks chat.v2
}

// A WebSocket endpoint that browsers can reach over HTTP/2 (RFC 8441) as
// well as HTTP/1.1: mount the Server in an HTTPS server, which speaks
// HTTP/2 by default, and start the program with GODEBUG=http2xconnect=1 so
// that net/http advertises extended CONNECT. Without it browsers still
// connect, over HTTP/1.1. (Compiled, not run: it needs a certificate.)
func ExampleExtendedConnectEnabled() {
	if !server.ExtendedConnectEnabled() {
		log.Print("WebSockets over HTTP/1.1 only: start with GODEBUG=http2xconnect=1 for HTTP/2 (RFC 8441)")
	}
	ws := &server.Server{Handler: server.HandlerFunc(func(c *frame.Conn, hs *handshake.Result) {
		if hs.Request.HTTP2 {
			log.Printf("CONNECT :protocol=%s %s", hs.Request.Protocol, hs.Request.Target)
		}
		for {
			op, msg, err := c.ReadMessage(nil)
			if err != nil {
				return
			}
			c.WriteMessage(op, msg)
		}
	})}
	mux := http.NewServeMux()
	mux.Handle("/ws", ws) // both handshakes; over HTTP/2 ServeHTTP returns when the WebSocket ends
	hs := &http.Server{Addr: ":8443", Handler: mux}
	log.Fatal(hs.ListenAndServeTLS("cert.pem", "key.pem"))
}
