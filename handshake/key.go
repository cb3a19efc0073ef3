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
	var a [acceptLen]byte
	return string(appendAccept(a[:0], key))
}

// acceptLen is the length of a Sec-WebSocket-Accept value: the base64 of
// a 20-byte SHA-1 sum.
const acceptLen = 28

// appendAccept appends AcceptKey(key) to dst, without allocating when the
// key has the usual 24 characters and dst has room.
func appendAccept(dst []byte, key string) []byte {
	var sum [sha1.Size]byte
	if len(key) == 24 {
		var buf [24 + len(GUID)]byte
		copy(buf[copy(buf[:], key):], GUID)
		sum = sha1.Sum(buf[:])
	} else {
		sum = sha1.Sum([]byte(key + GUID))
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
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
