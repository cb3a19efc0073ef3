package autobahn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// A small RFC 6455 echo server on raw frames, correct by default, with
// switches that each break one rule, for checking that the runner's
// verdicts are honest. It reads payloads as they arrive, so it can fail
// fast on invalid UTF-8 inside a frame.
type echoServer struct {
	noUTF8Check bool // echoes text messages without validating them (breaks §8.1)
	utf8AtEnd   bool // validates text only once the message is complete (no fail-fast)
	binaryEcho  bool // echoes every message as binary (wrong opcode)
	noCloseEcho bool // drops TCP on a close frame instead of answering it (breaks §5.5.1)
	acceptRsv   bool // ignores the RSV bits (breaks §5.2)
}

// start serves on 127.0.0.1 until the test ends and returns the URL.
func (s echoServer) start(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return "ws://" + l.Addr().String() + "/"
}

func serverHandshake(c net.Conn, br *bufio.Reader) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "GET ") {
		return errors.New("not a GET")
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return err
	}
	key := h.Get("Sec-WebSocket-Key")
	if key == "" || !strings.EqualFold(h.Get("Upgrade"), "websocket") {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		return errors.New("bad upgrade")
	}
	_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nServer: echo-test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
		handshake.AcceptKey(key)+"\r\n\r\n")
	return err
}

func writeFrame(c net.Conn, op frame.Opcode, payload []byte) error {
	b := frame.AppendHeader(make([]byte, 0, frame.MaxHeaderSize+len(payload)), frame.Header{Fin: true, Opcode: op, Length: int64(len(payload))})
	_, err := c.Write(append(b, payload...))
	return err
}

func (s echoServer) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	if serverHandshake(c, br) != nil {
		return
	}
	// finish half-closes TCP and reads until the client closes too, so
	// that unread bytes never turn the close into a reset that could
	// destroy the close frame in flight.
	finish := func() {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, br)
	}
	// fail is _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): a close
	// frame with the code, then TCP is closed. The stream may be inside a
	// frame, so the client's close is not parsed.
	fail := func(code frame.CloseCode) {
		writeFrame(c, frame.OpClose, frame.AppendClosePayload(nil, code, ""))
		finish()
	}
	var (
		inMessage bool
		msgOp     frame.Opcode
		msg       []byte
		v         frame.UTF8Validator
		chunk     = make([]byte, 16<<10)
	)
	for {
		h, err := frame.ReadHeader(br)
		if err != nil {
			if frame.CloseStatus(err) == frame.CloseProtocolError {
				var pe *frame.ProtocolError
				if errors.As(err, &pe) {
					fail(frame.CloseProtocolError)
				}
			}
			return
		}
		allowed := byte(0)
		if s.acceptRsv {
			allowed = frame.RSV1 | frame.RSV2 | frame.RSV3
		}
		if err := h.Validate(allowed); err != nil || !h.Masked {
			fail(frame.CloseProtocolError)
			return
		}
		if h.Opcode.IsData() {
			if (h.Opcode == frame.OpContinuation) != inMessage {
				fail(frame.CloseProtocolError) // RFC 6455 §5.4
				return
			}
			if !inMessage {
				inMessage, msgOp, msg = true, h.Opcode, msg[:0]
				v.Reset()
			}
		}
		// Read the payload as it arrives, unmask, and validate text at once.
		var ctl []byte
		pos := 0
		for rem := h.Length; rem > 0; {
			n, err := br.Read(chunk[:min(int64(len(chunk)), rem)])
			if err != nil {
				return
			}
			p := chunk[:n]
			pos = frame.Mask(h.Mask, pos, p)
			rem -= int64(n)
			if h.Opcode.IsControl() {
				ctl = append(ctl, p...)
				continue
			}
			if msgOp == frame.OpText && !s.noUTF8Check && !s.utf8AtEnd {
				if _, ok := v.Write(p); !ok {
					fail(frame.CloseInvalidPayload) // RFC 6455 §8.1, fail fast
					return
				}
			}
			msg = append(msg, p...)
		}
		switch h.Opcode {
		case frame.OpPing:
			if writeFrame(c, frame.OpPong, ctl) != nil {
				return
			}
			continue
		case frame.OpPong:
			continue
		case frame.OpClose:
			code, _, err := frame.ParseClosePayload(ctl)
			if err != nil {
				fail(frame.CloseStatus(err))
				return
			}
			if s.noCloseEcho {
				return
			}
			// Echo the code (none if there was none), then drop TCP: the
			// server closes the TCP connection first (RFC 6455 §7.1.1).
			if code == frame.CloseNoStatus {
				code = 0
			}
			writeFrame(c, frame.OpClose, frame.AppendClosePayload(nil, code, ""))
			finish()
			return
		}
		if !h.Fin {
			continue
		}
		inMessage = false
		if msgOp == frame.OpText && !s.noUTF8Check {
			if s.utf8AtEnd {
				v.Write(msg)
			}
			if !v.Complete() {
				fail(frame.CloseInvalidPayload)
				return
			}
		}
		op := msgOp
		if s.binaryEcho {
			op = frame.OpBinary
		}
		if writeFrame(c, op, msg) != nil {
			return
		}
	}
}

// runCases runs the cases the patterns select against url, in order.
func runCases(t testing.TB, url string, patterns ...string) map[string]*Result {
	t.Helper()
	ids, unmatched := Resolve(patterns, nil)
	if len(unmatched) > 0 {
		t.Fatalf("unmatched patterns %v", unmatched)
	}
	tg, err := ParseTarget(url)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Result{}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := RunClientCase(ctx, Lookup(id), tg, DefaultOptions(RoleClient), "test")
		cancel()
		if err != nil {
			t.Fatalf("case %s: %v", id, err)
		}
		out[id] = res
	}
	return out
}

func checkVerdicts(t *testing.T, res map[string]*Result, id string, behavior, behaviorClose Verdict) {
	t.Helper()
	r := res[id]
	if r == nil {
		t.Errorf("case %s: no result", id)
		return
	}
	if r.Behavior != behavior || r.BehaviorClose != behaviorClose {
		t.Errorf("case %s: got %s / %s (%s / %s), want %s / %s", id, r.Behavior, r.BehaviorClose, r.Result, r.ResultClose, behavior, behaviorClose)
	}
}
