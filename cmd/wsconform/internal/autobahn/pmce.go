package autobahn

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// This file is the fuzzer's permessage-deflate (RFC 7692), which sections
// 12 and 13 use: the offers of the opening handshake, the check of the
// server's answer, and the compression of messages sent and the
// decompression of messages received.

// DeflateOffer is one permessage-deflate offer the fuzzer makes, with the
// four switches of Autobahn's PerMessageDeflateOffer.
type DeflateOffer struct {
	// AcceptNoContextTakeover sends client_no_context_takeover: a hint
	// that the client will not use context takeover (RFC 7692 §7.1.1.2).
	// The fuzzer's compressor still keeps its context unless the server's
	// answer has the parameter too, as Autobahn's does.
	AcceptNoContextTakeover bool
	// AcceptMaxWindowBits sends client_max_window_bits without a value:
	// the server may cap the client's window (§7.1.2.2).
	AcceptMaxWindowBits bool
	// RequestNoContextTakeover sends server_no_context_takeover
	// (§7.1.1.1).
	RequestNoContextTakeover bool
	// RequestMaxWindowBits, 8 to 15, sends server_max_window_bits=N
	// (§7.1.2.1); 0 does not.
	RequestMaxWindowBits int
}

// autobahnOffer returns Autobahn's PerMessageDeflateOffer(requestNoContextTakeover,
// requestMaxWindowBits), whose accept* switches default to true.
func autobahnOffer(requestNoContextTakeover bool, requestMaxWindowBits int) DeflateOffer {
	return DeflateOffer{
		AcceptNoContextTakeover:  true,
		AcceptMaxWindowBits:      true,
		RequestNoContextTakeover: requestNoContextTakeover,
		RequestMaxWindowBits:     requestMaxWindowBits,
	}
}

// handshakeOffer is the offer in the handshake package's terms.
// AcceptNoContextTakeover and AcceptMaxWindowBits are the client's side
// of the negotiation (client_no_context_takeover, client_max_window_bits
// without a value), RequestNoContextTakeover and RequestMaxWindowBits the
// server's.
func (o DeflateOffer) handshakeOffer() handshake.DeflateOffer {
	return handshake.DeflateOffer{
		ClientNoContextTakeover: o.AcceptNoContextTakeover,
		OmitClientMaxWindowBits: !o.AcceptMaxWindowBits,
		ServerNoContextTakeover: o.RequestNoContextTakeover,
		ServerMaxWindowBits:     o.RequestMaxWindowBits,
	}
}

// Extension returns the offer as a Sec-WebSocket-Extensions element, with
// the parameters in Autobahn's order (handshake.DeflateOffer writes them
// so), e.g. "permessage-deflate; client_no_context_takeover;
// client_max_window_bits; server_max_window_bits=9". The HTTP/1.1
// request writes it, and the HTTP/2 one (through handshake.Dialer) sends
// the same text.
func (o DeflateOffer) Extension() handshake.Extension {
	return o.handshakeOffer().Extension()
}

// accept checks that resp is a valid acceptance of the offer (RFC 7692
// §5, §7.1) and returns the parameters in force for the fuzzer.
func (o DeflateOffer) accept(resp handshake.Extension) (*frame.DeflateParams, error) {
	// handshake.DeflateOffer.Accept checks the parameters, their values
	// and repetitions, and what the server owes the offer: server_no_context_takeover
	// and server_max_window_bits (no larger than asked) when requested, and
	// no client_max_window_bits in the answer to an offer without it
	// (§7.1.2.2). ClientNoContextTakeover is cleared so that the result
	// says whether the server's answer has client_no_context_takeover.
	ho := o.handshakeOffer()
	ho.ClientNoContextTakeover = false
	return ho.Accept(resp)
}

// describeOffers renders offers the way Autobahn's section 13 titles do:
// a list of (requestNoContextTakeover, requestMaxWindowBits) pairs.
func describeOffers(offers []DeflateOffer) string {
	parts := make([]string, len(offers))
	for i, o := range offers {
		parts[i] = fmt.Sprintf("(%s, %d)", pyBool(o.RequestNoContextTakeover), o.RequestMaxWindowBits)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// negotiateDeflate checks the server's Sec-WebSocket-Extensions header
// lines against the offers, as the client must (RFC 6455 §4.1 item 5 of the
// response checks, RFC 7692 §5): at most one header line; only
// permessage-deflate, only once; and its parameters a valid acceptance of
// one of the offers. It returns nil params when the server declined.
func negotiateDeflate(values []string, offers []DeflateOffer) (*frame.DeflateParams, error) {
	if len(values) > 1 {
		return nil, errors.New("HTTP Sec-WebSocket-Extensions header appears more than once in opening handshake reply")
	}
	exts, err := handshake.ParseExtensions(values)
	if err != nil {
		return nil, err
	}
	var params *frame.DeflateParams
	for _, e := range exts {
		if !strings.EqualFold(e.Name, handshake.DeflateExtension) || len(offers) == 0 {
			return nil, fmt.Errorf("server wants to use extension %q we did not request", e.Name)
		}
		if params != nil {
			return nil, errors.New("multiple occurrence of a permessage-compress extension")
		}
		var errs []string
		for _, o := range offers {
			p, err := o.accept(e)
			if err == nil {
				params = p
				break
			}
			errs = append(errs, err.Error())
		}
		if params == nil {
			return nil, fmt.Errorf("%q is not a valid acceptance of any offer: %s", e.String(), strings.Join(errs, "; "))
		}
	}
	return params, nil
}

// ---- Compression ----

// deflateCodec compresses the messages the fuzzer sends and decompresses
// those it receives, with the negotiated parameters (RFC 7692 §7). So that
// the check does not rest on the DEFLATE engine of the implementation
// under test (frame/internal/deflate, when the peer is ws6455), the
// fuzzer's side uses Go's compress/flate wherever the window allows:
//
//   - It inflates every message with compress/flate, whose 32 KiB window
//     holds any window the peer may use (RFC 7692 §7.1.2: at most 2^15).
//     When the peer's window is smaller, frame.Conn's inflater runs too,
//     since only it enforces the window: a reference beyond it fails the
//     message, as zlib fails it for Autobahn.
//   - It compresses with compress/flate when its own window is 15 bits
//     (no client_max_window_bits, or 15, in the answer; its output is
//     valid for any peer then), and with frame.Conn's compressor, which
//     can limit its window, when the peer asked for a smaller one.
//
// frame.Conn's engine is reached through two Conns over in-memory
// connections, one writing whole compressed messages (whose single frame
// the codec unpacks) and one reading compressed frames the codec packs.
// The fuzzer keeps the wire to itself, so its framing, fragmentation,
// checks and logs stay Autobahn's.
type deflateCodec struct {
	// Compressing: compress/flate (std) or frame.Conn (enc).
	std      *flate.Writer
	stdOut   bytes.Buffer
	stdReset bool // no context takeover for the fuzzer's messages
	enc      *frame.Conn
	encOut   memConn

	// Inflating with compress/flate.
	inf      io.ReadCloser // a flate.Resetter
	infSrc   bytes.Reader
	infIn    []byte
	infOut   []byte
	hist     []byte // the last 32 KiB inflated: the dictionary of the next message
	infReset bool   // no context takeover for the peer's messages

	// Inflating with frame.Conn too, when the peer's window is < 15 bits.
	dec    *frame.Conn
	decIn  memConn
	decBuf []byte
	hdr    []byte

	dead error // the first decompression error: the stream is lost
}

// compressLevel is the fuzzer's DEFLATE effort. Autobahn uses zlib's
// default (6); the fastest level gives the server the same kind of
// streams (Huffman blocks, LZ77 matches across the window and, with
// context takeover, across messages) at a fraction of the cost.
const compressLevel = 1

// maxInflated bounds a decompressed message received by the fuzzer.
const maxInflated = 256 << 20

// windowSize is DEFLATE's largest window (RFC 1951 §2), the size of
// compress/flate's.
const windowSize = 1 << 15

// syncTail ends a sync flush (RFC 7692 §7.2.1): the sender removes it,
// the receiver appends it. finalBlock, an empty stored block with BFINAL
// set, ends the stream so that compress/flate's reader stops with io.EOF.
var (
	syncTail   = []byte{0x00, 0x00, 0xff, 0xff}
	finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}
)

func newDeflateCodec(p frame.DeflateParams, role Role) *deflateCodec {
	c := &deflateCodec{}
	// The fuzzer's compressor: as a client, the client_* parameters apply
	// to it (§7.1.1.2, §7.1.2.2), as a server the server_* ones.
	myReset, myBits := p.ServerNoContextTakeover, p.ServerMaxWindowBits
	theirReset, theirBits := p.ClientNoContextTakeover, p.ClientMaxWindowBits
	if role == RoleClient {
		myReset, myBits, theirReset, theirBits = theirReset, theirBits, myReset, myBits
	}
	if myBits == 0 || myBits == 15 {
		c.std, _ = flate.NewWriter(&c.stdOut, compressLevel)
		c.stdReset = myReset
	} else {
		// The encoding Conn is a server, which does not mask, so the
		// parameters go to its server_* side.
		c.enc = frame.NewConn(&c.encOut, nil, frame.Config{
			Role:             frame.RoleServer,
			Deflate:          &frame.DeflateParams{ServerNoContextTakeover: myReset, ServerMaxWindowBits: myBits},
			CompressionLevel: compressLevel,
			CompressMinSize:  -1, // every message, as Autobahn's sendMessage
			WriteBufferSize:  64 << 10,
		})
	}

	c.inf = flate.NewReader(&c.infSrc)
	c.infReset = theirReset
	if theirBits != 0 && theirBits != 15 {
		// The decoding Conn is a client (it reads unmasked frames), so it
		// inflates with the server_* parameters.
		c.dec = frame.NewConn(&c.decIn, nil, frame.Config{
			Role:           frame.RoleClient,
			Deflate:        &frame.DeflateParams{ServerNoContextTakeover: theirReset, ServerMaxWindowBits: theirBits},
			MaxMessageSize: maxInflated,
			ReadBufferSize: 64 << 10,
		})
	}
	return c
}

// compress returns p compressed as one message: the DEFLATE stream with
// its final empty stored block's 00 00 ff ff removed (§7.2.1). The result
// is valid until the next call.
func (c *deflateCodec) compress(p []byte) ([]byte, error) {
	if c.std != nil {
		c.stdOut.Reset()
		if c.stdReset {
			c.std.Reset(&c.stdOut) // §7.1.1: no context takeover
		}
		if _, err := c.std.Write(p); err != nil {
			return nil, err
		}
		if err := c.std.Flush(); err != nil {
			return nil, err
		}
		out := c.stdOut.Bytes()
		if !bytes.HasSuffix(out, syncTail) {
			return nil, errors.New("autobahn: compress/flate's flush did not end in 00 00 ff ff")
		}
		return out[:len(out)-len(syncTail)], nil
	}
	c.encOut.reset()
	if err := c.enc.WriteMessage(frame.OpBinary, p); err != nil {
		return nil, err
	}
	out := c.encOut.bytes()
	h, n, err := frame.ParseHeader(out)
	if err != nil || !h.Fin || h.Rsv != frame.RSV1 || int64(len(out)-n) != h.Length {
		return nil, errors.New("autobahn: compressor wrote an unexpected frame")
	}
	return out[n:], nil
}

// decompress inflates the payload of a compressed message (all its
// frames' payloads joined). The result is valid until the next call. An
// error (invalid DEFLATE data, a reference beyond the negotiated window, a
// message over maxInflated) leaves the codec unusable.
func (c *deflateCodec) decompress(payload []byte) ([]byte, error) {
	if c.dead != nil {
		return nil, c.dead
	}
	out, err := c.inflateStd(payload)
	if err == nil && c.dec != nil {
		var mine []byte
		if mine, err = c.inflateFrame(payload); err == nil && !bytes.Equal(mine, out) {
			err = errors.New("autobahn: compress/flate and frame.Conn inflate the message differently")
		}
	}
	if err != nil {
		c.dead = err
		return nil, err
	}
	return out, nil
}

// inflateStd inflates a message with compress/flate: the payload, the
// 00 00 ff ff the sender removed, and a final block to end the stream,
// with the last 32 KiB of earlier messages as the dictionary under
// context takeover (RFC 7692 §7.2.2). Input after a block with BFINAL set
// is ignored, as the RFC's example of such a message needs (§7.2.3.4).
func (c *deflateCodec) inflateStd(payload []byte) ([]byte, error) {
	c.infIn = append(append(append(c.infIn[:0], payload...), syncTail...), finalBlock...)
	c.infSrc.Reset(c.infIn)
	var dict []byte
	if !c.infReset {
		dict = c.hist
	}
	if err := c.inf.(flate.Resetter).Reset(&c.infSrc, dict); err != nil {
		return nil, err
	}
	out := c.infOut[:0]
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, max(64<<10, len(out)))
		}
		n, err := c.inf.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > maxInflated {
			return nil, fmt.Errorf("message inflates to more than %d bytes", maxInflated)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				return nil, errors.New("invalid DEFLATE data: the message does not end at a block boundary")
			}
			return nil, fmt.Errorf("invalid DEFLATE data: %v", err)
		}
	}
	c.infOut = out
	if !c.infReset {
		if len(out) >= windowSize {
			c.hist = append(c.hist[:0], out[len(out)-windowSize:]...)
		} else {
			c.hist = append(c.hist, out...)
			if len(c.hist) > windowSize {
				c.hist = c.hist[:copy(c.hist, c.hist[len(c.hist)-windowSize:])]
			}
		}
	}
	return out, nil
}

// inflateFrame inflates a message with frame.Conn's inflater, which holds
// the peer to its negotiated window.
func (c *deflateCodec) inflateFrame(payload []byte) ([]byte, error) {
	c.hdr = frame.AppendHeader(c.hdr[:0], frame.Header{Fin: true, Rsv: frame.RSV1, Opcode: frame.OpBinary, Length: int64(len(payload))})
	c.decIn.feed(c.hdr, payload)
	_, msg, err := c.dec.ReadMessage(c.decBuf)
	if err != nil {
		var ce *frame.CloseError
		if errors.As(err, &ce) && ce.Reason != "" {
			err = errors.New(ce.Reason)
		}
		return nil, err
	}
	c.decBuf = msg
	if c.decIn.len() != 0 {
		return nil, errors.New("autobahn: decompressor left input unread")
	}
	return msg, nil
}

// memConn is the in-memory net.Conn of the codec's Conns: writes collect
// in a buffer, reads consume fed slices (without copying them in) and
// report io.EOF when nothing is left, which the codec never lets happen
// within a message.
type memConn struct {
	out []byte
	in  [][]byte
}

func (m *memConn) reset()        { m.out = m.out[:0] }
func (m *memConn) bytes() []byte { return m.out }

func (m *memConn) feed(bs ...[]byte) {
	for _, b := range bs {
		if len(b) > 0 {
			m.in = append(m.in, b)
		}
	}
}

func (m *memConn) len() int {
	n := 0
	for _, b := range m.in {
		n += len(b)
	}
	return n
}

func (m *memConn) Read(p []byte) (int, error) {
	n := 0
	for len(m.in) > 0 && n < len(p) {
		k := copy(p[n:], m.in[0])
		n += k
		if k == len(m.in[0]) {
			m.in[0] = nil
			m.in = m.in[1:]
		} else {
			m.in[0] = m.in[0][k:]
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (m *memConn) Write(p []byte) (int, error) {
	m.out = append(m.out, p...)
	return len(p), nil
}

func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (m *memConn) RemoteAddr() net.Addr               { return memAddr{} }
func (m *memConn) SetDeadline(t time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "memory" }

// ---- Traffic statistics ----

// trafficStats are Autobahn's TrafficStats for the data messages of the
// open connection: octets on the wire, in frame payloads (compressed) and
// in messages (uncompressed), frames and messages, in both directions.
type trafficStats struct {
	OutgoingOctetsWireLevel      int64
	OutgoingOctetsWebSocketLevel int64
	OutgoingOctetsAppLevel       int64
	OutgoingWebSocketFrames      int64
	OutgoingWebSocketMessages    int64
	IncomingOctetsWireLevel      int64
	IncomingOctetsWebSocketLevel int64
	IncomingOctetsAppLevel       int64
	IncomingWebSocketFrames      int64
	IncomingWebSocketMessages    int64
	PreopenOutgoingOctetsWire    int64
	PreopenIncomingOctetsWire    int64
}

func ratio(num, den int64) any {
	if den <= 0 {
		return nil
	}
	return float64(num) / float64(den)
}

// json returns the statistics under Autobahn's names, with its derived
// ratios: compression ratio = compressed / uncompressed, overhead =
// non-payload / payload (nil when undefined).
func (s trafficStats) json() map[string]any {
	return map[string]any{
		"outgoingOctetsWireLevel":        s.OutgoingOctetsWireLevel,
		"outgoingOctetsWebSocketLevel":   s.OutgoingOctetsWebSocketLevel,
		"outgoingOctetsAppLevel":         s.OutgoingOctetsAppLevel,
		"outgoingCompressionRatio":       ratio(s.OutgoingOctetsWebSocketLevel, s.OutgoingOctetsAppLevel),
		"outgoingWebSocketOverhead":      ratio(s.OutgoingOctetsWireLevel-s.OutgoingOctetsWebSocketLevel, s.OutgoingOctetsWebSocketLevel),
		"outgoingWebSocketFrames":        s.OutgoingWebSocketFrames,
		"outgoingWebSocketMessages":      s.OutgoingWebSocketMessages,
		"preopenOutgoingOctetsWireLevel": s.PreopenOutgoingOctetsWire,
		"incomingOctetsWireLevel":        s.IncomingOctetsWireLevel,
		"incomingOctetsWebSocketLevel":   s.IncomingOctetsWebSocketLevel,
		"incomingOctetsAppLevel":         s.IncomingOctetsAppLevel,
		"incomingCompressionRatio":       ratio(s.IncomingOctetsWebSocketLevel, s.IncomingOctetsAppLevel),
		"incomingWebSocketOverhead":      ratio(s.IncomingOctetsWireLevel-s.IncomingOctetsWebSocketLevel, s.IncomingOctetsWebSocketLevel),
		"incomingWebSocketFrames":        s.IncomingWebSocketFrames,
		"incomingWebSocketMessages":      s.IncomingWebSocketMessages,
		"preopenIncomingOctetsWireLevel": s.PreopenIncomingOctetsWire,
	}
}
