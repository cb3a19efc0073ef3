package server

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// TestRelay_PresenceListVsLeave: a client that leaves while a watcher's
// list request is being answered must not stay in the watcher's view.
// The hook stretches the moment between the relay taking the online list
// and queueing it, as a busy machine does.
func TestRelay_PresenceListVsLeave(t *testing.T) {
	checkGoroutines(t)
	r := &Relay{}
	addr, _ := startRelay(t, r, nil)
	w, x := dialRelay(t, addr), dialRelay(t, addr)
	hook := func() {
		relayHookListed.Store(nil) // only the reader of w runs it, once
		x.c.CloseNow()
		// Let x's detach announce the leave and w's writer write it
		// (not a correctness wait: the view must end right either way).
		deadline := time.Now().Add(testTimeout)
		for r.NumClients() != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	relayHookListed.Store(&hook)
	t.Cleanup(func() { relayHookListed.Store(nil) })
	w.sendRaw(`{"type":"list","watch":true,"ref":1}`)
	view := map[string]bool{}
	var seen []string
	for {
		e := w.next()
		seen = append(seen, e.String())
		switch e.Type {
		case "online":
			clear(view)
			for _, id := range e.IDs {
				view[id] = true
			}
		case "join":
			view[e.ID] = true
		case "leave":
			delete(view, e.ID)
		}
		if e.Type == "online" && string(e.Ref) == "1" {
			break
		}
	}
	// Anything still to come (a late leave) is read within a generous
	// ceiling: the view must end right, however slowly.
	deadline := time.After(testTimeout)
	for view[x.id] {
		select {
		case e := <-w.in:
			seen = append(seen, e.String())
			if e.Type == "leave" {
				delete(view, e.ID)
			}
		case <-deadline:
			t.Fatalf("watcher's view still lists %s, which left; envelopes: %v", x.id, seen)
		}
	}
}

// TestRelay_PresenceListVsJoin: the same for a client that joins.
func TestRelay_PresenceListVsJoin(t *testing.T) {
	checkGoroutines(t)
	r := &Relay{}
	addr, _ := startRelay(t, r, nil)
	w := dialRelay(t, addr)
	yc := make(chan *relayPeer, 1)
	hook := func() {
		relayHookListed.Store(nil)
		yc <- dialRelay(t, addr) // welcome read: y is registered and announced
		time.Sleep(50 * time.Millisecond)
	}
	relayHookListed.Store(&hook)
	t.Cleanup(func() { relayHookListed.Store(nil) })
	w.sendRaw(`{"type":"list","watch":true,"ref":1}`)
	view := map[string]bool{}
	var seen []string
	apply := func(e relayEnv) {
		seen = append(seen, e.Type)
		switch e.Type {
		case "online":
			clear(view)
			for _, id := range e.IDs {
				view[id] = true
			}
		case "join":
			view[e.ID] = true
		case "leave":
			delete(view, e.ID)
		}
	}
	for {
		e := w.next()
		apply(e)
		if e.Type == "online" && string(e.Ref) == "1" {
			break
		}
	}
	y := <-yc
	deadline := time.After(testTimeout)
	for !view[y.id] {
		select {
		case e := <-w.in:
			apply(e)
		case <-deadline:
			t.Fatalf("watcher's view lacks %s, which joined; envelopes: %v", y.id, seen)
		}
	}
}

// TestRelay_PresenceJoinVsEarlyLeave: a client whose connection breaks at
// once (its welcome cannot be written) must not stay in a watcher's view:
// its leave must not reach the watcher before its join.
func TestRelay_PresenceJoinVsEarlyLeave(t *testing.T) {
	checkGoroutines(t)
	r := &Relay{}
	gate := make(chan struct{})
	var n atomic.Int32
	addr, _ := startRelay(t, r, func(c *frame.Conn) {
		if n.Add(1) == 2 { // y: serve it only once it has reset its connection
			<-gate
			time.Sleep(50 * time.Millisecond)
		}
	})
	w := dialRelay(t, addr)
	w.sendRaw(`{"type":"list","watch":true}`)
	w.nextType("online")
	hook := func(cl *relayClient) {
		relayHookJoining.Store(nil)
		// Let y's writer fail on the welcome and detach y (announcing its
		// leave) before the join is announced, as a slow announce to many
		// watchers would.
		deadline := time.Now().Add(2 * time.Second)
		for !cl.gone.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	relayHookJoining.Store(&hook)
	t.Cleanup(func() { relayHookJoining.Store(nil) })
	y := dialRaw(t, addr)
	y.upgrade(addr, "/", nil)
	y.nc.(*net.TCPConn).SetLinger(0)
	y.nc.Close() // RST
	close(gate)
	view := map[string]bool{}
	var seen []string
	deadline := time.After(testTimeout)
	// Read y's two events (in whatever order), then check the view.
	for len(seen) < 2 {
		select {
		case e := <-w.in:
			seen = append(seen, e.Type+" "+e.ID)
			switch e.Type {
			case "join":
				view[e.ID] = true
			case "leave":
				delete(view, e.ID)
			}
		case <-deadline:
			t.Fatalf("watcher got %v, want y's join and leave", seen)
		}
	}
	if len(view) != 0 {
		t.Fatalf("watcher's view lists %v after %v: a client that left is shown online", view, seen)
	}
}
