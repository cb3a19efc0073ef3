package handshake

// Benchmarks of the server's per-connection handshake path (RFC 6455
// §4.2.1 read and validate, §4.2.2 negotiate and answer), with allocation
// counts: a server pays them once per connection, so they bound how many
// handshakes per second it can take. Run them with
//
//	go test -run XXX -bench 'ReadRequest|Negotiate|Upgrade' -benchmem ./handshake

import (
	"bufio"
	"net/url"
	"strings"
	"testing"
)

// browserRequest is what Chromium sends to open a WebSocket (the order and
// set of fields of a real capture; the key is the RFC's example).
const browserRequest = "GET /chat?room=1 HTTP/1.1\r\n" +
	"Host: server.example.com:8080\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: http://server.example.com:8080\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"%EXT%" +
	"\r\n"

// benchRequests are the requests of the benchmarks: the RFC's example
// (§1.2), a browser's without an extension offer, and a browser's with the
// permessage-deflate offer every browser makes (RFC 7692 §7.1).
var benchRequests = []struct{ name, req string }{
	{"rfc", rfcRequest},
	{"browser", strings.Replace(browserRequest, "%EXT%", "", 1)},
	{"browser-deflate", strings.Replace(browserRequest, "%EXT%",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n", 1)},
}

// benchUpgrader accepts every benchRequest: any origin, the "chat"
// subprotocol, permessage-deflate without context takeover.
func benchUpgrader() *Upgrader {
	return &Upgrader{CheckOrigin: allowAll, Protocols: []string{"chat"}, Compression: DefaultDeflateConfig()}
}

// benchEachRequest runs f as a sub-benchmark per request of
// benchRequests, handing it a reader reset to the request's bytes at every
// iteration (the reset is part of the measured loop, and allocates nothing).
func benchEachRequest(b *testing.B, f func(b *testing.B, br *bufio.Reader)) {
	for _, tc := range benchRequests {
		b.Run(tc.name, func(b *testing.B) {
			sr := strings.NewReader(tc.req)
			br := bufio.NewReader(sr)
			b.ReportAllocs()
			for b.Loop() {
				sr.Reset(tc.req)
				br.Reset(sr)
				f(b, br)
			}
		})
	}
}

func BenchmarkReadRequest(b *testing.B) {
	benchEachRequest(b, func(b *testing.B, br *bufio.Reader) {
		if _, err := ReadRequest(br, Limits{}); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkNegotiate(b *testing.B) {
	u := benchUpgrader()
	for _, tc := range benchRequests {
		b.Run(tc.name, func(b *testing.B) {
			req, err := ReadRequest(bufio.NewReader(strings.NewReader(tc.req)), Limits{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := u.Negotiate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpgrade is the whole server side of the handshake but the
// I/O: ReadRequest, Negotiate and AppendResponse into a reused buffer.
func BenchmarkUpgrade(b *testing.B) {
	u := benchUpgrader()
	var out []byte
	benchEachRequest(b, func(b *testing.B, br *bufio.Reader) {
		req, err := ReadRequest(br, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := u.Negotiate(req)
		if err != nil {
			b.Fatal(err)
		}
		out = res.AppendResponse(out[:0])
	})
}

// BenchmarkUpgrader_Upgrade is Upgrader.Upgrade, which writes the 101
// response to an io.Writer (here one that discards it).
func BenchmarkUpgrader_Upgrade(b *testing.B) {
	u := benchUpgrader()
	benchEachRequest(b, func(b *testing.B, br *bufio.Reader) {
		if _, err := u.Upgrade(br, discard{}); err != nil {
			b.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkSameOrigin is the default origin policy (RFC 6455 §4.2.2
// step 4, §10.2) on a browser's same-origin request; "url.Parse" is the
// same decision through url.Parse, which SameOrigin used to call, for
// comparison.
func BenchmarkSameOrigin(b *testing.B) {
	req := &Request{Origin: "http://server.example.com:8080", Host: "server.example.com:8080"}
	b.Run("SameOrigin", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !SameOrigin(req) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("url.Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			u, err := url.Parse(req.Origin)
			if err != nil || !strings.EqualFold(u.Host, req.Host) {
				b.Fatal("refused")
			}
		}
	})
}
