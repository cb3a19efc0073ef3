package relay

// Tests of the relay on several nodes (nats.go) with a real NATS server,
// the nats-server module embedded, on loopback with ephemeral ports:
// routing and presence across nodes under load, a node that dies, and
// NATS stopping and coming back in the middle of traffic.

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

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
	nc, err := nats.Connect(ns.url(), append(NATSOptions(), nats.Name(cfg.Name))...)
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	tn := &testNode{hub: &Hub{Logger: wstest.QuietLogger()}, nc: nc}
	tn.node, err = JoinNATS(tn.hub, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tn.node.Leave()
		nc.Close()
	})
	tn.addr, tn.srv = startHub(t, tn.hub, nil)
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
