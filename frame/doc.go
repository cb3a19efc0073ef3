// Package frame implements the WebSocket protocol after the opening
// handshake, RFC 6455 §5 to §8: the frame format, masking, fragmentation,
// control frames, the closing handshake, status codes and UTF-8 checking,
// for servers and clients alike. Conn reads and writes messages over a
// net.Conn; the lower layers (AppendHeader, ParseHeader, Mask,
// UTF8Validator, ParseClosePayload) are usable alone. It imports only the
// standard library.
//
// # Frames (§5.2)
//
// Everything after the handshake is a sequence of frames. A frame is a 2 to
// 14 byte header and a payload:
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
//	|                          Payload Data                         |
//	+---------------------------------------------------------------+
//
// FIN marks the last frame of a message. RSV1-3 MUST be 0 unless an
// extension gives them a meaning (RSV1 is "compressed" under RFC 7692).
// The opcode says what the payload is: 0x1 text, 0x2 binary, 0x0 the
// continuation of a fragmented message, 0x8 close, 0x9 ping, 0xA pong;
// 0x3-0x7 and 0xB-0xF are reserved and fail the connection. The length is
// 7 bits for 0-125, the value 126 and 16 more bits for up to 65535, or 127
// and 64 more bits (most significant bit 0) beyond; the shortest form MUST
// be used, so ParseHeader refuses "126, 0, 124" (the RFC's example) as a
// protocol error.
//
// The examples of §5.7, byte by byte (TestExamples_RFC6455_5_7 checks each
// against AppendHeader, ParseHeader, Mask and a Conn):
//
//	81 05 48 65 6c 6c 6f
//	   A single-frame unmasked text message "Hello": FIN + text (0x81),
//	   no mask and length 5 (0x05), then the five bytes.
//
//	81 85 37 fa 21 3d 7f 9f 4d 51 58
//	   The same message masked, as a client sends it: MASK bit + length 5
//	   (0x85), masking key 37 fa 21 3d, then "Hello" XOR the key.
//
//	01 03 48 65 6c
//	80 02 6c 6f
//	   A fragmented unmasked text message: "Hel" in a text frame without
//	   FIN (0x01), "lo" in a final continuation frame (0x80).
//
//	89 05 48 65 6c 6c 6f
//	8a 85 37 fa 21 3d 7f 9f 4d 51 58
//	   An unmasked ping with body "Hello" and the masked pong that answers
//	   it with the same body.
//
//	82 7e 01 00 [256 bytes]
//	   256 bytes of binary data in one unmasked frame: length 126, then
//	   0x0100 in 16 bits.
//
//	82 7f 00 00 00 00 00 01 00 00 [65536 bytes]
//	   64 KiB of binary data: length 127, then 0x10000 in 64 bits.
//
// # Masking (§5.1, §5.3)
//
// A client MUST mask every frame it sends, with a fresh unpredictable
// 32-bit key per frame; a server MUST NOT mask. Each side fails the
// connection (1002) when the other breaks the rule. Masking XORs payload
// byte i with key byte i mod 4; Mask does it eight bytes at a time and
// takes the position within the payload, so a payload can be unmasked in
// the pieces it arrives in. A client Conn draws keys from a ChaCha8
// generator seeded from crypto/rand.
//
// # Messages and fragmentation (§5.4, §5.6)
//
// A message is one frame with FIN set, or a text or binary frame without
// FIN followed by continuation frames, the last with FIN. Control frames
// (close, ping, pong) may come between the fragments; frames of two data
// messages may not interleave. Conn.ReadMessage reassembles a message into
// the caller's buffer; Conn.NextReader streams it. Conn.WriteMessage sends
// one frame, Conn.WriteFragmented splits a payload into frames of a given
// size, and Conn.NextWriter sends frames as its buffer fills. A text
// message MUST be valid UTF-8 as a whole: a code point may be split
// between fragments.
//
// # Control frames (§5.5)
//
// Control frames are final and carry at most 125 bytes. A ping MUST be
// answered with a pong that carries the same payload (Conn does it, also
// between the fragments of a message and while a writer holds the
// connection); a pong may also be sent unsolicited, as a heartbeat, and
// needs no answer.
//
// # Closing (§5.5.1, §7)
//
// A close frame's body is empty or a 2-byte status code (§7.4) and a UTF-8
// reason: 1000 normal, 1001 going away, 1002 protocol error, 1003
// unsupported data, 1007 invalid payload (bad UTF-8), 1008 policy, 1009
// message too big, 1010 missing extension, 1011 internal error (and the
// registered 1012-1014), 3000-4999 for libraries and applications. 1005
// (no code) and 1006 (no close frame at all) are only ever reported
// locally, never sent. An endpoint that receives a close frame answers with
// one (usually echoing the code), sends no more data frames, and the TCP
// connection is closed — by the server first, so that the client does not
// hold the TIME_WAIT state; a client waits for the server's close (§7.1.1).
// Conn.CloseWith runs this handshake; a read then returns a *CloseError
// with the peer's code (§7.1.5), and CloseStatus extracts the code from any
// error. Close and CloseWith return nil only when the handshake completed.
//
// The handshake has one clock: CloseTimeout after this end sends, or must
// answer, a close frame, the TCP connection is closed whatever the peer
// does and whatever write is still in progress (1006, ErrCloseTimeout).
// An endpoint may finish sending before it answers a close (§5.5.1);
// Conn.SetCloseHandler lets an application do that.
//
// # Faults and their bounds
//
// A write that fails or times out (Config.WriteTimeout: a peer that stopped
// reading, also one flooding pings whose pongs it never reads) fails the
// connection at once: TCP is closed and reads report 1006 with a
// *WriteError. A peer that trickles a frame is cut by the progress rule
// (Config.MessageTimeout and MinMessageRate, see progress.go) with 1008.
// Memory for a message grows with the bytes that have arrived, never with
// the length a header declares.
//
// # Failing the connection (§7.1.7, §8.1, §10.4)
//
// Any violation fails the connection: the Conn sends a close frame with the
// matching code (1002 for the frame rules, 1007 for invalid UTF-8 in a
// text message or a close reason, 1009 for a message over the configured
// limit), stops processing input, and closes TCP. It decides as early as
// possible: a header that declares too large a payload is refused before
// any payload is read, and UTF8Validator rejects the first byte that cannot
// continue a well-formed sequence, so invalid text fails in the frame where
// it appears, before the rest of that frame has arrived.
//
// # Conn
//
// NewConn takes the net.Conn of a completed handshake and the bytes read
// past it. One goroutine reads; any number may write (whole messages are
// written one after another, control frames go between fragments). An
// idle Conn holds no buffer: on TCP it waits for readability through
// syscall.RawConn before taking a pooled read buffer. Steady-state
// ReadMessage and WriteMessage do not allocate.
package frame
