package autobahn

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRegistry_CaseCountsMatchAutobahn(t *testing.T) {
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1, "12": 90, "13": 126}
	got := map[string]int{}
	for i, d := range Cases() {
		s, _ := Section(d.ID)
		got[s]++
		if d.Index() != i+1 {
			t.Fatalf("case %s has index %d, want %d", d.ID, d.Index(), i+1)
		}
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("section %s: %d cases, want %d", s, got[s], n)
		}
	}
	// Spot checks of Autobahn's numbering.
	for _, id := range []string{"6.23.7", "6.22.34", "7.7.13", "7.9.9", "9.8.6", "10.1.1", "12.5.18", "13.7.18"} {
		if Lookup(id) == nil {
			t.Errorf("case %s missing", id)
		}
	}
	if Lookup("6.23.8") != nil || Lookup("9.9.1") != nil || Lookup("12.6.1") != nil || Lookup("13.1.19") != nil {
		t.Error("cases Autobahn does not run are registered")
	}
}

func TestResolve_Patterns(t *testing.T) {
	ids, um := Resolve([]string{"2.1*", "6.4.*", "1.1.1", "11.*", "3.9"}, []string{"6.4.2"})
	want := []string{"1.1.1", "2.1", "2.10", "2.11", "6.4.1", "6.4.3", "6.4.4"}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
	if !slices.Equal(um, []string{"11.*", "3.9"}) {
		t.Errorf("unmatched %v", um)
	}
	all, _ := Resolve([]string{"*"}, []string{"9.*", "6.*", "12.*", "13.*"})
	if len(all) != 301-54-145 {
		t.Errorf("%d cases", len(all))
	}
}

func TestLogText_AutobahnFormat(t *testing.T) {
	if got := logText([]byte("hello"), 64); got != "hello" {
		t.Error(got)
	}
	if got := logText([]byte{0xff, 0x00}, 64); got != "0xff00" {
		t.Error(got)
	}
	long := strings.Repeat("*", 61)
	if got := logText([]byte(long), 64); got != long+" ..." {
		t.Error(got)
	}
	if got := logHex(make([]byte, 100), 64); got != strings.Repeat("00", 64)+" ..." {
		t.Error(got)
	}
}

// captureCase runs open on a peer whose writes go to a pipe, and returns
// the bytes written.
func captureCase(t *testing.T, open func(p *Peer)) []byte {
	t.Helper()
	a, b := net.Pipe()
	d := &Def{ID: "0.0", Open: func(r *Run) { open(r.P) }}
	opts := DefaultOptions(RoleServer) // no masking: easy to read
	r := newRun(d)
	p := newPeer(opts, r)
	done := make(chan []byte)
	go func() {
		data, _ := io.ReadAll(b)
		done <- data
	}()
	go func() {
		time.Sleep(100 * time.Millisecond)
		b.Close()
	}()
	p.runOpen(a, nil)
	return <-done
}

// Autobahn's sendMessage with a fragment size that divides the payload
// ends with an empty final continuation frame; the port must send the same
// bytes.
func TestSendMessage_FragmentsLikeAutobahn_RFC6455_5_4(t *testing.T) {
	got := captureCase(t, func(p *Peer) { p.SendMessage([]byte("abcd"), false, 2) })
	want := []byte{0x01, 2, 'a', 'b', 0x00, 2, 'c', 'd', 0x80, 0}
	if !slices.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
	got = captureCase(t, func(p *Peer) { p.SendMessage([]byte("abcde"), true, 2) })
	want = []byte{0x02, 2, 'a', 'b', 0x00, 2, 'c', 'd', 0x80, 1, 'e'}
	if !slices.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
}

func TestSendFrame_RepeatRsvChop(t *testing.T) {
	got := captureCase(t, func(p *Peer) {
		p.SendFrame(Fr(opPing, "ab").RepeatTo(5).WithRsv(5).Chop(1))
		p.SendCloseFrame(1000, []byte("x"), false)
	})
	want := []byte{0xd9, 5, 'a', 'b', 'a', 'b', 'a', 0x88, 3, 0x03, 0xe8, 'x'}
	if !slices.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
}

// RFC 6455 §4.1: a wrong Sec-WebSocket-Accept fails the handshake, and the
// case fails; an unreachable server is an error, not a result.
func TestHandshake_BadAcceptFailsCase_RFC6455_4_1(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n")
	}()
	tg, _ := ParseTarget("ws://" + l.Addr().String())
	res, err := RunClientCase(context.Background(), Lookup("1.1.1"), tg, DefaultOptions(RoleClient), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Behavior != Failed || res.BehaviorClose != Failed || res.ResultClose != "The WebSocket opening handshake was never completed!" {
		t.Errorf("got %s / %s: %s", res.Behavior, res.BehaviorClose, res.ResultClose)
	}
	if res.Agent != "UnknownServer" || !strings.Contains(res.HTTPResponse, "bogus") {
		t.Errorf("agent %q, response %q", res.Agent, res.HTTPResponse)
	}

	addr := l.Addr().String()
	l.Close()
	tg, _ = ParseTarget("ws://" + addr)
	_, err = RunClientCase(context.Background(), Lookup("1.1.1"), tg, DefaultOptions(RoleClient), "x")
	if !IsConnectError(err) {
		t.Errorf("unreachable server: err %v", err)
	}
}

// failingConn is a connection whose writes all fail, as an HTTP/2 stream's
// do once the server has reset it; it counts writes and records Close.
type failingConn struct {
	net.Conn
	writes atomic.Int32
	closed atomic.Bool
}

func (c *failingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return 0, errors.New("stream error: stream ID 1; NO_ERROR; received from peer")
}

func (c *failingConn) Close() error { c.closed.Store(true); return nil }

// RFC 8441 §5: on an HTTP/2 stream a failed write (the server reset the
// stream after its response, RFC 9113 §8.1) leaves the stream open for
// the reader, which still has the server's last frames to read: an echo
// before a violation's close frame was lost this way, now and then, when
// the runner's write of the case's next frame lost the race with the
// reset (case 3.4 or 4.1.5 NON-STRICT). Over TCP a write error closes
// the connection, as Twisted does. Either way nothing more is written.
func TestWriter_WriteErrorOnStreamKeepsReading_RFC8441_5(t *testing.T) {
	for _, stream := range []bool{false, true} {
		c := &failingConn{}
		w := newWriter(c, stream)
		w.push(writeItem{data: []byte("text frame")})
		w.push(writeItem{data: []byte("ping frame")})
		w.stop()
		if got, want := c.closed.Load(), !stream; got != want {
			t.Errorf("stream=%v: closed after the failed write: %v, want %v", stream, got, want)
		}
		if n := c.writes.Load(); n != 1 {
			t.Errorf("stream=%v: %d writes, want 1 (nothing after the failure)", stream, n)
		}
	}
}
