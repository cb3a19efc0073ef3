package relay

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// TestHub_PresenceListVsLeave: a client that leaves while a watcher's
// list request is being answered must not stay in the watcher's view.
// The hook stretches the moment between the relay taking the online list
// and queueing it, as a busy machine does.
func TestHub_PresenceListVsLeave(t *testing.T) {
	wstest.CheckGoroutines(t)
	r := &Hub{}
	addr, _ := startHub(t, r, nil)
	w, x := dialPeer(t, addr), dialPeer(t, addr)
	hook := func() {
		hookListed.Store(nil) // only the reader of w runs it, once
		x.c.CloseNow()
		// Let x's detach announce the leave and w's writer write it
		// (not a correctness wait: the view must end right either way).
		deadline := time.Now().Add(wstest.Timeout)
		for r.NumClients() != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hookListed.Store(&hook)
	t.Cleanup(func() { hookListed.Store(nil) })
	w.sendRaw(`{"type":"list","watch":true,"ref":1}`)
	p := newPresence()
	p.untilList(w, "1")
	// Anything still to come (a late leave) is read within a generous
	// ceiling: the view must end right, however slowly.
	p.until(t, w, func() bool { return !p.view[x.id] }, "the watcher's view to drop "+x.id+", which left")
}

// presence is a watcher's view of who is online, built as the relay's doc
// says a client should: an online list replaces the view, a join adds an
// id, a leave removes it. seen keeps what was applied, for failures.
type presence struct {
	view map[string]bool
	seen []string
}

func newPresence() *presence { return &presence{view: map[string]bool{}} }

func (p *presence) apply(e envelope) {
	p.seen = append(p.seen, e.Type+" "+e.ID+fmt.Sprint(e.IDs))
	switch e.Type {
	case "online":
		clear(p.view)
		for _, id := range e.IDs {
			p.view[id] = true
		}
	case "join":
		p.view[e.ID] = true
	case "leave":
		delete(p.view, e.ID)
	}
}

// untilList applies w's envelopes up to the online list answering ref.
func (p *presence) untilList(w *peer, ref string) {
	for {
		e := w.next()
		p.apply(e)
		if e.Type == "online" && string(e.Ref) == ref {
			return
		}
	}
}

// until applies w's envelopes until cond holds, failing after wstest.Timeout
// with what was awaited and what was seen.
func (p *presence) until(t testing.TB, w *peer, cond func() bool, what string) {
	t.Helper()
	deadline := time.After(wstest.Timeout)
	for !cond() {
		select {
		case e := <-w.in:
			p.apply(e)
		case <-deadline:
			t.Fatalf("still waiting after %v for %s; envelopes: %v", wstest.Timeout, what, p.seen)
		}
	}
}

// TestHub_PresenceListVsJoin: the same for a client that joins.
func TestHub_PresenceListVsJoin(t *testing.T) {
	wstest.CheckGoroutines(t)
	r := &Hub{}
	addr, _ := startHub(t, r, nil)
	w := dialPeer(t, addr)
	yc := make(chan *peer, 1)
	hook := func() {
		hookListed.Store(nil)
		yc <- dialPeer(t, addr) // welcome read: y is registered and announced
		time.Sleep(50 * time.Millisecond)
	}
	hookListed.Store(&hook)
	t.Cleanup(func() { hookListed.Store(nil) })
	w.sendRaw(`{"type":"list","watch":true,"ref":1}`)
	p := newPresence()
	p.untilList(w, "1")
	y := <-yc
	p.until(t, w, func() bool { return p.view[y.id] }, "the watcher's view to show "+y.id+", which joined")
}

// TestHub_PresenceJoinVsEarlyLeave: a client whose connection breaks at
// once (its welcome cannot be written) must not stay in a watcher's view:
// its leave must not reach the watcher before its join.
func TestHub_PresenceJoinVsEarlyLeave(t *testing.T) {
	wstest.CheckGoroutines(t)
	r := &Hub{}
	gate := make(chan struct{})
	var n atomic.Int32
	addr, _ := startHub(t, r, func(c *frame.Conn) {
		if n.Add(1) == 2 { // y: serve it only once it has reset its connection
			<-gate
			time.Sleep(50 * time.Millisecond)
		}
	})
	w := dialPeer(t, addr)
	w.sendRaw(`{"type":"list","watch":true}`)
	w.nextType("online")
	hook := func(cl *client) {
		hookJoining.Store(nil)
		// Let y's writer fail on the welcome and detach y (announcing its
		// leave) before the join is announced, as a slow announce to many
		// watchers would.
		deadline := time.Now().Add(2 * time.Second)
		for !cl.gone.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hookJoining.Store(&hook)
	t.Cleanup(func() { hookJoining.Store(nil) })
	y := wstest.DialRaw(t, addr)
	y.Upgrade(addr, "/", nil)
	y.Conn.(*net.TCPConn).SetLinger(0)
	y.Conn.Close() // RST
	close(gate)
	// Read y's two events (in whatever order), then check the view.
	p := newPresence()
	p.until(t, w, func() bool { return len(p.seen) == 2 }, "y's join and leave")
	if len(p.view) != 0 {
		t.Fatalf("watcher's view lists %v after %v: a client that left is shown online", p.view, p.seen)
	}
}
