package serve

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// reexecEnv adds http2xconnect=1 to GODEBUG, keeping what was there, and
// sets the marker; it refuses a second re-execution (the setting had no
// effect: no loop) and a GODEBUG in which the user turned the setting
// off.
func TestReexecEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string
		want    []string // GODEBUG and marker entries expected at the end
		wantErr string
	}{
		{"no GODEBUG", []string{"PATH=/bin", "HOME=/h"}, []string{"PATH=/bin", "HOME=/h", "GODEBUG=http2xconnect=1", ReexecEnv + "=1"}, ""},
		{"empty GODEBUG", []string{"GODEBUG=", "PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=http2xconnect=1", ReexecEnv + "=1"}, ""},
		{"GODEBUG kept", []string{"GODEBUG=http2debug=1,madvdontneed=1", "PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=http2debug=1,madvdontneed=1,http2xconnect=1", ReexecEnv + "=1"}, ""},
		{"already re-executed", []string{"GODEBUG=http2xconnect=1", ReexecEnv + "=1"}, nil, "already re-executed"},
		{"user said 0", []string{"GODEBUG=x=1, http2xconnect=0"}, nil, "http2xconnect=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reexecEnv(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("reexecEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// HTTP2 offers HTTP/2 only when net/http advertises extended CONNECT
// (RFC 8441 §3), after trying to re-execute otherwise; when that fails, or
// with -http2=false, it says HTTP/1.1 only, with a warning that says what
// to do: never HTTP/2 with the setting off, never the setting unhandled.
func TestHTTP2Decision_RFC8441_3(t *testing.T) {
	defer func(f func() bool) { extendedConnectEnabled = f }(extendedConnectEnabled)
	for _, tc := range []struct {
		name     string
		want     bool
		enabled  bool
		reexecOK bool
		result   bool
		calls    int
		log      string
	}{
		{"enabled", true, true, false, true, 0, ""},
		{"off by flag", false, true, false, false, 0, "-http2=false"},
		{"off by flag, not enabled", false, false, false, false, 0, "-http2=false"},
		{"re-exec fails", true, false, false, false, 1, "level=WARN msg=\"serving HTTP/1.1 only over TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extendedConnectEnabled = func() bool { return tc.enabled }
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			calls := 0
			got := HTTP2(log, tc.want, func() error { calls++; return errors.New("no exec here") })
			if got != tc.result || calls != tc.calls {
				t.Fatalf("HTTP2 = %v after %d re-exec calls, want %v after %d", got, calls, tc.result, tc.calls)
			}
			if !strings.Contains(buf.String(), tc.log) {
				t.Errorf("log %q, want it to contain %q", buf.String(), tc.log)
			}
			if tc.calls > 0 && !strings.Contains(buf.String(), "GODEBUG=http2xconnect=1") {
				t.Errorf("the warning does not say what to do: %q", buf.String())
			}
		})
	}
}
