package autobahn

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReferenceServer_AllPass runs cases against the correct echo server:
// every one must pass (OK, or INFORMATIONAL where the case says so). With
// -short only a sample of each section runs; WSCONFORM_FULL=1 runs all of
// sections 1-10.
func TestReferenceServer_AllPass(t *testing.T) {
	url := echoServer{}.start(t)
	patterns := []string{"1.*", "2.*", "3.*", "4.*", "5.*", "6.1.*", "6.2.*", "6.3.*", "6.4.*", "6.5.*", "6.6.*", "6.12.*", "6.20.*", "6.22.*",
		"7.*", "9.1.1", "9.2.1", "9.3.1", "9.4.1", "9.5.1", "9.6.6", "9.7.1", "9.8.2", "10.*"}
	if testing.Short() {
		patterns = []string{"1.1.*", "2.10", "3.2", "4.2.5", "5.6", "5.15", "6.2.3", "6.3.2", "6.4.3", "6.12.8", "7.1.*", "7.3.*", "7.5.1", "7.7.1", "7.9.1", "7.13.*", "10.*"}
	}
	if os.Getenv("WSCONFORM_FULL") != "" {
		patterns = []string{"*"}
	}
	start := time.Now()
	res := runCases(t, url, patterns...)
	t.Logf("%d cases in %v", len(res), time.Since(start).Round(time.Millisecond))
	ids := slices.SortedFunc(func(yield func(string) bool) {
		for id := range res {
			if !yield(id) {
				return
			}
		}
	}, CompareIDs)
	var slow []string
	for _, id := range ids {
		r := res[id]
		want := OK
		if strings.HasPrefix(id, "7.13.") || id == "7.1.6" {
			want = Informational
		}
		if r.Behavior != want || r.BehaviorClose != want {
			t.Errorf("case %s: %s / %s (%s / %s)", id, r.Behavior, r.BehaviorClose, r.Result, r.ResultClose)
		}
		if r.Duration > 500 {
			slow = append(slow, id)
		}
	}
	t.Logf("cases over 500 ms: %v", slow)
}

// Each broken server must fail the cases that check the rule it breaks,
// with the verdict Autobahn gives, and pass the cases that do not.

// RFC 6455 §8.1: a server that echoes invalid UTF-8 fails the UTF-8 cases
// (the fuzzer itself has to fail the connection, which is the wrong
// endpoint) and passes the valid ones.
func TestBrokenServer_NoUTF8Validation_RFC6455_8_1(t *testing.T) {
	t.Parallel()
	res := runCases(t, echoServer{noUTF8Check: true}.start(t), "6.2.3", "6.3.1", "6.3.2", "6.5.5", "6.12.1", "6.20.1", "1.1.2")
	for _, id := range []string{"6.2.3", "6.5.5", "1.1.2"} {
		checkVerdicts(t, res, id, OK, OK)
	}
	for _, id := range []string{"6.3.1", "6.3.2", "6.12.1", "6.20.1"} {
		checkVerdicts(t, res, id, Failed, Failed)
	}
}

// A server that echoes text as binary fails the text echo cases only.
func TestBrokenServer_WrongEchoOpcode(t *testing.T) {
	t.Parallel()
	res := runCases(t, echoServer{binaryEcho: true}.start(t), "1.1.1", "1.1.3", "1.2.1", "1.2.8", "5.3", "9.1.1", "9.2.1", "2.2")
	for _, id := range []string{"1.1.1", "1.1.3", "5.3", "9.1.1"} {
		// The echo is not the expected event; the fuzzer closes after
		// its timer, so the close itself is fine.
		if r := res[id]; r.Behavior != Failed {
			t.Errorf("case %s: behavior %s, want FAILED", id, r.Behavior)
		}
	}
	for _, id := range []string{"1.2.1", "1.2.8", "9.2.1", "2.2"} {
		checkVerdicts(t, res, id, OK, OK)
	}
	if r := res["9.1.1"]; r.Result != "Expected text message with payload, but got binary." {
		t.Errorf("9.1.1 result %q", r.Result)
	}
}

// RFC 6455 §5.5.1: a server that drops TCP instead of answering the close
// frame leaves the closing handshake incomplete: UNCLEAN where the case
// requires a clean close. Cases where the server fails the connection
// itself are unaffected.
func TestBrokenServer_NoCloseEcho_RFC6455_5_5_1(t *testing.T) {
	t.Parallel()
	res := runCases(t, echoServer{noCloseEcho: true}.start(t), "1.1.1", "2.1", "7.3.1", "7.7.1", "3.1", "5.1")
	for _, id := range []string{"1.1.1", "2.1", "7.3.1", "7.7.1"} {
		checkVerdicts(t, res, id, OK, Unclean)
	}
	for _, id := range []string{"3.1", "5.1"} {
		checkVerdicts(t, res, id, OK, OK)
	}
}

// RFC 6455 §5.2: a server that ignores the RSV bits echoes what it should
// reject: the reserved bit cases fail, the others pass.
func TestBrokenServer_AcceptsReservedBits_RFC6455_5_2(t *testing.T) {
	t.Parallel()
	res := runCases(t, echoServer{acceptRsv: true}.start(t), "3.1", "3.2", "3.4", "3.5", "1.1.1", "4.1.1", "2.5")
	for _, id := range []string{"3.1", "3.2", "3.4", "3.5"} {
		checkVerdicts(t, res, id, Failed, Failed)
	}
	for _, id := range []string{"1.1.1", "4.1.1", "2.5"} {
		checkVerdicts(t, res, id, OK, OK)
	}
}

// RFC 6455 §8.1 asks to fail "as soon as" invalid UTF-8 is seen; a server
// that validates only complete messages is NON-STRICT on the fail-fast
// cases (Autobahn's verdict; -strict counts it as a failure) and passes
// the rest of section 6.
func TestBrokenServer_NoFailFastUTF8_RFC6455_8_1(t *testing.T) {
	t.Parallel()
	res := runCases(t, echoServer{utf8AtEnd: true}.start(t), "6.4.*", "6.3.1", "6.2.3", "6.12.1")
	for _, id := range []string{"6.4.1", "6.4.2", "6.4.3", "6.4.4"} {
		checkVerdicts(t, res, id, NonStrict, OK)
		if !res[id].Failed(true) || res[id].Failed(false) {
			t.Errorf("case %s: NON-STRICT must fail only with -strict", id)
		}
	}
	for _, id := range []string{"6.3.1", "6.2.3", "6.12.1"} {
		checkVerdicts(t, res, id, OK, OK)
	}
}

// RFC 6455 §8.1, §7.1.7: how a case ends when the fuzzer receives invalid
// UTF-8, pinned to what wstest records. A server that echoes text without
// validating it (gorilla/websocket's plain echo does: it checks no UTF-8
// in data messages) sends the invalid message back in one frame and
// answers a close with a close carrying the same code, then closes TCP.
// Autobahn (failByDrop off) fails on the invalid bytes with a 1007 close
// frame and goes on; its validator stays rejecting, so the end of the same
// frame is a second violation, and with its close already sent that drops
// TCP. The server's 1007 answer arrives after the drop and is never read:
// droppedByMe, not wasClean, no remote close code, no wasNotCleanReason.
// When the only fault is a message ending inside a code point (6.6.1:
// 0xce) there is one violation: our 1007 close, the server's 1007 answer,
// and a clean close.
func TestInvalidUTF8Echo_CloseFieldsLikeWstest_RFC6455_8_1(t *testing.T) {
	t.Parallel()
	res := runCases(t, echoServer{noUTF8Check: true}.start(t), "6.3.1", "6.3.2", "6.6.1", "6.20.1")
	for _, id := range []string{"6.3.1", "6.3.2", "6.20.1"} {
		r := res[id]
		if r.Behavior != Failed || r.BehaviorClose != Failed || !r.ClosedByMe || !r.FailedByMe || !r.DroppedByMe || r.WasClean ||
			r.RemoteCloseCode != nil || r.WasNotCleanReason != nil || r.LocalCloseCode == nil || *r.LocalCloseCode != 1007 {
			t.Errorf("case %s: %s / %s, closedByMe %v failedByMe %v droppedByMe %v wasClean %v wasNotCleanReason %v localCloseCode %v remoteCloseCode %v; want FAILED / FAILED, true true true false <nil> 1007 <nil>",
				id, r.Behavior, r.BehaviorClose, r.ClosedByMe, r.FailedByMe, r.DroppedByMe, r.WasClean, deref(r.WasNotCleanReason), derefInt(r.LocalCloseCode), derefInt(r.RemoteCloseCode))
		}
	}
	r := res["6.6.1"]
	if r.Behavior != Failed || r.BehaviorClose != Failed || !r.ClosedByMe || r.DroppedByMe || !r.WasClean || r.RemoteCloseCode == nil || *r.RemoteCloseCode != 1007 {
		t.Errorf("case 6.6.1: %s / %s, closedByMe %v droppedByMe %v wasClean %v remoteCloseCode %v; want FAILED / FAILED, true false true 1007",
			r.Behavior, r.BehaviorClose, r.ClosedByMe, r.DroppedByMe, r.WasClean, derefInt(r.RemoteCloseCode))
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
