package handshake

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ws6455/ws6455/frame"
)

// DeflateExtension is the extension token of permessage-deflate (RFC 7692
// §7).
const DeflateExtension = "permessage-deflate"

// The four extension parameters of permessage-deflate (RFC 7692 §7.1).
const (
	paramServerNoContextTakeover = "server_no_context_takeover"
	paramClientNoContextTakeover = "client_no_context_takeover"
	paramServerMaxWindowBits     = "server_max_window_bits"
	paramClientMaxWindowBits     = "client_max_window_bits"
)

// CompressionMode says whether, and how, a server accepts permessage-deflate.
//
// The choice is between compression ratio and memory per connection.
// With context takeover (RFC 7692 §7.1.1) each side's compressor keeps
// its LZ77 window between messages, and the peer's decompressor the
// matching window: frame.Conn keeps the last 2^bits bytes per direction
// (up to 64 KiB per idle connection with 32 KiB windows), pools the rest,
// and rebuilds its hash tables over the window at each message. In return,
// small messages that resemble earlier ones compress much better.
// Measured on a stream of small JSON chat events (220 bytes on average)
// at level 1: 0.32 of their size with context takeover and 32 KiB
// windows, 0.77 without; large messages lose almost nothing (64 KiB of
// JSON text: 0.24 against 0.25). Without context takeover a connection
// holds a compressor or decompressor only while a message moves, taken
// from a pool, so an idle compressed connection costs what an
// uncompressed one does. The numbers and the commands behind them are in
// testdata/bench/RESULTS.md ("idle memory with and without compression").
type CompressionMode uint8

const (
	// CompressionOff declines every permessage-deflate offer. It is the
	// zero value.
	CompressionOff CompressionMode = iota
	// CompressionNoContextTakeover accepts an offer but answers with both
	// server_no_context_takeover and client_no_context_takeover (RFC 7692
	// §7.1.1), so neither side keeps an LZ77 window between messages: less
	// compression for small messages, no per-connection compressor memory
	// between messages. The server may ask this of a client that did not
	// offer it (§7.1.1.2), so it applies to every offer, including a
	// browser's. DefaultDeflateConfig uses it.
	CompressionNoContextTakeover
	// CompressionFull accepts an offer with context takeover in both
	// directions unless the client asks otherwise: the best ratio for
	// small similar messages, at the cost of up to 2^bits bytes of window
	// per direction held by every idle connection. Bound it with
	// DeflateConfig.ServerMaxWindowBits and ClientMaxWindowBits.
	CompressionFull
)

func (m CompressionMode) String() string {
	switch m {
	case CompressionOff:
		return "off"
	case CompressionNoContextTakeover:
		return "no-context-takeover"
	case CompressionFull:
		return "full"
	}
	return "CompressionMode(" + strconv.Itoa(int(m)) + ")"
}

// DeflateConfig is a server's permessage-deflate policy.
type DeflateConfig struct {
	// Mode selects whether offers are accepted and with what context
	// takeover.
	Mode CompressionMode
	// ServerMaxWindowBits, 8 to 15, caps the LZ77 window of the server's
	// compressor. The server announces it with server_max_window_bits even
	// when the client did not ask (RFC 7692 §7.1.2.1 allows that), and
	// answers a client's server_max_window_bits=N with the smaller of the
	// two. 0 means 15: no cap beyond the client's.
	ServerMaxWindowBits int
	// ClientMaxWindowBits, 8 to 15, asks the client to cap its compressor's
	// window, which bounds the server's decompressor memory. RFC 7692
	// §7.1.2.2 lets the server do so only when the offer carries
	// client_max_window_bits; otherwise the offer is still accepted and the
	// client may use a 32 KiB window. 0 means no request.
	ClientMaxWindowBits int
}

// DefaultDeflateConfig returns the recommended policy for a server that
// turns permessage-deflate on, and the one cmd/wsecho serves with:
// CompressionNoContextTakeover, whose idle connections hold no compression
// state (see CompressionMode for what that costs in ratio). A server that
// prefers ratio for small messages opts into context takeover with
// CompressionFull.
func DefaultDeflateConfig() DeflateConfig {
	return DeflateConfig{Mode: CompressionNoContextTakeover}
}

func (c DeflateConfig) validate() error {
	if c.Mode > CompressionFull {
		return fmt.Errorf("handshake: invalid compression mode %d", c.Mode)
	}
	for _, b := range [...]int{c.ServerMaxWindowBits, c.ClientMaxWindowBits} {
		if b != 0 && (b < 8 || b > 15) {
			return fmt.Errorf("handshake: window bits %d outside 8..15", b)
		}
	}
	return nil
}

// deflateParams are the permessage-deflate parameters of one offer or
// response, parsed and checked (RFC 7692 §7.1). Zero window bits mean the
// parameter is absent or has no value.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int  // 0: absent
	clientMaxWindowBits     int  // 0: absent or no value
	clientMaxWindowBitsSeen bool // client_max_window_bits present
}

// parseDeflateParams checks the parameters of a permessage-deflate element
// (RFC 7692 §5, §7.1). In an offer client_max_window_bits may come without
// a value; in a response every window-bits parameter needs one. Unknown,
// repeated or malformed parameters are errors: a server then declines the
// offer (§5: "A server MUST decline an extension negotiation offer..."), a
// client fails the connection (§5: "A client MUST _Fail the WebSocket
// Connection_ if...").
func parseDeflateParams(params []Param, response bool) (deflateParams, error) {
	var d deflateParams
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		name := strings.ToLower(p.Name)
		if seen[name] {
			return d, fmt.Errorf("repeated parameter %s", name)
		}
		seen[name] = true
		switch name {
		case paramServerNoContextTakeover, paramClientNoContextTakeover:
			if p.Value != "" {
				return d, fmt.Errorf("parameter %s takes no value", name)
			}
			if name == paramServerNoContextTakeover {
				d.serverNoContextTakeover = true
			} else {
				d.clientNoContextTakeover = true
			}
		case paramServerMaxWindowBits:
			bits, ok := parseWindowBits(p.Value)
			if !ok {
				return d, fmt.Errorf("%s=%q is not 8..15", name, p.Value)
			}
			d.serverMaxWindowBits = bits
		case paramClientMaxWindowBits:
			d.clientMaxWindowBitsSeen = true
			if p.Value == "" && !response {
				break
			}
			bits, ok := parseWindowBits(p.Value)
			if !ok {
				return d, fmt.Errorf("%s=%q is not 8..15", name, p.Value)
			}
			d.clientMaxWindowBits = bits
		default:
			return d, fmt.Errorf("unknown parameter %s", p.Name)
		}
	}
	return d, nil
}

// parseWindowBits parses "a decimal integer value without leading zeroes
// between 8 to 15, inclusive" (RFC 7692 §7.1.2.1).
func parseWindowBits(v string) (int, bool) {
	switch len(v) {
	case 1:
		if v[0] == '8' || v[0] == '9' {
			return int(v[0] - '0'), true
		}
	case 2:
		if v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
			return 10 + int(v[1]-'0'), true
		}
	}
	return 0, false
}

// NegotiateDeflate picks the first acceptable permessage-deflate offer in
// offers (RFC 7692 §5: the client lists offers in preference order) under
// the server policy cfg, and returns the response element to send and the
// parameters agreed. ok is false when no offer is accepted (or cfg.Mode is
// CompressionOff); offers of other extensions are ignored.
//
// An offer with an unknown, repeated or malformed parameter is declined and
// the next one tried (§5). For an accepted offer the response has:
//   - server_no_context_takeover if the client asked for it (§7.1.1.1: the
//     server must then honor it) or the mode is CompressionNoContextTakeover;
//   - client_no_context_takeover if the client offered it (echoed, making
//     the client's promise part of the agreement) or the mode is
//     CompressionNoContextTakeover (§7.1.1.2: always allowed);
//   - server_max_window_bits=min(offered, cfg) when the client offered it
//     (§7.1.2.1: "the same or smaller value"), else cfg's value when below 15;
//   - client_max_window_bits=N only when the offer has client_max_window_bits
//     (§7.1.2.2), N being the smaller of the offered value and cfg's, and
//     only when one of the two is set.
//
// The returned params describe exactly the response: window bits are the
// values sent (0 when not sent, meaning 15).
func NegotiateDeflate(offers []Extension, cfg DeflateConfig) (response Extension, params *frame.DeflateParams, ok bool) {
	if cfg.Mode == CompressionOff || cfg.Mode > CompressionFull {
		return Extension{}, nil, false
	}
	for _, off := range offers {
		if !strings.EqualFold(off.Name, DeflateExtension) {
			continue
		}
		d, err := parseDeflateParams(off.Params, false)
		if err != nil {
			continue // decline this offer, try the next (RFC 7692 §5)
		}
		ncMode := cfg.Mode == CompressionNoContextTakeover
		agreed := frame.DeflateParams{
			ServerNoContextTakeover: d.serverNoContextTakeover || ncMode,
			ClientNoContextTakeover: d.clientNoContextTakeover || ncMode,
		}
		serverCap := cfg.ServerMaxWindowBits
		if serverCap < 8 || serverCap > 15 {
			serverCap = 15
		}
		switch {
		case d.serverMaxWindowBits > 0:
			agreed.ServerMaxWindowBits = min(d.serverMaxWindowBits, serverCap)
		case serverCap < 15:
			agreed.ServerMaxWindowBits = serverCap
		}
		if d.clientMaxWindowBitsSeen {
			bits := d.clientMaxWindowBits
			if c := cfg.ClientMaxWindowBits; c >= 8 && c <= 15 {
				if bits == 0 {
					bits = c
				} else {
					bits = min(bits, c)
				}
			}
			agreed.ClientMaxWindowBits = bits
		}
		return deflateElement(agreed), &agreed, true
	}
	return Extension{}, nil, false
}

// deflateElement formats agreed parameters as a permessage-deflate element
// (a response, or an offer that asks for exactly these).
func deflateElement(p frame.DeflateParams) Extension {
	e := Extension{Name: DeflateExtension, Params: make([]Param, 0, 4)}
	if p.ServerNoContextTakeover {
		e.Params = append(e.Params, Param{Name: paramServerNoContextTakeover})
	}
	if p.ClientNoContextTakeover {
		e.Params = append(e.Params, Param{Name: paramClientNoContextTakeover})
	}
	if p.ServerMaxWindowBits > 0 {
		e.Params = append(e.Params, Param{Name: paramServerMaxWindowBits, Value: strconv.Itoa(p.ServerMaxWindowBits)})
	}
	if p.ClientMaxWindowBits > 0 {
		e.Params = append(e.Params, Param{Name: paramClientMaxWindowBits, Value: strconv.Itoa(p.ClientMaxWindowBits)})
	}
	return e
}

// DeflateOffer is a client's permessage-deflate offer (RFC 7692 §7.1).
// The zero value offers "permessage-deflate; client_max_window_bits": plain
// compression with context takeover, letting the server cap our window.
// A client may send several offers, most preferred first (§5); see
// ClientHandshake.CompressionOffers.
type DeflateOffer struct {
	// ServerNoContextTakeover asks the server to reset its compressor after
	// every message (§7.1.1.1); a server that accepts must agree.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover tells the server we reset our compressor after
	// every message (§7.1.1.2).
	ClientNoContextTakeover bool
	// ServerMaxWindowBits, 8 to 15, asks the server to use at most a 2^N
	// byte window (§7.1.2.1); 0 does not ask.
	ServerMaxWindowBits int
	// ClientMaxWindowBits, 8 to 15, says we compress with at most a 2^N
	// byte window (§7.1.2.2). 0 sends client_max_window_bits without a
	// value: we accept whatever cap the server chooses.
	ClientMaxWindowBits int
	// OmitClientMaxWindowBits leaves client_max_window_bits out of the
	// offer. By including the parameter a client "indicates support for"
	// it in the response (§7.1.2.2); without it the server MUST NOT send
	// client_max_window_bits, so it cannot cap the window of our
	// compressor, and a response that does is rejected. (Omitting it does
	// not promise a 32 KiB window: a compressor may always use a smaller
	// one.) Autobahn's PerMessageDeflateOffer(acceptMaxWindowBits=False)
	// is of this kind. It cannot be combined with ClientMaxWindowBits.
	OmitClientMaxWindowBits bool
}

// Validate reports window bits outside 8..15, and ClientMaxWindowBits set
// together with OmitClientMaxWindowBits.
func (o DeflateOffer) Validate() error {
	for _, b := range [...]int{o.ServerMaxWindowBits, o.ClientMaxWindowBits} {
		if b != 0 && (b < 8 || b > 15) {
			return fmt.Errorf("handshake: permessage-deflate window bits %d outside 8..15", b)
		}
	}
	if o.OmitClientMaxWindowBits && o.ClientMaxWindowBits != 0 {
		return errors.New("handshake: permessage-deflate offer sets ClientMaxWindowBits and OmitClientMaxWindowBits")
	}
	return nil
}

// Extension returns the offer as a Sec-WebSocket-Extensions element, the
// client's parameters first, as Autobahn's client writes them, e.g.
// "permessage-deflate; client_no_context_takeover; client_max_window_bits;
// server_max_window_bits=10".
func (o DeflateOffer) Extension() Extension {
	e := Extension{Name: DeflateExtension}
	if o.ClientNoContextTakeover {
		e.Params = append(e.Params, Param{Name: paramClientNoContextTakeover})
	}
	if !o.OmitClientMaxWindowBits {
		cmwb := Param{Name: paramClientMaxWindowBits}
		if o.ClientMaxWindowBits > 0 {
			cmwb.Value = strconv.Itoa(o.ClientMaxWindowBits)
		}
		e.Params = append(e.Params, cmwb)
	}
	if o.ServerNoContextTakeover {
		e.Params = append(e.Params, Param{Name: paramServerNoContextTakeover})
	}
	if o.ServerMaxWindowBits > 0 {
		e.Params = append(e.Params, Param{Name: paramServerMaxWindowBits, Value: strconv.Itoa(o.ServerMaxWindowBits)})
	}
	return e
}

// appendOffers appends offers as the value of one Sec-WebSocket-Extensions
// field: the elements in order, separated by ", " (RFC 7692 §5: "The
// order of elements is important as it specifies the client's
// preference").
func appendOffers(dst []byte, offers []DeflateOffer) []byte {
	for i, o := range offers {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = o.Extension().appendTo(dst)
	}
	return dst
}

var errDeflateResponse = errors.New("permessage-deflate response")

// Accept checks a server's permessage-deflate response element against the
// offer o (RFC 7692 §5, §7.1) and returns the parameters in force. It fails
// when the response has an unknown, repeated or malformed parameter, when
// server_max_window_bits exceeds what we asked or is missing although we
// asked, when server_no_context_takeover is missing although we asked, or
// when client_max_window_bits has no value, exceeds ours, or answers an
// offer that omitted it (OmitClientMaxWindowBits, §7.1.2.2).
// server_no_context_takeover, client_no_context_takeover and
// server_max_window_bits are legal in a response even when not offered.
//
// In the result, ClientNoContextTakeover is also set when we offered it
// (we promised), and ClientMaxWindowBits falls back to our offered value
// when the server did not send one.
func (o DeflateOffer) Accept(resp Extension) (*frame.DeflateParams, error) {
	if !strings.EqualFold(resp.Name, DeflateExtension) {
		return nil, fmt.Errorf("%w: extension %q is not %s", errDeflateResponse, resp.Name, DeflateExtension)
	}
	d, err := parseDeflateParams(resp.Params, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDeflateResponse, err)
	}
	if o.ServerNoContextTakeover && !d.serverNoContextTakeover {
		return nil, fmt.Errorf("%w: server ignored server_no_context_takeover", errDeflateResponse)
	}
	if o.ServerMaxWindowBits > 0 {
		if d.serverMaxWindowBits == 0 {
			return nil, fmt.Errorf("%w: server ignored server_max_window_bits=%d", errDeflateResponse, o.ServerMaxWindowBits)
		}
		if d.serverMaxWindowBits > o.ServerMaxWindowBits {
			return nil, fmt.Errorf("%w: server_max_window_bits=%d exceeds the offered %d", errDeflateResponse, d.serverMaxWindowBits, o.ServerMaxWindowBits)
		}
	}
	// §7.1.2.2: client_max_window_bits only in answer to an offer that
	// has it, and no larger than its value.
	if o.OmitClientMaxWindowBits && d.clientMaxWindowBitsSeen {
		return nil, fmt.Errorf("%w: client_max_window_bits answers an offer without it", errDeflateResponse)
	}
	if o.ClientMaxWindowBits > 0 && d.clientMaxWindowBits > o.ClientMaxWindowBits {
		return nil, fmt.Errorf("%w: client_max_window_bits=%d exceeds the offered %d", errDeflateResponse, d.clientMaxWindowBits, o.ClientMaxWindowBits)
	}
	p := &frame.DeflateParams{
		ServerNoContextTakeover: d.serverNoContextTakeover,
		ClientNoContextTakeover: d.clientNoContextTakeover || o.ClientNoContextTakeover,
		ServerMaxWindowBits:     d.serverMaxWindowBits,
		ClientMaxWindowBits:     d.clientMaxWindowBits,
	}
	if p.ClientMaxWindowBits == 0 {
		p.ClientMaxWindowBits = o.ClientMaxWindowBits
	}
	return p, nil
}

// acceptOffers checks a server's permessage-deflate response element
// against the offers the client sent, in preference order (RFC 7692 §5),
// and returns the parameters in force: the response must be a valid
// acceptance (Accept) of at least one of them, or the error gives each
// offer's reason. The response does not say which offer the server
// accepted, so when it is a valid acceptance of several, the result binds
// the client by every one of them: ClientNoContextTakeover if any of them
// promised it, and the smallest ClientMaxWindowBits any of them (or the
// response) set. Both only restrict the client's compressor, whose output
// any of the server's possible configurations can then read; the server's
// parameters come from the response alone and are the same for all.
func acceptOffers(offers []DeflateOffer, resp Extension) (*frame.DeflateParams, error) {
	var (
		params *frame.DeflateParams
		errs   []string
	)
	for i, o := range offers {
		p, err := o.Accept(resp)
		if err != nil {
			if len(offers) == 1 {
				return nil, err
			}
			errs = append(errs, fmt.Sprintf("offer %d: %v", i+1, err))
			continue
		}
		if params == nil {
			params = p
			continue
		}
		params.ClientNoContextTakeover = params.ClientNoContextTakeover || p.ClientNoContextTakeover
		if b := p.ClientMaxWindowBits; b != 0 && (params.ClientMaxWindowBits == 0 || b < params.ClientMaxWindowBits) {
			params.ClientMaxWindowBits = b
		}
	}
	if params == nil {
		return nil, fmt.Errorf("%w %q is not a valid acceptance of any of the %d offers: %s",
			errDeflateResponse, resp.String(), len(offers), strings.Join(errs, "; "))
	}
	return params, nil
}
