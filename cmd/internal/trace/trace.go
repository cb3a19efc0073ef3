// Package trace renders the protocol for the tools that show it to a
// learner: each frame with the fields of RFC 6455 §5.2 (wsecho -trace, wsc
// --show-frames), and each opening handshake with the computation of its
// accept key (§4.2.2). It is a debugging aid: it allocates.
package trace

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// Frame renders one frame as a line annotated with the fields of
// RFC 6455 §5.2, for tools that show the protocol on the wire (wsecho
// -trace, wsc --show-frames), for example:
//
//	-> FIN=1 RSV=000 op=text(0x1) MASK=1 key=37fa213d len=5 "Hello"
//	<- FIN=1 RSV=000 op=close(0x8) MASK=0 len=2 code=1000 normal closure
//
// "->" is an frame.Outbound frame, "<-" an frame.Inbound one. The payload is shown
// unmasked: quoted when it is text, hex otherwise, at most 48 bytes. It is
// a debugging aid and allocates; keep it off hot paths.
func Frame(dir frame.Direction, h frame.Header, p []byte) string {
	var b strings.Builder
	if dir == frame.Inbound {
		b.WriteString("<- ")
	} else {
		b.WriteString("-> ")
	}
	fmt.Fprintf(&b, "FIN=%d RSV=%d%d%d op=%s(0x%x) MASK=%d",
		bit(h.Fin), bit(h.Rsv&frame.RSV1 != 0), bit(h.Rsv&frame.RSV2 != 0), bit(h.Rsv&frame.RSV3 != 0),
		h.Opcode, byte(h.Opcode), bit(h.Masked))
	if h.Masked {
		fmt.Fprintf(&b, " key=%x", h.Mask)
	}
	fmt.Fprintf(&b, " len=%d", h.Length)
	if h.Rsv&frame.RSV1 != 0 {
		b.WriteString(" (compressed)")
	}
	switch {
	case h.Opcode == frame.OpClose:
		code, reason, err := frame.ParseClosePayload(p)
		if err != nil {
			fmt.Fprintf(&b, " invalid close payload: %v", err)
		} else {
			fmt.Fprintf(&b, " code=%s", code)
			if len(reason) > 0 {
				fmt.Fprintf(&b, " reason=%q", reason)
			}
		}
	case len(p) > 0:
		b.WriteByte(' ')
		b.WriteString(preview(p, h.Opcode == frame.OpText && h.Rsv&frame.RSV1 == 0, h.Length))
	}
	return b.String()
}

func bit(v bool) int {
	if v {
		return 1
	}
	return 0
}

// preview shows up to 48 bytes of a payload: quoted when it is text and
// valid UTF-8, hex otherwise, with the count of bytes not shown.
func preview(p []byte, text bool, total int64) string {
	const limit = 48
	cut := p[:min(len(p), limit)]
	var s string
	if t := trimPartialRune(cut); text && utf8.Valid(t) {
		s = fmt.Sprintf("%q", t)
	} else {
		s = fmt.Sprintf("% x", cut)
	}
	if int64(len(cut)) < total {
		s += fmt.Sprintf(" ...(%d more bytes)", total-int64(len(cut)))
	}
	return s
}

// trimPartialRune drops up to 3 trailing bytes of a rune cut in half by
// the preview limit.
func trimPartialRune(p []byte) []byte {
	for i := 0; i < 3 && len(p) > 0 && !utf8.Valid(p); i++ {
		p = p[:len(p)-1]
	}
	return p
}

// Handshake renders an opening handshake as a server saw it: the
// request's lines, then, for a valid one, the computation of
// Sec-WebSocket-Accept step by step (RFC 6455 §4.2.2 item 5.4: the key's
// text and the GUID concatenated, SHA-1 of that, base64 of the 20-byte
// digest) and the 101 response; for a refused one, the status and why.
// An RFC 8441 request (an HTTP/2 stream) shows its pseudo-header fields
// and the 200 instead: there is no key and no accept over HTTP/2 (§5).
// Each line is indented by two spaces and ends in a newline.
func Handshake(req *handshake.Request, res *handshake.Result, err error) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, "  "+format+"\n", args...) }
	if req == nil {
		line("<- (a request that could not be parsed)")
	} else {
		if req.HTTP2 {
			line("<- HEADERS on a new stream (%s, RFC 8441 §4):", req.Proto)
			line("<- :method: %s", req.Method)
			line("<- :protocol: %s", req.Protocol)
			line("<- :path: %s", req.Target)
			line("<- :authority: %s", req.Host)
		} else {
			line("<- %s %s %s", req.Method, req.Target, req.Proto)
		}
		names := make([]string, 0, len(req.Header))
		for k := range req.Header {
			if strings.HasPrefix(k, ":") {
				continue // shown above
			}
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, v := range req.Header[k] {
				line("<- %s: %s", k, v)
			}
		}
	}
	if err != nil {
		status := handshake.HTTPStatus(err)
		line("-> %d %s: %v", status, handshake.StatusText(status), err)
		return b.String()
	}
	if req.HTTP2 {
		line("no Sec-WebSocket-Key, no Sec-WebSocket-Accept: over HTTP/2 the stream is the connection (RFC 8441 §5)")
		line("-> HEADERS :status: %d", res.Status())
		names := make([]string, 0, len(res.ResponseHeader))
		for k := range res.ResponseHeader {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, v := range res.ResponseHeader[k] {
				line("-> %s: %s", strings.Replace(k, "Sec-Websocket-", "Sec-WebSocket-", 1), v)
			}
		}
		return b.String()
	}
	line("accept = base64(SHA-1(key + GUID))   (RFC 6455 §4.2.2)")
	line("  key + GUID = %q + %q", req.Key, handshake.GUID)
	sum := sha1.Sum([]byte(req.Key + handshake.GUID))
	line("  SHA-1      = % x", sum)
	line("  base64     = %s", base64.StdEncoding.EncodeToString(sum[:]))
	for l := range strings.SplitSeq(strings.TrimRight(string(res.AppendResponse(nil)), "\r\n"), "\r\n") {
		line("-> %s", l)
	}
	return b.String()
}
