package frame_test

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/ws6455/ws6455/frame"
)

// The header of RFC 6455 §5.7's "single-frame masked text message".
func ExampleAppendHeader() {
	h := frame.Header{Fin: true, Opcode: frame.OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5}
	b := frame.AppendHeader(nil, h)
	payload := []byte("Hello")
	frame.Mask(h.Mask, 0, payload)
	fmt.Printf("% x\n", append(b, payload...))

	// Lengths over 125 take 2 or 8 more bytes (§5.2).
	fmt.Printf("% x\n", frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: frame.OpBinary, Length: 256}))
	fmt.Printf("% x\n", frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: frame.OpBinary, Length: 65536}))
	// Output:
	// 81 85 37 fa 21 3d 7f 9f 4d 51 58
	// 82 7e 01 00
	// 82 7f 00 00 00 00 00 01 00 00
}

// Decoding the masked "Hello" of §5.7.
func ExampleParseHeader() {
	wire := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	h, n, err := frame.ParseHeader(wire)
	if err != nil {
		panic(err)
	}
	payload := wire[n : n+int(h.Length)]
	frame.Mask(h.Mask, 0, payload) // unmask in place
	fmt.Println(h.Opcode, h.Fin, h.Masked, h.Length, string(payload))

	// The RFC's own counterexample: 124 encoded in the 16-bit form.
	_, _, err = frame.ParseHeader([]byte{0x81, 126, 0, 124})
	fmt.Println(err, frame.CloseStatus(err) == frame.CloseProtocolError)
	// Output:
	// text true true 5 Hello
	// frame: non-minimal payload length encoding (1002 protocol error) true
}

// A payload can be unmasked in the pieces it arrives in: Mask takes the
// position within the payload and returns the next one.
func ExampleMask() {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	masked := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	pos := frame.Mask(key, 0, masked[:2])
	frame.Mask(key, pos, masked[2:])
	fmt.Println(string(masked))
	// Output: Hello
}

// A code point split between two fragments is fine; a byte that cannot
// continue a sequence is rejected where it appears (§8.1).
func ExampleUTF8Validator() {
	var v frame.UTF8Validator
	euro := []byte("€") // e2 82 ac
	v.Write(euro[:1])
	fmt.Println(v.Valid(), v.Complete())
	v.Write(euro[1:])
	fmt.Println(v.Valid(), v.Complete())

	v.Reset()
	n, ok := v.Write([]byte("ok\xed\xa0\x80")) // a UTF-16 surrogate
	fmt.Println(n, ok)
	// Output:
	// true false
	// true true
	// 3 false
}

// The body of a close frame: a status code and a UTF-8 reason (§5.5.1).
func ExampleParseClosePayload() {
	code, reason, err := frame.ParseClosePayload([]byte{0x03, 0xe9, 'b', 'y', 'e'})
	fmt.Println(code, string(reason), err)
	_, _, err = frame.ParseClosePayload([]byte{0x03, 0xed}) // 1005 is never sent
	fmt.Println(frame.CloseStatus(err))
	// Output:
	// 1001 going away bye <nil>
	// 1002 protocol error
}

// A server Conn and a client Conn over net.Pipe (in a real program, over
// the net.Conn of a completed handshake). The client's messages arrive
// masked; ReadMessage unmasks and reassembles them.
func ExampleConn_ReadMessage() {
	s, c := net.Pipe()
	server := frame.NewConn(s, nil, frame.Config{Role: frame.RoleServer})
	client := frame.NewConn(c, nil, frame.Config{Role: frame.RoleClient})

	go func() {
		client.WriteMessage(frame.OpText, []byte("Hello"))
		client.WriteFragmented(frame.OpBinary, []byte{1, 2, 3, 4, 5}, 2)
		client.CloseWith(frame.CloseNormal, "done")
	}()

	var buf []byte
	for {
		op, msg, err := server.ReadMessage(buf)
		if err != nil {
			var ce *frame.CloseError
			if errors.As(err, &ce) {
				fmt.Printf("closed by peer: %v %q\n", ce.Code, ce.Reason)
			}
			break
		}
		fmt.Printf("%v %q\n", op, msg)
		buf = msg // reuse: steady-state reads do not allocate
	}
	// Output:
	// text "Hello"
	// binary "\x01\x02\x03\x04\x05"
	// closed by peer: 1000 normal closure "done"
}

// Trace shows the frames of a fragmented message as they arrive, with a
// ping between them (§5.4: control frames may be injected between
// fragments).
func ExampleConn_WriteFragmented() {
	s, c := net.Pipe()
	server := frame.NewConn(s, nil, frame.Config{
		Trace: func(_ *frame.Conn, dir frame.Direction, h frame.Header, p []byte) {
			if dir == frame.Inbound {
				fmt.Printf("fin=%v %v masked=%v %q\n", h.Fin, h.Opcode, h.Masked, p)
			}
		},
	})
	client := frame.NewConn(c, nil, frame.Config{Role: frame.RoleClient})
	go client.ReadMessage(nil) // a client reads too: it receives the pong
	go func() {
		w, _ := client.NextWriter(frame.OpText)
		io.WriteString(w, "Hel")                       // NextWriter sends when its buffer fills or on Close;
		client.WriteControl(frame.OpPing, []byte("p")) // this ping goes out first
		io.WriteString(w, "lo")
		w.Close()
		client.WriteFragmented(frame.OpText, []byte("Hello"), 3)
	}()
	for range 2 {
		_, msg, _ := server.ReadMessage(nil)
		fmt.Printf("message %q\n", msg)
	}
	// Output:
	// fin=true ping masked=true "p"
	// fin=true text masked=true "Hello"
	// message "Hello"
	// fin=false text masked=true "Hel"
	// fin=true continuation masked=true "lo"
	// message "Hello"
}

// CloseWith runs the closing handshake (§7.1.2): send a close frame, wait
// for the peer's, then close TCP (§7.1.1: a server at once, a client after
// the server).
func ExampleConn_CloseWith() {
	s, c := net.Pipe()
	server := frame.NewConn(s, nil, frame.Config{Role: frame.RoleServer})
	client := frame.NewConn(c, nil, frame.Config{Role: frame.RoleClient})

	done := make(chan error)
	go func() { done <- client.CloseWith(frame.CloseGoingAway, "bye") }()

	_, _, err := server.ReadMessage(nil) // answers the close, closes TCP
	fmt.Println(frame.CloseStatus(err))
	fmt.Println(<-done)
	<-client.Done()
	// Output:
	// 1001 going away
	// <nil>
}
