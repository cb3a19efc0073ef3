package handshake

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
)

// GUID is the string RFC 6455 §1.3 and §4.2.2 append to the client's key.
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key
// (RFC 6455 §4.2.2 step 5.4): the base64 of the SHA-1 of the key, as sent
// (not decoded), concatenated with GUID.
//
//	AcceptKey("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
func AcceptKey(key string) string {
	var buf [24 + len(GUID)]byte
	h := sha1.New()
	if len(key) == 24 {
		n := copy(buf[:], key)
		copy(buf[n:], GUID)
		h.Write(buf[:])
	} else {
		h.Write([]byte(key))
		h.Write([]byte(GUID))
	}
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// NewKey returns a fresh Sec-WebSocket-Key: 16 bytes from crypto/rand,
// base64-encoded (RFC 6455 §4.1 item 7: "The nonce MUST be selected
// randomly for each connection").
func NewKey() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+): it crashes the program instead.
	return base64.StdEncoding.EncodeToString(b[:])
}

// validKey reports whether key is the base64 of exactly 16 bytes (RFC 6455
// §4.2.1 item 5). Padding bits need not be zero: the RFC's own example
// "AQIDBAUGBwgJCgsMDQ4PEC==" has them set.
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	for i := range len(key) {
		// Decode skips CR and LF; refuse them (and anything else foreign).
		c := key[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	var dst [18]byte
	n, err := base64.StdEncoding.Decode(dst[:], []byte(key))
	return err == nil && n == 16
}
