package handshake

import (
	"errors"
	"fmt"
	"strings"
)

// Extension is one element of a Sec-WebSocket-Extensions list (RFC 6455
// §9.1): an extension token and its parameters, in the order sent.
type Extension struct {
	Name   string
	Params []Param
}

// Param is one extension-param (RFC 6455 §9.1). Value is "" when the
// parameter has no value; a quoted-string value is stored unescaped (and
// must be a token after unescaping, so it is never "").
type Param struct {
	Name  string
	Value string
}

// String formats e as it appears in a Sec-WebSocket-Extensions header,
// e.g. "permessage-deflate; client_max_window_bits=10".
func (e Extension) String() string {
	var buf [128]byte
	return string(e.appendTo(buf[:0]))
}

func (e Extension) appendTo(dst []byte) []byte {
	dst = append(dst, e.Name...)
	for _, p := range e.Params {
		dst = append(dst, "; "...)
		dst = append(dst, p.Name...)
		if p.Value != "" {
			dst = append(dst, '=')
			dst = append(dst, p.Value...)
		}
	}
	return dst
}

// FormatExtensions formats a Sec-WebSocket-Extensions header value.
func FormatExtensions(exts []Extension) string {
	var b []byte
	for i, e := range exts {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = e.appendTo(b)
	}
	return string(b)
}

// errMalformedExtensions is wrapped by ParseExtensions errors.
var errMalformedExtensions = errors.New("malformed Sec-WebSocket-Extensions")

// ParseExtensions parses the values of all Sec-WebSocket-Extensions header
// lines (which RFC 6455 §9.1 says are equivalent to one comma-joined line)
// by the grammar of §9.1, with the implied linear whitespace of RFC 2616:
//
//	extension-list  = 1#extension
//	extension       = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// A quoted-string value must be a token once unescaped. Empty list elements
// (", ,") are skipped as RFC 7230 §7 requires. Any other deviation is an
// error: §9.1 says the recipient of malformed data MUST _Fail the WebSocket
// Connection_.
func ParseExtensions(values []string) ([]Extension, error) {
	var out []Extension
	for _, v := range values {
		p := extParser{s: v}
		exts, err := p.list()
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = exts // the usual single line: no copy
		} else {
			out = append(out, exts...)
		}
	}
	return out, nil
}

type extParser struct {
	s   string
	pos int
}

func (p *extParser) fail(what string) error {
	return fmt.Errorf("%w: %s", errMalformedExtensions, what)
}

func (p *extParser) skipOWS() {
	for p.pos < len(p.s) && isOWS(p.s[p.pos]) {
		p.pos++
	}
}

func (p *extParser) token() string {
	start := p.pos
	for p.pos < len(p.s) && isTokenChar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *extParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *extParser) list() ([]Extension, error) {
	var out []Extension
	for {
		p.skipOWS()
		if p.pos == len(p.s) {
			return out, nil
		}
		if p.peek() == ',' { // empty element
			p.pos++
			continue
		}
		e, err := p.extension()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		p.skipOWS()
		switch p.peek() {
		case 0:
			return out, nil
		case ',':
			p.pos++
		default:
			return nil, p.fail("expected ',' after extension " + e.Name)
		}
	}
}

func (p *extParser) extension() (Extension, error) {
	name := p.token()
	if name == "" {
		return Extension{}, p.fail("expected extension token")
	}
	e := Extension{Name: name}
	for {
		p.skipOWS()
		if p.peek() != ';' {
			return e, nil
		}
		p.pos++
		p.skipOWS()
		pname := p.token()
		if pname == "" {
			return Extension{}, p.fail("expected parameter name in " + name)
		}
		prm := Param{Name: pname}
		p.skipOWS()
		if p.peek() == '=' {
			p.pos++
			p.skipOWS()
			v, err := p.value()
			if err != nil {
				return Extension{}, err
			}
			prm.Value = v
		}
		e.Params = append(e.Params, prm)
	}
}

// value reads token | quoted-string; a quoted-string must unescape to a
// token (RFC 6455 §9.1).
func (p *extParser) value() (string, error) {
	if p.peek() != '"' {
		v := p.token()
		if v == "" {
			return "", p.fail("expected parameter value")
		}
		return v, nil
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '"':
			v := b.String()
			if !isToken(v) {
				return "", p.fail("quoted parameter value is not a token")
			}
			return v, nil
		case '\\':
			if p.pos == len(p.s) {
				return "", p.fail("unterminated quoted-pair")
			}
			c = p.s[p.pos]
			p.pos++
		}
		// Anything that is not a token character fails the check at the end;
		// stop early to keep the work bounded.
		if !isTokenChar(c) {
			return "", p.fail("quoted parameter value is not a token")
		}
		b.WriteByte(c)
	}
	return "", p.fail("unterminated quoted-string")
}
