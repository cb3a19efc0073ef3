package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/cmd/internal/serve"
)

// The wsecho binary, started without GODEBUG, re-executes itself once with
// http2xconnect=1 and then advertises SETTINGS_ENABLE_CONNECT_PROTOCOL
// (RFC 8441 §3). When the re-execution is refused (it happened already, or
// the user set http2xconnect=0) or -http2=false, it offers HTTP/1.1 only
// (ALPN http/1.1) and says why: never HTTP/2 without the setting, never
// the setting without handling it. This runs the real binary, since the
// decision happens at process start; WS6455_WSECHO_BIN names one, else the
// test builds it.
func TestBinary_HTTP2Reexec_RFC8441_3(t *testing.T) {
	bin := interop.Binary(t, "wsecho", "WS6455_WSECHO_BIN")
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		alpn     string
		reexec   bool
		logWants string
	}{
		{"plain start re-executes", nil, nil, "h2", true, `http2=true`},
		{"marker: no second re-execution", []string{serve.ReexecEnv + "=1"}, nil, "http/1.1", false, `level=WARN msg="serving HTTP/1.1 only over TLS.*already re-executed`},
		{"user's http2xconnect=0 wins", []string{"GODEBUG=http2xconnect=0"}, nil, "http/1.1", false, `level=WARN msg="serving HTTP/1.1 only over TLS.*http2xconnect=0`},
		{"-http2=false", nil, []string{"-http2=false"}, "http/1.1", false, `HTTP/2 off \(-http2=false\)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr := interop.StartBinary(t, "wsecho", bin, append(interop.CleanEnv(), tc.env...),
				append([]string{"-addr", "127.0.0.1:0", "-tls", "auto"}, tc.args...)...)
			m := waitFor(t, stderr, regexp.MustCompile(`msg=listening addr=(\S+)`), "listening line")
			alpn, settings := serverSettings(t, m[1])
			if alpn != tc.alpn {
				t.Errorf("ALPN %q, want %q\n%s", alpn, tc.alpn, stderr)
			}
			if tc.alpn == "h2" && settings[settingEnableConnectProtocol] != 1 {
				t.Errorf("SETTINGS %v: no ENABLE_CONNECT_PROTOCOL = 1\n%s", settings, stderr)
			}
			log := stderr.String()
			if got := strings.Count(log, "msg=\"re-executing with GODEBUG=http2xconnect=1"); got != map[bool]int{true: 1, false: 0}[tc.reexec] {
				t.Errorf("%d re-execution lines, want re-execution %v\n%s", got, tc.reexec, log)
			}
			if !regexp.MustCompile(tc.logWants).MatchString(log) {
				t.Errorf("log does not match %q\n%s", tc.logWants, log)
			}
		})
	}
}
