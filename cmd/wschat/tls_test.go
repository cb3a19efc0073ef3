package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// TestMain re-executes the test binary with GODEBUG=http2xconnect=1, as
// the wschat binary re-executes itself (serve.Reexec): net/http reads the
// variable once, at start, and the HTTP/2 test below needs its HTTP/2
// server to advertise extended CONNECT (RFC 8441 §3). run, called in this
// process by the tests, must never re-execute: reexec is replaced.
func TestMain(m *testing.M) {
	interop.EnsureXConnect("wschat")
	reexec = func(*slog.Logger) error {
		return errors.New("wschat's tests run it in the test process: no re-execution")
	}
	os.Exit(m.Run())
}

// testCert writes a self-signed certificate for 127.0.0.1 (serve.SelfSigned)
// and its key to PEM files, and returns the -tls value naming them, a
// pool that trusts the certificate, and its fingerprint as the log shows it.
func testCert(t *testing.T) (spec string, roots *x509.CertPool, fingerprint string) {
	t.Helper()
	cert, err := serve.SelfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(leaf)
	sum := sha256.Sum256(cert.Certificate[0])
	return certFile + "," + keyFile, roots, serve.Fingerprint(sum[:])
}

// waitLog polls the server's log until it matches re, for up to 30 s.
func waitLog(t *testing.T, s *interop.Server, re *regexp.Regexp, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !re.MatchString(s.Log()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the log within 30s (want %q):\n%s", what, re, s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// relayOnce sends text from one client to another through the relay and
// checks that the recipient gets it from the sender and the sender its
// ack.
func relayOnce(t *testing.T, from *frame.Conn, fromID string, to *frame.Conn, toID string, ref int, text string) {
	t.Helper()
	req := fmt.Sprintf(`{"to":%q,"ref":%d,"message":%q}`, toID, ref, text)
	if err := from.WriteMessage(frame.OpText, []byte(req)); err != nil {
		t.Fatalf("%s sends: %v", fromID, err)
	}
	if m := readEnv(t, to); m["type"] != "message" || m["message"] != text || m["from"] != fromID {
		t.Fatalf("%s got %v, want %q from %s", toID, m, text, fromID)
	}
	if m := readEnv(t, from); m["type"] != "ack" || m["to"] != toID || m["ref"] != float64(ref) {
		t.Fatalf("%s got %v, want the ack of ref %d", fromID, m, ref)
	}
}

// With -tls CERT,KEY, wschat serves its page over HTTPS and relays
// between a client whose WebSocket is an extended CONNECT on an HTTP/2
// stream (RFC 8441 §4; answered 200, §5) and one that upgraded from
// HTTP/1.1 over TLS (RFC 6455 §4.1), in both directions; the log says
// what is served and how each WebSocket came; Shutdown sends both 1001
// (RFC 6455 §7.4.1).
func TestTLS_RelayHTTP2AndHTTP1_RFC8441_4(t *testing.T) {
	spec, roots, fingerprint := testCert(t)
	s := interop.StartServer(t, "wschat", "WS6455_WSCHAT_BIN", run, "-tls", spec, "-log", "debug")
	listening := regexp.MustCompile(`msg=listening addr=\S+ page=https://` + regexp.QuoteMeta(s.Addr) + `/ tls=\S+ cert-sha256=` + regexp.QuoteMeta(fingerprint) + ` http2=true `)
	if !listening.MatchString(s.Log()) {
		t.Errorf("the listening line does not say https, the certificate's fingerprint and http2=true (want %q):\n%s", listening, s.Log())
	}
	trust := &tls.Config{RootCAs: roots}

	var p http.Protocols
	p.SetHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: trust.Clone(), Protocols: &p}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), `id="my-id"`) {
		t.Fatalf("GET / over HTTP/2: %s %s, %.80q", resp.Proto, resp.Status, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// wschat accepts same-origin pages only (-any-origin is off): a
	// browser's extended CONNECT carries the page's Origin, which must
	// match :authority as it would Host over HTTP/1.1 (RFC 8441 §4,
	// RFC 6455 §4.2.2); a foreign page is refused over HTTP/2 too.
	foreign := &handshake.Dialer{HTTP2: handshake.HTTP2Require, TLSClientConfig: trust, Header: map[string][]string{"Origin": {"https://evil.example"}}}
	defer foreign.CloseIdleConnections()
	if c, res, err := foreign.Dial(ctx, "wss://"+s.Addr+"/ws"); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		if c != nil {
			c.CloseNow()
		}
		t.Fatalf("foreign Origin over HTTP/2: %v (response %+v), want 403", err, res)
	}
	h2d := &handshake.Dialer{HTTP2: handshake.HTTP2Require, TLSClientConfig: trust, Header: map[string][]string{"Origin": {"https://" + s.Addr}}}
	defer h2d.CloseIdleConnections()
	c2, res2, err := h2d.Dial(ctx, "wss://"+s.Addr+"/ws")
	if err != nil {
		t.Fatalf("dial over HTTP/2: %v", err)
	}
	defer c2.CloseNow()
	if res2.Proto != handshake.ProtoHTTP2 || res2.StatusCode != 200 {
		t.Fatalf("HTTP/2 dial: %s %d, want %s 200 (RFC 8441 §5)", res2.Proto, res2.StatusCode, handshake.ProtoHTTP2)
	}
	c1, res1, err := (&handshake.Dialer{TLSClientConfig: trust, Header: map[string][]string{"Origin": {"https://" + s.Addr}}}).Dial(ctx, "wss://"+s.Addr+"/ws")
	if err != nil {
		t.Fatalf("dial over HTTP/1.1: %v", err)
	}
	defer c1.CloseNow()
	if tc, ok := c1.NetConn().(*tls.Conn); res1.Proto != "HTTP/1.1" || res1.StatusCode != 101 || !ok || !tc.ConnectionState().HandshakeComplete {
		t.Fatalf("HTTP/1.1 dial: %s %d on a %T, want HTTP/1.1 101 on a TLS connection", res1.Proto, res1.StatusCode, c1.NetConn())
	}
	id2, id1 := readEnv(t, c2)["id"].(string), readEnv(t, c1)["id"].(string)
	if id1 == "" || id2 == "" || id1 == id2 {
		t.Fatalf("welcome ids %q (HTTP/1.1) and %q (HTTP/2)", id1, id2)
	}
	relayOnce(t, c2, id2, c1, id1, 1, "from the HTTP/2 stream")
	relayOnce(t, c1, id1, c2, id2, 2, "from the HTTP/1.1 connection")
	relayOnce(t, c2, id2, c1, id1, 3, strings.Repeat("ü", 5000))

	waitLog(t, s, regexp.MustCompile(`msg="websocket request" method=CONNECT proto=HTTP/2.0 path=/ws `), "debug line of the extended CONNECT")
	waitLog(t, s, regexp.MustCompile(`msg="websocket request" method=GET proto=HTTP/1.1 path=/ws `), "debug line of the HTTP/1.1 upgrade")

	s.Stop()
	for name, c := range map[string]*frame.Conn{"HTTP/2": c2, "HTTP/1.1": c1} {
		c.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, _, err := c.ReadMessage(nil); frame.CloseStatus(err) != frame.CloseGoingAway {
			t.Errorf("%s client on shutdown: %v, want close 1001", name, err)
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A -tls that cannot be loaded is an error that names the flag and the
// file, before anything is served.
func TestRun_TLSBadFlag(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for spec, want := range map[string]string{
		missing + "," + missing: "-tls: open " + missing + ": no such file",
		missing:                 "want CERT,KEY",
	} {
		err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-tls", spec}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-tls %q: %v, want an error saying %q", spec, err, want)
		}
	}
}

// The wschat binary: a -tls it cannot load ends it with status 1 and the
// reason on stderr; started without GODEBUG, -tls auto re-executes once
// with http2xconnect=1 (serve.HTTP2), so that a client that requires
// HTTP/2 gets its WebSocket as an extended CONNECT (RFC 8441 §3: the
// server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL), over the
// certificate whose fingerprint the log shows. (wsecho's tests cover the
// cases where the re-execution is refused; the code is serve's, shared.)
// WS6455_WSCHAT_BIN names a binary, else the test builds one.
func TestBinary_TLS_RFC8441_3(t *testing.T) {
	bin := interop.Binary(t, "wschat", "WS6455_WSCHAT_BIN")

	t.Run("bad -tls path", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.pem")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-tls", missing+","+missing)
		cmd.Env = interop.CleanEnv()
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("wschat -tls %s: %v, want exit status 1\n%s", missing, err, out)
		}
		if want := "wschat: -tls: open " + missing + ": no such file or directory\n"; string(out) != want {
			t.Errorf("output %q, want %q", out, want)
		}
	})

	t.Run("plain start re-executes", func(t *testing.T) {
		stderr := interop.StartBinary(t, "wschat", bin, interop.CleanEnv(), "-addr", "127.0.0.1:0", "-tls", "auto")
		m := stderr.WaitFor(t, regexp.MustCompile(`msg=listening addr=(\S+) page=(\S+) tls=(\S+) cert-sha256=(\S+) http2=(\S+) `), "listening line")
		addr, fingerprint := m[1], m[4]
		if m[2] != "https://"+addr+"/" || m[3] != "auto" || !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fingerprint) || m[5] != "true" {
			t.Fatalf("listening line %q: want page=https://%s/ tls=auto, a SHA-256 fingerprint and http2=true\n%s", m[0], addr, stderr)
		}
		if got := strings.Count(stderr.String(), `msg="re-executing with GODEBUG=http2xconnect=1`); got != 1 {
			t.Errorf("%d re-execution lines, want 1\n%s", got, stderr)
		}
		pin := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if fp := serve.Fingerprint(sum[:]); fp != fingerprint {
				return fmt.Errorf("certificate %s, not the logged %s", fp, fingerprint)
			}
			return nil
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d := &handshake.Dialer{HTTP2: handshake.HTTP2Require, TLSClientConfig: pin}
		defer d.CloseIdleConnections()
		c, res, err := d.Dial(ctx, "wss://"+addr+"/ws")
		if err != nil {
			t.Fatalf("dial over HTTP/2: %v\n%s", err, stderr)
		}
		defer c.CloseNow()
		if res.Proto != handshake.ProtoHTTP2 {
			t.Fatalf("dialled over %s, want %s", res.Proto, handshake.ProtoHTTP2)
		}
		if m := readEnv(t, c); m["type"] != "welcome" {
			t.Fatalf("first message %v, want the welcome", m)
		}
	})
}
