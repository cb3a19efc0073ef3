package frame_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// pair returns a server and a client Conn over net.Pipe, standing for the
// two ends of a completed handshake.
func pair(scfg, ccfg frame.Config) (server, client *frame.Conn) {
	s, c := net.Pipe()
	scfg.Role, ccfg.Role = frame.RoleServer, frame.RoleClient
	return frame.NewConn(s, nil, scfg), frame.NewConn(c, nil, ccfg)
}

// Ping waits for the pong that answers it and returns the round trip
// (coder's Ping(ctx)); something must be reading, since pongs arrive
// through the reader.
func ExampleConn_Ping() {
	server, client := pair(frame.Config{}, frame.Config{})
	go server.ReadMessage(nil) // answers pings
	go client.ReadMessage(nil) // receives the pong
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rtt, err := client.Ping(ctx)
	fmt.Println(err == nil, rtt > 0)
	// Output: true true
}

// Per-connection handlers (gorilla's SetPingHandler, SetPongHandler and
// SetCloseHandler). A close handler also defers the close reply (RFC 6455
// §5.5.1), so that the last words can still be sent.
func ExampleConn_SetCloseHandler() {
	server, client := pair(frame.Config{}, frame.Config{})
	server.SetPingHandler(func(p []byte) { fmt.Printf("ping %q (the pong goes anyway)\n", p) })
	server.SetCloseHandler(func(code frame.CloseCode, reason string) {
		fmt.Println("peer closes:", code, reason)
	})
	go func() {
		client.WriteControl(frame.OpPing, []byte("are you there"))
		client.CloseWith(frame.CloseNormal, "bye")
	}()
	go func() {
		for { // the client reads: pong, last words, then the close reply
			_, msg, err := client.ReadMessage(nil)
			if err != nil {
				return
			}
			fmt.Printf("client got %q\n", msg)
		}
	}()
	_, _, err := server.ReadMessage(nil)
	fmt.Println("read:", frame.CloseStatus(err))
	server.WriteMessage(frame.OpText, []byte("last words"))
	fmt.Println("close:", server.Close())
	// Output:
	// ping "are you there" (the pong goes anyway)
	// peer closes: 1000 normal closure bye
	// read: 1000 normal closure
	// client got "last words"
	// close: <nil>
}

// A read limit per connection (gorilla's SetReadLimit): a message over it
// fails the connection with 1009 (RFC 6455 §7.4.1).
func ExampleConn_SetReadLimit() {
	server, client := pair(frame.Config{}, frame.Config{})
	server.SetReadLimit(4)
	go client.WriteMessage(frame.OpBinary, []byte("12345"))
	go client.ReadMessage(nil) // receives the 1009
	_, _, err := server.ReadMessage(nil)
	fmt.Println(frame.CloseStatus(err))
	fmt.Println(client.CloseNow()) // closes TCP at once, no handshake
	// Output:
	// 1009 message too big
	// <nil>
}

// Reading with a context, as coder's Read(ctx) does: a context.AfterFunc
// that ends the read when ctx ends. Moving the read deadline to now
// interrupts the read without closing the connection (between messages;
// coder closes it); call c.CloseNow instead to close it, as coder does.
func ExampleConn_ReadMessage_context() {
	server, _ := pair(frame.Config{}, frame.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { server.NetConn().SetReadDeadline(time.Now()) })
	_, _, err := server.ReadMessage(nil)
	stop()
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded), ctx.Err())
	// Output: true context deadline exceeded
}

// A net.Conn over binary messages, for a tunnel (coder's NetConn): each
// Write is one message, and Read sees one stream.
func ExampleStreamConn() {
	server, client := pair(frame.Config{}, frame.Config{})
	a, b := frame.StreamConn(server, frame.OpBinary), frame.StreamConn(client, frame.OpBinary)
	go func() {
		io.WriteString(b, "tunnelled ")
		io.WriteString(b, "bytes")
		b.Close()
	}()
	all, err := io.ReadAll(a) // until the peer's normal close: io.EOF
	fmt.Printf("%q %v\n", all, err)
	// Output: "tunnelled bytes" <nil>
}

// One JSON value per text message (gorilla's ReadJSON and WriteJSON,
// coder's wsjson).
func ExampleWriteJSON() {
	server, client := pair(frame.Config{}, frame.Config{})
	go frame.WriteJSON(client, map[string]int{"x": 1})
	var v map[string]int
	err := frame.ReadJSON(server, &v)
	fmt.Println(v, err)
	// Output: map[x:1] <nil>
}
