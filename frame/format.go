package frame

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// FormatFrame renders one frame as a line annotated with the fields of
// RFC 6455 §5.2, for tools that show the protocol on the wire (wsecho
// -trace, wsc --show-frames), for example:
//
//	-> FIN=1 RSV=000 op=text(0x1) MASK=1 key=37fa213d len=5 "Hello"
//	<- FIN=1 RSV=000 op=close(0x8) MASK=0 len=2 code=1000 normal closure
//
// "->" is an Outbound frame, "<-" an Inbound one. The payload is shown
// unmasked: quoted when it is text, hex otherwise, at most 48 bytes. It is
// a debugging aid and allocates; keep it off hot paths.
func FormatFrame(dir Direction, h Header, p []byte) string {
	var b strings.Builder
	if dir == Inbound {
		b.WriteString("<- ")
	} else {
		b.WriteString("-> ")
	}
	fmt.Fprintf(&b, "FIN=%d RSV=%d%d%d op=%s(0x%x) MASK=%d",
		bit(h.Fin), bit(h.Rsv&RSV1 != 0), bit(h.Rsv&RSV2 != 0), bit(h.Rsv&RSV3 != 0),
		h.Opcode, byte(h.Opcode), bit(h.Masked))
	if h.Masked {
		fmt.Fprintf(&b, " key=%x", h.Mask)
	}
	fmt.Fprintf(&b, " len=%d", h.Length)
	if h.Rsv&RSV1 != 0 {
		b.WriteString(" (compressed)")
	}
	switch {
	case h.Opcode == OpClose:
		code, reason, err := ParseClosePayload(p)
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
		b.WriteString(preview(p, h.Opcode == OpText && h.Rsv&RSV1 == 0, h.Length))
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
