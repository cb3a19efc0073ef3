package autobahn

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/ws6455/ws6455/handshake"
)

// The cases run unchanged with the fuzzer as the server (Autobahn's
// fuzzingserver mode) against a client built on frame.Conn that echoes
// messages.
func TestServerRole_SameCasesAgainstClient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, id := range []string{"1.1.1", "1.2.8", "2.2", "3.1", "5.6", "6.3.1", "7.3.2", "7.7.2", "9.1.1"} {
		client := make(chan error, 1)
		go func() {
			d := handshake.Dialer{}
			c, _, err := d.Dial(context.Background(), "ws://"+l.Addr().String()+"/runCase")
			if err != nil {
				client <- err
				return
			}
			defer c.CloseNow()
			for {
				op, msg, err := c.ReadMessage(nil)
				if err != nil {
					client <- nil
					return
				}
				if c.WriteMessage(op, msg) != nil {
					client <- nil
					return
				}
			}
		}()
		nc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		u := handshake.Upgrader{}
		if _, err := u.Upgrade(br, nc); err != nil {
			t.Fatal(err)
		}
		buffered, _ := br.Peek(br.Buffered())
		// The close timeouts raised to 30 s: ceilings for a conforming
		// client, which 1 s is not always on a busy machine.
		opts := DefaultOptions(RoleServer)
		opts.CloseHandshakeTimeout, opts.ServerConnectionDropTimeout = 30*time.Second, 30*time.Second
		res := RunServerCase(Lookup(id), nc, append([]byte(nil), buffered...), opts, "frame.Conn client", "", "", nil)
		if err := <-client; err != nil {
			t.Fatal(err)
		}
		if res.Behavior != OK || res.BehaviorClose != OK || !res.IsServer {
			t.Errorf("case %s as server: %s / %s (%s / %s)", id, res.Behavior, res.BehaviorClose, res.Result, res.ResultClose)
		}
		// Frames the fuzzer sent as a server are not masked.
		for _, e := range res.Wirelog {
			if t0 := e.([]any); t0[0] == "TF" && t0[5] != nil {
				t.Errorf("case %s: server frame masked: %v", id, t0)
			}
		}
	}
}
