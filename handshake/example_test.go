package handshake_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// The key and accept value of RFC 6455 §4.2.2.
func ExampleAcceptKey() {
	fmt.Println(handshake.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="))
	// Output: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
}

// The server side of the RFC's example handshake (RFC 6455 §1.2). In a
// server, br and w are a bufio.Reader and the net.Conn.
func ExampleUpgrader_Upgrade() {
	request := "GET /chat HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Origin: http://example.com\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"

	u := &handshake.Upgrader{
		// The page at http://example.com may connect; by default only
		// pages from server.example.com itself (or non-browsers) could.
		CheckOrigin: func(r *handshake.Request) bool { return r.Origin == "http://example.com" },
		Protocols:   []string{"chat"},
	}
	var conn bytes.Buffer
	res, err := u.Upgrade(bufio.NewReader(strings.NewReader(request)), &conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(conn.String(), "\r\n", "\n"))
	fmt.Printf("subprotocol %q, compression %v\n", res.Subprotocol, res.Deflate != nil)
	// Output:
	// HTTP/1.1 101 Switching Protocols
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// Sec-WebSocket-Protocol: chat
	//
	// subprotocol "chat", compression false
}

// A refused handshake gets a real HTTP answer.
func ExampleUpgrader_Upgrade_refused() {
	request := "GET /chat HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 8\r\n\r\n"
	var conn bytes.Buffer
	_, err := (&handshake.Upgrader{}).Upgrade(bufio.NewReader(strings.NewReader(request)), &conn)
	fmt.Println(err)
	fmt.Println(handshake.HTTPStatus(err))
	fmt.Print(strings.ReplaceAll(conn.String(), "\r\n", "\n"))
	// Output:
	// handshake: 426 Upgrade Required: unsupported Sec-WebSocket-Version "8"; this server speaks version 13
	// 426
	// HTTP/1.1 426 Upgrade Required
	// Connection: close
	// Content-Length: 69
	// Content-Type: text/plain; charset=utf-8
	// Sec-WebSocket-Version: 13
	//
	// unsupported Sec-WebSocket-Version "8"; this server speaks version 13
}

// Negotiating permessage-deflate (RFC 7692): the client's first offer has an
// unknown parameter and is declined; the second is accepted, its window
// request honored.
func ExampleNegotiateDeflate() {
	offers, _ := handshake.ParseExtensions([]string{
		"permessage-deflate; foo, permessage-deflate; server_max_window_bits=10; client_max_window_bits",
	})
	resp, params, ok := handshake.NegotiateDeflate(offers, handshake.DeflateConfig{Mode: handshake.CompressionFull})
	fmt.Println(ok, resp)
	fmt.Printf("%+v\n", *params)
	// Output:
	// true permessage-deflate; server_max_window_bits=10
	// {ServerNoContextTakeover:false ClientNoContextTakeover:false ServerMaxWindowBits:10 ClientMaxWindowBits:0}
}

// A client connection with a subprotocol and compression offered.
func ExampleDialer_Dial() {
	d := &handshake.Dialer{
		Protocols:        []string{"chat"},
		Compression:      &handshake.DeflateOffer{},
		Header:           map[string][]string{"Origin": {"https://example.com"}},
		Proxy:            handshake.ProxyFromEnvironment,
		HandshakeTimeout: 10 * time.Second,
		FrameConfig:      frame.Config{MaxMessageSize: 1 << 20},
	}
	c, resp, err := d.Dial(context.Background(), "wss://example.com/chat")
	if err != nil {
		log.Fatal(err) // a *handshake.StatusError for a non-101 answer
	}
	defer c.Close()
	fmt.Println("subprotocol:", resp.Subprotocol)
	if err := c.WriteMessage(frame.OpText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.ReadMessage(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", msg)
}

// Request header fields for one connection (here a credential), merged over
// the Dialer's own. An http.Header, as gorilla's Dial(url, requestHeader)
// takes, can be passed as is.
func ExampleDialer_DialHeader() {
	// A server that greets each client with the Authorization it sent.
	url, stop := exampleServer(&handshake.Upgrader{}, func(r *handshake.Request) string {
		return r.Header.Get("User-Agent") + " says " + r.Header.Get("Authorization")
	})
	defer stop()

	d := &handshake.Dialer{Header: map[string][]string{"User-Agent": {"example/1.0"}}}
	for _, token := range []string{"alice-token", "bob-token"} {
		c, _, err := d.DialHeader(context.Background(), url, http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			log.Fatal(err)
		}
		_, msg, err := c.ReadMessage(nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", msg)
		c.Close()
	}
	// Output:
	// example/1.0 says Bearer alice-token
	// example/1.0 says Bearer bob-token
}

// A server that refuses the handshake answers with an HTTP status other
// than 101 (RFC 6455 §4.1 step 1). Dial returns its *Response beside the
// *StatusError: the status, the header fields and the start of the body.
func ExampleDialer_Dial_refused() {
	// A server that trusts no page's Origin.
	url, stop := exampleServer(&handshake.Upgrader{CheckOrigin: func(*handshake.Request) bool { return false }}, nil)
	defer stop()

	d := &handshake.Dialer{Header: map[string][]string{"Origin": {"https://elsewhere.example"}}}
	_, resp, err := d.Dial(context.Background(), url)
	var se *handshake.StatusError
	if !errors.As(err, &se) {
		log.Fatalf("not refused: %v", err)
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Printf("%s", resp.Body) // at most handshake.MaxErrorBody bytes
	fmt.Println("the whole body:", !resp.BodyTruncated)
	fmt.Println(err)
	// Output:
	// 403 text/plain; charset=utf-8
	// origin "https://elsewhere.example" not allowed
	// the whole body: true
	// handshake: server answered "HTTP/1.1 403 Forbidden": "origin \"https://elsewhere.example\" not allowed"
}

// Cookies across dials (gorilla's Dialer.Jar): the jar's cookies for the
// URL go with each handshake, and a Set-Cookie in the answer is stored.
func ExampleDialer_jar() {
	url, stop := exampleServer(&handshake.Upgrader{ExtraHeaders: map[string][]string{"Set-Cookie": {"visit=1"}}},
		func(r *handshake.Request) string { return "cookie: " + r.Header.Get("Cookie") })
	defer stop()

	jar, _ := cookiejar.New(nil)
	d := &handshake.Dialer{Jar: jar}
	for range 2 {
		c, _, err := d.Dial(context.Background(), url)
		if err != nil {
			log.Fatal(err)
		}
		_, msg, _ := c.ReadMessage(nil)
		fmt.Printf("%q\n", msg)
		c.Close()
	}
	// Output:
	// "cookie: "
	// "cookie: visit=1"
}

// exampleServer serves WebSocket handshakes on 127.0.0.1 with u until stop
// is called. After each accepted handshake it sends greet(request) as a
// text message, if greet is not nil, and answers the client's close.
func exampleServer(u *handshake.Upgrader, greet func(*handshake.Request) string) (url string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(nc)
			res, err := u.Upgrade(br, nc)
			if err != nil {
				nc.Close()
				continue
			}
			buffered, _ := br.Peek(br.Buffered())
			c := frame.NewConn(nc, buffered, frame.Config{Role: frame.RoleServer})
			if greet != nil {
				c.WriteMessage(frame.OpText, []byte(greet(res.Request)))
			}
			for {
				if _, _, err := c.ReadMessage(nil); err != nil {
					break // the close handshake is answered by ReadMessage
				}
			}
			c.CloseNow()
		}
	}()
	return "ws://" + ln.Addr().String() + "/", func() { ln.Close(); <-done }
}

// The request of RFC 8441 §5.1's example, as ExtendedConnectHeader builds
// it for an HTTP/2 client: :protocol and the fields; the method is
// CONNECT, :scheme https (wss://), :path /chat. No Sec-WebSocket-Key.
func ExampleClientHandshake_ExtendedConnectHeader() {
	u, _ := url.Parse("wss://server.example.com/chat")
	hs := &handshake.ClientHandshake{
		URL:       u,
		Protocols: []string{"chat", "superchat"},
		Header:    map[string][]string{"Origin": {"http://www.example.com"}},
	}
	authority, h, err := hs.ExtendedConnectHeader()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(":authority =", authority)
	for _, k := range slices.Sorted(maps.Keys(h)) {
		fmt.Println(strings.ToLower(k), "=", strings.Join(h[k], ", "))
	}
	// Output:
	// :authority = server.example.com
	// :protocol = websocket
	// origin = http://www.example.com
	// sec-websocket-protocol = chat, superchat
	// sec-websocket-version = 13
}

// A Dialer that opens its WebSockets on HTTP/2 streams (RFC 8441) when
// the server offers it, and over HTTP/1.1 otherwise; dials to the same
// server share one HTTP/2 connection.
func ExampleDialer_http2() {
	d := &handshake.Dialer{HTTP2: handshake.HTTP2Prefer}
	defer d.CloseIdleConnections()
	c, resp, err := d.Dial(context.Background(), "wss://example.com/chat")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected over", resp.Proto) // "HTTP/2.0" or "HTTP/1.1"
}

// Several permessage-deflate offers, most preferred first (RFC 7692 §5):
// a small server window first, then a plain offer without
// client_max_window_bits. The server took the second.
func ExampleClientHandshake_compressionOffers() {
	u, _ := url.Parse("ws://server.example.com/chat")
	hs := &handshake.ClientHandshake{
		URL: u,
		Key: "dGhlIHNhbXBsZSBub25jZQ==",
		CompressionOffers: []handshake.DeflateOffer{
			{ServerMaxWindowBits: 10, ClientNoContextTakeover: true},
			{OmitClientMaxWindowBits: true},
		},
	}
	req, err := hs.AppendRequest(nil)
	if err != nil {
		log.Fatal(err)
	}
	for line := range strings.SplitSeq(string(req), "\r\n") {
		if strings.HasPrefix(line, "Sec-WebSocket-Extensions:") {
			fmt.Println(line)
		}
	}
	resp, err := handshake.ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n")), handshake.Limits{})
	if err != nil {
		log.Fatal(err)
	}
	if err := hs.Verify(resp); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", *resp.Deflate)
	// Output:
	// Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=10, permessage-deflate
	// {ServerNoContextTakeover:true ClientNoContextTakeover:false ServerMaxWindowBits:0 ClientMaxWindowBits:0}
}
