package autobahn

import (
	"fmt"
	"sort"
	"time"
)

// Role is the side of the connection the fuzzer plays.
type Role uint8

const (
	// RoleClient: the fuzzer connects to a server under test
	// (wstest -m fuzzingclient). It masks its frames, rejects masked
	// frames, and expects the server to drop TCP after the close handshake
	// (RFC 6455 §7.1.1).
	RoleClient Role = iota
	// RoleServer: a client under test connects to the fuzzer
	// (wstest -m fuzzingserver). It does not mask, requires masked frames
	// and drops TCP itself once the close handshake is done.
	RoleServer
)

func (r Role) String() string {
	if r == RoleServer {
		return "server"
	}
	return "client"
}

// Options are the protocol options of the fuzzer's endpoint. The names
// follow Autobahn's setProtocolOptions keys, which is how a spec file's
// "options" object sets them (see ApplySpecOptions).
type Options struct {
	Role Role

	// FailByDrop: fail connections by dropping TCP instead of sending a
	// close frame. The fuzzer runs with false (RFC 6455 §7.1.7 conformance).
	FailByDrop bool
	// EchoCloseCodeReason: answer a close frame with the peer's code and
	// reason rather than 1000.
	EchoCloseCodeReason bool
	// UTF8ValidateIncoming: fail with 1007 on invalid UTF-8 in received
	// text messages (RFC 6455 §8.1).
	UTF8ValidateIncoming bool
	// MaskClientFrames (client role): mask outgoing frames (RFC 6455 §5.3).
	MaskClientFrames bool
	// AcceptMaskedServerFrames (client role): do not fail on masked frames.
	AcceptMaskedServerFrames bool
	// MaskServerFrames (server role): mask outgoing frames anyway.
	MaskServerFrames bool
	// RequireMaskedClientFrames (server role): fail on unmasked frames.
	RequireMaskedClientFrames bool
	// ApplyMask: actually XOR masked payloads (off sends the key but not the
	// transform; a fuzzing knob).
	ApplyMask bool
	// AutoFragmentSize: SendMessage splits messages into frames of this
	// size; 0 sends one frame.
	AutoFragmentSize int
	// TCPNoDelay disables Nagle's algorithm so that chopped writes leave as
	// separate segments.
	TCPNoDelay bool

	OpenHandshakeTimeout        time.Duration // opening handshake must finish in this time
	CloseHandshakeTimeout       time.Duration // a close we initiated must be answered in this time
	ServerConnectionDropTimeout time.Duration // client role: the server must drop TCP in this time after the close handshake

	// Headers are extra HTTP headers for the opening handshake; Origin
	// and Protocols fill Origin and Sec-WebSocket-Protocol.
	Headers   map[string]string
	Origin    string
	Protocols []string
	// UserAgent is the User-Agent of the opening handshake.
	UserAgent string
}

// DefaultOptions returns Autobahn's defaults for the role with failByDrop
// off, as the fuzzer sets them: 5 s opening handshake timeout, 1 s closing
// handshake timeout, 1 s for the server to drop TCP, masking per role.
func DefaultOptions(role Role) Options {
	return Options{
		Role:                        role,
		UTF8ValidateIncoming:        true,
		MaskClientFrames:            true,
		RequireMaskedClientFrames:   true,
		ApplyMask:                   true,
		TCPNoDelay:                  true,
		OpenHandshakeTimeout:        5 * time.Second,
		CloseHandshakeTimeout:       1 * time.Second,
		ServerConnectionDropTimeout: 1 * time.Second,
		UserAgent:                   "wsconform (ws6455; Autobahn fuzzingclient port)",
	}
}

// ApplySpecOptions sets o from a spec file's "options" object (Autobahn's
// setProtocolOptions keywords). Timeouts are in seconds. It returns the
// keys it does not know or that have no effect here, so the caller can warn.
func (o *Options) ApplySpecOptions(m map[string]any) (ignored []string, err error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		var bp *bool
		var dp *time.Duration
		switch k {
		case "failByDrop":
			bp = &o.FailByDrop
		case "echoCloseCodeReason":
			bp = &o.EchoCloseCodeReason
		case "utf8validateIncoming":
			bp = &o.UTF8ValidateIncoming
		case "maskClientFrames":
			bp = &o.MaskClientFrames
		case "acceptMaskedServerFrames":
			bp = &o.AcceptMaskedServerFrames
		case "maskServerFrames":
			bp = &o.MaskServerFrames
		case "requireMaskedClientFrames":
			bp = &o.RequireMaskedClientFrames
		case "applyMask":
			bp = &o.ApplyMask
		case "tcpNoDelay":
			bp = &o.TCPNoDelay
		case "openHandshakeTimeout":
			dp = &o.OpenHandshakeTimeout
		case "closeHandshakeTimeout":
			dp = &o.CloseHandshakeTimeout
		case "serverConnectionDropTimeout":
			dp = &o.ServerConnectionDropTimeout
		case "autoFragmentSize":
			f, ok := v.(float64)
			if !ok || f < 0 || f != float64(int(f)) {
				return ignored, fmt.Errorf("option %s: want a non-negative integer, got %v", k, v)
			}
			o.AutoFragmentSize = int(f)
			continue
		case "version":
			// Autobahn's spec version: 18 (RFC 6455), or drafts 10-17, which
			// all speak protocol version 13 or 8. Only RFC 6455 is spoken.
			if f, ok := v.(float64); !ok || (f != 18 && f != 13) {
				return ignored, fmt.Errorf("option version: only 18 (RFC 6455) is supported, got %v", v)
			}
			continue
		default:
			ignored = append(ignored, k)
			continue
		}
		if bp != nil {
			b, ok := v.(bool)
			if !ok {
				return ignored, fmt.Errorf("option %s: want true or false, got %v", k, v)
			}
			*bp = b
		}
		if dp != nil {
			f, ok := v.(float64)
			if !ok || f < 0 {
				return ignored, fmt.Errorf("option %s: want seconds >= 0, got %v", k, v)
			}
			*dp = time.Duration(f * float64(time.Second))
		}
	}
	return ignored, nil
}
