package frame

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// CloseCode is a status code carried by a close frame (RFC 6455 §7.4).
type CloseCode uint16

// Close codes defined by RFC 6455 §7.4.1 and registered since (§11.7).
const (
	CloseNormal             CloseCode = 1000
	CloseGoingAway          CloseCode = 1001
	CloseProtocolError      CloseCode = 1002
	CloseUnsupportedData    CloseCode = 1003
	CloseNoStatus           CloseCode = 1005 // never sent: "no status code was present"
	CloseAbnormal           CloseCode = 1006 // never sent: closed without a close frame
	CloseInvalidPayload     CloseCode = 1007 // e.g. invalid UTF-8 in a text message
	ClosePolicyViolation    CloseCode = 1008
	CloseMessageTooBig      CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010 // sent by clients only
	CloseInternalError      CloseCode = 1011
	CloseServiceRestart     CloseCode = 1012
	CloseTryAgainLater      CloseCode = 1013
	CloseBadGateway         CloseCode = 1014
	CloseTLSHandshake       CloseCode = 1015 // never sent
)

// String returns the code's registered name, or a description of its range.
func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "1000 normal closure"
	case CloseGoingAway:
		return "1001 going away"
	case CloseProtocolError:
		return "1002 protocol error"
	case CloseUnsupportedData:
		return "1003 unsupported data"
	case CloseNoStatus:
		return "1005 no status received"
	case CloseAbnormal:
		return "1006 abnormal closure"
	case CloseInvalidPayload:
		return "1007 invalid payload data"
	case ClosePolicyViolation:
		return "1008 policy violation"
	case CloseMessageTooBig:
		return "1009 message too big"
	case CloseMandatoryExtension:
		return "1010 mandatory extension"
	case CloseInternalError:
		return "1011 internal error"
	case CloseServiceRestart:
		return "1012 service restart"
	case CloseTryAgainLater:
		return "1013 try again later"
	case CloseBadGateway:
		return "1014 bad gateway"
	case CloseTLSHandshake:
		return "1015 TLS handshake"
	}
	s := strconv.Itoa(int(c))
	switch {
	case c >= 3000 && c <= 3999:
		return s + " (registered by libraries)"
	case c >= 4000 && c <= 4999:
		return s + " (private use)"
	}
	return s + " (invalid)"
}

// ValidOnWire reports whether c may appear in a close frame (RFC 6455
// §7.4.1, §7.4.2): 1000-1003, 1007-1014 (the codes defined so far in
// 1000-2999), and 3000-4999. 1004, 1005, 1006 and 1015 are reserved and
// MUST NOT be sent; an endpoint that receives one, or a code below 1000 or
// above 4999, fails the connection with 1002.
func (c CloseCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// ErrInvalidCloseCode is returned for a close payload whose status code is
// not allowed on the wire (RFC 6455 §7.4).
var ErrInvalidCloseCode = &ProtocolError{Code: CloseProtocolError, Reason: "invalid close code"}

// AppendClosePayload appends the body of a close frame (RFC 6455 §5.5.1):
// the 2-byte big-endian code followed by the UTF-8 reason. A zero code
// appends nothing (a close frame with no body, received as 1005). The
// reason is truncated on a rune boundary so that the body stays within the
// 125-byte control frame limit.
func AppendClosePayload(dst []byte, code CloseCode, reason string) []byte {
	if code == 0 {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(reason) > MaxControlPayload-2 {
		reason = reason[:MaxControlPayload-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(dst, reason...)
}

// ParseClosePayload decodes the body of a close frame (RFC 6455 §5.5.1). An
// empty body yields CloseNoStatus. A 1-byte body or an invalid code is a
// protocol error (1002); a reason that is not valid UTF-8 is an
// invalid-payload error (1007, §8.1). reason aliases p.
func ParseClosePayload(p []byte) (code CloseCode, reason []byte, err error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, &ProtocolError{Code: CloseProtocolError, Reason: "close payload of one byte"}
	}
	code = CloseCode(binary.BigEndian.Uint16(p))
	if !code.ValidOnWire() {
		return code, nil, ErrInvalidCloseCode
	}
	reason = p[2:]
	if !utf8.Valid(reason) {
		return code, nil, &ProtocolError{Code: CloseInvalidPayload, Reason: "close reason is not valid UTF-8"}
	}
	return code, reason, nil
}

// CloseError is returned by Conn's read methods once the connection is
// closed: Code is the code of the peer's close frame (CloseNoStatus when it
// had none), or CloseAbnormal when the TCP connection ended without one, or
// the code we failed the connection with when Local is true.
type CloseError struct {
	Code   CloseCode
	Reason string
	Local  bool // true when this end failed the connection (Code was sent, not received)
	Err    error
}

func (e *CloseError) Error() string {
	who := "peer"
	if e.Local {
		who = "local"
	}
	s := "frame: connection closed (" + who + " " + e.Code.String()
	if e.Reason != "" {
		s += ": " + strconv.Quote(e.Reason)
	}
	s += ")"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CloseError) Unwrap() error { return e.Err }

// ProtocolError is a violation of RFC 6455 detected while reading. Code is
// the status code the connection is failed with (§7.1.7): 1002, 1007, 1008
// or 1009, or 1011 for an internal failure.
type ProtocolError struct {
	Code   CloseCode
	Reason string
}

func (e *ProtocolError) Error() string {
	return "frame: " + e.Reason + " (" + e.Code.String() + ")"
}

// CloseStatus returns the close code carried by err: the code of a
// *CloseError or a *ProtocolError anywhere in err's chain, CloseAbnormal for
// other non-nil errors, and 0 for nil.
func CloseStatus(err error) CloseCode {
	if err == nil {
		return 0
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return CloseAbnormal
}
