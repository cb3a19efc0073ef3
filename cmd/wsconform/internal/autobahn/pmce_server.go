package autobahn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// The server side of permessage-deflate for the fuzzingserver mode: how
// the fuzzer, as the server, answers a client's offers in sections 12 and
// 13 (Autobahn's SERVER_ACCEPT functions).

// ClientOffer is a client's permessage-deflate offer as Autobahn's server
// reads it (PerMessageDeflateOffer.parse).
type ClientOffer struct {
	// AcceptMaxWindowBits: the offer has client_max_window_bits, so the
	// server may cap the client's window (RFC 7692 §7.1.2.2).
	AcceptMaxWindowBits bool
	// RequestNoContextTakeover: the offer has server_no_context_takeover
	// (§7.1.1.1).
	RequestNoContextTakeover bool
	// RequestMaxWindowBits: the offer's server_max_window_bits, or 0
	// (§7.1.2.1).
	RequestMaxWindowBits int
}

// DeflateAcceptance is the server's choice: the offer it accepts, and what
// it asks of the client's compressor in its answer.
type DeflateAcceptance struct {
	Offer ClientOffer
	// RequestNoContextTakeover adds client_no_context_takeover (§7.1.1.2).
	RequestNoContextTakeover bool
	// RequestMaxWindowBits, 8 to 15, adds client_max_window_bits=N
	// (§7.1.2.2); only for an offer with client_max_window_bits.
	RequestMaxWindowBits int
}

// parseClientOffer reads one permessage-deflate offer with Autobahn's
// rules: the four parameters of RFC 7692 §7.1, each at most once, window
// bits 8 to 15 (client_max_window_bits may come without a value).
func parseClientOffer(e handshake.Extension) (ClientOffer, error) {
	var o ClientOffer
	seen := map[string]bool{}
	bits := func(name, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 8 || n > 15 {
			return 0, fmt.Errorf("illegal extension parameter value '%s' for parameter '%s' of extension 'permessage-deflate'", v, name)
		}
		return n, nil
	}
	for _, p := range e.Params {
		name := strings.ToLower(p.Name)
		if seen[name] {
			return o, fmt.Errorf("multiple occurrence of extension parameter '%s' for extension 'permessage-deflate'", name)
		}
		seen[name] = true
		switch name {
		case "client_max_window_bits":
			if p.Value != "" {
				if _, err := bits(name, p.Value); err != nil {
					return o, err
				}
			}
			o.AcceptMaxWindowBits = true
		case "client_no_context_takeover", "server_no_context_takeover":
			if p.Value != "" {
				return o, fmt.Errorf("illegal extension parameter value '%s' for parameter '%s' of extension 'permessage-deflate'", p.Value, name)
			}
			if name == "server_no_context_takeover" {
				o.RequestNoContextTakeover = true
			}
		case "server_max_window_bits":
			n, err := bits(name, p.Value)
			if err != nil {
				return o, err
			}
			o.RequestMaxWindowBits = n
		default:
			return o, fmt.Errorf("illegal extension parameter '%s' for extension 'permessage-deflate'", name)
		}
	}
	return o, nil
}

// ServerDeflate is the fuzzer's answer, as the server, to the extension
// offers of a client that connects for case d: the Sec-WebSocket-Extensions
// value to send ("" for none) and the parameters in force (nil for none).
// Only the cases of sections 12 and 13 accept permessage-deflate, each
// with its own rule (Autobahn's accept functions); the others decline. A
// malformed permessage-deflate offer fails the handshake, as in Autobahn.
func ServerDeflate(d *Def, offers []handshake.Extension) (string, *frame.DeflateParams, error) {
	var parsed []ClientOffer
	for _, e := range offers {
		if !strings.EqualFold(e.Name, handshake.DeflateExtension) {
			continue // other extensions are ignored
		}
		o, err := parseClientOffer(e)
		if err != nil {
			return "", nil, err
		}
		parsed = append(parsed, o)
	}
	if len(parsed) == 0 || d.DeflateAccept == nil {
		return "", nil, nil
	}
	a := d.DeflateAccept(parsed)
	if a == nil {
		return "", nil, nil
	}
	if a.RequestMaxWindowBits != 0 && !a.Offer.AcceptMaxWindowBits {
		return "", nil, errors.New("autobahn: client_max_window_bits asked of an offer without it")
	}
	// Autobahn's PerMessageDeflateOfferAccept.getExtensionString order.
	resp := handshake.DeflateExtension
	p := &frame.DeflateParams{
		ServerNoContextTakeover: a.Offer.RequestNoContextTakeover,
		ServerMaxWindowBits:     a.Offer.RequestMaxWindowBits,
		ClientNoContextTakeover: a.RequestNoContextTakeover,
		ClientMaxWindowBits:     a.RequestMaxWindowBits,
	}
	if p.ServerNoContextTakeover {
		resp += "; server_no_context_takeover"
	}
	if p.ServerMaxWindowBits != 0 {
		resp += "; server_max_window_bits=" + strconv.Itoa(p.ServerMaxWindowBits)
	}
	if p.ClientNoContextTakeover {
		resp += "; client_no_context_takeover"
	}
	if p.ClientMaxWindowBits != 0 {
		resp += "; client_max_window_bits=" + strconv.Itoa(p.ClientMaxWindowBits)
	}
	return resp, p, nil
}

// Autobahn's server accept rules. Its parser marks every offer as
// accepting client_no_context_takeover, so the rules that need it only
// need an offer.

// acceptFirst accepts the first offer as it is (accept_deflate, accept1).
func acceptFirst(offers []ClientOffer) *DeflateAcceptance {
	return &DeflateAcceptance{Offer: offers[0]}
}

// acceptWith returns a rule that accepts the first offer that allows what
// it asks: client_no_context_takeover if noContext, client_max_window_bits
// = bits if bits > 0 (accept2 to accept6).
func acceptWith(noContext bool, bits int) func([]ClientOffer) *DeflateAcceptance {
	return func(offers []ClientOffer) *DeflateAcceptance {
		for _, o := range offers {
			if bits == 0 || o.AcceptMaxWindowBits {
				return &DeflateAcceptance{Offer: o, RequestNoContextTakeover: noContext, RequestMaxWindowBits: bits}
			}
		}
		return nil
	}
}

// acceptFallback tries the rules in order (accept7).
func acceptFallback(rules ...func([]ClientOffer) *DeflateAcceptance) func([]ClientOffer) *DeflateAcceptance {
	return func(offers []ClientOffer) *DeflateAcceptance {
		for _, r := range rules {
			if a := r(offers); a != nil {
				return a
			}
		}
		return nil
	}
}
