package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProxyConfig holds proxy settings in the form of the usual environment
// variables. As Go's net/http does, ws:// maps to HTTPProxy and wss:// to
// HTTPSProxy (RFC 6455 §4.1 step 3 only encourages preferring the HTTPS
// proxy; set both to the same value to get that). ProxyFromEnvironment fills one from the environment; build one
// by hand to test or to override.
type ProxyConfig struct {
	// HTTPProxy is the proxy for ws:// (and http://) URLs: a URL such as
	// "http://user:pass@proxy:3128", or a bare "host:port" taken as http.
	HTTPProxy string
	// HTTPSProxy is the proxy for wss:// (and https://) URLs.
	HTTPSProxy string
	// NoProxy lists the hosts to reach directly, comma-separated: "*" for
	// all; an IP address or CIDR block ("10.0.0.0/8"); a domain name, which
	// matches itself and its subdomains ("example.com"), or only its
	// subdomains with a leading "." or "*." (".example.com"); each
	// optionally with ":port" to match that port only. localhost and
	// loopback addresses are always reached directly.
	NoProxy string
	// CGI refuses HTTPProxy (returning an error) because in a CGI program
	// HTTP_PROXY may come from the client's "Proxy:" header ("httpoxy").
	CGI bool
}

// ProxyConfigFromEnvironment reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY,
// each falling back to its lowercase spelling when unset or empty, and sets
// CGI when REQUEST_METHOD is set.
func ProxyConfigFromEnvironment() *ProxyConfig {
	return &ProxyConfig{
		HTTPProxy:  getenvAny("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: getenvAny("HTTPS_PROXY", "https_proxy"),
		NoProxy:    getenvAny("NO_PROXY", "no_proxy"),
		CGI:        os.Getenv("REQUEST_METHOD") != "",
	}
}

func getenvAny(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// ProxyFromEnvironment is a Dialer.Proxy that follows the environment, read
// anew on each call (see ProxyConfigFromEnvironment and ProxyConfig.Proxy).
func ProxyFromEnvironment(u *url.URL) (*url.URL, error) {
	return ProxyConfigFromEnvironment().Proxy(u)
}

// ProxyURL returns a Dialer.Proxy that always uses fixed.
func ProxyURL(fixed *url.URL) func(*url.URL) (*url.URL, error) {
	return func(*url.URL) (*url.URL, error) { return fixed, nil }
}

// Proxy returns the proxy to use for the ws://, wss://, http:// or https://
// URL u, or nil for a direct connection.
func (c *ProxyConfig) Proxy(u *url.URL) (*url.URL, error) {
	var raw string
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		raw = c.HTTPProxy
		if raw != "" && c.CGI {
			return nil, errors.New("refusing HTTP_PROXY in a CGI environment (REQUEST_METHOD is set)")
		}
	case "wss", "https":
		raw = c.HTTPSProxy
	default:
		return nil, nil
	}
	if raw == "" || !c.useProxy(u) {
		return nil, nil
	}
	return parseProxyURL(raw)
}

func parseProxyURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		// A bare "host:port" (or "host") means an http proxy.
		raw = "http://" + raw
	}
	p, err := url.Parse(raw)
	if err != nil || p.Host == "" {
		return nil, fmt.Errorf("invalid proxy address %q", raw)
	}
	return p, nil
}

// useProxy applies the NoProxy rules to u's host and port.
func (c *ProxyConfig) useProxy(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "wss", "https":
			port = "443"
		default:
			port = "80"
		}
	}
	if host == "" {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return false
		}
	}
	for entry := range strings.SplitSeq(c.NoProxy, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		if entry == "*" {
			return false
		}
		if pfx, err := netip.ParsePrefix(entry); err == nil {
			if ipErr == nil && pfx.Contains(ip) {
				return false
			}
			continue
		}
		// Split an optional port: "host:80", "[::1]:80"; a bare IPv6 address
		// has colons but no port.
		eHost, ePort := entry, ""
		if h, p, err := net.SplitHostPort(entry); err == nil {
			eHost, ePort = h, p
		} else if strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]") {
			eHost = entry[1 : len(entry)-1]
		}
		if ePort != "" && ePort != port {
			continue
		}
		if eip, err := netip.ParseAddr(eHost); err == nil {
			if ipErr == nil && eip.Unmap() == ip {
				return false
			}
			continue
		}
		// Domain: "*.x.com" and ".x.com" match subdomains; "x.com" matches
		// itself and its subdomains.
		switch {
		case strings.HasPrefix(eHost, "*."):
			eHost = eHost[1:]
			if strings.HasSuffix(host, eHost) {
				return false
			}
		case strings.HasPrefix(eHost, "."):
			if strings.HasSuffix(host, eHost) {
				return false
			}
		default:
			if host == eHost || strings.HasSuffix(host, "."+eHost) {
				return false
			}
		}
	}
	return true
}

// dialProxy connects to the proxy (TLS for an https proxy) and asks it to
// open a tunnel to target with CONNECT (RFC 6455 §4.1 step 3, RFC 7231
// §4.3.6).
func (d *Dialer) dialProxy(ctx context.Context, proxy *url.URL, target string) (net.Conn, error) {
	switch proxy.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("handshake: proxy scheme %q is not supported (http and https only)", proxy.Scheme)
	}
	paddr := hostPort(proxy)
	nc, err := d.netDial(ctx, paddr)
	if err != nil {
		return nil, fmt.Errorf("handshake: dial proxy %s: %w", paddr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// A deadline in the past on the TCP connection unblocks any read or
	// write on it, TLS included. (raw, not nc: nc is replaced below.)
	raw := nc
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, error) {
		stop()
		nc.Close()
		return nil, ctxErr(ctx, err)
	}
	if proxy.Scheme == "https" {
		cfg := d.TLSClientConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.ServerName = proxy.Hostname()
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(fmt.Errorf("handshake: TLS to proxy: %w", err))
		}
		nc = tc
	}

	req := make([]byte, 0, 256)
	req = append(req, "CONNECT "...)
	req = append(req, target...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, target...)
	req = append(req, "\r\n"...)
	if ui := proxy.User; ui != nil {
		pass, _ := ui.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(ui.Username() + ":" + pass))
		req = append(req, "Proxy-Authorization: Basic "...)
		req = append(req, cred...)
		req = append(req, "\r\n"...)
	}
	req = append(req, "\r\n"...)
	if _, err := nc.Write(req); err != nil {
		return fail(fmt.Errorf("handshake: write CONNECT: %w", err))
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := ReadResponse(br, d.Limits)
	if err != nil {
		return fail(fmt.Errorf("handshake: proxy: %w", err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(fmt.Errorf("handshake: proxy refused CONNECT %s: %s", target, strconv.Quote(resp.StatusLine)))
	}
	if !stop() {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	nc.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 {
		// The server spoke first through the tunnel: keep those bytes.
		p, _ := br.Peek(n)
		return &prefixConn{Conn: nc, prefix: append([]byte(nil), p...)}, nil
	}
	return nc, nil
}

// prefixConn is a net.Conn whose first reads return prefix.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
