package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// This file is the bus under the hub when it runs as one node of several
// (see "Several nodes" in the package doc): per-client subjects that carry
// messages to clients on other nodes by NATS request/reply, and the
// presence protocol (join, leave, heartbeats, snapshots) that keeps every
// node's online list cluster-wide.

// Defaults for the zero values of NodeConfig's fields.
const (
	DefaultNATSPrefix    = "wschat"
	DefaultHeartbeat     = time.Second
	DefaultDeadAfter     = 3 * time.Second
	DefaultRemoteTimeout = 5 * time.Second
)

// Error codes of the relay protocol that only a node of several sends
// (see the package doc, "Several nodes").
const (
	CodeBusUnavailable = "bus_unavailable"
	CodeBusTimeout     = "bus_timeout"
)

// NodeConfig configures a hub's place among several nodes.
type NodeConfig struct {
	// Prefix is the first token of every subject the nodes use; nodes
	// with the same prefix on the same NATS form one relay. "" means
	// DefaultNATSPrefix.
	Prefix string
	// Name names the node in logs and in its heartbeats; "" means the
	// node's random id. It need not be unique.
	Name string
	// Heartbeat is how often the node announces itself; 0 means
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// DeadAfter is how long a node may stay silent before the others drop
	// its clients from presence; 0 means DefaultDeadAfter.
	DeadAfter time.Duration
	// RemoteTimeout bounds the wait for the answer of the recipient's
	// node; 0 means DefaultRemoteTimeout.
	RemoteTimeout time.Duration
}

// NATSOptions are the options a node's NATS connection needs (on top of
// the caller's: URL, credentials, TLS): it reconnects forever, and a
// publish while the connection is down fails at once instead of being
// buffered, so that a sender learns at once that its message was not
// sent. The client library's asynchronous errors go to log at debug level
// (nil: slog.Default()); the node logs losing and regaining NATS itself.
func NATSOptions(log *slog.Logger) []nats.Option {
	if log == nil {
		log = slog.Default()
	}
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Debug("relay: NATS error", "subject", sub.Subject, "err", err)
			} else {
				log.Debug("relay: NATS error", "err", err)
			}
		}),
	}
}

// Node is a Hub joined to other hubs through NATS. It is made by JoinNATS
// and ended by Leave; its methods are safe from any goroutine.
type Node struct {
	hub    *Hub
	nc     *nats.Conn
	id     string // random, unique: the node's identity on the bus
	name   string
	prefix string
	hb     time.Duration
	dead   time.Duration
	wait   time.Duration
	log    *slog.Logger

	// mu orders the node's own presence: seq counts its joins and leaves,
	// ids is the set they describe; a snapshot is taken under mu.
	mu   sync.Mutex
	seq  uint64
	ids  map[string]struct{}
	left bool

	// rmu guards what the node knows of the others.
	rmu    sync.RWMutex
	remote map[string]*remoteNode // by node id

	subs  []*nats.Subscription
	csubs sync.Map // *client → its *nats.Subscription
	stop  chan struct{}
	done  chan struct{}
}

// remoteNode is what a node knows of another one.
type remoteNode struct {
	name     string
	seq      uint64 // the last join or leave applied
	synced   bool   // ids is the node's set as of seq
	ids      map[string]struct{}
	lastSeen time.Time
}

// presenceEvent is the JSON of a message on <prefix>.presence.
type presenceEvent struct {
	Node string `json:"node"`
	Name string `json:"name,omitempty"`
	Seq  uint64 `json:"seq"`
	Op   string `json:"op"` // join, leave, hb, bye
	ID   string `json:"id,omitempty"`
	// Clients is the node's number of clients, in heartbeats.
	Clients int `json:"clients,omitempty"`
}

// snapshot is the JSON answer on <prefix>.node.<node id>.ids.
type snapshot struct {
	Seq uint64   `json:"seq"`
	IDs []string `json:"ids"`
}

// JoinNATS makes h one node of the relay whose nodes share nc's NATS and
// cfg.Prefix. Call it before h serves its first connection; nc should be
// connected with NATSOptions. Leave ends it.
func JoinNATS(h *Hub, nc *nats.Conn, cfg NodeConfig) (*Node, error) {
	if h.node != nil {
		return nil, errors.New("relay: the hub already joined NATS")
	}
	n := &Node{
		hub:    h,
		nc:     nc,
		id:     newID(),
		name:   cfg.Name,
		prefix: strOr(cfg.Prefix, DefaultNATSPrefix),
		hb:     durOr(cfg.Heartbeat, DefaultHeartbeat),
		dead:   durOr(cfg.DeadAfter, DefaultDeadAfter),
		wait:   durOr(cfg.RemoteTimeout, DefaultRemoteTimeout),
		log:    h.logger(),
		ids:    map[string]struct{}{},
		remote: map[string]*remoteNode{},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if n.name == "" {
		n.name = n.id
	}
	// One subscription for all presence messages: NATS keeps the order
	// of one publisher's messages, and one subscription handles them one
	// at a time, so a node's joins and leaves are applied in order.
	ps, err := nc.Subscribe(n.prefix+".presence", n.onPresence)
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe to presence: %w", err)
	}
	ss, err := nc.Subscribe(n.prefix+".node."+n.id+".ids", n.onSnapshot)
	if err != nil {
		ps.Unsubscribe()
		return nil, fmt.Errorf("relay: subscribe to snapshots: %w", err)
	}
	n.subs = []*nats.Subscription{ps, ss}
	h.node = n
	n.publish(presenceEvent{Op: "hb"})
	go n.heartbeat()
	n.log.Info("relay: node joined NATS", "node", n.name, "node_id", n.id, "prefix", n.prefix, "connected", nc.IsConnected())
	return n, nil
}

func strOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Connected reports whether the node's NATS connection is up.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// NodeStats are a node's counts.
type NodeStats struct {
	Node          string `json:"node"`
	Connected     bool   `json:"nats_connected"`
	Clients       int    `json:"clients"`        // on this node
	Nodes         int    `json:"nodes"`          // other nodes heard from
	RemoteClients int    `json:"remote_clients"` // on the other nodes
}

// Stats returns the node's counts.
func (n *Node) Stats() NodeStats {
	s := NodeStats{Node: n.name, Connected: n.Connected(), Clients: n.hub.NumClients()}
	n.rmu.RLock()
	s.Nodes = len(n.remote)
	for _, r := range n.remote {
		s.RemoteClients += len(r.ids)
	}
	n.rmu.RUnlock()
	return s
}

func (n *Node) logStats(msg string, args ...any) {
	s := n.Stats()
	n.log.Info(msg, append(args, "node", s.Node, "nats_connected", s.Connected, "clients", s.Clients,
		"nodes", s.Nodes, "remote_clients", s.RemoteClients)...)
}

// Leave takes the node out of the relay: it tells the other nodes, which
// drop its clients from presence at once, and stops its heartbeats. Its
// clients stay reachable until they leave (a server's Shutdown closes
// them with 1001). It does not close the NATS connection.
func (n *Node) Leave() {
	n.mu.Lock()
	if n.left {
		n.mu.Unlock()
		return
	}
	n.left = true
	n.mu.Unlock()
	close(n.stop)
	<-n.done
	n.publishBye()
	for _, s := range n.subs {
		s.Unsubscribe()
	}
	if n.Connected() {
		n.nc.FlushTimeout(n.wait)
	}
	n.logStats("relay: node left NATS")
}

func (n *Node) publishBye() {
	b, _ := json.Marshal(presenceEvent{Node: n.id, Name: n.name, Op: "bye"})
	n.nc.Publish(n.prefix+".presence", b)
}

// clientSubject is the subject on which the node of client id answers.
func (n *Node) clientSubject(id string) string { return n.prefix + ".client." + id }

// publish sends one of the node's presence events; joins and leaves are
// numbered under n.mu by the caller. A failed publish (NATS down) leaves a
// gap in the numbers, which makes the others ask for a snapshot.
func (n *Node) publish(ev presenceEvent) {
	ev.Node, ev.Name = n.id, n.name
	if ev.Op == "hb" {
		n.mu.Lock()
		ev.Seq = n.seq
		ev.Clients = len(n.ids)
		n.mu.Unlock()
	}
	b, _ := json.Marshal(ev)
	n.nc.Publish(n.prefix+".presence", b) // an error leaves a gap: see above
}

// heartbeat announces the node every Heartbeat and drops the nodes not
// heard from for DeadAfter.
func (n *Node) heartbeat() {
	defer close(n.done)
	t := time.NewTicker(n.hb)
	defer t.Stop()
	wasConnected := n.Connected()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.publish(presenceEvent{Op: "hb"})
		if c := n.Connected(); c != wasConnected {
			wasConnected = c
			if c {
				n.logStats("relay: NATS connection back")
			} else {
				n.logStats("relay: NATS connection lost; messages to other nodes fail with " + CodeBusUnavailable)
			}
		}
		now := time.Now()
		var dead []*remoteNode
		n.rmu.Lock()
		for id, r := range n.remote {
			if now.Sub(r.lastSeen) >= n.dead {
				delete(n.remote, id)
				dead = append(dead, r)
			}
		}
		n.rmu.Unlock()
		for _, r := range dead {
			n.announceAll("leave", r.ids)
			n.logStats("relay: node silent, its clients dropped from presence", "silent_node", r.name, "dropped", len(r.ids))
		}
	}
}

// announceAll queues a join or leave of every id for the local watchers.
func (n *Node) announceAll(kind string, ids map[string]struct{}) {
	for id := range ids {
		n.hub.announce(nil, appendPresence(nil, kind, id))
	}
}

// onPresence applies another node's presence message. It runs on one
// goroutine (the subscription's), in the order the node published.
func (n *Node) onPresence(m *nats.Msg) {
	var ev presenceEvent
	if json.Unmarshal(m.Data, &ev) != nil || ev.Node == "" || ev.Node == n.id {
		return
	}
	n.rmu.Lock()
	r := n.remote[ev.Node]
	if ev.Op == "bye" {
		delete(n.remote, ev.Node)
		n.rmu.Unlock()
		if r != nil {
			n.announceAll("leave", r.ids)
			n.logStats("relay: node left", "left_node", r.name, "dropped", len(r.ids))
		}
		return
	}
	isNew := r == nil
	if isNew {
		r = &remoteNode{name: ev.Name, ids: map[string]struct{}{}}
		n.remote[ev.Node] = r
	}
	r.lastSeen = time.Now()
	inOrder := false
	switch ev.Op {
	case "join", "leave":
		if r.synced && ev.Seq <= r.seq {
			n.rmu.Unlock()
			return // already in a snapshot
		}
		if r.synced && ev.Seq == r.seq+1 {
			r.seq = ev.Seq
			if ev.Op == "join" {
				r.ids[ev.ID] = struct{}{}
			} else {
				delete(r.ids, ev.ID)
			}
			inOrder = true
		}
	case "hb":
		inOrder = r.synced && ev.Seq == r.seq
	}
	n.rmu.Unlock()
	if isNew {
		n.logStats("relay: node seen", "seen_node", ev.Name)
	}
	if inOrder {
		if ev.Op == "join" || ev.Op == "leave" {
			n.hub.announce(nil, appendPresence(nil, ev.Op, ev.ID))
		}
		return
	}
	n.resync(ev.Node)
}

// resync replaces what the node knows of another one by its snapshot, and
// tells the local watchers the difference. On failure the node stays
// unsynced and the next heartbeat tries again.
func (n *Node) resync(node string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.wait)
	defer cancel()
	m, err := n.nc.RequestWithContext(ctx, n.prefix+".node."+node+".ids", nil)
	var snap snapshot
	if err == nil {
		err = json.Unmarshal(m.Data, &snap)
	}
	n.rmu.Lock()
	r := n.remote[node]
	if r == nil { // dropped meanwhile
		n.rmu.Unlock()
		return
	}
	if err != nil {
		r.synced = false
		n.rmu.Unlock()
		return
	}
	joined, left := map[string]struct{}{}, r.ids
	r.ids = make(map[string]struct{}, len(snap.IDs))
	for _, id := range snap.IDs {
		r.ids[id] = struct{}{}
		if _, had := left[id]; had {
			delete(left, id)
		} else {
			joined[id] = struct{}{}
		}
	}
	r.seq, r.synced = snap.Seq, true
	n.rmu.Unlock()
	n.announceAll("leave", left)
	n.announceAll("join", joined)
}

// onSnapshot answers another node's request for this node's ids.
func (n *Node) onSnapshot(m *nats.Msg) {
	n.mu.Lock()
	snap := snapshot{Seq: n.seq, IDs: make([]string, 0, len(n.ids))}
	for id := range n.ids {
		snap.IDs = append(snap.IDs, id)
	}
	n.mu.Unlock()
	b, _ := json.Marshal(snap)
	m.Respond(b)
}

// remoteIDs appends the ids of the clients on the other nodes.
func (n *Node) remoteIDs(ids []string) []string {
	n.rmu.RLock()
	for _, r := range n.remote {
		for id := range r.ids {
			ids = append(ids, id)
		}
	}
	n.rmu.RUnlock()
	return ids
}

// isRemote reports whether presence has id on another node.
func (n *Node) isRemote(id string) bool {
	n.rmu.RLock()
	defer n.rmu.RUnlock()
	for _, r := range n.remote {
		if _, ok := r.ids[id]; ok {
			return true
		}
	}
	return false
}

// joined makes a new local client reachable from the other nodes and
// announces it. After it returns, a message from any node on the same
// NATS server finds the client (unless NATS is down: then the
// subscription is made when it comes back).
func (n *Node) joined(cl *client) {
	sub, err := n.nc.Subscribe(n.clientSubject(cl.id), func(m *nats.Msg) { n.deliver(cl, m) })
	if err != nil {
		n.log.Warn("relay: cannot subscribe a client on NATS", "id", cl.id, "err", err)
	}
	if sub != nil {
		n.csubs.Store(cl, sub)
	}
	n.mu.Lock()
	n.seq++
	n.ids[cl.id] = struct{}{}
	n.publish(presenceEvent{Op: "join", Seq: n.seq, ID: cl.id})
	n.mu.Unlock()
	if n.Connected() {
		n.nc.FlushTimeout(n.wait) // the subscription is at the server
	}
}

// leftHub makes a local client unreachable from the other nodes and
// announces its leave.
func (n *Node) leftHub(cl *client) {
	if sub, ok := n.csubs.LoadAndDelete(cl); ok {
		sub.(*nats.Subscription).Unsubscribe()
	}
	n.mu.Lock()
	n.seq++
	delete(n.ids, cl.id)
	n.publish(presenceEvent{Op: "leave", Seq: n.seq, ID: cl.id})
	n.mu.Unlock()
}

// deliver queues a message that another node routed to cl, and answers
// that node: "ack" once queued, or an error code.
func (n *Node) deliver(cl *client, m *nats.Msg) {
	code := "ack"
	switch cl.enqueue(outItem{data: m.Data}, false) {
	case nil:
	case errFull:
		code = CodeRecipientSlow
	default:
		code = CodeRecipientGone
	}
	m.Respond([]byte(code))
}

// validID reports whether to can be a client id: 22 base64url characters,
// which are also safe as a NATS subject token.
func validID(to string) bool {
	if len(to) != 22 {
		return false
	}
	for i := 0; i < len(to); i++ {
		c := to[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// sendRemote routes a message to a client that is not on this node and
// answers the sender. It waits for the recipient's node, so cl's requests
// to other nodes are answered one at a time, which keeps their order.
func (n *Node) sendRemote(cl *client, req request) {
	to := shortID(req.to)
	if !validID(req.to) {
		cl.reply(appendError(nil, CodeUnknownRecipient, "no connected client has this id", to, req.ref))
		return
	}
	if !n.Connected() {
		cl.reply(appendError(nil, CodeBusUnavailable, "the recipient is not on this node and the bus to the other nodes is down; the message was not sent", to, req.ref))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.wait)
	m, err := n.nc.RequestWithContext(ctx, n.clientSubject(req.to), appendMessage(nil, cl.id, req.message))
	cancel()
	switch {
	case err == nil:
		code := string(m.Data)
		switch code {
		case "ack":
			cl.reply(appendAck(nil, req.to, req.ref))
		case CodeRecipientSlow:
			cl.reply(appendError(nil, code, "the recipient's queue is full; the message was not queued", to, req.ref))
		default:
			cl.reply(appendError(nil, CodeRecipientGone, "recipient disconnected before the message was delivered", to, req.ref))
		}
	case errors.Is(err, nats.ErrNoResponders) && n.isRemote(req.to):
		// Presence has it on a node that NATS cannot reach now: that
		// node is cut off from NATS, or dead and not yet dropped.
		cl.reply(appendError(nil, CodeBusUnavailable, "the recipient's node is not reachable on the bus; the message was not sent", to, req.ref))
	case errors.Is(err, nats.ErrNoResponders):
		cl.reply(appendError(nil, CodeUnknownRecipient, "no connected client has this id", to, req.ref))
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrConnectionDraining):
		// The publish itself failed.
		cl.reply(appendError(nil, CodeBusUnavailable, "the bus to the other nodes is down; the message was not sent: "+err.Error(), to, req.ref))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		cl.reply(appendError(nil, CodeBusTimeout, "no answer from the recipient's node in "+n.wait.String()+"; the message may or may not have been queued", to, req.ref))
	default:
		// ErrConnectionClosed, say, which may come before or after the
		// publish: the outcome is not known.
		cl.reply(appendError(nil, CodeBusTimeout, "the bus failed before the recipient's node answered; the message may or may not have been queued: "+err.Error(), to, req.ref))
	}
}
