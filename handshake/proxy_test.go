package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProxyConfig_Proxy(t *testing.T) {
	cfg := &ProxyConfig{
		HTTPProxy:  "http://plain.proxy:3128",
		HTTPSProxy: "secure.proxy:8443",
		NoProxy:    "direct.example, .sub.example, *.star.example, 10.0.0.0/8, 192.168.1.1, [2001:db8::1], ported.example:8080, ::2",
	}
	tests := []struct {
		url  string
		want string // "" = direct
	}{
		{"ws://a.example/", "http://plain.proxy:3128"},
		{"http://a.example/", "http://plain.proxy:3128"},
		{"wss://a.example/", "http://secure.proxy:8443"}, // bare host:port means http
		{"https://a.example/", "http://secure.proxy:8443"},
		{"ftp://a.example/", ""},
		// Always direct.
		{"ws://localhost:8080/", ""},
		{"ws://LOCALHOST/", ""},
		{"ws://app.localhost/", ""},
		{"ws://127.0.0.1:9000/", ""},
		{"ws://127.8.9.10/", ""},
		{"ws://[::1]:9000/", ""},
		// Domain: itself and subdomains.
		{"ws://direct.example/", ""},
		{"ws://DIRECT.example/", ""},
		{"ws://x.direct.example/", ""},
		{"ws://notdirect.example/", "http://plain.proxy:3128"},
		// Leading dot or "*.": subdomains only.
		{"ws://sub.example/", "http://plain.proxy:3128"},
		{"ws://a.sub.example/", ""},
		{"ws://star.example/", "http://plain.proxy:3128"},
		{"ws://a.star.example/", ""},
		// CIDR and IPs.
		{"ws://10.1.2.3/", ""},
		{"ws://11.1.2.3/", "http://plain.proxy:3128"},
		{"ws://192.168.1.1:9/", ""},
		{"ws://192.168.1.2/", "http://plain.proxy:3128"},
		{"ws://[2001:db8::1]/", ""},
		{"ws://[2001:db8::2]/", "http://plain.proxy:3128"},
		{"ws://[::2]/", ""},
		// Port-specific entries.
		{"ws://ported.example:8080/", ""},
		{"ws://ported.example/", "http://plain.proxy:3128"},
		{"ws://ported.example:8081/", "http://plain.proxy:3128"},
	}
	for _, tt := range tests {
		got, err := cfg.Proxy(mustURL(t, tt.url))
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		gs := ""
		if got != nil {
			gs = got.String()
		}
		if gs != tt.want {
			t.Errorf("%s: proxy %q, want %q", tt.url, gs, tt.want)
		}
	}

	// "*" disables proxies; the default port counts for port entries.
	for _, c := range []struct {
		noProxy, url string
		direct       bool
	}{
		{"*", "ws://anything.example/", true},
		{" * ", "wss://anything.example/", true},
		{"example.com:80", "ws://example.com/", true},
		{"example.com:443", "wss://example.com/", true},
		{"example.com:443", "ws://example.com/", false},
		{"", "ws://example.com/", false},
		{",,", "ws://example.com/", false},
	} {
		pc := &ProxyConfig{HTTPProxy: "p:1", HTTPSProxy: "p:1", NoProxy: c.noProxy}
		got, err := pc.Proxy(mustURL(t, c.url))
		if err != nil || (got == nil) != c.direct {
			t.Errorf("NO_PROXY=%q %s: %v %v", c.noProxy, c.url, got, err)
		}
	}

	// No proxy configured for the scheme.
	if got, err := (&ProxyConfig{HTTPProxy: "p:1"}).Proxy(mustURL(t, "wss://x/")); got != nil || err != nil {
		t.Errorf("wss without HTTPS_PROXY: %v %v", got, err)
	}
	// httpoxy: HTTP_PROXY is refused in CGI.
	if _, err := (&ProxyConfig{HTTPProxy: "p:1", CGI: true}).Proxy(mustURL(t, "ws://x/")); err == nil {
		t.Error("CGI HTTP_PROXY accepted")
	}
	if got, err := (&ProxyConfig{HTTPSProxy: "p:1", CGI: true}).Proxy(mustURL(t, "wss://x/")); got == nil || err != nil {
		t.Errorf("CGI HTTPS_PROXY: %v %v", got, err)
	}
	// Userinfo and schemes survive.
	got, _ := (&ProxyConfig{HTTPProxy: "https://u:p@proxy:8443"}).Proxy(mustURL(t, "ws://x/"))
	if got == nil || got.Scheme != "https" || got.User.Username() != "u" {
		t.Errorf("got %v", got)
	}
	if _, err := (&ProxyConfig{HTTPProxy: "http://[bad"}).Proxy(mustURL(t, "ws://x/")); err == nil {
		t.Error("bad proxy URL accepted")
	}
}

func TestProxyFromEnvironment(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, "")
	}
	t.Setenv("http_proxy", "lower.proxy:1")
	t.Setenv("HTTPS_PROXY", "http://upper.proxy:2")
	t.Setenv("https_proxy", "http://ignored.proxy:3")
	t.Setenv("no_proxy", "skip.example")
	check := func(u, want string) {
		t.Helper()
		got, err := ProxyFromEnvironment(mustURL(t, u))
		gs := ""
		if got != nil {
			gs = got.Host
		}
		if err != nil || gs != want {
			t.Errorf("%s: %q %v, want %q", u, gs, err, want)
		}
	}
	check("ws://a.example/", "lower.proxy:1")
	check("wss://a.example/", "upper.proxy:2")
	check("wss://skip.example/", "")
	t.Setenv("HTTP_PROXY", "upper.proxy:4")
	check("ws://a.example/", "upper.proxy:4")
	// Read anew on each call.
	t.Setenv("NO_PROXY", "*")
	check("ws://a.example/", "")
}

// connectProxy is a minimal HTTP CONNECT proxy on 127.0.0.1 for tests. It
// records the CONNECT requests it saw and, when auth is set, demands it.
type connectProxy struct {
	ln   net.Listener
	auth string // expected Proxy-Authorization, "" = none required
	mu   sync.Mutex
	seen []string // request line + headers of each CONNECT
	wg   sync.WaitGroup
}

func startConnectProxy(t *testing.T, auth string) *connectProxy {
	return startConnectProxyTLS(t, auth, nil)
}

// startConnectProxyTLS starts the proxy behind TLS when cfg is not nil (an
// https:// proxy).
func startConnectProxyTLS(t *testing.T, auth string, cfg *tls.Config) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	p := &connectProxy{ln: ln, auth: auth}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *connectProxy) handle(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		lines = append(lines, line)
	}
	p.mu.Lock()
	p.seen = append(p.seen, strings.Join(lines, "\n"))
	p.mu.Unlock()
	f := strings.Fields(lines[0])
	if len(f) != 3 || f[0] != "CONNECT" {
		nc.Write([]byte("HTTP/1.1 405 Method Not Allowed\r\n\r\n"))
		return
	}
	if p.auth != "" && !containsLine(lines, "Proxy-Authorization: "+p.auth) {
		nc.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"))
		return
	}
	up, err := net.Dial("tcp", f[1])
	if err != nil {
		nc.Write([]byte("HTTP/1.1 502 Bad Gateway\r\n\r\n"))
		return
	}
	defer up.Close()
	nc.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		io.Copy(up, br)
		up.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(nc, up)
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func (p *connectProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestDialRaw_Proxy_RFC6455_4_1_Step3: through a proxy the client sends
// CONNECT host:port with Host and, given credentials, Proxy-Authorization.
func TestDialRaw_Proxy_RFC6455_4_1_Step3(t *testing.T) {
	target := serveOnce(t, func(nc net.Conn) {
		if _, err := (&Upgrader{}).Upgrade(bufio.NewReader(nc), nc); err != nil {
			t.Error(err)
		}
		nc.Write(textFrame("via proxy"))
		io.Copy(io.Discard, nc)
	})
	// "Aladdin:open sesame" from RFC 7617 §2.
	proxy := startConnectProxy(t, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
	pu := &url.URL{Scheme: "http", Host: proxy.ln.Addr().String(), User: url.UserPassword("Aladdin", "open sesame")}
	d := &Dialer{Proxy: ProxyURL(pu)}
	c, _, err := d.Dial(context.Background(), "ws://"+target+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, msg, err := c.ReadMessage(nil); err != nil || string(msg) != "via proxy" {
		t.Fatalf("%q %v", msg, err)
	}
	reqs := proxy.requests()
	want := "CONNECT " + target + " HTTP/1.1\nHost: " + target + "\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("proxy saw %q\nwant %q", reqs, want)
	}
}

// TestDialRaw_HTTPSProxy: TLS to the proxy, then CONNECT inside it.
func TestDialRaw_HTTPSProxy_RFC6455_4_1_Step3(t *testing.T) {
	cert, pool := selfSigned(t)
	target := serveOnce(t, func(nc net.Conn) {
		if _, err := (&Upgrader{}).Upgrade(bufio.NewReader(nc), nc); err != nil {
			t.Error(err)
		}
		io.Copy(io.Discard, nc)
	})
	proxy := startConnectProxyTLS(t, "", &tls.Config{Certificates: []tls.Certificate{cert}})
	d := &Dialer{
		Proxy:           ProxyURL(&url.URL{Scheme: "https", Host: proxy.ln.Addr().String()}),
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	nc, _, resp, err := d.DialRaw(context.Background(), "ws://"+target+"/")
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, ok := nc.(*tls.Conn); !ok || resp.StatusCode != 101 || len(proxy.requests()) != 1 {
		t.Fatalf("conn %T, resp %+v, proxy saw %q", nc, resp, proxy.requests())
	}
}

func TestDialRaw_ProxyRefuses_RFC6455_4_1_Step4(t *testing.T) {
	proxy := startConnectProxy(t, "Basic secret")
	pu := &url.URL{Scheme: "http", Host: proxy.ln.Addr().String()}
	_, _, _, err := (&Dialer{Proxy: ProxyURL(pu)}).DialRaw(context.Background(), "ws://127.0.0.1:1/")
	if err == nil || !strings.Contains(err.Error(), "407 Proxy Authentication Required") {
		t.Fatalf("got %v", err)
	}
	// Unreachable target: the proxy answers 502.
	proxy2 := startConnectProxy(t, "")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, _, _, err = (&Dialer{Proxy: ProxyURL(&url.URL{Scheme: "http", Host: proxy2.ln.Addr().String()})}).DialRaw(context.Background(), "ws://"+dead+"/")
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("got %v", err)
	}
	_, _, _, err = (&Dialer{Proxy: ProxyURL(&url.URL{Scheme: "socks5", Host: "127.0.0.1:1"})}).DialRaw(context.Background(), "ws://127.0.0.1:1/")
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("socks5: %v", err)
	}
}

func TestPrefixConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	pc := &prefixConn{Conn: a, prefix: []byte("abc")}
	go b.Write([]byte("def"))
	buf := make([]byte, 6)
	if _, err := io.ReadFull(pc, buf); err != nil || string(buf) != "abcdef" {
		t.Fatalf("%q %v", buf, err)
	}
}
