// Package h2test serves WebSocket over HTTP/2 (RFC 8441) for the
// commands' tests, with net/http's HTTP/2 server and a handler written
// here, independent of package server: it checks the extended CONNECT,
// answers 200 with the negotiated subprotocol and permessage-deflate, and
// runs a frame.Conn in the server role over the stream. Only tests import
// it.
//
// net/http's HTTP/2 server accepts extended CONNECT only when GODEBUG
// contains http2xconnect=1 at process start; Main re-runs a test binary
// with it.
package h2test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

const marker = "WS6455_H2TEST_REEXEC"

// Main runs the tests with GODEBUG=http2xconnect=1: when the variable
// lacks it, it runs the test binary again with it appended (same
// arguments) and exits with that run's status. Call it from TestMain.
func Main(m *testing.M) {
	if !HasXConnect() && os.Getenv(marker) == "" {
		exe, err := os.Executable()
		if err == nil {
			godebug := "http2xconnect=1"
			if old := os.Getenv("GODEBUG"); strings.TrimSpace(old) != "" {
				godebug = old + "," + godebug
			}
			cmd := exec.Command(exe, os.Args[1:]...)
			cmd.Env = append(os.Environ(), "GODEBUG="+godebug, marker+"=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			err = cmd.Run()
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			if err == nil {
				os.Exit(0)
			}
		}
		os.Stderr.WriteString("h2test: cannot re-run with GODEBUG=http2xconnect=1: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// HasXConnect reports whether GODEBUG has http2xconnect=1.
func HasXConnect() bool {
	for kv := range strings.SplitSeq(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "http2xconnect=1" {
			return true
		}
	}
	return false
}

// Request is what the server saw of an extended CONNECT.
type Request struct {
	Method, Proto, Protocol, Authority, Path string
	Header                                   http.Header
}

// Server is an RFC 8441 echo server on a loopback port.
type Server struct {
	URL     string // ws://host:port (h2c) or wss://host:port (TLS, h2)
	Addr    string
	Accepts atomic.Int32 // TCP connections accepted
	// Protocols are the subprotocols the server accepts, in its order of
	// preference.
	Protocols []string
	// Handle, if set, runs on each connection instead of the echo.
	Handle func(c *frame.Conn, r *http.Request)

	srv      *httptest.Server
	mu       sync.Mutex
	requests []Request
	handlers sync.WaitGroup
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Start starts s (its fields set) over h2c, or TLS when useTLS (with
// httptest's certificate: see Certificate), with HTTP/1.1 beside, which
// gets 400. The test's cleanup stops it.
func (s *Server) Start(t testing.TB, useTLS bool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Listener = countingListener{srv.Listener, &s.Accepts}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	srv.Config.Protocols = p
	if useTLS {
		p.SetHTTP2(true)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		s.URL = "wss://" + srv.Listener.Addr().String()
	} else {
		p.SetUnencryptedHTTP2(true)
		srv.Start()
		s.URL = "ws://" + srv.Listener.Addr().String()
	}
	s.Addr = srv.Listener.Addr().String()
	s.srv = srv
	t.Cleanup(s.Close)
}

// Close stops the server and waits for its handlers.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.handlers.Wait()
}

// Certificate is the TLS server's certificate.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// TLSConfig trusts the server's certificate.
func (s *Server) TLSConfig() *tls.Config {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return &tls.Config{RootCAs: p}
}

// Requests returns the extended CONNECTs seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Proto: r.Proto, Protocol: r.Header.Get(":protocol"),
		Authority: r.Host, Path: r.RequestURI, Header: r.Header.Clone(),
	})
	s.mu.Unlock()
	if r.Method != "CONNECT" || r.ProtoMajor != 2 || r.Header.Get(":protocol") != "websocket" {
		http.Error(w, "RFC 8441 extended CONNECT only", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "Sec-WebSocket-Version 13 only", http.StatusUpgradeRequired)
		return
	}
	var proto string
	offered := strings.Split(r.Header.Get("Sec-Websocket-Protocol"), ",")
	for _, p := range s.Protocols {
		for _, o := range offered {
			if strings.TrimSpace(o) == p && proto == "" {
				proto = p
			}
		}
	}
	if proto != "" {
		w.Header().Set("Sec-WebSocket-Protocol", proto)
	}
	var params *frame.DeflateParams
	if offers, err := handshake.ParseExtensions(r.Header["Sec-Websocket-Extensions"]); err == nil && len(offers) > 0 {
		if resp, p, ok := handshake.NegotiateDeflate(offers, handshake.DeflateConfig{Mode: handshake.CompressionFull}); ok {
			w.Header().Set("Sec-WebSocket-Extensions", resp.String())
			params = p
		}
	}
	w.Header().Set("Server", "h2test")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	nc := &streamConn{r: r.Body, w: w, rc: rc, done: make(chan struct{})}
	c := frame.NewConn(nc, nil, frame.Config{Role: frame.RoleServer, Deflate: params, Subprotocol: proto, MaxMessageSize: 64 << 20})
	if s.Handle != nil {
		s.Handle(c, r)
		c.CloseNow()
	} else {
		echo(c)
	}
	<-nc.done
}

func echo(c *frame.Conn) {
	defer c.CloseNow()
	for {
		op, msg, err := c.ReadMessage(nil)
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// streamConn is a net.Conn over the server's side of a stream; Close lets
// the handler return, which ends the stream.
type streamConn struct {
	r    io.Reader
	w    http.ResponseWriter
	rc   *http.ResponseController
	once sync.Once
	done chan struct{}
}

func (c *streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	return n, err
}
func (c *streamConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
func (c *streamConn) LocalAddr() net.Addr  { return addr{} }
func (c *streamConn) RemoteAddr() net.Addr { return addr{} }
func (c *streamConn) SetDeadline(t time.Time) error {
	c.rc.SetReadDeadline(t)
	return c.rc.SetWriteDeadline(t)
}
func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.rc.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.rc.SetWriteDeadline(t) }

type addr struct{}

func (addr) Network() string { return "http2" }
func (addr) String() string  { return "http2-stream" }
