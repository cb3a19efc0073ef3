package autobahn

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/ws6455/ws6455/frame"
)

const (
	readSize     = 64 << 10
	copyMaxFrame = 64 << 10 // frames up to this size are copied out of the read buffer
)

// readLoop splits the byte stream into frames and posts them to the loop,
// with the octet counts for the wire log. It only does framing (RFC 6455
// §5.2); the rules that depend on state are checked by the loop. It ends,
// posting evLost, when the connection fails or is closed.
func readLoop(nc net.Conn, q *queue, initial []byte) {
	buf := make([]byte, 0, max(readSize, 2*len(initial)))
	buf = append(buf, initial...)
	dead := false // a header made the rest of the stream unparsable
	if len(initial) > 0 {
		buf, dead = parseFrames(buf, q)
	}
	for {
		if cap(buf)-len(buf) < readSize/2 {
			nb := make([]byte, len(buf), 2*cap(buf)+readSize)
			copy(nb, buf)
			buf = nb
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			q.post(evOctets{n: n, head: append([]byte(nil), buf[len(buf):len(buf)+min(n, 64)]...)})
			if dead {
				continue
			}
			buf = buf[:len(buf)+n]
			buf, dead = parseFrames(buf, q)
		}
		if err != nil {
			q.post(evLost{err: err})
			return
		}
	}
}

// parseFrames posts the complete frames at the start of buf and returns
// the unparsed rest, in a buffer the caller may keep appending to.
func parseFrames(buf []byte, q *queue) (rest []byte, dead bool) {
	off := 0
	aliased := false
	for {
		b := buf[off:]
		h, n, err := frame.ParseHeader(b)
		if frame.IsShortHeader(err) {
			break
		}
		violation := ""
		if err != nil {
			if err != frame.ErrNonMinimalLength {
				// The 64-bit length has its top bit set: Autobahn reports
				// the violation and then waits for a payload that never
				// ends; nothing after it is looked at.
				q.post(evFrame{h: h, violation: "invalid data frame length (>2^63)", fatal: true})
				return nil, true
			}
			// RFC 6455 §5.2: "the minimal number of bytes MUST be used to
			// encode the length". ParseHeader stops before the masking key.
			violation = "invalid data frame length (not using minimal length encoding)"
			if h.Masked {
				if len(b) < n+4 {
					break
				}
				copy(h.Mask[:], b[n:n+4])
				n += 4
			}
		}
		if int64(len(b)-n) < h.Length {
			break
		}
		end := n + int(h.Length)
		var payload []byte
		if h.Length <= copyMaxFrame {
			payload = append([]byte(nil), b[n:end]...)
		} else {
			payload = b[n:end:end]
			aliased = true
		}
		if h.Masked {
			frame.Mask(h.Mask, 0, payload)
		}
		q.post(evFrame{h: h, payload: payload, violation: violation})
		off += end
	}
	if off == 0 {
		return buf, false
	}
	if !aliased {
		n := copy(buf, buf[off:])
		return buf[:n], false
	}
	nb := make([]byte, len(buf)-off, max(readSize, 2*(len(buf)-off)))
	copy(nb, buf[off:])
	return nb, false
}

// processFrame handles one received frame on the loop. It reproduces
// Autobahn's processDataHybi and onFrameBegin/Data/End: every rule broken
// fails the connection (RFC 6455 §7.1.7), and, as in Autobahn with
// failByDrop off, processing goes on, so a second violation drops TCP.
// Once we have failed the connection, data messages are no longer
// delivered to the case; control frames still are.
func (p *Peer) processFrame(ev evFrame) {
	if p.state != StateOpen && p.state != StateClosing {
		return
	}
	h := ev.h
	op := int(h.Opcode)
	p.rxFrameStats[op]++
	if p.createWirelog {
		var mk any
		if h.Masked {
			mk = hex.EncodeToString(h.Mask[:])
		}
		p.wirelog = append(p.wirelog, []any{"RF", []any{len(ev.payload), logText(ev.payload, 64)},
			op, h.Fin, int(h.Rsv >> 4), h.Masked, mk})
	}

	stop := func() bool { return p.state == StateClosed }
	violate := func(reason string) bool {
		return p.protocolViolation(reason) || stop()
	}

	if h.Rsv != 0 && !(p.pmce != nil && h.Rsv == frame.RSV1) {
		// RFC 6455 §5.2: RSV1-3 must be 0 unless an extension gives them
		// a meaning; permessage-deflate gives RSV1 one (RFC 7692 §6).
		if violate(fmt.Sprintf("RSV = %d and no extension negotiated", h.Rsv>>4)) {
			return
		}
	}
	if p.opts.Role == RoleServer {
		if !h.Masked && p.opts.RequireMaskedClientFrames {
			// RFC 6455 §5.1: a server MUST close on an unmasked frame.
			if violate("unmasked client-to-server frame") {
				return
			}
		}
	} else if h.Masked && !p.opts.AcceptMaskedServerFrames {
		// RFC 6455 §5.1: a client MUST close on a masked frame.
		if violate("masked server-to-client frame") {
			return
		}
	}
	if op > 7 {
		// RFC 6455 §5.5: control frames are not fragmented, carry at most
		// 125 bytes, and use opcodes 0x8-0xA.
		if !h.Fin && violate("fragmented control frame") {
			return
		}
		if h.Length > 125 && violate("control frame with payload length > 125 octets") {
			return
		}
		if op != 8 && op != 9 && op != 10 && violate(fmt.Sprintf("control frame using reserved opcode %d", op)) {
			return
		}
		// RFC 6455 §5.5.1: a close body starts with a 2-byte code.
		if op == 8 && h.Length == 1 && violate("received close control frame with payload len 1") {
			return
		}
		// RFC 7692 §6.1: control frames are never compressed.
		if p.pmce != nil && h.Rsv == frame.RSV1 && violate("received compressed control frame [permessage-deflate]") {
			return
		}
	} else {
		if op > 2 && violate(fmt.Sprintf("data frame using reserved opcode %d", op)) {
			return
		}
		// RFC 6455 §5.4: continuation frames only inside a fragmented
		// message, and no new message inside one.
		if !p.insideMessage && op == 0 && violate("received continuation data frame outside fragmented message") {
			return
		}
		if p.insideMessage && op != 0 && violate("received non-continuation data frame while inside fragmented message") {
			return
		}
		// RFC 7692 §6.1: RSV1 marks the first frame of a compressed
		// message only.
		if p.pmce != nil && h.Rsv == frame.RSV1 && p.insideMessage && violate("received continuation data frame with compress bit set [permessage-deflate]") {
			return
		}
	}
	if ev.violation != "" {
		if violate(ev.violation) || ev.fatal {
			return
		}
	}

	if op > 7 {
		p.processControlFrame(op, ev.payload)
		return
	}

	// Data frame.
	if !p.insideMessage {
		p.insideMessage = true
		p.msgOpcode = h.Opcode
		p.msgCompressed = p.pmce != nil && h.Rsv == frame.RSV1
		p.msgBuf = p.msgBuf[:0]
		p.validateUTF8 = h.Opcode == frame.OpText && p.opts.UTF8ValidateIncoming
		p.utf8.Reset()
		p.utf8Rejected = false
	}
	if p.state == StateOpen {
		p.traffic.IncomingWebSocketFrames++
		p.traffic.IncomingOctetsWebSocketLevel += int64(len(ev.payload))
		if !p.msgCompressed {
			p.traffic.IncomingOctetsAppLevel += int64(len(ev.payload))
		}
	}
	if p.msgCompressed {
		p.compressedFrame(ev.payload, h.Fin)
		return
	}
	if p.validateUTF8 && p.checkUTF8(ev.payload, len(p.msgBuf)) {
		return
	}
	if !p.failedByMe {
		if len(p.msgBuf) == 0 && h.Fin && len(ev.payload) > copyMaxFrame {
			p.msgBuf = ev.payload // a whole message in one large frame: no copy
		} else {
			p.msgBuf = append(p.msgBuf, ev.payload...)
		}
	}
	if !h.Fin {
		return
	}
	if p.validateUTF8 && p.checkUTF8End(len(p.msgBuf)) {
		return
	}
	p.insideMessage = false
	if p.state == StateOpen {
		p.traffic.IncomingWebSocketMessages++
	}
	if !p.failedByMe {
		msg := p.msgBuf
		p.msgBuf = nil
		p.run.onMessage(msg, p.msgOpcode == frame.OpBinary)
	}
}

// compressedFrame collects the frames of a compressed message (RFC 7692
// §6.2: the payloads of all its frames form one DEFLATE stream) and, at the
// last one, inflates it, checks text for UTF-8 (RFC 6455 §8.1, on the
// decompressed bytes) and delivers it.
func (p *Peer) compressedFrame(payload []byte, fin bool) {
	if !p.failedByMe {
		if len(p.msgBuf) == 0 && fin && len(payload) > copyMaxFrame {
			p.msgBuf = payload
		} else {
			p.msgBuf = append(p.msgBuf, payload...)
		}
	}
	if !fin {
		return
	}
	p.insideMessage = false
	if p.failedByMe {
		return
	}
	plain, err := p.pmce.decompress(p.msgBuf)
	p.msgBuf = p.msgBuf[:0]
	if err != nil {
		// RFC 7692 §6.2 leaves the reaction open; the data cannot be
		// used, and the fuzzer fails the connection as frame.Conn does.
		p.inflateErr = err.Error()
		p.invalidPayload("invalid compressed message: " + err.Error())
		return
	}
	if p.state == StateOpen {
		p.traffic.IncomingOctetsAppLevel += int64(len(plain))
		p.traffic.IncomingWebSocketMessages++
	}
	if p.validateUTF8 && (p.checkUTF8(plain, 0) || p.checkUTF8End(len(plain)) || p.failedByMe) {
		return
	}
	p.run.onMessage(bytes.Clone(plain), p.msgOpcode == frame.OpBinary)
}

// checkUTF8 validates the next payload bytes of a text message (RFC 6455
// §8.1), at octet index off of the message, and reports whether
// processing must stop (the connection is closed). It follows Autobahn's
// onFrameData with failByDrop off: invalid UTF-8 fails the connection
// (a close frame with 1007) and processing goes on; the validator stays
// in its reject state, so every further non-empty payload of the message
// is invalid again, and so is the message's end (checkUTF8End). That
// second violation, with our close frame already sent, drops TCP. So a
// peer that echoes invalid UTF-8 in one frame gets our close and, before
// its answer can arrive, the end of the TCP connection: the case ends
// with droppedByMe, not wasClean, and no remote close code, as wstest
// records it.
func (p *Peer) checkUTF8(b []byte, off int) bool {
	if p.utf8Rejected {
		if len(b) == 0 {
			return false // Autobahn's validator accepts no input in any state
		}
		p.invalidPayload(fmt.Sprintf("encountered invalid UTF-8 while processing text message at payload octet index %d", off))
		return p.state == StateClosed
	}
	if i, ok := p.utf8.Write(b); !ok {
		p.utf8Rejected = true
		p.invalidPayload(fmt.Sprintf("encountered invalid UTF-8 while processing text message at payload octet index %d", off+i))
		return p.state == StateClosed
	}
	return false
}

// checkUTF8End checks, at the last frame of a text message of n octets,
// that the message ends on a code point boundary (RFC 6455 §8.1), with
// Autobahn's onFrameEnd: a message already found invalid fails here again.
// It reports whether processing must stop.
func (p *Peer) checkUTF8End(n int) bool {
	if p.utf8Rejected || !p.utf8.Complete() {
		p.invalidPayload(fmt.Sprintf("UTF-8 text message payload ended within Unicode code point at payload octet index %d", n))
		return p.state == StateClosed
	}
	return false
}

func (p *Peer) processControlFrame(op int, payload []byte) {
	switch op {
	case 8:
		code := NoCode
		var reason []byte
		if len(payload) > 1 {
			code = int(binary.BigEndian.Uint16(payload))
			if len(payload) > 2 {
				reason = payload[2:]
			}
		}
		p.onCloseFrame(code, reason)
	case 9:
		// RFC 6455 §5.5.2: answer a ping with a pong carrying its payload.
		if p.state == StateOpen {
			p.SendFrame(Frame{Opcode: 10, Payload: payload, Fin: true})
		}
	case 10:
		p.run.onPong(payload)
	}
}

// onCloseFrame is Autobahn's onCloseFrame: check the code and reason, then
// either complete the closing handshake we started or answer the other
// side's close (RFC 6455 §5.5.1, §7.1.5, §7.4).
func (p *Peer) onCloseFrame(code int, reason []byte) {
	if code != NoCode {
		c := code
		p.remoteCloseCode = &c
		if code < 1000 || (code <= 2999 && !allowedCloseCodes[code]) || code >= 5000 {
			// RFC 6455 §7.4.2: reserved or undefined codes are errors.
			if p.protocolViolation(fmt.Sprintf("invalid close code %d", code)) {
				return
			}
		}
	} else {
		p.remoteCloseCode = nil
	}
	if reason == nil {
		p.remoteCloseReason = nil
	} else {
		if !frame.ValidUTF8(reason) {
			if p.invalidPayload("invalid close reason (non-UTF-8 payload)") {
				return
			}
		}
		s := strings.ToValidUTF8(string(reason), "\uFFFD")
		p.remoteCloseReason = &s
	}

	switch p.state {
	case StateClosing:
		// The answer to our close.
		p.closeHSTimer.cancel()
		p.closeHSTimer = nil
		p.wasClean = true
		if p.opts.Role == RoleServer {
			p.DropConnection(true)
		} else if p.opts.ServerConnectionDropTimeout > 0 {
			// RFC 6455 §7.1.1: the server closes the TCP connection first.
			p.serverDropTime = p.after(p.opts.ServerConnectionDropTimeout, p.onServerConnectionDropTimeout)
		}
	case StateOpen:
		// The other side starts the closing handshake: answer it.
		p.wasClean = true
		if p.opts.EchoCloseCodeReason {
			var r []byte
			if p.remoteCloseReason != nil {
				r = []byte(*p.remoteCloseReason)
			}
			p.SendCloseFrame(code, r, true)
		} else {
			p.SendCloseFrame(1000, nil, true)
		}
		if p.opts.Role == RoleServer {
			p.DropConnection(false)
		} else if p.opts.ServerConnectionDropTimeout > 0 {
			// Autobahn 0.10 sets no timer here (its comment says one
			// should "set wasClean = False back again" if the server never
			// drops TCP); without one the case could only end through its
			// own timers, or hang. We wait as long as after our own close.
			p.serverDropTime = p.after(p.opts.ServerConnectionDropTimeout, p.onServerConnectionDropTimeout)
		}
	case StateClosed:
		p.wasClean = false
	}
}
