package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/relay"
)

// startNATS runs an embedded NATS server on a random loopback port until
// stop is called or the test ends.
func startNATS(t *testing.T) (url string, stop func()) {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start within 10s")
	}
	stop = func() { s.Shutdown(); s.WaitForShutdown() }
	t.Cleanup(stop)
	return s.ClientURL(), stop
}

// health reads a node's /healthz.
func health(t *testing.T, addr string) (int, relay.NodeStats) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s relay.NodeStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	return resp.StatusCode, s
}

// waitHealth polls a node's /healthz until cond holds, for up to a minute.
func waitHealth(t *testing.T, addr, what string, cond func(int, relay.NodeStats) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, s := health(t, addr)
		if cond(code, s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after a minute for %s: /healthz %d %+v", what, code, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startTwoNodes starts an embedded NATS server and two wschat nodes on it,
// named a and b (binEnv as in interop.StartServer), and waits until each
// is connected and sees the other.
func startTwoNodes(t *testing.T, binEnv string) (stopNATS func(), a, b *interop.Server) {
	t.Helper()
	url, stopNATS := startNATS(t)
	a = interop.StartServer(t, "wschat", binEnv, run, "-nats", url, "-nats-name", "a")
	b = interop.StartServer(t, "wschat", binEnv, run, "-nats", url, "-nats-name", "b")
	for _, s := range []*interop.Server{a, b} {
		waitHealth(t, s.Addr, "the node to be connected to NATS and see the other", func(code int, st relay.NodeStats) bool {
			return code == 200 && st.Connected && st.Nodes == 1
		})
	}
	return stopNATS, a, b
}

// TestRun_NATS_TwoNodes: two wschat processes on one NATS server make one
// relay: /healthz says 200 with the counts, a client of one node chats
// with a client of the other, shutting a node down closes its client
// with 1001 and the other node's watcher is sent its leave, and with
// NATS gone /healthz says 503.
func TestRun_NATS_TwoNodes(t *testing.T) {
	stopNATS, a, b := startTwoNodes(t, "")

	dial := func(addr string) (*frame.Conn, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := (&handshake.Dialer{}).Dial(ctx, "ws://"+addr+"/ws")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c, readEnv(t, c)["id"].(string)
	}
	ca, ida := dial(a.Addr)
	cb, idb := dial(b.Addr)
	// Presence crosses NATS asynchronously: b's join reaches a shortly
	// after b's welcome.
	waitHealth(t, a.Addr, "node a to learn of node b's client", func(code int, st relay.NodeStats) bool {
		return st.RemoteClients == 1
	})
	ca.WriteMessage(frame.OpText, []byte(`{"type":"list","watch":true,"ref":"l"}`))
	if m := readEnv(t, ca); m["type"] != "online" || fmt.Sprint(m["ids"]) != "["+idb+"]" {
		t.Fatalf("node a's client lists %v, want the client of node b", m)
	}
	ca.WriteMessage(frame.OpText, []byte(`{"to":"`+idb+`","ref":1,"message":"across"}`))
	if m := readEnv(t, cb); m["type"] != "message" || m["message"] != "across" || m["from"] != ida {
		t.Fatalf("node b's client got %v", m)
	}
	if m := readEnv(t, ca); m["type"] != "ack" || m["to"] != idb {
		t.Fatalf("node a's client got %v, want the ack", m)
	}
	_, st := health(t, a.Addr)
	if st.Clients != 1 || st.RemoteClients != 1 || st.Node != "a" {
		t.Errorf("node a's /healthz counts %+v, want 1 client here, 1 on the other node", st)
	}

	b.Stop()
	cb.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := cb.ReadMessage(nil); frame.CloseStatus(err) != frame.CloseGoingAway {
		t.Errorf("node b's client on shutdown: %v, want close 1001", err)
	}
	if m := readEnv(t, ca); m["type"] != "leave" || m["id"] != idb {
		t.Errorf("node a's watcher got %v, want the leave of node b's client", m)
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	if log := b.Log(); !strings.Contains(log, "relay: node left NATS") {
		t.Errorf("node b did not log leaving NATS:\n%s", log)
	}

	stopNATS()
	waitHealth(t, a.Addr, "503 with NATS gone", func(code int, st relay.NodeStats) bool {
		return code == http.StatusServiceUnavailable && !st.Connected
	})
	ca.WriteMessage(frame.OpText, []byte(`{"to":"`+idb+`","ref":2,"message":"anyone?"}`))
	if m := readEnv(t, ca); m["type"] != "error" || m["code"] != relay.CodeBusUnavailable {
		t.Errorf("a message to another node with NATS gone: %v", m)
	}
}

func TestRun_NATSFlagsNeedNATS(t *testing.T) {
	for _, args := range [][]string{{"-nats-name", "x"}, {"-nats", "nats://127.0.0.1:1", "-nats-tls-cert", "c.pem"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
