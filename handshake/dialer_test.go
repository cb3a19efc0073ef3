package handshake

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// serveOnce listens on 127.0.0.1, runs fn on the first connection (with a
// 10 s deadline so a broken test cannot hang), and returns the address.
// Cleanup closes the listener and waits for fn.
func serveOnce(t *testing.T, fn func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		fn(nc)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// textFrame is an unmasked server-to-client text frame.
func textFrame(s string) []byte {
	b := frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: frame.OpText, Length: int64(len(s))})
	return append(b, s...)
}

func TestDialRaw_Upgrader_BufferedBytes_RFC6455_4_1(t *testing.T) {
	want := textFrame("first frame, sent with the 101")
	var serverRes atomic.Pointer[Result]
	addr := serveOnce(t, func(nc net.Conn) {
		req, err := ReadRequest(bufio.NewReader(nc), Limits{})
		if err != nil {
			t.Error(err)
			return
		}
		u := &Upgrader{Protocols: []string{"v2", "v1"}, Compression: DeflateConfig{Mode: CompressionFull}}
		res, err := u.Negotiate(req)
		if err != nil {
			t.Error(err)
			return
		}
		serverRes.Store(res)
		// The 101 and the first frame in one write: the client must hand
		// back the frame bytes its reader took.
		nc.Write(append(res.AppendResponse(nil), want...))
		io.Copy(io.Discard, nc)
	})
	d := &Dialer{
		Protocols:   []string{"v1", "v2"},
		Compression: &DeflateOffer{ServerMaxWindowBits: 12, ClientMaxWindowBits: 11},
		Header:      map[string][]string{"Origin": {"http://" + addr}},
	}
	nc, buffered, resp, err := d.DialRaw(context.Background(), "ws://"+addr+"/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rest := make([]byte, len(want)-len(buffered))
	if _, err := io.ReadFull(nc, rest); err != nil {
		t.Fatal(err)
	}
	if got := string(buffered) + string(rest); got != string(want) {
		t.Fatalf("frame bytes %q, want %q", got, want)
	}
	sres := serverRes.Load()
	if resp.StatusCode != 101 || resp.Subprotocol != "v2" || sres.Subprotocol != "v2" {
		t.Errorf("subprotocol client %q server %q", resp.Subprotocol, sres.Subprotocol)
	}
	if resp.Deflate == nil || *resp.Deflate != *sres.Deflate || resp.Deflate.ServerMaxWindowBits != 12 || resp.Deflate.ClientMaxWindowBits != 11 {
		t.Errorf("deflate client %+v server %+v", resp.Deflate, sres.Deflate)
	}
	if sres.Request.Target != "/path?q=1" || sres.Request.Origin != "http://"+addr {
		t.Errorf("server saw %+v", sres.Request)
	}
}

func TestDial_FrameConn_RFC6455_5_1(t *testing.T) {
	masked := make(chan bool, 1)
	addr := serveOnce(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		if _, err := (&Upgrader{}).Upgrade(br, nc); err != nil {
			t.Error(err)
			return
		}
		nc.Write(textFrame("hello"))
		// The client's frames must be masked (§5.1): the Role is forced.
		h, err := frame.ReadHeader(br)
		if err != nil {
			t.Error(err)
			return
		}
		masked <- h.Masked
		io.Copy(io.Discard, br)
	})
	d := &Dialer{FrameConfig: frame.Config{Role: frame.RoleServer}}
	c, resp, err := d.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Deflate != nil {
		t.Fatalf("deflate %+v", resp.Deflate)
	}
	op, msg, err := c.ReadMessage(nil)
	if err != nil || op != frame.OpText || string(msg) != "hello" {
		t.Fatalf("ReadMessage: %v %q %v", op, msg, err)
	}
	if err := c.WriteMessage(frame.OpText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if !<-masked {
		t.Fatal("client frame not masked")
	}
}

func TestDialRaw_StatusError_RFC6455_4_1_Step1(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		(&Upgrader{CheckOrigin: func(*Request) bool { return false }}).Upgrade(bufio.NewReader(nc), nc)
	})
	nc, _, resp, err := (&Dialer{}).DialRaw(context.Background(), "ws://"+addr+"/")
	var se *StatusError
	if nc != nil || !errors.As(err, &se) || se.StatusCode != 403 || resp == nil || !strings.Contains(string(resp.Body), "not allowed") {
		t.Fatalf("nc %v err %v resp %+v", nc, err, resp)
	}
	if !strings.Contains(err.Error(), `"HTTP/1.1 403 Forbidden"`) {
		t.Errorf("error lacks status line: %v", err)
	}
}

func TestDialRaw_Redirect_RFC6455_4_2_2_Step3(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		ReadRequest(bufio.NewReader(nc), Limits{})
		nc.Write([]byte("HTTP/1.1 307 Temporary Redirect\r\nLocation: ws://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n"))
	})
	_, _, _, err := (&Dialer{}).DialRaw(context.Background(), "ws://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "redirects are not followed (Location: ws://127.0.0.1:1/elsewhere)") {
		t.Fatalf("got %v", err)
	}
}

func TestDialRaw_BadAccept_RFC6455_4_1_Step4(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		ReadRequest(bufio.NewReader(nc), Limits{})
		nc.Write([]byte(resp101())) // accept for the RFC's key, not ours
	})
	_, _, resp, err := (&Dialer{}).DialRaw(context.Background(), "ws://"+addr+"/")
	if !errors.Is(err, ErrBadResponse) || resp == nil {
		t.Fatalf("got %v", err)
	}
}

func TestDialRaw_HandshakeTimeout(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		io.Copy(io.Discard, nc) // read the request, never answer
	})
	_, _, _, err := (&Dialer{HandshakeTimeout: 100 * time.Millisecond}).DialRaw(context.Background(), "ws://"+addr+"/")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestDialRaw_ContextCancel(t *testing.T) {
	got := make(chan struct{})
	addr := serveOnce(t, func(nc net.Conn) {
		ReadRequest(bufio.NewReader(nc), Limits{})
		close(got)
		io.Copy(io.Discard, nc)
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got
		cancel()
	}()
	_, _, _, err := (&Dialer{HandshakeTimeout: -1}).DialRaw(ctx, "ws://"+addr+"/")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestDialRaw_Errors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	for _, u := range []string{"ws://" + addr + "/", "http://" + addr + "/", "ws://" + addr + "/#f", "::"} {
		if nc, _, _, err := (&Dialer{}).DialRaw(context.Background(), u); err == nil {
			nc.Close()
			t.Errorf("%s: no error", u)
		}
	}
}

func TestDialRaw_NetDialHook(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		(&Upgrader{}).Upgrade(bufio.NewReader(nc), nc)
	})
	var dialed string
	d := &Dialer{NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
		dialed = a
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}}
	nc, _, _, err := d.DialRaw(context.Background(), "ws://example.invalid/")
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if dialed != "example.invalid:80" {
		t.Fatalf("NetDial got %q", dialed)
	}
}

// selfSigned makes a certificate for localhost and 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ws6455 test"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// TestDialRaw_TLS_SNI_RFC6455_4_1_Step5: wss:// runs TLS before the
// handshake and MUST use SNI.
func TestDialRaw_TLS_SNI_RFC6455_4_1_Step5(t *testing.T) {
	cert, pool := selfSigned(t)
	sni := make(chan string, 1)
	srvCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sni <- hello.ServerName
			return nil, nil
		},
	}
	addr := serveOnce(t, func(nc net.Conn) {
		tc := tls.Server(nc, srvCfg)
		if _, err := (&Upgrader{}).Upgrade(bufio.NewReader(tc), tc); err != nil {
			t.Error(err)
		}
		tc.Write(textFrame("secure"))
		io.Copy(io.Discard, tc)
	})
	_, port, _ := net.SplitHostPort(addr)
	d := &Dialer{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, network, addr)
		},
	}
	c, _, err := d.Dial(context.Background(), "wss://localhost:"+port+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := <-sni; got != "localhost" {
		t.Errorf("SNI %q", got)
	}
	if _, ok := c.NetConn().(*tls.Conn); !ok {
		t.Errorf("NetConn is %T", c.NetConn())
	}
	if _, msg, err := c.ReadMessage(nil); err != nil || string(msg) != "secure" {
		t.Fatalf("%q %v", msg, err)
	}
	if d.TLSClientConfig.ServerName != "" {
		t.Error("Dialer's tls.Config was modified")
	}
}

func TestDialRaw_TLS_BadCertificate_RFC6455_4_1_Step5(t *testing.T) {
	cert, _ := selfSigned(t)
	addr := serveOnce(t, func(nc net.Conn) {
		tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	})
	_, _, _, err := (&Dialer{}).DialRaw(context.Background(), "wss://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("got %v", err)
	}
}

// Cancelling during the TLS handshake unblocks it (and is race-free).
func TestDialRaw_CancelDuringTLS(t *testing.T) {
	accepted := make(chan struct{})
	addr := serveOnce(t, func(nc net.Conn) {
		close(accepted)
		io.Copy(io.Discard, nc) // swallow the ClientHello, never answer
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-accepted
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	_, _, _, err := (&Dialer{}).DialRaw(ctx, "wss://"+addr+"/")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestDial_NonSwitchingResponse_RFC6455_4_1_Step1: a server that refuses
// (403, 426, 500) gets its status, header fields and the start of its body
// to the caller, both in the returned *Response and in the *StatusError,
// whichever way the body's length is given.
func TestDial_NonSwitchingResponse_RFC6455_4_1_Step1(t *testing.T) {
	tests := []struct {
		name     string
		response string
		close    bool // the server closes after the response (no length given)
		code     int
		header   [2]string
		body     string
		errText  string
	}{
		{
			name:     "403 content-length",
			response: "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\norigin evil.example: no",
			code:     403, header: [2]string{"Content-Type", "text/plain"}, body: "origin evil.example: no",
			errText: `server answered "HTTP/1.1 403 Forbidden": "origin evil.example: no"`,
		},
		{
			name:     "426 chunked",
			response: "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nversion\r\n5\r\n 8 pl\r\n6\r\nease\r\n\r\n0\r\n\r\n",
			code:     426, header: [2]string{"Sec-Websocket-Version", "8"}, body: "version 8 please\r\n",
			errText: `server answered "HTTP/1.1 426 Upgrade Required": the server speaks Sec-WebSocket-Version 8, this client 13 (RFC 6455 §4.4): "version 8 please"`,
		},
		{
			name:     "500 until close",
			response: "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nX-Request-Id: 7\r\n\r\nthe database is down\n",
			close:    true,
			code:     500, header: [2]string{"X-Request-Id", "7"}, body: "the database is down\n",
			errText: `server answered "HTTP/1.1 500 Internal Server Error": "the database is down"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveOnce(t, func(nc net.Conn) {
				if _, err := ReadRequest(bufio.NewReader(nc), Limits{}); err != nil {
					t.Error(err)
					return
				}
				nc.Write([]byte(tt.response))
				if !tt.close {
					io.Copy(io.Discard, nc) // keep the connection open: the length must end the body
				}
			})
			c, resp, err := (&Dialer{}).Dial(context.Background(), "ws://"+addr+"/")
			if c != nil {
				c.CloseNow()
				t.Fatal("Dial returned a connection")
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if resp == nil || se.Response != resp {
				t.Fatalf("Dial returned response %p, the error carries %p; want the same, non-nil", resp, se.Response)
			}
			if resp.StatusCode != tt.code || se.StatusCode != tt.code {
				t.Errorf("status %d (error %d), want %d", resp.StatusCode, se.StatusCode, tt.code)
			}
			if got := resp.Header.Get(tt.header[0]); got != tt.header[1] {
				t.Errorf("header %s: %q, want %q", tt.header[0], got, tt.header[1])
			}
			if string(resp.Body) != tt.body || resp.BodyTruncated {
				t.Errorf("body %q truncated %v, want %q whole", resp.Body, resp.BodyTruncated, tt.body)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error text\n%s\nlacks\n%s", err, tt.errText)
			}
		})
	}
}

// A body that does not arrive whole before the handshake ends (its
// deadline, or here its context's cancellation, which takes the same path)
// still yields the *StatusError with what came, not a timeout: the status
// is the news.
func TestDial_NonSwitchingBodyCutShort_RFC6455_4_1_Step1(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		ReadRequest(bufio.NewReader(nc), Limits{})
		nc.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1000\r\n\r\npartial"))
		io.Copy(io.Discard, nc) // the rest never comes
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &Dialer{NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
		var nd net.Dialer
		nc, err := nd.DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		// Cancel once the client has read the partial body.
		return &watchConn{Conn: nc, want: "partial", seen: cancel}, nil
	}}
	_, resp, err := d.Dial(ctx, "ws://"+addr+"/")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("got %v, want a *StatusError for 503", err)
	}
	if resp == nil || string(resp.Body) != "partial" || !resp.BodyTruncated {
		t.Fatalf("response %+v, want body \"partial\", truncated", resp)
	}
	if !strings.HasSuffix(err.Error(), `: "partial"...`) {
		t.Errorf("error %q does not show the body as cut", err)
	}
}

// watchConn calls seen once the bytes read so far contain want.
type watchConn struct {
	net.Conn
	want string
	seen func()
	got  []byte
	once sync.Once
}

func (c *watchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got = append(c.got, p[:n]...)
	if strings.Contains(string(c.got), c.want) {
		c.once.Do(c.seen)
	}
	return n, err
}

// TestDialHeader_RFC6455_4_1_Item12: per-call header fields ("any other
// header fields", §4.1 item 12) are merged over the Dialer's by name: they
// add, replace, or with no values remove; the Dialer's map is untouched.
func TestDialHeader_RFC6455_4_1_Item12(t *testing.T) {
	reqs := make(chan *Request, 1)
	addr := serveOnce(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		req, err := ReadRequest(br, Limits{})
		reqs <- req
		if err != nil {
			t.Error(err)
			return
		}
		res, err := (&Upgrader{CheckOrigin: func(*Request) bool { return true }}).Negotiate(req)
		if err != nil {
			t.Error(err)
			return
		}
		nc.Write(res.AppendResponse(nil))
		io.Copy(io.Discard, nc)
	})
	d := &Dialer{Header: map[string][]string{
		"Origin":        {"http://dialer.example"},
		"X-Dialer":      {"1"},
		"Authorization": {"Bearer dialer"},
		"X-Both":        {"dialer"},
	}}
	c, _, err := d.DialHeader(context.Background(), "ws://"+addr+"/", map[string][]string{
		"origin":        {"http://call.example"}, // replaces, whatever the spelling
		"X-Call":        {"a", "b"},              // adds
		"Authorization": nil,                     // removes
		"x-both":        {"call"},
		"Host":          {"virtual.example"}, // §4.1 item 4's Host, overridden per call
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var req *Request
	select {
	case req = <-reqs:
	case <-time.After(15 * time.Second):
		t.Fatal("the server read no request within 15s")
	}
	h := req.Header
	for name, want := range map[string]string{
		"Origin": "http://call.example", "X-Dialer": "1", "X-Call": "a,b", "X-Both": "call", "Authorization": "",
	} {
		if got := strings.Join(h[name], ","); got != want {
			t.Errorf("server saw %s %q, want %q", name, got, want)
		}
	}
	if req.Host != "virtual.example" {
		t.Errorf("server saw Host %q, want virtual.example", req.Host)
	}
	if len(d.Header) != 4 || d.Header["Authorization"][0] != "Bearer dialer" || d.Header["Origin"][0] != "http://dialer.example" {
		t.Errorf("the Dialer's Header was modified: %v", d.Header)
	}
}

// Per-call header fields obey the same rules as the Dialer's: one that the
// handshake itself owns is refused before any connection is made.
func TestDialHeader_Refused_RFC6455_4_1(t *testing.T) {
	dialed := false
	d := &Dialer{NetDial: func(context.Context, string, string) (net.Conn, error) {
		dialed = true
		return nil, errors.New("not reached")
	}}
	for _, h := range []map[string][]string{
		{"Sec-WebSocket-Key": {"x"}},
		{"Upgrade": {"h2c"}},
		{"X-Bad": {"a\r\nInjected: 1"}},
		{"Host": {"a", "b"}},
	} {
		_, _, err := d.DialHeader(context.Background(), "ws://example.invalid/", h)
		if err == nil || dialed {
			t.Errorf("header %q: err %v, dialed %v; want an error before dialing", h, err, dialed)
		}
	}
}

func TestMergeHeader(t *testing.T) {
	base := map[string][]string{"A": {"1"}, "b": {"2"}}
	if got := mergeHeader(base, nil); !sameMap(got, base) {
		t.Errorf("nothing to merge: got %v", got)
	}
	got := mergeHeader(base, map[string][]string{"a": {"x"}, "B": {}, "C": {"3"}})
	if want := map[string][]string{"A": {"x"}, "C": {"3"}}; !sameMap(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if base["A"][0] != "1" || len(base) != 2 {
		t.Errorf("base modified: %v", base)
	}
}

func sameMap(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") || len(v) != len(b[k]) {
			return false
		}
	}
	return true
}

// recordingJar is an http.CookieJar that hands out fixed cookies and
// records the URLs it is asked about and the cookies it is given.
type recordingJar struct {
	mu      sync.Mutex
	give    []*http.Cookie
	asked   []string
	stored  []string
	storeAt []string
}

func (j *recordingJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.asked = append(j.asked, u.String())
	return j.give
}

func (j *recordingJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.storeAt = append(j.storeAt, u.String())
	for _, c := range cs {
		j.stored = append(j.stored, c.Name+"="+c.Value)
	}
}

// TestDialJar_RFC6455_4_1: the jar's cookies go out in one Cookie field
// after the Header's (§4.1 item 12, RFC 6265 §5.4), asked for under the
// http:// form of the ws:// URL; Set-Cookie fields of a verified 101 and of
// a refusal are stored, those of a 101 that fails verification are not.
func TestDialJar_RFC6455_4_1(t *testing.T) {
	tests := []struct {
		name   string
		answer func(req *Request) string // "" answers with the Upgrader's 101
		ok     bool
		stored string
	}{
		{name: "101 verified", ok: true, stored: "session=s1,theme=dark"},
		{name: "403 refused", answer: func(*Request) string {
			return "HTTP/1.1 403 Forbidden\r\nSet-Cookie: session=expired; Path=/\r\nContent-Length: 0\r\n\r\n"
		}, stored: "session=expired"},
		{name: "101 bad accept", answer: func(*Request) string {
			return resp101("Set-Cookie: session=forged") // the accept of the RFC's key, not ours
		}, stored: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := make(chan *Request, 1)
			addr := serveOnce(t, func(nc net.Conn) {
				req, err := ReadRequest(bufio.NewReader(nc), Limits{})
				reqs <- req
				if err != nil {
					t.Error(err)
					return
				}
				if tt.answer != nil {
					nc.Write([]byte(tt.answer(req)))
				} else {
					u := &Upgrader{ExtraHeaders: map[string][]string{"Set-Cookie": {"session=s1; Path=/; HttpOnly", "theme=dark", "=bad"}}}
					res, err := u.Negotiate(req)
					if err != nil {
						t.Error(err)
						return
					}
					nc.Write(res.AppendResponse(nil))
				}
				io.Copy(io.Discard, nc)
			})
			jar := &recordingJar{give: []*http.Cookie{{Name: "session", Value: "s0"}, {Name: "pref", Value: "a b"}}}
			d := &Dialer{Jar: jar, Header: map[string][]string{"cookie": {"from=header"}}}
			c, _, err := d.Dial(context.Background(), "ws://"+addr+"/chat?room=1")
			if c != nil {
				c.CloseNow()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("Dial: %v", err)
			}
			var req *Request
			select {
			case req = <-reqs:
			case <-time.After(15 * time.Second):
				t.Fatal("the server read no request within 15s")
			}
			if got, want := req.Header["Cookie"], []string{`from=header; session=s0; pref="a b"`}; strings.Join(got, "|") != want[0] {
				t.Errorf("server saw Cookie %q, want %q", got, want)
			}
			jar.mu.Lock()
			defer jar.mu.Unlock()
			wantURL := "http://" + addr + "/chat?room=1"
			if len(jar.asked) != 1 || jar.asked[0] != wantURL {
				t.Errorf("jar asked for %q, want [%s]", jar.asked, wantURL)
			}
			if got := strings.Join(jar.stored, ","); got != tt.stored {
				t.Errorf("jar stored %q, want %q", got, tt.stored)
			}
			if len(jar.storeAt) > 0 && jar.storeAt[0] != wantURL {
				t.Errorf("jar stored at %q, want %s", jar.storeAt, wantURL)
			}
			if d.Header["cookie"][0] != "from=header" || len(d.Header) != 1 {
				t.Errorf("the Dialer's Header was modified: %v", d.Header)
			}
		})
	}
}

// With net/http/cookiejar: a cookie set by one handshake is sent by the
// next, and wss:// counts as https:// for Secure cookies, which are not
// sent over ws://. (The host is a name, not 127.0.0.1, which cookiejar
// treats as a secure origin whatever the scheme; NetDial routes it to the
// test server.)
func TestDialJar_CookiejarRoundTrip_RFC6455_4_1(t *testing.T) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	var target string // the test server of the current dial
	netDial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, network, target)
	}
	// serve answers one handshake, over TLS if tlsCfg is set, setting
	// cookie, and reports the Cookie field it received.
	serve := func(tlsCfg *tls.Config, cookie string) (string, <-chan string) {
		got := make(chan string, 1)
		addr := serveOnce(t, func(nc net.Conn) {
			if tlsCfg != nil {
				nc = tls.Server(nc, tlsCfg)
			}
			req, err := ReadRequest(bufio.NewReader(nc), Limits{})
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- strings.Join(req.Header["Cookie"], "|")
			u := &Upgrader{}
			if cookie != "" {
				u.ExtraHeaders = map[string][]string{"Set-Cookie": {cookie}}
			}
			res, err := u.Negotiate(req)
			if err != nil {
				t.Error(err)
				return
			}
			nc.Write(res.AppendResponse(nil))
			io.Copy(io.Discard, nc)
		})
		return addr, got
	}
	dial := func(d *Dialer, u string, got <-chan string) string {
		t.Helper()
		c, _, err := d.Dial(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		c.CloseNow()
		select {
		case s := <-got:
			return s
		case <-time.After(15 * time.Second):
			t.Fatal("the server read no request within 15s")
			return ""
		}
	}

	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	wss := &Dialer{Jar: jar, NetDial: netDial, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	ws := &Dialer{Jar: jar, NetDial: netDial}

	var got <-chan string
	target, got = serve(tlsCfg, "secret=1; Secure; Path=/")
	if c := dial(wss, "wss://ws6455.test/", got); c != "" {
		t.Errorf("first wss:// dial sent Cookie %q, want none", c)
	}
	target, got = serve(nil, "plain=2; Path=/")
	if c := dial(ws, "ws://ws6455.test/", got); c != "" {
		t.Errorf("ws:// dial sent Cookie %q; the Secure cookie must stay on wss://", c)
	}
	target, got = serve(tlsCfg, "")
	if c := dial(wss, "wss://ws6455.test/", got); c != "secret=1; plain=2" && c != "plain=2; secret=1" {
		t.Errorf("second wss:// dial sent Cookie %q, want secret=1 and plain=2", c)
	}
}
