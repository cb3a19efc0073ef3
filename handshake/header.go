package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strings"
	"sync"
)

// Default limits on an opening handshake's header block. They bound the
// memory a peer can make us spend before the handshake is judged.
const (
	// DefaultMaxHeaderBytes bounds the whole header block: the request or
	// status line and every header line, line terminators included.
	DefaultMaxHeaderBytes = 8 << 10
	// DefaultMaxLineBytes bounds one line (without its terminator).
	DefaultMaxLineBytes = 8 << 10
	// DefaultMaxHeaders bounds the number of header lines.
	DefaultMaxHeaders = 100
)

// Limits bound the size of a header block read by ReadRequest and
// ReadResponse. A zero field takes its default; -1 means unlimited (which
// lets a peer make us buffer as much as it likes: use it only with trusted
// peers).
type Limits struct {
	// MaxHeaderBytes bounds the request/status line plus all header lines,
	// terminators included. 0 => DefaultMaxHeaderBytes (8 KiB).
	MaxHeaderBytes int
	// MaxLineBytes bounds any single line, without its CRLF.
	// 0 => DefaultMaxLineBytes (8 KiB).
	MaxLineBytes int
	// MaxHeaders bounds the number of header lines. 0 => DefaultMaxHeaders
	// (100).
	MaxHeaders int
}

func (l Limits) resolved() Limits {
	pick := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return int(^uint(0) >> 1)
		}
		return v
	}
	return Limits{
		MaxHeaderBytes: pick(l.MaxHeaderBytes, DefaultMaxHeaderBytes),
		MaxLineBytes:   pick(l.MaxLineBytes, DefaultMaxLineBytes),
		MaxHeaders:     pick(l.MaxHeaders, DefaultMaxHeaders),
	}
}

// CheckRequest applies the limits to a request whose header block was read
// by someone else, net/http for example, whose own limits are looser (1
// MiB, any number of fields): it measures the block as ReadRequest would
// have read it (request line, one line per field value, terminators) and
// returns the *RequestError ReadRequest would have returned, 414 for an
// over-long request line or 431, or nil. host is the Host field's value,
// counted when header has no Host entry (net/http moves it to
// Request.Host). Server adapters call it so that a handshake is held to
// the same limits on every path.
func (l Limits) CheckRequest(method, target, proto, host string, header map[string][]string) error {
	lim := l.resolved()
	line := len(method) + 1 + len(target) + 1 + len(proto)
	if line > lim.MaxLineBytes {
		return readErr(&parseError{status: 414, msg: "request line too long"})
	}
	total, n := line+2, 0
	field := func(name, value string) error {
		n++
		if n > lim.MaxHeaders {
			return readErr(&parseError{status: 431, msg: "too many header fields"})
		}
		line := len(name) + 2 + len(value)
		if line > lim.MaxLineBytes {
			return readErr(&parseError{status: 431, msg: "header line too long"})
		}
		if total += line + 2; total > lim.MaxHeaderBytes {
			return readErr(&parseError{status: 431, msg: "header block too large"})
		}
		return nil
	}
	if _, ok := header[hHost]; !ok && host != "" {
		if err := field(hHost, host); err != nil {
			return err
		}
	}
	for name, values := range header {
		for _, v := range values {
			if err := field(name, v); err != nil {
				return err
			}
		}
	}
	if total+2 > lim.MaxHeaderBytes {
		return readErr(&parseError{status: 431, msg: "header block too large"})
	}
	return nil
}

// MaxHeaderBlock returns the resolved MaxHeaderBytes, for configuring
// another reader of the header block (net/http's MaxHeaderBytes) to stop
// near the same point; 0 when unlimited.
func (l Limits) MaxHeaderBlock() int {
	if l.MaxHeaderBytes < 0 {
		return 0
	}
	return l.resolved().MaxHeaderBytes
}

// parseError is a malformed or oversized header block. status is the HTTP
// status a server answers with; a client just reports msg.
type parseError struct {
	status int
	msg    string
	err    error
}

func (e *parseError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *parseError) Unwrap() error { return e.err }

// headerReader reads the lines of an HTTP/1.1 header block (RFC 7230 §3)
// under Limits. Lines end in CRLF; a bare LF is accepted as RFC 7230 §3.5
// allows.
type headerReader struct {
	br      *bufio.Reader
	lim     Limits
	total   int
	scratch []byte
}

// line returns the next line without its terminator. The slice is valid
// until the next call. first says whether this is the request or status
// line, whose overflow is reported as 414 rather than 431.
func (r *headerReader) line(first bool) ([]byte, error) {
	acc := r.scratch[:0]
	long := false // the line did not fit in br's buffer: gather it in acc
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.total += len(chunk)
		full := errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !full {
			return nil, r.eof(err)
		}
		if full || long {
			acc = append(acc, chunk...)
			r.scratch = acc
			chunk = acc
			long = true
		}
		if len(chunk)-2 > r.lim.MaxLineBytes { // not max+2: max may be MaxInt
			if first {
				return nil, &parseError{status: 414, msg: "request line too long"}
			}
			return nil, &parseError{status: 431, msg: "header line too long"}
		}
		if r.total > r.lim.MaxHeaderBytes {
			return nil, &parseError{status: 431, msg: "header block too large"}
		}
		if full {
			continue
		}
		// Strip "\n" and an optional "\r" before it.
		chunk = chunk[:len(chunk)-1]
		if n := len(chunk); n > 0 && chunk[n-1] == '\r' {
			chunk = chunk[:n-1]
		}
		if len(chunk) > r.lim.MaxLineBytes {
			if first {
				return nil, &parseError{status: 414, msg: "request line too long"}
			}
			return nil, &parseError{status: 431, msg: "header line too long"}
		}
		return chunk, nil
	}
}

// eof maps a read error. A clean EOF before the first byte is returned as
// io.EOF (the peer went away without saying anything); an EOF inside the
// block is a malformed message. Other errors (timeouts, resets) pass
// through unchanged.
func (r *headerReader) eof(err error) error {
	if errors.Is(err, io.EOF) {
		if r.total == 0 {
			return io.EOF
		}
		return &parseError{status: 400, msg: "header block truncated", err: io.ErrUnexpectedEOF}
	}
	return err
}

// readFields reads a header block into h under canonical keys (see
// readBlock and addFields).
func (r *headerReader) readFields(h textproto.MIMEHeader) error {
	b := getFieldBlock()
	defer b.put()
	var err error
	if b.text, b.spans, err = r.readBlock(b.text, b.spans); err != nil {
		return err
	}
	addFields(h, string(b.text), b.spans)
	return nil
}

// fieldBlock holds what readBlock gathers. It is pooled rather than on
// the stack: a kilobyte array in ReadRequest's frame made the handshake
// goroutine's stack grow (and be copied) once more per connection, which
// cost more than the allocations it saved.
type fieldBlock struct {
	text  []byte
	spans []fieldSpan
}

var fieldBlockPool = sync.Pool{New: func() any {
	return &fieldBlock{text: make([]byte, 0, 1024), spans: make([]fieldSpan, 0, 32)}
}}

// getFieldBlock returns an empty fieldBlock from the pool.
func getFieldBlock() *fieldBlock {
	b := fieldBlockPool.Get().(*fieldBlock)
	b.text, b.spans = b.text[:0], b.spans[:0]
	return b
}

// put returns b to the pool, unless an unusually large block grew it.
func (b *fieldBlock) put() {
	if cap(b.text) <= maxPooledBlock {
		fieldBlockPool.Put(b)
	}
}

const maxPooledBlock = 16 << 10

// fieldSpan locates one header field in the text readBlock gathers: its
// name is text[start:nameEnd] and its value text[nameEnd:end], where start
// is the end of the field before it (0 for the first).
type fieldSpan struct{ nameEnd, end int }

// readBlock reads header lines up to and including the empty line that
// ends the block (RFC 7230 §3.2), checks each, and appends each field's
// name and value (OWS trimmed) to text, recording where they are in
// spans. The caller reuses text and spans (a pooled fieldBlock): the block
// is turned into strings once, by addFields, instead of a string per name
// and value.
func (r *headerReader) readBlock(text []byte, spans []fieldSpan) ([]byte, []fieldSpan, error) {
	for {
		line, err := r.line(false)
		if err != nil {
			return text, spans, err
		}
		if len(line) == 0 {
			return text, spans, nil
		}
		if len(spans) >= r.lim.MaxHeaders {
			return text, spans, &parseError{status: 431, msg: "too many header fields"}
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 7230 §3.2.4: obs-fold; a server MUST reject it (or unfold).
			return text, spans, &parseError{status: 400, msg: "obsolete line folding in header"}
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return text, spans, &parseError{status: 400, msg: "malformed header line"}
		}
		name := line[:colon]
		if !isTokenBytes(name) {
			// Includes whitespace before the colon, which RFC 7230 §3.2.4
			// says MUST be rejected with 400.
			return text, spans, &parseError{status: 400, msg: "invalid header field name"}
		}
		value := trimOWSBytes(line[colon+1:])
		if !validFieldValue(value) {
			return text, spans, &parseError{status: 400, msg: "invalid character in header field value"}
		}
		text = append(text, name...)
		nameEnd := len(text)
		text = append(text, value...)
		spans = append(spans, fieldSpan{nameEnd: nameEnd, end: len(text)})
	}
}

// addFields adds the fields that readBlock gathered (text as a string) to
// h under canonical keys, each key's values in the order received. The
// names and values are substrings of text, and the value slices of all
// fields share one array (an append to one copies it, as its capacity is
// its length), so a whole block costs a few allocations.
func addFields(h textproto.MIMEHeader, text string, spans []fieldSpan) {
	vals := make([]string, len(spans))
	start := 0
	for i, sp := range spans {
		key := canonicalKey(text[start:sp.nameEnd])
		vals[i] = text[sp.nameEnd:sp.end]
		if vs := h[key]; vs != nil {
			h[key] = append(vs, vals[i]) // a repeated field (RFC 7230 §3.2.2)
		} else {
			h[key] = vals[i : i+1 : i+1]
		}
		start = sp.end
	}
}

// Canonical keys (textproto.CanonicalMIMEHeaderKey) of the header fields of
// RFC 6455 §4 and §11.3.
const (
	hHost          = "Host"
	hUpgrade       = "Upgrade"
	hConnection    = "Connection"
	hOrigin        = "Origin"
	hKey           = "Sec-Websocket-Key"
	hAccept        = "Sec-Websocket-Accept"
	hVersion       = "Sec-Websocket-Version"
	hProtocol      = "Sec-Websocket-Protocol"
	hExtensions    = "Sec-Websocket-Extensions"
	hContentLength = "Content-Length"
	hTransferEnc   = "Transfer-Encoding"
	hLocation      = "Location"

	// hPseudoProtocol is the :protocol pseudo-header field of RFC 8441 §4
	// as net/http hands it to a handler (textproto leaves a key that is
	// not a token unchanged, so it is its own canonical form).
	hPseudoProtocol = ":protocol"
)

// canonicalKey is textproto.CanonicalMIMEHeaderKey, with the handshake's
// own fields interned: a name in another case ("Sec-WebSocket-Key", as
// RFC 6455 spells it) costs no allocation, and neither does one that is
// canonical already (CanonicalMIMEHeaderKey returns it as is).
func canonicalKey(name string) string {
	for _, k := range [...]string{hHost, hUpgrade, hConnection, hOrigin, hKey, hVersion, hProtocol, hExtensions, hAccept} {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return k
		}
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// isTokenChar reports whether c is a tchar (RFC 7230 §3.2.6), the character
// set of RFC 2616's token that RFC 6455 refers to.
func isTokenChar(c byte) bool {
	return c < 0x80 && tokenTable[c]
}

var tokenTable = func() [128]bool {
	var t [128]bool
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

// validFieldValue: VCHAR, obs-text, SP and HTAB (RFC 7230 §3.2); no other
// control characters, in particular no CR, LF or NUL.
func validFieldValue(v []byte) bool {
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func validFieldValueString(v string) bool {
	for i := range len(v) {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func trimOWSBytes(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func trimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// tokenListContains reports whether the comma-separated lists in values
// (one element per header line, as RFC 7230 §3.2.2 allows a field to be
// split) contain token, compared ASCII case-insensitively. Empty list
// elements are skipped (RFC 7230 §7).
func tokenListContains(values []string, token string) bool {
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(trimOWS(elem), token) {
				return true
			}
		}
	}
	return false
}

// splitList splits comma-separated list values into their non-empty,
// whitespace-trimmed elements.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			if e := trimOWS(elem); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}
