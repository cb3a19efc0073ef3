package frame

// The close frame body (RFC 6455 §5.5.1, §7.4) and the closing handshake
// (§7.1): echo, who closes TCP first, no data after close, CloseWith with
// and without a reading goroutine.

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// onWire is the rule of RFC 6455 §7.4.1/§7.4.2 as a test states it: the
// codes defined for use in close frames (1000-1003, 1007-1011 and the
// registered 1012-1014), and 3000-4999. 1004 is reserved, 1005, 1006 and
// 1015 "MUST NOT be set as a status code in a Close control frame", 0-999
// are "not used", and 1016-2999 are unassigned.
func onWire(c int) bool {
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
}

// TestCloseCode_RFC6455_7_4_ValidOnWire checks all 65536 codes.
func TestCloseCode_RFC6455_7_4_ValidOnWire(t *testing.T) {
	for c := range 1 << 16 {
		if got := CloseCode(c).ValidOnWire(); got != onWire(c) {
			t.Errorf("CloseCode(%d).ValidOnWire() = %v", c, got)
		}
		if s := CloseCode(c).String(); s == "" || !strings.HasPrefix(s, itoa(c)) {
			t.Errorf("CloseCode(%d).String() = %q", c, s)
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestParseClosePayload_RFC6455_5_5_1 covers every body shape.
func TestParseClosePayload_RFC6455_5_5_1(t *testing.T) {
	// Every code with and without a reason.
	for c := range 1 << 16 {
		code, reason, err := ParseClosePayload(closePayload(uint16(c), "why"))
		if onWire(c) {
			if err != nil || code != CloseCode(c) || string(reason) != "why" {
				t.Fatalf("code %d: %v %q %v", c, code, reason, err)
			}
		} else if CloseStatus(err) != CloseProtocolError || !errors.Is(err, ErrInvalidCloseCode) {
			t.Fatalf("code %d: err %v, want 1002", c, err)
		}
	}
	cases := []struct {
		name   string
		body   []byte
		code   CloseCode
		reason string
		status CloseCode // of the error; 0 for none
	}{
		// §7.1.5: "If this Close control frame contains no status code,
		// _The WebSocket Connection Close Code_ is considered to be 1005."
		{"empty", nil, CloseNoStatus, "", 0},
		{"one-byte", []byte{0x03}, 0, "", CloseProtocolError},
		{"code-only", closePayload(1000, ""), CloseNormal, "", 0},
		{"utf8-reason", closePayload(1001, "κόσμε"), CloseGoingAway, "κόσμε", 0},
		{"reason-123-bytes", closePayload(4000, strings.Repeat("r", 123)), 4000, strings.Repeat("r", 123), 0},
		// §8.1 applies to the reason: 1007.
		{"bad-utf8-reason", closePayload(1000, "\xff"), 0, "", CloseInvalidPayload},
		{"truncated-utf8-reason", closePayload(1000, "\xe2\x82"), 0, "", CloseInvalidPayload},
		{"surrogate-reason", closePayload(1000, "\xed\xb0\x80"), 0, "", CloseInvalidPayload},
		{"bad-code-and-reason", closePayload(1005, "\xff"), 0, "", CloseProtocolError},
	}
	for _, tc := range cases {
		code, reason, err := ParseClosePayload(tc.body)
		if CloseStatus(err) != tc.status {
			t.Errorf("%s: err %v, want status %v", tc.name, err, tc.status)
			continue
		}
		if err == nil && (code != tc.code || string(reason) != tc.reason) {
			t.Errorf("%s: %v %q, want %v %q", tc.name, code, reason, tc.code, tc.reason)
		}
	}
}

// TestAppendClosePayload_RFC6455_5_5 checks the body a Conn sends: code in
// network byte order, reason cut on a rune boundary to fit 125 bytes
// (§5.5), no body for code 0.
func TestAppendClosePayload_RFC6455_5_5(t *testing.T) {
	if b := AppendClosePayload(nil, 0, "ignored"); len(b) != 0 {
		t.Fatalf("code 0: %x", b)
	}
	if b := AppendClosePayload([]byte("x"), 1000, "ok"); string(b) != "x\x03\xe8ok" {
		t.Fatalf("appended: %q", b)
	}
	for n := range 200 {
		for _, unit := range []string{"a", "é", "€", "😀"} {
			reason := strings.Repeat(unit, n)
			b := AppendClosePayload(nil, 4000, reason)
			if len(b) > MaxControlPayload {
				t.Fatalf("%d×%q: %d bytes", n, unit, len(b))
			}
			code, got, err := ParseClosePayload(b)
			if err != nil || code != 4000 || !utf8.Valid(got) || !strings.HasPrefix(reason, string(got)) {
				t.Fatalf("%d×%q: %v %q %v", n, unit, code, got, err)
			}
			// Nothing is cut that would have fitted.
			if len(got) < len(reason) && len(b)+len(unit) <= MaxControlPayload {
				t.Fatalf("%d×%q: cut to %d bytes, %d would fit", n, unit, len(got), len(b)-2+len(unit))
			}
		}
	}
}

// TestCloseError_Status checks CloseStatus on every kind of error.
func TestCloseError_Status(t *testing.T) {
	wrapped := errors.Join(errors.New("context"), &CloseError{Code: 4001})
	for _, tc := range []struct {
		err  error
		want CloseCode
	}{
		{nil, 0},
		{errors.New("other"), CloseAbnormal},
		{&CloseError{Code: CloseGoingAway}, CloseGoingAway},
		{&ProtocolError{Code: CloseMessageTooBig}, CloseMessageTooBig},
		{wrapped, 4001},
		{&CloseError{Code: CloseProtocolError, Local: true, Err: ErrNonMinimalLength}, CloseProtocolError},
	} {
		if got := CloseStatus(tc.err); got != tc.want {
			t.Errorf("CloseStatus(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	ce := &CloseError{Code: CloseInvalidPayload, Reason: "bad", Local: true, Err: ErrLengthTopBit}
	if !errors.Is(ce, ErrLengthTopBit) || !strings.Contains(ce.Error(), "1007") || !strings.Contains(ce.Error(), "local") {
		t.Fatalf("CloseError: %v", ce)
	}
}

// TestClose_RFC6455_5_5_1_EchoAndTCPCloseOrder: "If an endpoint receives a
// Close frame and did not previously send a Close frame, the endpoint MUST
// send a Close frame in response. (When sending a Close frame in response,
// the endpoint typically echos the status code it received.)" Then "The
// server MUST close the underlying TCP connection immediately; the client
// SHOULD wait for the server to close the connection" (§5.5.1, §7.1.1).
// The reader gets the peer's code and reason (§7.1.5, §7.1.6).
func TestClose_RFC6455_5_5_1_EchoAndTCPCloseOrder(t *testing.T) {
	type closeCase struct {
		body   []byte
		code   CloseCode // echoed and reported
		reason string
	}
	cases := []closeCase{{nil, CloseNoStatus, ""}}
	for _, c := range []CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, closeCase{closePayload(uint16(c), ""), c, ""})
	}
	cases = append(cases, closeCase{closePayload(4321, "κόσμε"), 4321, "κόσμε"})
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		for _, cc := range cases {
			t.Run(cc.code.String(), func(t *testing.T) {
				t.Parallel() // each client case waits to see no early TCP close
				conn, p, msgs := rawConnPair(t, tr, role, Config{})
				if err := p.send(true, OpClose, cc.body); err != nil {
					t.Fatal(err)
				}
				echo := p.expectClose(cc.code)
				if cc.body == nil && len(echo.payload) != 0 {
					t.Fatalf("an empty close was answered with %x", echo.payload)
				}
				if role == RoleServer {
					p.expectEOF() // the server closes TCP first
				} else {
					// The client waits for the server's TCP close.
					if !p.quiet(100 * time.Millisecond) {
						t.Fatal("client closed TCP before the server did")
					}
					p.nc.Close()
				}
				ce := expectCloseError(t, msgs, cc.code, false)
				if ce.Reason != cc.reason {
					t.Fatalf("reason %q, want %q", ce.Reason, cc.reason)
				}
				waitDone(t, conn)
				// §5.5.1: no data frames after sending a Close frame.
				if err := conn.WriteMessage(OpText, []byte("late")); !errors.Is(err, ErrCloseSent) {
					t.Fatalf("WriteMessage after the close handshake: %v", err)
				}
			})
		}
	})
}

// TestClose_RFC6455_5_5_2_NoPongAfterClose: a ping that follows the close
// frame gets no pong ("unless it already received a Close frame"), and
// nothing after the close frame is processed.
func TestClose_RFC6455_5_5_2_NoPongAfterClose(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{})
		werr := p.writeAsync(append(p.frame(true, OpClose, closePayload(1000, "")), p.frame(true, OpPing, []byte("late"))...))
		p.expectClose(CloseNormal)
		if role == RoleServer {
			p.expectEOF()
		} else {
			if !p.quiet(50 * time.Millisecond) {
				t.Fatal("client sent more after its close echo")
			}
			p.nc.Close()
		}
		expectCloseError(t, msgs, CloseNormal, false)
		<-werr
	})
}

// TestClose_RFC6455_7_1_7_NothingProcessedAfterFailure: "An endpoint MUST
// NOT continue to attempt to process data (including a responding Close
// frame) from the remote endpoint after being instructed to _Fail the
// WebSocket Connection_." A ping right behind the offending frame gets no
// pong: the close frame is followed by EOF.
func TestClose_RFC6455_7_1_7_NothingProcessedAfterFailure(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "ping-after-reserved-opcode", wire: concat(data(true, 0x3, ""), data(true, OpPing, "p")), code: CloseProtocolError},
		{name: "ping-after-bad-utf8", wire: concat(data(true, OpText, "\xff"), data(true, OpPing, "p")), code: CloseInvalidPayload},
		{name: "close-after-bad-close", wire: concat(data(true, OpClose, "\x03"), data(true, OpClose, "\x03\xe8")), code: CloseProtocolError},
	})
}

// TestWrite_RFC6455_5_5_1_NoDataAfterClose: "The application MUST NOT send
// any more data frames after sending a Close frame." Every data write
// fails with ErrCloseSent and puts nothing on the wire; WriteClose is sent
// once.
func TestWrite_RFC6455_5_5_1_NoDataAfterClose(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role})
		if err := conn.WriteClose(CloseGoingAway, "bye"); err != nil {
			t.Fatal(err)
		}
		f := p.expectClose(CloseGoingAway)
		if string(f.payload[2:]) != "bye" {
			t.Fatalf("reason %q", f.payload[2:])
		}
		if err := conn.WriteMessage(OpText, []byte("x")); !errors.Is(err, ErrCloseSent) {
			t.Errorf("WriteMessage: %v", err)
		}
		if err := conn.WriteFragmented(OpBinary, []byte("xyz"), 1); !errors.Is(err, ErrCloseSent) {
			t.Errorf("WriteFragmented: %v", err)
		}
		w, err := conn.NextWriter(OpText)
		if err == nil {
			w.Write([]byte("x"))
			err = w.Close()
		}
		if !errors.Is(err, ErrCloseSent) {
			t.Errorf("NextWriter: %v", err)
		}
		if err := conn.WriteClose(CloseNormal, ""); err != nil {
			t.Errorf("second WriteClose: %v", err)
		}
		conn.CloseNow()
		p.expectEOF() // nothing after the close frame
	})
}

// TestCloseWith_RFC6455_7_1_2 runs the closing handshake started by
// CloseWith: "an endpoint MUST send a Close control frame ... whose status
// code is set to /code/ and whose close reason is set to /reason/", then
// waits for the peer's close and closes TCP: a server at once, a client
// after the server (§7.1.1). With a reading goroutine, that reader gets
// the peer's close; without one, CloseWith reads it and discards data
// messages that arrive before it.
func TestCloseWith_RFC6455_7_1_2(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		for _, reader := range []bool{false, true} {
			name := "no-reader"
			if reader {
				name = "active-reader"
			}
			t.Run(name, func(t *testing.T) {
				conn, p := connAndPeer(t, tr, role, Config{Role: role})
				var msgs <-chan readResult
				if reader {
					msgs = readLoop(conn)
					waitReading(conn)
				}
				done := make(chan error, 1)
				go func() { done <- conn.CloseWith(4000, "done") }()
				f := p.expectClose(4000)
				if string(f.payload[2:]) != "done" {
					t.Fatalf("reason %q", f.payload[2:])
				}
				// Data sent before our close reply: discarded by CloseWith,
				// delivered to an active reader.
				p.send(true, OpText, []byte("in flight"))
				p.send(true, OpClose, closePayload(4000, "ack"))
				if role == RoleServer {
					p.expectEOF()
				} else {
					if !p.quiet(100 * time.Millisecond) {
						t.Fatal("client closed TCP before the server")
					}
					select {
					case err := <-done:
						t.Fatalf("client CloseWith returned (%v) before the server closed TCP", err)
					default:
					}
					p.nc.Close()
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("CloseWith: %v", err)
					}
				case <-time.After(testTimeout):
					t.Fatal("CloseWith did not return")
				}
				waitDone(t, conn)
				if reader {
					expectMessage(t, msgs, OpText, []byte("in flight"))
					ce := expectCloseError(t, msgs, 4000, false)
					if ce.Reason != "ack" {
						t.Fatalf("reason %q", ce.Reason)
					}
				}
				// Later reads report the peer's close, not a parse of
				// what was left in the buffer.
				_, _, err := conn.ReadMessage(nil)
				if ce := checkCloseError(t, err, 4000, false); ce.Reason != "ack" {
					t.Fatalf("ReadMessage after CloseWith: reason %q", ce.Reason)
				}
			})
		}
	})
}

// waitReading returns once a goroutine is blocked inside a read method of
// c (holding the reader lock), so that CloseWith takes its active-reader
// path.
func waitReading(c *Conn) {
	for c.rmu.TryLock() {
		c.rmu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// TestCloseWith_PeerNeverAnswers: CloseWith gives up after CloseTimeout
// and closes TCP anyway (§7.1.1: "In abnormal cases (such as not having
// received a TCP Close from the server after a reasonable amount of time)
// a client MAY initiate the TCP Close"), and says so: it returns the 1006
// (§7.1.5) with ErrCloseTimeout instead of nil, as do Err and the reader.
func TestCloseWith_PeerNeverAnswers_RFC6455_7_1_5(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		for _, reader := range []bool{false, true} {
			conn, p := func() (*Conn, *peer) {
				mine, theirs := sides(t, tr, role)
				return newTestConn(t, mine, Config{Role: role, CloseTimeout: 50 * time.Millisecond}), newPeer(t, theirs, role.other())
			}()
			var msgs <-chan readResult
			if reader {
				msgs = readLoop(conn)
			}
			err := conn.Close()
			if ce := checkCloseError(t, err, CloseAbnormal, true); !errors.Is(ce, ErrCloseTimeout) {
				t.Fatalf("Close: %v, want ErrCloseTimeout", err)
			}
			waitDone(t, conn)
			p.expectClose(CloseNormal)
			p.expectEOF()
			if !errors.Is(conn.Err(), ErrCloseTimeout) {
				t.Fatalf("Err() = %v, want ErrCloseTimeout", conn.Err())
			}
			if reader {
				r := recv(t, msgs)
				if ce := checkCloseError(t, r.err, CloseAbnormal, true); !errors.Is(ce, ErrCloseTimeout) {
					t.Fatalf("reader: %v, want ErrCloseTimeout", r.err)
				}
			}
		}
	})
}

// TestCloseWith_Simultaneous_RFC6455_7_1_5: "If a client and server both
// send a Close message at the same time, both endpoints will have sent and
// received a Close message and should consider the WebSocket connection
// closed and close the underlying TCP connection." Each side sees the
// other's code.
func TestCloseWith_Simultaneous_RFC6455_7_1_5(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		for range 20 {
			srv, cli := connPair(t, tr, Config{}, Config{})
			sr, cr := readLoop(srv), readLoop(cli)
			errs := make(chan error, 2)
			go func() { errs <- srv.CloseWith(4001, "server") }()
			go func() { errs <- cli.CloseWith(4002, "client") }()
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			waitDone(t, srv)
			waitDone(t, cli)
			// Each reader reports the code of the close frame it got: the
			// other side's, or its own echoed when the other side read it
			// first (§7.1.5 NOTE: the two ends may not agree).
			for _, ch := range []<-chan readResult{sr, cr} {
				if code := CloseStatus(recv(t, ch).err); code != 4001 && code != 4002 {
					t.Fatalf("close code %v", code)
				}
			}
		}
	})
}

// TestClose_ConnToConn: a client's Close reaches a reading server, which
// answers and closes TCP; the client's Close returns after that.
func TestClose_ConnToConn(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, cli := connPair(t, tr, Config{}, Config{})
		sr := readLoop(srv)
		if err := cli.WriteMessage(OpText, []byte("bye soon")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, sr, OpText, []byte("bye soon"))
		if err := cli.CloseWith(CloseGoingAway, "away"); err != nil {
			t.Fatal(err)
		}
		ce := expectCloseError(t, sr, CloseGoingAway, false)
		if ce.Reason != "away" {
			t.Fatalf("reason %q", ce.Reason)
		}
		waitDone(t, srv)
		waitDone(t, cli)
	})
}
