package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// TestRun_Help: -h documents the flags, shows the protocol by example and
// says where its rules are (one description: package server/relay), and
// is not an error exit.
func TestRun_Help(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-addr", "-queue", "-stuck-timeout", "-max-message",
		`{"type":"welcome"`, `{"to":"<id>"`, `"type":"ack"`, "1008",
		"go doc github.com/ws6455/ws6455/server/relay"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks %q", want)
		}
	}
}

func TestRun_BadFlags(t *testing.T) {
	for _, args := range [][]string{{"-queue", "0"}, {"-stuck-timeout", "-1s"}, {"-log", "loud"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}

// TestRun_PageRelayShutdown_RFC6455_7_4_1: wschat serves the page at /, relays between two
// clients at /ws, and on shutdown closes them with 1001.
func TestRun_PageRelayShutdown_RFC6455_7_4_1(t *testing.T) {
	s := interop.StartServer(t, "wschat", "", run, "-log", "debug")

	resp, err := http.Get("http://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="my-id"`) {
		t.Fatalf("GET /: %d, %.80q", resp.StatusCode, body)
	}

	dialCtx, dialCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dialCancel()
	var conns [2]*frame.Conn
	var ids [2]string
	for i := range conns {
		c, _, err := (&handshake.Dialer{}).Dial(dialCtx, "ws://"+s.Addr+"/ws")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		conns[i] = c
		ids[i] = readEnv(t, c)["id"].(string)
	}
	conns[0].WriteMessage(frame.OpText, []byte(`{"to":"`+ids[1]+`","ref":1,"message":"hi"}`))
	if m := readEnv(t, conns[1]); m["type"] != "message" || m["message"] != "hi" || m["from"] != ids[0] {
		t.Fatalf("recipient got %v", m)
	}
	if m := readEnv(t, conns[0]); m["type"] != "ack" {
		t.Fatalf("sender got %v", m)
	}

	s.Stop()
	for _, c := range conns {
		c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage(nil)
		if code := frame.CloseStatus(err); code != frame.CloseGoingAway {
			t.Errorf("on shutdown: %v, want close 1001", err)
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Log(), "relay: client joined") {
		t.Errorf("no debug log of joins:\n%s", s.Log())
	}
}

func readEnv(t *testing.T, c *frame.Conn) map[string]any {
	t.Helper()
	c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ReadMessage(nil)
	c.NetConn().SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return m
}
