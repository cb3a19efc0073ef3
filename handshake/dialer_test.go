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
	"strings"
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
