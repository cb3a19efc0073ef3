package server

// Bad input over HTTP/2, sent by a raw peer that writes HTTP/2 frames by
// hand (golang.org/x/net/http2's Framer and hpack, test-only), so that
// requests no well-behaved client sends can be made, and every answer
// (a status, RST_STREAM with its error code, DATA) can be seen.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2 is an HTTP/2 client connection driven frame by frame.
type rawH2 struct {
	t        testing.TB
	nc       net.Conn
	fr       *http2.Framer
	hbuf     bytes.Buffer
	henc     *hpack.Encoder
	settings map[http2.SettingID]uint32 // the server's first SETTINGS
}

// dialRawH2 connects to the h2c server at base (http://host:port), sends
// the client preface (RFC 9113 §3.4) and reads the server's SETTINGS.
func dialRawH2(t testing.TB, base string) *rawH2 {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := &rawH2{t: t, nc: nc, fr: http2.NewFramer(nc, nc), settings: map[http2.SettingID]uint32{}}
	r.henc = hpack.NewEncoder(&r.hbuf)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	nc.SetDeadline(time.Now().Add(wstest.Timeout))
	if _, err := nc.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			sf.ForeachSetting(func(s http2.Setting) error {
				r.settings[s.ID] = s.Val
				return nil
			})
			if err := r.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	nc.SetDeadline(time.Time{})
	return r
}

// request sends a HEADERS frame on stream id with the fields kv (name,
// value, name, value...), pseudo-header fields first as given.
func (r *rawH2) request(id uint32, endStream bool, kv ...string) {
	r.t.Helper()
	r.hbuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		r.henc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hbuf.Bytes(), EndStream: endStream, EndHeaders: true})
	if err != nil {
		r.t.Fatal(err)
	}
}

// wsConnect is the extended CONNECT of RFC 8441 §5.1 for /echo, with the
// fields in extra added (or, with an empty value, left out).
func wsConnect(host string, extra ...string) []string {
	kv := []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/echo", ":authority", host, "sec-websocket-version", "13"}
	for i := 0; i < len(extra); i += 2 {
		found := false
		for j := 0; j < len(kv); j += 2 {
			if kv[j] == extra[i] {
				kv[j+1], found = extra[i+1], true
			}
		}
		if !found {
			kv = append(kv, extra[i], extra[i+1])
		}
	}
	out := kv[:0:0]
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, kv[i], kv[i+1])
		}
	}
	return out
}

// h2Answer is what the server answered on a stream.
type h2Answer struct {
	status string
	header map[string]string
	rst    http2.ErrCode // RST_STREAM code, if reset
	reset  bool
	data   []byte // DATA received (until END_STREAM or RST_STREAM)
	ended  bool   // END_STREAM received
}

// readStream reads frames until stream id has its response headers and,
// if untilEnd, until it ends (END_STREAM or RST_STREAM), or until stop
// says enough.
func (r *rawH2) readStream(id uint32, untilEnd bool, stop func(a *h2Answer) bool) *h2Answer {
	r.t.Helper()
	a := &h2Answer{header: map[string]string{}}
	r.nc.SetReadDeadline(time.Now().Add(wstest.Timeout))
	defer r.nc.SetReadDeadline(time.Time{})
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("stream %d: read frame: %v (so far: %+v)", id, err, a)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				r.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			r.t.Fatalf("GOAWAY %v while waiting for stream %d", f.ErrCode, id)
		}
		if f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					a.status = hf.Value
				} else {
					a.header[hf.Name] = hf.Value
				}
			}
			if f.StreamEnded() {
				a.ended = true
			}
		case *http2.DataFrame:
			a.data = append(a.data, f.Data()...)
			if n := len(f.Data()); n > 0 {
				// Give the window back, so the server's writes go on.
				r.fr.WriteWindowUpdate(0, uint32(n))
				r.fr.WriteWindowUpdate(id, uint32(n))
			}
			if f.StreamEnded() {
				a.ended = true
			}
		case *http2.RSTStreamFrame:
			a.reset, a.rst = true, f.ErrCode
		}
		if a.reset || a.ended {
			return a
		}
		if stop != nil && stop(a) {
			return a
		}
		if !untilEnd && a.status != "" {
			return a
		}
	}
}

// TestServeHTTP_RFC8441_BadInput: each malformed or refused extended
// CONNECT gets the answer it should, from net/http or from us, and the
// HTTP/2 connection stays usable for the next stream (no GOAWAY).
func TestServeHTTP_RFC8441_BadInput(t *testing.T) {
	wstest.CheckGoroutines(t)
	var mu sync.Mutex
	var traced []int // statuses of the handshakes ServeHTTP answered
	s := &Server{Handler: HandlerFunc(echo)}
	s.TraceHandshake = func(_ net.Addr, req *handshake.Request, _ *handshake.Result, err error) {
		mu.Lock()
		traced = append(traced, handshake.HTTPStatus(err))
		mu.Unlock()
	}
	base := serveH2C(t, s)
	host := strings.TrimPrefix(base, "http://")
	r := dialRawH2(t, base)
	if r.settings[http2.SettingEnableConnectProtocol] != 1 {
		t.Fatalf("server SETTINGS %v lack ENABLE_CONNECT_PROTOCOL=1 (RFC 8441 §3)", r.settings)
	}
	tests := []struct {
		name   string
		kv     []string
		status string            // "" when a reset is expected
		rst    http2.ErrCode     // when status == ""
		header map[string]string // fields the answer must have
		body   string            // a substring of the answer's body
	}{
		// RFC 9113 §8.5: a CONNECT with :path or :scheme but no
		// :protocol is malformed; net/http resets it before any handler.
		{"CONNECT with :path, no :protocol", wsConnect(host, ":protocol", ""), "", http2.ErrCodeProtocol, nil, ""},
		// A plain CONNECT (only :authority) is well-formed HTTP/2: it
		// reaches ServeHTTP, which says what it expected.
		{"plain CONNECT", []string{":method", "CONNECT", ":authority", host, "sec-websocket-version", "13"}, "400", 0, nil, ":protocol websocket"},
		// RFC 8441 §5: :protocol must be websocket.
		{"webtransport", wsConnect(host, ":protocol", "webtransport"), "501", 0, nil, "not websocket"},
		// RFC 6455 §4.4 as RFC 8441 §5 keeps it.
		{"version missing", wsConnect(host, "sec-websocket-version", ""), "426", 0, map[string]string{"sec-websocket-version": "13"}, "version 13"},
		{"version 8", wsConnect(host, "sec-websocket-version", "8"), "426", 0, map[string]string{"sec-websocket-version": "13"}, ""},
		// RFC 6455 §10.2: a foreign Origin is refused.
		{"origin", wsConnect(host, "origin", "http://evil.example"), "403", 0, nil, "origin"},
		// An HTTP/2 GET on the WebSocket endpoint: not the RFC 8441 method.
		{"GET", []string{":method", "GET", ":scheme", "http", ":path", "/echo", ":authority", host, "sec-websocket-version", "13"}, "405", 0, map[string]string{"allow": "CONNECT"}, ""},
	}
	id := uint32(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			r.request(id, false, tt.kv...)
			a := r.readStream(id, true, nil)
			id += 2
			if tt.status == "" {
				if !a.reset || a.rst != tt.rst || a.status != "" {
					t.Fatalf("answer %+v, want RST_STREAM %v", a, tt.rst)
				}
				return
			}
			if a.status != tt.status {
				t.Fatalf("status %q (answer %+v), want %s", a.status, a, tt.status)
			}
			for k, v := range tt.header {
				if a.header[k] != v {
					t.Errorf("%s: %q, want %q", k, a.header[k], v)
				}
			}
			if !strings.Contains(string(a.data), tt.body) {
				t.Errorf("body %q lacks %q", a.data, tt.body)
			}
			if _, ok := a.header["connection"]; ok {
				t.Error("Connection field in an HTTP/2 response (RFC 9113 §8.2.2)")
			}
		})
	}
	r.t = t
	// Every request but the one net/http reset reached ServeHTTP.
	mu.Lock()
	if want := []int{400, 501, 426, 426, 403, 405}; !slices.Equal(traced, want) {
		t.Errorf("ServeHTTP answered %v, want %v", traced, want)
	}
	mu.Unlock()
	// The connection is still good: a valid extended CONNECT on it gets
	// its 200 and echoes.
	r.request(id, false, wsConnect(host)...)
	a := r.readStream(id, false, nil)
	if a.status != "200" {
		t.Fatalf("valid CONNECT after the bad ones: %+v", a)
	}
	msg := wstest.ClientFrame(true, frame.OpText, []byte("still here"))
	if err := r.fr.WriteData(id, false, msg); err != nil {
		t.Fatal(err)
	}
	a = r.readStream(id, true, func(a *h2Answer) bool { return len(a.data) >= 2+len("still here") })
	if !bytes.Equal(a.data, append([]byte{0x81, byte(len("still here"))}, "still here"...)) {
		t.Fatalf("echo %q", a.data)
	}
	r.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	wstest.WaitUntil(t, wstest.Timeout, "the reset stream's connection to end", func() bool { return s.NumConns() == 0 }, nil)
}

// recordingEvents is an EventHandler that echoes and records OnClose.
type recordingEvents struct {
	opened chan struct{}
	closed chan error
}

func newRecordingEvents() *recordingEvents {
	return &recordingEvents{opened: make(chan struct{}, 100), closed: make(chan error, 100)}
}

func (e *recordingEvents) OnOpen(c *frame.Conn, hs *handshake.Result) { e.opened <- struct{}{} }
func (e *recordingEvents) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	c.WriteMessage(op, msg)
}
func (e *recordingEvents) OnClose(c *frame.Conn, err error) { e.closed <- err }

// TestServeHTTP_RFC8441_5_ResetMidMessage: RST_STREAM (CANCEL) in the
// middle of a message is the stream's TCP reset (RFC 8441 §5): the
// connection ends with 1006, OnClose is called, ServeHTTP returns, and no
// goroutine is left behind. In event mode (whose no-fd path serves the
// stream) and in handler mode.
func TestServeHTTP_RFC8441_5_ResetMidMessage(t *testing.T) {
	for _, mode := range []string{"events", "handler"} {
		t.Run(mode, func(t *testing.T) {
			wstest.CheckGoroutines(t)
			ev := newRecordingEvents()
			handlerErr := make(chan error, 1)
			s := &Server{}
			if mode == "events" {
				s.Events = ev
			} else {
				s.Handler = HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
					_, _, err := c.ReadMessage(nil)
					handlerErr <- err
				})
			}
			h, served := countServed(s)
			base := serveH2CWith(t, s, h)
			host := strings.TrimPrefix(base, "http://")
			r := dialRawH2(t, base)
			r.request(1, false, wsConnect(host)...)
			if a := r.readStream(1, false, nil); a.status != "200" {
				t.Fatalf("answer %+v", a)
			}
			// Half of a 1000-byte masked binary frame, then the reset.
			whole := wstest.ClientFrame(true, frame.OpBinary, make([]byte, 1000))
			if err := r.fr.WriteData(1, false, whole[:500]); err != nil {
				t.Fatal(err)
			}
			wstest.WaitUntil(t, wstest.Timeout, "the server to count the connection", func() bool { return s.NumConns() == 1 }, nil)
			if err := r.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-ev.closed:
			case err = <-handlerErr:
			case <-time.After(wstest.Timeout):
				t.Fatal("no OnClose / handler return after RST_STREAM")
			}
			var ce *frame.CloseError
			if !errors.As(err, &ce) || ce.Code != frame.CloseAbnormal {
				t.Fatalf("ended with %v, want 1006 (RFC 6455 §7.1.5)", err)
			}
			if mode == "events" {
				select {
				case <-ev.opened:
				default:
					t.Error("OnOpen was not called")
				}
			}
			wstest.WaitUntil(t, wstest.Timeout, "NumConns to reach 0", func() bool { return s.NumConns() == 0 }, nil)
			done := make(chan struct{})
			go func() { served.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(wstest.Timeout):
				t.Fatal("ServeHTTP did not return after the reset")
			}
		})
	}
}

// TestServeHTTP_RFC8441_IdleTimeout: a peer that opens a WebSocket over
// HTTP/2 and then says nothing, not even a pong, is pinged and then closed
// with 1001 by the keepalive loop, and its stream ends.
func TestServeHTTP_RFC8441_IdleTimeout(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo), PingInterval: 50 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	s.Config.CloseTimeout = 500 * time.Millisecond
	base := serveH2C(t, s)
	host := strings.TrimPrefix(base, "http://")
	r := dialRawH2(t, base)
	r.request(1, false, wsConnect(host)...)
	if a := r.readStream(1, false, nil); a.status != "200" {
		t.Fatalf("answer %+v", a)
	}
	// Read what the server sends until the stream ends: a ping, then a
	// close frame with 1001.
	a := r.readStream(1, true, nil)
	var ops []frame.Opcode
	var closeCode frame.CloseCode
	for p := a.data; len(p) >= 2; {
		op, n := frame.Opcode(p[0]&0x0f), int(p[1]&0x7f)
		if len(p) < 2+n {
			break
		}
		ops = append(ops, op)
		if op == frame.OpClose && n >= 2 {
			closeCode = frame.CloseCode(p[2])<<8 | frame.CloseCode(p[3])
		}
		p = p[2+n:]
	}
	if len(ops) < 2 || ops[0] != frame.OpPing || ops[len(ops)-1] != frame.OpClose || closeCode != frame.CloseGoingAway {
		t.Fatalf("server sent frames %v (close code %d), stream ended %v reset %v; want ping ... close 1001", ops, closeCode, a.ended, a.reset)
	}
	wstest.WaitUntil(t, wstest.Timeout, "NumConns to reach 0", func() bool { return s.NumConns() == 0 }, nil)
}

// offEnv makes the test binary run TestExtendedConnect_RFC8441_3_Off's
// child part.
const offEnv = "WS6455_TEST_H2_OFF"

// TestExtendedConnect_RFC8441_3_Off: in a process started without
// GODEBUG=http2xconnect=1 (a child run of this test binary),
// ExtendedConnectEnabled reports false, net/http's SETTINGS lack
// SETTINGS_ENABLE_CONNECT_PROTOCOL, and an extended CONNECT sent anyway is
// reset with PROTOCOL_ERROR before any handler runs.
func TestExtendedConnect_RFC8441_3_Off(t *testing.T) {
	if os.Getenv(offEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExtendedConnect_RFC8441_3_Off$", "-test.v", "-test.count=1")
		env := []string{offEnv + "=1", reexecEnv + "=1", "GODEBUG=" + withoutXConnect(os.Getenv("GODEBUG"))}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GODEBUG=") {
				env = append(env, kv)
			}
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestExtendedConnect_RFC8441_3_Off") {
			t.Fatalf("child without http2xconnect: %v\n%s", err, out)
		}
		return
	}
	if ExtendedConnectEnabled() {
		t.Fatalf("ExtendedConnectEnabled() = true with GODEBUG=%q", os.Getenv("GODEBUG"))
	}
	ran := make(chan struct{}, 1)
	s := &Server{Handler: HandlerFunc(echo)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran <- struct{}{}
		s.ServeHTTP(w, r)
	})
	base := serveH2CWith(t, s, h)
	host := strings.TrimPrefix(base, "http://")
	r := dialRawH2(t, base)
	if v, ok := r.settings[http2.SettingEnableConnectProtocol]; ok && v != 0 {
		t.Fatalf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d without GODEBUG", v)
	}
	r.request(1, false, wsConnect(host)...)
	a := r.readStream(1, true, nil)
	if !a.reset || a.rst != http2.ErrCodeProtocol {
		t.Fatalf("answer %+v, want RST_STREAM PROTOCOL_ERROR", a)
	}
	select {
	case <-ran:
		t.Fatal("the handler ran for an extended CONNECT that net/http does not accept")
	default:
	}
	t.Logf("extended CONNECT without the setting: RST_STREAM %v", a.rst)
}

// TestServeHTTP_RFC8441_5_CloseUnderBlockedWrite: a peer that opens a
// stream and then never grants HTTP/2 flow-control credit holds a large
// write of the server's blocked. Shutdown's close frame cannot pass it;
// when the close timeout closes the connection, the blocked write must
// end (the stream is reset: RFC 8441 §5's stand-in for a TCP reset)
// instead of holding the handler, the stream and Shutdown forever.
func TestServeHTTP_RFC8441_5_CloseUnderBlockedWrite(t *testing.T) {
	wstest.CheckGoroutines(t)
	writeErr := make(chan error, 1)
	s := &Server{Handler: HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
		// 1 MiB: far more than the peer's 64 KiB initial window.
		writeErr <- c.WriteMessage(frame.OpBinary, make([]byte, 1<<20))
		c.ReadMessage(nil)
	})}
	s.Config.CloseTimeout = 300 * time.Millisecond
	h, served := countServed(s)
	base := serveH2CWith(t, s, h)
	host := strings.TrimPrefix(base, "http://")
	r := dialRawH2(t, base)
	r.request(1, false, wsConnect(host)...)
	// Read without granting credit: the server sends its 64 KiB window
	// and blocks.
	r.nc.SetReadDeadline(time.Now().Add(wstest.Timeout))
	got, status := 0, ""
	for got < 65535 {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			status = f.PseudoValue("status")
		case *http2.DataFrame:
			got += len(f.Data())
		case *http2.RSTStreamFrame:
			t.Fatalf("RST_STREAM %v before the window was used up", f.ErrCode)
		}
	}
	if status != "200" {
		t.Fatalf("status %q", status)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The stream ends with a reset, the blocked write fails, ServeHTTP
	// returns, and Shutdown finishes without hitting its deadline.
	var rst *http2.RSTStreamFrame
	for rst == nil {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for RST_STREAM: %v", err)
		}
		if f, ok := f.(*http2.RSTStreamFrame); ok && f.StreamID == 1 {
			rst = f
		}
		if f, ok := f.(*http2.DataFrame); ok && f.StreamEnded() {
			t.Fatal("END_STREAM passed a blocked write")
		}
	}
	if err := <-writeErr; err == nil {
		t.Error("the blocked write succeeded")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	done := make(chan struct{})
	go func() { served.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wstest.Timeout):
		t.Fatal("ServeHTTP did not return")
	}
	t.Logf("stream reset with %v under the blocked write", rst.ErrCode)
}

// TestProbeExtendedConnect_RFC8441_3: the probe behind
// ExtendedConnectEnabled gives the same answer every time, matches the
// SETTINGS a real connection gets, and leaves no goroutine behind.
func TestProbeExtendedConnect_RFC8441_3(t *testing.T) {
	wstest.CheckGoroutines(t)
	want := ExtendedConnectEnabled()
	for range 3 {
		if got := probeExtendedConnect(); got != want {
			t.Fatalf("probe = %v, ExtendedConnectEnabled() = %v", got, want)
		}
	}
	s := &Server{Handler: HandlerFunc(echo)}
	r := dialRawH2(t, serveH2C(t, s))
	if got := r.settings[http2.SettingEnableConnectProtocol] == 1; got != want {
		t.Fatalf("a real connection's SETTINGS say %v, the probe %v", got, want)
	}
}

// TestServeHTTP_RFC8441_MessageTimeout: the progress rule (Config.
// MessageTimeout) works on a stream, through net/http's read deadline: a
// peer that sends half a frame and stalls is failed with 1008.
func TestServeHTTP_RFC8441_MessageTimeout(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo)}
	s.Config.MessageTimeout = 200 * time.Millisecond
	s.Config.CloseTimeout = 500 * time.Millisecond
	base := serveH2C(t, s)
	host := strings.TrimPrefix(base, "http://")
	r := dialRawH2(t, base)
	r.request(1, false, wsConnect(host)...)
	if a := r.readStream(1, false, nil); a.status != "200" {
		t.Fatalf("answer %+v", a)
	}
	whole := wstest.ClientFrame(true, frame.OpBinary, make([]byte, 1000))
	if err := r.fr.WriteData(1, false, whole[:100]); err != nil {
		t.Fatal(err)
	}
	a := r.readStream(1, true, nil)
	if len(a.data) < 4 || frame.Opcode(a.data[0]&0x0f) != frame.OpClose ||
		frame.CloseCode(a.data[2])<<8|frame.CloseCode(a.data[3]) != frame.ClosePolicyViolation {
		t.Fatalf("server sent %q (ended %v, reset %v %v), want a close frame with 1008", a.data, a.ended, a.reset, a.rst)
	}
	wstest.WaitUntil(t, wstest.Timeout, "NumConns to reach 0", func() bool { return s.NumConns() == 0 }, nil)
}

// TestServeHTTP_RFC8441_5_EndStreamWithoutClose: END_STREAM from the peer
// without a close frame is a TCP FIN without one (RFC 8441 §5): the
// connection ends with 1006 (RFC 6455 §7.1.5), not a local failure, and
// the server ends its side of the stream too.
func TestServeHTTP_RFC8441_5_EndStreamWithoutClose(t *testing.T) {
	wstest.CheckGoroutines(t)
	ended := make(chan error, 1)
	s := &Server{Handler: HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
		for {
			op, p, err := c.ReadMessage(nil)
			if err != nil {
				ended <- err
				return
			}
			c.WriteMessage(op, p)
		}
	})}
	base := serveH2C(t, s)
	host := strings.TrimPrefix(base, "http://")
	r := dialRawH2(t, base)
	r.request(1, false, wsConnect(host)...)
	if a := r.readStream(1, false, nil); a.status != "200" {
		t.Fatalf("answer %+v", a)
	}
	msg := wstest.ClientFrame(true, frame.OpText, []byte("last words"))
	if err := r.fr.WriteData(1, true, msg); err != nil { // with END_STREAM
		t.Fatal(err)
	}
	a := r.readStream(1, true, nil)
	if !bytes.Contains(a.data, []byte("last words")) {
		t.Errorf("the message before END_STREAM was not echoed: %q", a.data)
	}
	if !a.ended && !a.reset {
		t.Errorf("the server's side of the stream did not end: %+v", a)
	}
	select {
	case err := <-ended:
		var ce *frame.CloseError
		if !errors.As(err, &ce) || ce.Code != frame.CloseAbnormal || ce.Local {
			t.Fatalf("ended with %v, want the peer's 1006", err)
		}
	case <-time.After(wstest.Timeout):
		t.Fatal("the handler did not see the end of the stream")
	}
	wstest.WaitUntil(t, wstest.Timeout, "NumConns to reach 0", func() bool { return s.NumConns() == 0 }, nil)
}
