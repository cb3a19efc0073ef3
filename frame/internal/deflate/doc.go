// Package deflate is the compression engine of permessage-deflate
// (RFC 7692): a DEFLATE (RFC 1951) compressor whose LZ77 window can be as
// small as the peer asks, and a decompressor that takes input in pieces as
// frames arrive, gives output in pieces, and stops a message that inflates
// past a size limit.
//
// # DEFLATE in two stages
//
// LZ77 replaces a string that occurred recently with a back-reference: a
// (length, distance) pair meaning "copy length bytes starting distance
// bytes back". "Hello, Hello" becomes the literals H e l l o , space and
// then (5, 7). A reference may overlap what it produces: "aaaaaa" is the
// literal a then (5, 1). Lengths run from 3 to 258, distances from 1 to
// 32768. The compressor finds matches with hash tables: the 4 bytes at each
// position are hashed, head[h] remembers the last position with hash h and
// prev links each position to the one before it with the same hash, so the
// candidates for a match are a short chain to walk (levels 2-9); level 1
// looks only at the latest candidate and skips quickly through data that
// does not repeat. Higher levels walk longer chains and defer each match
// by a byte in case a longer one starts there.
//
// Huffman coding then gives every literal byte and every length a
// variable-length bit code, short for frequent symbols and long for rare
// ones, and likewise every distance; extra bits refine lengths and
// distances within a symbol's range (RFC 1951 §3.2.5). Each block of output
// is sent in whichever form is smallest, computed exactly beforehand:
// stored (raw bytes, for data that does not compress), fixed Huffman codes
// defined by the RFC (for short blocks), or dynamic codes fitted to the
// block and sent, as code lengths, in the block header (RFC 1951 §3.2.7).
// Code lengths are capped at 15 bits (7 for the code that codes the code
// lengths), so the optimal code is flattened when it would be deeper.
//
// # The window
//
// The decompressor must keep as much output as the farthest distance the
// compressor uses: that is the window. DEFLATE allows 32 KiB; RFC 7692
// §7.1.2 lets each side ask the other for a smaller one
// (server_max_window_bits, client_max_window_bits, 8 to 15 bits) to save
// memory on the receiving end. Our Compressor takes the window size as
// given and never emits a distance beyond it; compress/flate always uses
// 32 KiB, which is why this package exists. (zlib cannot compress with an
// 8-bit window and silently uses 9; our Decompressor, made for 8 bits,
// rejects its distances above 256 as the RFC requires.) Our Decompressor
// holds exactly the peer's negotiated window and rejects any distance
// beyond it, or beyond the data seen so far.
//
// Memory follows the window. A Compressor holds about 2^w bytes of history
// plus as much room for input (at least 4 KiB), a hash table of 2^(w+1)
// 16-bit entries, and for levels 2 to 9 a 16-bit chain link per window
// byte: about 20 KiB at w = 8 and 270 KB (level 1) to 330 KB (levels 2-9)
// at w = 15, where compress/flate takes 0.8 to 1.2 MB. A Decompressor holds
// the 2^w window plus 7 KiB of tables: 7.5 KiB at w = 8, 40 KB at w = 15.
// MemorySize reports the exact figure.
//
// # Messages (RFC 7692 §7.2)
//
// All the messages of one direction of a connection form one DEFLATE
// stream. §7.2.1: the sender compresses a message, ends it with a sync
// flush (an empty stored block: the bits 000, padding to a byte boundary,
// then LEN = 0x0000 and NLEN = 0xffff), so that everything so far can be
// decoded, and removes the four bytes 0x00 0x00 0xff 0xff that every sync
// flush ends with. "Hello" becomes f2 48 cd c9 c9 07 00 (§7.2.3.1). §7.2.2:
// the receiver appends the four bytes again before inflating; the stream
// must then be at a block boundary. With context takeover (§7.1.1) the
// next message may refer back into earlier ones, so both ends keep their
// window; an endpoint that announced no_context_takeover resets its
// compressor after each message, and its peer may reset its decompressor.
//
// The Compressor does §7.2.1 in AppendCompress (a whole message) or
// AppendCompressPart (a message written in parts: each call returns the
// compressed bytes ready so far, to go out as frames). The Decompressor
// does §7.2.2 in Decompress and DecompressTo: feed it each frame's payload
// as it arrives and mark the last one; it appends the tail itself.
// Messages ending in a BFINAL block (§7.2.3.4) are accepted too.
//
// # Limits and allocation
//
// A DEFLATE stream can expand 1032 times, so a few megabytes of input can
// become gigabytes of output. The Decompressor counts output per message
// while inflating and stops with ErrTooLarge the moment the limit is
// passed, having used no memory beyond its window and the caller's buffer.
// Malformed input yields an error matching ErrCorrupt and never a panic.
// Neither side allocates in steady state.
package deflate
