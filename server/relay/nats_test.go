package relay

// Tests of the relay on several nodes (nats.go) with a real NATS server,
// the nats-server module embedded, on loopback with ephemeral ports:
// routing and presence across nodes under load, a node that dies, and
// NATS stopping and coming back in the middle of traffic, a slow
// recipient on another node.

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/server"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// natsServer is an embedded NATS server that can be stopped and started
// again on the same port.
type natsServer struct {
	t    testing.TB
	mu   sync.Mutex
	s    *natsserver.Server
	port int
}

// startNATS starts a NATS server on a random loopback port; it is shut
// down at the end of the test.
func startNATS(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, port: -1}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for {
		s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: ns.port, NoLog: true, NoSigs: true})
		if err != nil {
			ns.t.Fatalf("nats-server: %v", err)
		}
		go s.Start()
		if s.ReadyForConnections(wstest.Timeout) {
			ns.mu.Lock()
			ns.s = s
			if ns.port == -1 {
				ns.port = s.Addr().(*net.TCPAddr).Port
			}
			ns.mu.Unlock()
			return
		}
		// The old port may still be held for a moment after a restart.
		s.Shutdown()
		if time.Now().After(deadline) {
			ns.t.Fatalf("nats-server did not start on port %d within %v", ns.port, wstest.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (ns *natsServer) stop() {
	ns.mu.Lock()
	s := ns.s
	ns.s = nil
	ns.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

// testNode is one relay node: a Hub joined to NATS, served on loopback.
type testNode struct {
	hub  *Hub
	node *Node
	nc   *nats.Conn
	srv  *server.Server
	addr string
}

// startNode starts a relay node on ns. It leaves and disconnects at the
// end of the test, after its server shut down.
func startNode(t testing.TB, ns *natsServer, cfg NodeConfig) *testNode {
	t.Helper()
	return startNodeWith(t, ns, cfg, &Hub{Logger: wstest.QuietLogger()}, nil)
}

// startNodeWith starts a relay node serving hub, with wrap applied to
// each server-side connection (see startHub).
func startNodeWith(t testing.TB, ns *natsServer, cfg NodeConfig, hub *Hub, wrap func(*frame.Conn)) *testNode {
	t.Helper()
	nc, err := nats.Connect(ns.url(), append(NATSOptions(wstest.QuietLogger()), nats.Name(cfg.Name))...)
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	tn := &testNode{hub: hub, nc: nc}
	tn.node, err = JoinNATS(tn.hub, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tn.node.Leave()
		nc.Close()
	})
	tn.addr, tn.srv = startHub(t, tn.hub, wrap)
	return tn
}

// startNodes starts n nodes on ns and waits until each sees the others.
func startNodes(t testing.TB, ns *natsServer, n int, cfg NodeConfig) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		c := cfg
		c.Name = fmt.Sprintf("node%d", i)
		nodes[i] = startNode(t, ns, c)
	}
	wstest.WaitUntil(t, wstest.Timeout, "every node to see the others", func() bool {
		for _, tn := range nodes {
			if tn.node.Stats().Nodes != n-1 {
				return false
			}
		}
		return true
	}, func() string { return nodeStats(nodes) })
	return nodes
}

func nodeStats(nodes []*testNode) string {
	var b strings.Builder
	for _, tn := range nodes {
		fmt.Fprintf(&b, "%+v; ", tn.node.Stats())
	}
	return b.String()
}

func addrsOf(nodes []*testNode) []string {
	addrs := make([]string, len(nodes))
	for i, tn := range nodes {
		addrs[i] = tn.addr
	}
	return addrs
}

// checkHomes checks that each client's id is registered on the node it
// dialed and on no other, and that every node counts the others' clients.
func checkHomes(t testing.TB, lr *loadRun, nodes []*testNode) {
	t.Helper()
	for _, cl := range lr.clients {
		if cl.leaver {
			continue
		}
		for i, tn := range nodes {
			_, here := tn.hub.clients.Load(cl.id)
			if here != (i == cl.node) {
				t.Errorf("client %d dialed node %d, but node %d has its id: %v", cl.idx, cl.node, i, here)
			}
		}
	}
}

// TestNATS_3Nodes_Load1000: three relay nodes on one NATS server, a
// thousand clients spread over them (two thirds of the messages cross
// NATS), fifty of them watching presence: every message is delivered
// exactly once, to the client that owns the id, in order per sender and
// recipient, and acked; every watcher's view ends exactly the clients
// of all nodes.
func TestNATS_3Nodes_Load1000(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 3, NodeConfig{DeadAfter: 30 * time.Second})
	cfg := loadConfig{clients: 1000, perClient: loadPerClient(), window: 8, watchers: 50}
	lr := newLoadRunOn(t, addrsOf(nodes), cfg)
	wstest.WaitUntil(t, wstest.Timeout, "every node to count all clients", func() bool {
		for _, tn := range nodes {
			if s := tn.node.Stats(); s.Clients+s.RemoteClients != cfg.clients {
				return false
			}
		}
		return true
	}, func() string { return nodeStats(nodes) })
	took := lr.run(64)
	counts := lr.verify()
	lr.checkViews()
	checkHomes(t, lr, nodes)
	t.Logf("%d messages over 3 nodes in %v: %d acked; %s", lr.nextRef.Load(), took.Round(time.Millisecond), counts[outAck], nodeStats(nodes))
	if counts[outAck] != cfg.clients*cfg.perClient {
		t.Errorf("%d of %d messages acked", counts[outAck], cfg.clients*cfg.perClient)
	}
	closeAllNodes(t, lr, nodes)
}

// numClientSubs counts the node's subscriptions for its clients.
func numClientSubs(n *Node) int {
	k := 0
	n.csubs.Range(func(_, _ any) bool { k++; return true })
	return k
}

// closeAllNodes closes every client of lr and waits until every node has
// forgotten them, here and in presence.
func closeAllNodes(t testing.TB, lr *loadRun, nodes []*testNode) {
	t.Helper()
	for _, cl := range lr.clients {
		cl.c.CloseNow()
	}
	for _, cl := range lr.clients {
		<-cl.done
	}
	wstest.WaitUntil(t, wstest.Timeout, "every node to forget every client", func() bool {
		for _, tn := range nodes {
			if s := tn.node.Stats(); s.Clients != 0 || s.RemoteClients != 0 || numClientSubs(tn.node) != 0 {
				return false
			}
		}
		return true
	}, func() string { return nodeStats(nodes) })
}

// crash stops the node as a killed process would: no bye, no more
// heartbeats, its NATS connection closed (NATS drops its subscriptions).
func (n *Node) crash() {
	n.mu.Lock()
	n.left = true
	n.mu.Unlock()
	close(n.stop)
	<-n.done
	n.nc.Close()
}

// outcomeCounts counts the outcomes of the messages sent so far that
// match keep.
func (lr *loadRun) outcomeCounts(keep func(m *loadMsg) bool) (counts [outOther + 1]int) {
	for ref := range lr.nextRef.Load() {
		if m := &lr.msgs[ref]; m.used.Load() && keep(m) {
			counts[m.outcome.Load()]++
		}
	}
	return counts
}

// waitAcked waits until n of the messages that match keep are acked.
func waitAcked(t testing.TB, lr *loadRun, n int, keep func(m *loadMsg) bool) {
	wstest.WaitUntil(t, time.Minute, fmt.Sprintf("%d messages to be acked", n), func() bool {
		return lr.outcomeCounts(keep)[outAck] >= n
	}, nil)
}

func fmtCounts(c [outOther + 1]int) string {
	return fmt.Sprintf("%d acked, %d unknown_recipient, %d recipient_slow, %d recipient_gone, %d bus_unavailable, %d bus_timeout, %d unanswered",
		c[outAck], c[outUnknown], c[outSlow], c[outGone], c[outBusDown], c[outBusTimeout], c[outNone])
}

// TestNATS_NodeDies: one of three nodes dies in the middle of traffic
// (no bye, its NATS connection and its clients' connections cut). Every
// message of the clients that stayed gets one answer; those between
// clients that stayed are all delivered; a message to a dead node's client
// is acked (queued before the death), recipient_gone, bus_unavailable or
// bus_timeout (in flight), or unknown_recipient, never acked and lost
// unless its recipient died. The watchers on the other nodes are sent a
// leave for every client of the dead node within DeadAfter + Heartbeat
// of its death (plus scheduling), and afterwards its ids are
// unknown_recipient.
func TestNATS_NodeDies(t *testing.T) {
	ns := startNATS(t)
	const hb, dead = 250 * time.Millisecond, 2 * time.Second
	nodes := startNodes(t, ns, 3, NodeConfig{Heartbeat: hb, DeadAfter: dead, RemoteTimeout: 3 * time.Second})
	victim := nodes[2]
	var killedAt time.Time
	var dropped time.Duration
	measured := make(chan struct{})
	var lr *loadRun
	cfg := loadConfig{clients: 600, perClient: loadPerClient(), window: 8, watchers: 30, busFaults: true,
		atThird: func() {
			// Mid-traffic: once messages flow to the victim's clients.
			waitAcked(t, lr, 200, func(m *loadMsg) bool { return lr.clients[m.to].node == 2 && lr.clients[m.from].node != 2 })
			killedAt = time.Now()
			victim.node.crash()
			for _, cl := range lr.clients {
				if cl.leaver {
					cl.c.CloseNow() // the process's sockets die with it
				}
			}
			// Time the drop while the traffic goes on.
			go func() {
				defer close(measured)
				deadline := time.Now().Add(time.Minute)
				for !droppedEverywhere(lr, nodes[:2]) && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				dropped = time.Since(killedAt)
			}()
		}}
	lr = newLoadRunOn(t, addrsOf(nodes), cfg)
	for _, cl := range lr.clients {
		cl.leaver = cl.node == 2
	}
	took := lr.run(64)

	// Presence: every watcher that stayed drops every client of the dead
	// node, and the other nodes drop the dead node.
	<-measured
	if !droppedEverywhere(lr, nodes[:2]) {
		t.Fatalf("a minute after the kill, the dead node's clients are still online somewhere: %s", nodeStats(nodes[:2]))
	}
	lr.checkViews()

	counts := lr.verify()
	toDead := lr.outcomeCounts(func(m *loadMsg) bool { return lr.clients[m.to].node == 2 && lr.clients[m.from].node != 2 })
	t.Logf("%d messages in %v; all: %s", lr.nextRef.Load(), took.Round(time.Millisecond), fmtCounts(counts))
	t.Logf("to the dead node's clients from the others: %s", fmtCounts(toDead))
	t.Logf("the dead node and its clients dropped by the other nodes and every watcher's view %v after the kill (bound: DeadAfter+Heartbeat = %v, plus scheduling)",
		dropped.Round(time.Millisecond), dead+hb)
	if toDead[outOther] != 0 {
		t.Errorf("unexpected answers to messages for the dead node's clients: %s", fmtCounts(toDead))
	}

	// After the drop, a dead node's id is unknown everywhere.
	var deadID string
	for _, cl := range lr.clients {
		if cl.node == 2 {
			deadID = cl.id
			break
		}
	}
	p := dialPeer(t, nodes[0].addr)
	p.send(deadID, "hello?", 1)
	if e := p.nextType("error"); e.Code != CodeUnknownRecipient {
		t.Errorf("a message to a client of the dead node, after the drop: %v, want unknown_recipient", e)
	}
	p.c.CloseNow()
}

// droppedEverywhere reports whether the nodes have dropped every client
// of node 2 (the leavers), and every watcher that stayed has been told.
func droppedEverywhere(lr *loadRun, nodes []*testNode) bool {
	for _, tn := range nodes {
		if tn.node.Stats().Nodes != len(nodes)-1 {
			return false
		}
	}
	for _, w := range lr.clients {
		if !w.watcher || w.leaver {
			continue
		}
		w.vmu.Lock()
		for _, cl := range lr.clients {
			if cl.leaver && w.view[cl.id] {
				w.vmu.Unlock()
				return false
			}
		}
		w.vmu.Unlock()
	}
	return true
}

// TestNATS_Restart: NATS stops in the middle of traffic and starts again
// on the same port. While it is down, messages to other nodes get
// bus_unavailable (or bus_timeout if in flight) and messages between
// clients of one node are delivered and acked; no message is acked and
// then lost, none arrives after its sender was told bus_unavailable, none
// arrives twice, order per pair holds. The nodes reconnect by themselves,
// and then every message of a new load over the three nodes is delivered
// and acked, with presence exact.
func TestNATS_Restart(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns, 3, NodeConfig{DeadAfter: 30 * time.Second, RemoteTimeout: 2 * time.Second})
	var lr *loadRun
	var downFor time.Duration
	cfg := loadConfig{clients: 600, perClient: 2 * loadPerClient(), window: 8, watchers: 30, busFaults: true,
		atThird: func() {
			// Mid-traffic: once messages flow between nodes.
			waitAcked(t, lr, 500, func(m *loadMsg) bool { return lr.clients[m.to].node != lr.clients[m.from].node })
			ns.stop()
			stopped := time.Now()
			// Wait until senders were refused, then bring NATS back.
			wstest.WaitUntil(t, time.Minute, "a sender to be told bus_unavailable while NATS is down", func() bool {
				return lr.outcomeCounts(func(*loadMsg) bool { return true })[outBusDown] > 0
			}, nil)
			ns.start()
			wstest.WaitUntil(t, time.Minute, "every node to reconnect to NATS", func() bool {
				for _, tn := range nodes {
					if !tn.node.Connected() {
						return false
					}
				}
				return true
			}, func() string { return nodeStats(nodes) })
			downFor = time.Since(stopped)
		}}
	lr = newLoadRunOn(t, addrsOf(nodes), cfg)
	took := lr.run(64)
	counts := lr.verify()
	local := lr.outcomeCounts(func(m *loadMsg) bool { return lr.clients[m.from].node == lr.clients[m.to].node })
	remote := lr.outcomeCounts(func(m *loadMsg) bool { return lr.clients[m.from].node != lr.clients[m.to].node })
	t.Logf("%d messages in %v, NATS down and back for %v; all: %s", lr.nextRef.Load(), took.Round(time.Millisecond), downFor.Round(time.Millisecond), fmtCounts(counts))
	t.Logf("between clients of one node: %s", fmtCounts(local))
	t.Logf("between nodes: %s", fmtCounts(remote))
	if local[outAck] != local[outAck]+local[outUnknown]+local[outSlow]+local[outGone]+local[outBusDown]+local[outBusTimeout]+local[outOther] {
		t.Errorf("messages between clients of one node were refused: %s", fmtCounts(local))
	}
	if remote[outUnknown]+remote[outSlow]+remote[outGone]+remote[outOther] != 0 {
		t.Errorf("messages between nodes got answers other than ack and bus errors: %s", fmtCounts(remote))
	}
	lr.checkViews()
	closeAllNodes(t, lr, nodes)

	// Traffic resumes: a new load over the same nodes is all delivered.
	cfg2 := loadConfig{clients: 300, perClient: loadPerClient(), window: 8, watchers: 30}
	lr2 := newLoadRunOn(t, addrsOf(nodes), cfg2)
	lr2.run(64)
	counts2 := lr2.verify()
	lr2.checkViews()
	t.Logf("after NATS came back: %d messages, %s", lr2.nextRef.Load(), fmtCounts(counts2))
	if counts2[outAck] != cfg2.clients*cfg2.perClient {
		t.Errorf("after NATS came back, %d of %d messages acked", counts2[outAck], cfg2.clients*cfg2.perClient)
	}
	closeAllNodes(t, lr2, nodes)
}

// BenchmarkNATS_1000Conns is BenchmarkHub_1000Conns with the thousand
// clients spread over three nodes on one NATS server (two thirds of the
// messages cross NATS), to compare with one relay:
//
//	go test ./server/relay -run '^$' -bench '(Hub|NATS)_1000' -benchtime 100000x
func BenchmarkNATS_1000Conns(b *testing.B) {
	for _, window := range []int{1, 8} {
		b.Run("window="+fmt.Sprint(window), func(b *testing.B) {
			ns := startNATS(b)
			nodes := startNodes(b, ns, 3, NodeConfig{DeadAfter: time.Minute})
			benchLoad(b, addrsOf(nodes), window)
		})
	}
}

// TestNATS_SlowRemoteRecipient: a recipient on another node that does
// not read. Its node refuses a message with recipient_slow once its
// queue is full, and the sender on the first node is told so; the slow
// recipient holds up nobody else on either node; when it reads at last,
// it gets exactly the acked messages, in order.
func TestNATS_SlowRemoteRecipient(t *testing.T) {
	ns := startNATS(t)
	n0 := startNode(t, ns, NodeConfig{Name: "node0"})
	slowHub := &Hub{QueueSize: 8, StuckTimeout: 10 * time.Minute, Logger: wstest.QuietLogger()}
	n1 := startNodeWith(t, ns, NodeConfig{Name: "node1"}, slowHub, wstest.SmallSendBuffer)
	wstest.WaitUntil(t, wstest.Timeout, "both nodes to see each other", func() bool {
		return n0.node.Stats().Nodes == 1 && n1.node.Stats().Nodes == 1
	}, func() string { return nodeStats([]*testNode{n0, n1}) })

	b := dialManual(t, n1.addr) // on node1; never reads until told to
	a := dialPeer(t, n0.addr)   // on node0
	c, d := dialPeer(t, n0.addr), dialPeer(t, n1.addr)
	wstest.WaitUntil(t, wstest.Timeout, "node0 to list the clients of node1", func() bool {
		a.sendRaw(`{"type":"list","ref":"p"}`)
		ids := a.nextType("online").IDs
		return slices.Contains(ids, b.id) && slices.Contains(ids, d.id)
	}, nil)

	got := answers{}
	n := fill(t, a, b.id, 8<<10, 0, got)
	t.Logf("recipient_slow after %d messages across nodes: %d acked, %d recipient_slow",
		n, got.count("ack"), got.count(CodeRecipientSlow))
	for ref := range n {
		if e := got[ref]; e.Type != "ack" && e.Code != CodeRecipientSlow {
			t.Fatalf("message %d: got %v, want ack or recipient_slow", ref, e)
		}
	}

	// Nobody else is held up: node0 → node1 and node1 → node0.
	c.send(d.id, "still flowing", 1)
	if e := d.nextType("message"); e.Message != "still flowing" || e.From != c.id {
		t.Fatalf("got %v", e)
	}
	if e := c.nextType("ack"); string(e.Ref) != "1" {
		t.Fatalf("got %v", e)
	}
	d.send(c.id, "and back", 2)
	if e := c.nextType("message"); e.Message != "and back" || e.From != d.id {
		t.Fatalf("got %v", e)
	}

	// The recipient reads at last: exactly the acked messages, in order.
	var acked []int
	for ref := range n {
		if got[ref].Type == "ack" {
			acked = append(acked, ref)
		}
	}
	b.c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
	var refs []int
	for len(refs) < len(acked) {
		_, msg, err := b.c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("recipient: %v after %d of %d acked messages", err, len(refs), len(acked))
		}
		var e envelope
		if json.Unmarshal(msg, &e) != nil || e.Type != "message" || e.From != a.id {
			continue // presence events for b are not counted
		}
		num, _, _ := strings.Cut(e.Message, " ")
		ref, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("message %.40q has no ref", e.Message)
		}
		refs = append(refs, ref)
	}
	if fmt.Sprint(refs) != fmt.Sprint(acked) {
		t.Fatalf("recipient read %v\nacked:        %v", refs, acked)
	}
}
