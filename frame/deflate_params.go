package frame

// DeflateParams are the negotiated parameters of the permessage-deflate
// extension (RFC 7692 §7.1), as agreed by the opening handshake. The
// handshake package produces them; Conn applies them.
//
// Window bits are 8 to 15; zero means the default, 15 (a 32 KiB window).
type DeflateParams struct {
	// ServerNoContextTakeover: the server resets its compressor after each
	// message (RFC 7692 §7.1.1.1).
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client resets its compressor after each
	// message (RFC 7692 §7.1.1.2).
	ClientNoContextTakeover bool
	// ServerMaxWindowBits bounds the LZ77 window of the server's compressor
	// (RFC 7692 §7.1.2.1).
	ServerMaxWindowBits int
	// ClientMaxWindowBits bounds the LZ77 window of the client's compressor
	// (RFC 7692 §7.1.2.2).
	ClientMaxWindowBits int
}
