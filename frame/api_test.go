package frame

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// RFC 6455 §5.5.3: "A Pong frame sent in response to a Ping frame must
// have identical Application data". Ping sends a ping, waits for the pong
// that carries its payload, and returns the round trip; pings from several
// goroutines at once each get their own pong.
func TestPing_RoundTrip_RFC6455_5_5_3(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, cli := connPair(t, tr, Config{}, Config{})
		readLoop(srv) // answers the pings
		readLoop(cli) // receives the pongs
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				rtt, err := cli.Ping(ctx)
				if err != nil || rtt <= 0 {
					t.Errorf("Ping: %v, %v", rtt, err)
				}
			})
		}
		wg.Wait()
	})
}

// Ping needs a reader for the pong to arrive; without one it returns
// ctx's error, and once the connection ends, the connection's error.
func TestPing_NoReaderAndClosed(t *testing.T) {
	srv, cli := connPair(t, transports[0], Config{}, Config{})
	readLoop(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := cli.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping without a reader: %v, want context.DeadlineExceeded", err)
	}
	cli.CloseNow()
	if _, err := cli.Ping(context.Background()); CloseStatus(err) != CloseAbnormal {
		t.Fatalf("Ping on a closed Conn: %v, want the 1006", err)
	}
}

// RFC 6455 §7.4.1 (1009) and §10.4: SetReadLimit changes the message
// limit of one connection, lower or higher than its Config's, from the
// next message on.
func TestSetReadLimit_RFC6455_7_4_1(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role, MaxMessageSize: 10})
		conn.SetReadLimit(100)
		msgs := readLoop(conn)
		p.send(true, OpBinary, make([]byte, 50))
		expectMessage(t, msgs, OpBinary, make([]byte, 50))
		conn2, p2 := connAndPeer(t, tr, role, Config{Role: role})
		conn2.SetReadLimit(10)
		msgs2 := readLoop(conn2)
		p2.send(true, OpBinary, make([]byte, 11))
		p2.expectClose(CloseMessageTooBig)
		p2.nc.Close()
		expectCloseError(t, msgs2, CloseMessageTooBig, true)
	})
}

// Per-connection handlers (gorilla's SetPingHandler, SetPongHandler): each
// connection's handler sees its own frames; nil restores Config's; the
// pong answering a ping is sent whatever the handler does (§5.5.2 MUST).
func TestHandlers_PerConnection_RFC6455_5_5_2(t *testing.T) {
	var cfgPings []string
	var mu sync.Mutex
	cfg := Config{OnPing: func(p []byte) { mu.Lock(); cfgPings = append(cfgPings, string(p)); mu.Unlock() }}
	a, pa := connAndPeer(t, transports[0], RoleServer, cfg)
	b, pb := connAndPeer(t, transports[0], RoleServer, cfg)
	seen := make(chan string, 10)
	a.SetPingHandler(func(p []byte) { seen <- "a:" + string(p) })
	a.SetPongHandler(func(p []byte) { seen <- "a pong:" + string(p) })
	readLoop(a)
	readLoop(b)
	pa.send(true, OpPing, []byte("1"))
	pa.expectFrame(OpPong, []byte("1"))
	pb.send(true, OpPing, []byte("2"))
	pb.expectFrame(OpPong, []byte("2"))
	pa.send(true, OpPong, []byte("3"))
	for _, want := range []string{"a:1", "a pong:3"} {
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("handler saw %q, want %q", got, want)
			}
		case <-time.After(testTimeout):
			t.Fatalf("no %q", want)
		}
	}
	a.SetPingHandler(nil)
	pa.send(true, OpPing, []byte("4"))
	pa.expectFrame(OpPong, []byte("4"))
	mu.Lock()
	defer mu.Unlock()
	if len(cfgPings) != 2 || cfgPings[0] != "2" || cfgPings[1] != "4" {
		t.Fatalf("Config.OnPing saw %q, want b's ping and a's after the reset", cfgPings)
	}
}

// WriteControl sends pings and pongs only.
func TestWriteControl_RFC6455_5_5(t *testing.T) {
	c, p := connAndPeer(t, transports[0], RoleServer, Config{})
	for _, op := range []Opcode{OpText, OpBinary, OpClose, OpContinuation} {
		if err := c.WriteControl(op, nil); !errors.Is(err, ErrBadOpcode) {
			t.Errorf("WriteControl(%v): %v", op, err)
		}
	}
	if err := c.WriteControl(OpPong, []byte("beat")); err != nil {
		t.Fatal(err)
	}
	p.expectFrame(OpPong, []byte("beat"))
}

// WriteJSON sends one text message (RFC 6455 §5.6) and ReadJSON decodes
// one; a message that is not JSON is an error that keeps the connection.
func TestJSON_RFC6455_5_6(t *testing.T) {
	srv, cli := connPair(t, transports[0], Config{}, Config{})
	type point struct{ X, Y int }
	go WriteJSON(cli, point{3, 4})
	var got point
	if err := ReadJSON(srv, &got); err != nil || got != (point{3, 4}) {
		t.Fatalf("ReadJSON: %+v %v", got, err)
	}
	go cli.WriteMessage(OpText, []byte("not json"))
	if err := ReadJSON(srv, &got); err == nil {
		t.Fatal("ReadJSON of text that is not JSON succeeded")
	}
	go WriteJSON(cli, point{5, 6})
	if err := ReadJSON(srv, &got); err != nil || got != (point{5, 6}) {
		t.Fatalf("after a bad message: %+v %v", got, err)
	}
	if err := WriteJSON(cli, func() {}); err == nil {
		t.Fatal("WriteJSON of a func succeeded")
	}
}

// prefixConn is a wrapper of the kind that must not be bypassed: it embeds
// a *net.TCPConn (so SyscallConn is promoted) but first returns bytes of
// its own.
type prefixConn struct {
	*net.TCPConn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.TCPConn.Read(b)
}

// The raw-socket fast path is taken only for the standard library's socket
// types: over a wrapper that embeds one and has bytes of its own, a Conn
// reads through the wrapper and gets them.
func TestRawSocketOnlyForKnownTypes(t *testing.T) {
	s, c := tcpPair(t)
	p := newPeer(t, c, RoleClient)
	first := p.frame(true, OpText, []byte("from the wrapper"))
	w := &prefixConn{TCPConn: s.(*net.TCPConn), prefix: first}
	conn := newTestConn(t, w, Config{})
	if PlumbingOf(conn).CanTryRead() {
		t.Fatal("the fast path was taken for a wrapper")
	}
	msgs := readLoop(conn)
	expectMessage(t, msgs, OpText, []byte("from the wrapper"))
	p.send(true, OpText, []byte("from the socket"))
	expectMessage(t, msgs, OpText, []byte("from the socket"))
	if !PlumbingOf(newTestConn(t, s, Config{})).CanTryRead() && canWaitRaw {
		t.Fatal("no fast path for a *net.TCPConn")
	}
}
