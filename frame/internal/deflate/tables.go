package deflate

// Alphabet sizes and limits of RFC 1951 §3.2.5 and §3.2.7.
const (
	minMatch      = 3   // shortest back-reference DEFLATE can express
	maxMatch      = 258 // longest back-reference
	maxDistance   = 32768
	endOfBlock    = 256 // literal/length symbol that ends a block
	numLitLen     = 286 // literal/length symbols that may appear (0..285)
	numLitLenAll  = 288 // including the two unused symbols of the fixed code
	numDist       = 30  // distance symbols that may appear (0..29)
	numDistAll    = 32  // including the two unused symbols of the fixed code
	numCodeLen    = 19  // code length alphabet (RFC 1951 §3.2.7)
	maxCodeBits   = 15  // longest literal/length or distance code
	maxCLCodeBits = 7   // longest code length code
	maxStored     = 65535
)

// codeLenOrder is the order in which the lengths of the code length code
// are transmitted (RFC 1951 §3.2.7): the ones most likely to be zero come
// last so that HCLEN can trim them.
var codeLenOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// Length symbols 257..285 stand for a base length plus extra bits, and
// distance symbols 0..29 for a base distance plus extra bits
// (RFC 1951 §3.2.5). The tables are derived in init rather than typed in:
// each extra-bit count is the one the RFC lists, and each base follows the
// previous base plus the range its extra bits cover.
var (
	lenBase   [29]uint16
	lenExtra  [29]uint8
	distBase  [numDist]uint16
	distExtra [numDist]uint8

	// lenSym maps length-3 (0..255) to its length symbol index (0..28,
	// i.e. symbol 257+index).
	lenSym [256]uint8
	// distSym maps distance-1 to its distance symbol: distSym[d] for
	// d < 256, distSym[256+d>>7] otherwise (distances above 256 share
	// symbols in runs of at least 128).
	distSym [512]uint8
)

// init builds every derived table, in dependency order: the code tables,
// then the fixed Huffman code, then the fixed decoding tables.
func init() {
	initCodeTables()
	initFixedCodes()
	initFixedTables()
	initEntropyTable()
}

func initCodeTables() {
	base := 3
	for i := range 28 {
		e := 0
		if i >= 8 {
			e = (i - 4) / 4
		}
		lenBase[i], lenExtra[i] = uint16(base), uint8(e)
		base += 1 << e
	}
	lenBase[28], lenExtra[28] = 258, 0 // symbol 285 is exactly 258
	for i := 27; i >= 0; i-- {
		for l := int(lenBase[i]); l < int(lenBase[i])+1<<lenExtra[i] && l <= 257; l++ {
			lenSym[l-3] = uint8(i)
		}
	}
	lenSym[255] = 28

	base = 1
	for i := range numDist {
		e := 0
		if i >= 4 {
			e = i/2 - 1
		}
		distBase[i], distExtra[i] = uint16(base), uint8(e)
		for d := base; d < base+1<<e; d++ {
			if d <= 256 {
				distSym[d-1] = uint8(i)
			} else {
				distSym[256+(d-1)>>7] = uint8(i)
			}
		}
		base += 1 << e
	}
}

// distCode returns the distance symbol for distance-1 (0..32767).
func distCode(d uint32) uint32 {
	if d < 256 {
		return uint32(distSym[d])
	}
	return uint32(distSym[256+d>>7])
}
