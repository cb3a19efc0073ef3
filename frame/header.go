package frame

import (
	"encoding/binary"
	"errors"
	"io"
)

// RSV bits of the first header byte (RFC 6455 §5.2). RSV1 is the
// "per-message compressed" bit of RFC 7692 §6.
const (
	RSV1 byte = 0x40
	RSV2 byte = 0x20
	RSV3 byte = 0x10
)

// MaxHeaderSize is the largest possible frame header: 2 bytes, an 8-byte
// extended payload length and a 4-byte masking key (RFC 6455 §5.2).
const MaxHeaderSize = 14

// MaxControlPayload is the largest payload of a control frame
// (RFC 6455 §5.5: "All control frames MUST have a payload length of 125
// bytes or less").
const MaxControlPayload = 125

// Header is a decoded frame header (RFC 6455 §5.2):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
type Header struct {
	Fin    bool
	Rsv    byte // RSV1|RSV2|RSV3 bits, in their wire positions
	Opcode Opcode
	Masked bool
	Mask   [4]byte
	Length int64 // payload length, 0 to 2^63-1
}

// Errors returned by ParseHeader and ReadHeader. Each is a *ProtocolError
// carrying close code 1002.
var (
	// ErrNonMinimalLength: RFC 6455 §5.2 "the minimal number of bytes MUST
	// be used to encode the length".
	ErrNonMinimalLength = &ProtocolError{Code: CloseProtocolError, Reason: "non-minimal payload length encoding"}
	// ErrLengthTopBit: RFC 6455 §5.2 "the most significant bit MUST be 0"
	// for the 64-bit length.
	ErrLengthTopBit = &ProtocolError{Code: CloseProtocolError, Reason: "64-bit payload length has its top bit set"}
)

// errShortHeader is returned by ParseHeader when b does not yet hold the
// whole header; it is not a protocol error.
var errShortHeader = errors.New("frame: short header")

// HeaderSize returns the encoded size of h: 2 to 14 bytes.
func HeaderSize(h Header) int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// AppendHeader appends the wire form of h to dst, using the minimal length
// encoding (RFC 6455 §5.2). It panics if h.Length is negative.
func AppendHeader(dst []byte, h Header) []byte {
	if h.Length < 0 {
		panic("frame: negative payload length")
	}
	b0 := h.Rsv&(RSV1|RSV2|RSV3) | byte(h.Opcode)&0x0F
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length <= 125:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xFFFF:
		dst = append(dst, b0, b1|126, byte(h.Length>>8), byte(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[0], h.Mask[1], h.Mask[2], h.Mask[3])
	}
	return dst
}

// ParseHeader decodes the header at the start of b. It returns the header
// and its encoded size. If b is too short it returns n == 0 and an error for
// which IsShortHeader reports true; callers read more bytes and try again. The
// length rules of RFC 6455 §5.2 are checked here; rules that depend on
// connection state (masking direction, RSV bits, opcode validity, control
// frame limits) are checked by Conn and by Header.Validate.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, errShortHeader
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&0x80 != 0
	h.Rsv = b0 & (RSV1 | RSV2 | RSV3)
	h.Opcode = Opcode(b0 & 0x0F)
	h.Masked = b1&0x80 != 0
	n = 2
	switch l := b1 & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return h, 0, errShortHeader
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
		if h.Length <= 125 {
			return h, n, ErrNonMinimalLength
		}
	case 127:
		if len(b) < 10 {
			return h, 0, errShortHeader
		}
		u := binary.BigEndian.Uint64(b[2:])
		n = 10
		if u>>63 != 0 {
			return h, n, ErrLengthTopBit
		}
		h.Length = int64(u)
		if h.Length <= 0xFFFF {
			return h, n, ErrNonMinimalLength
		}
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, errShortHeader
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// IsShortHeader reports whether err from ParseHeader means that more bytes
// are needed.
func IsShortHeader(err error) bool { return err == errShortHeader }

// ReadHeader reads one frame header from r. It reads exactly the header's
// bytes and no payload, so it suits unbuffered readers; Conn does not use it
// on its hot path.
func ReadHeader(r io.Reader) (Header, error) {
	var buf [MaxHeaderSize]byte
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return Header{}, err
	}
	need := 2
	switch buf[1] & 0x7F {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if buf[1]&0x80 != 0 {
		need += 4
	}
	if _, err := io.ReadFull(r, buf[2:need]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, err
	}
	h, _, err := ParseHeader(buf[:need])
	return h, err
}

// WriteHeader writes the wire form of h to w in one Write call.
func WriteHeader(w io.Writer, h Header) error {
	var buf [MaxHeaderSize]byte
	_, err := w.Write(AppendHeader(buf[:0], h))
	return err
}

// Validate checks the rules of RFC 6455 §5.2 and §5.5 that hold for every
// frame whatever the connection state, given the RSV bits that negotiated
// extensions allow (allowedRsv): reserved opcodes are rejected, RSV bits
// without an extension are rejected, and control frames must be final and
// at most 125 bytes long.
func (h Header) Validate(allowedRsv byte) error {
	if h.Rsv&^allowedRsv != 0 {
		// §5.2: "If a nonzero value is received and none of the negotiated
		// extensions defines the meaning of such a nonzero value, the
		// receiving endpoint MUST _Fail the WebSocket Connection_."
		return &ProtocolError{Code: CloseProtocolError, Reason: "reserved bit set without a negotiated extension"}
	}
	if h.Opcode.IsReserved() {
		// §5.2: "If an unknown opcode is received, the receiving endpoint
		// MUST _Fail the WebSocket Connection_."
		return &ProtocolError{Code: CloseProtocolError, Reason: "reserved opcode " + h.Opcode.String()}
	}
	if h.Opcode.IsControl() {
		if !h.Fin {
			// §5.5: "Control frames ... MUST NOT be fragmented."
			return &ProtocolError{Code: CloseProtocolError, Reason: "fragmented control frame"}
		}
		if h.Length > MaxControlPayload {
			// §5.5: control frames "MUST have a payload length of 125
			// bytes or less".
			return &ProtocolError{Code: CloseProtocolError, Reason: "control frame payload longer than 125 bytes"}
		}
	}
	return nil
}
