package autobahn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"
)

// The payloads of sections 12 and 13. Autobahn sends slices of five files
// it ships (a JSON file, a bitmap, a German text, an HTML file and a PDF);
// the port generates stand-ins of the same size, kind (UTF-8 text sent as
// text, or bytes sent as binary) and compressibility, deterministically, so
// that runs are reproducible and nothing third-party is embedded.
// SetPayloadDir makes the cases use Autobahn's own files instead.

// payloadSet is one of Autobahn's WS_COMPRESSION_TESTDATA entries.
type payloadSet struct {
	key    string // Autobahn's key, e.g. "json_data1"
	desc   string // the subsection title
	file   string // Autobahn's file name
	binary bool   // sent as binary messages; else as text, sliced by code points
	size   int    // bytes
	gen    func(size int) []byte

	once  sync.Once
	data  []byte
	runes []int32 // text: byte offset of every code point, and len(data) at the end
	err   error
}

// Autobahn's WS_COMPRESSION_TESTDATA, in its WS_COMPRESSION_TESTDATA_KEYS
// order (the order of subsections 12.1 to 12.5).
var payloadSets = []*payloadSet{
	{key: "json_data1", desc: "Large JSON data file", file: "data1.json", size: 194056, gen: genIndexJSON},
	{key: "lena512", desc: "Picture, bitmap 512x512 grayscale", file: "lena512.bmp", binary: true, size: 263222, gen: genBitmap},
	{key: "gutenberg_faust", desc: "Human readable text, German verse drama", file: "pg2229.txt", binary: true, size: 222218, gen: genVerse},
	{key: "html_data1", desc: "Large HTML file", file: "data1.html", size: 263647, gen: genReportHTML},
	{key: "ooms", desc: "A larger PDF", file: "10.1.1.105.5439.pdf", binary: true, size: 1042328, gen: genPDF},
}

var payloadDir struct {
	mu  sync.Mutex
	dir string
}

// SetPayloadDir makes sections 12 and 13 send slices of Autobahn's own
// test files, read from dir (autobahntestsuite/testdata in Autobahn's
// source: data1.json, lena512.bmp, pg2229.txt, data1.html,
// 10.1.1.105.5439.pdf) instead of the generated stand-ins. It must be
// called before the first case of those sections runs; it checks that
// the files are there.
func SetPayloadDir(dir string) error {
	for _, s := range payloadSets {
		if _, err := os.Stat(filepath.Join(dir, s.file)); err != nil {
			return fmt.Errorf("payload directory: %w", err)
		}
	}
	payloadDir.mu.Lock()
	payloadDir.dir = dir
	payloadDir.mu.Unlock()
	return nil
}

// load returns the set's bytes, generated or read once.
func (s *payloadSet) load() ([]byte, error) {
	s.once.Do(func() {
		payloadDir.mu.Lock()
		dir := payloadDir.dir
		payloadDir.mu.Unlock()
		if dir != "" {
			s.data, s.err = os.ReadFile(filepath.Join(dir, s.file))
		} else {
			s.data = s.gen(s.size)
		}
		if s.err != nil {
			return
		}
		if !s.binary {
			if !utf8.Valid(s.data) {
				s.err = fmt.Errorf("payload %s is not UTF-8 text", s.file)
				return
			}
			s.runes = make([]int32, 0, len(s.data)+1)
			for i := range string(s.data) {
				s.runes = append(s.runes, int32(i))
			}
			s.runes = append(s.runes, int32(len(s.data)))
		}
	})
	return s.data, s.err
}

// units is the length of the payload in Autobahn's units: bytes for binary
// sets, code points for text (Autobahn decodes the text before slicing).
func (s *payloadSet) units() int {
	if s.binary {
		return len(s.data)
	}
	return len(s.runes) - 1
}

// slice returns units [from, to) of the payload, wrapping around the end
// as Autobahn's sendOne does when to <= from. The result aliases the
// payload when it does not wrap.
func (s *payloadSet) slice(from, to int) []byte {
	off := func(i int) int {
		if s.binary {
			return i
		}
		return int(s.runes[i])
	}
	if to > from {
		return s.data[off(from):off(to)]
	}
	out := make([]byte, 0, len(s.data)-off(from)+off(to))
	return append(append(out, s.data[off(from):]...), s.data[:off(to)]...)
}

// ---- Generators ----
//
// Each fills exactly size bytes from a fixed seed. The compression ratios
// (zlib level 6) are close to those of Autobahn's files: JSON 0.04, bitmap
// 0.87, verse 0.39, HTML 0.06, PDF 0.76.

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// padTo cuts or pads b with fill to exactly size bytes.
func padTo(b []byte, size int, fill byte) []byte {
	if len(b) >= size {
		return b[:size]
	}
	return append(b, bytes.Repeat([]byte{fill}, size-len(b))...)
}

// reportAgents are made-up server names for the report-like payloads.
var reportAgents = []string{"EchoServer/0.9.1", "Lighthouse 2.4", "ws-relay/1.17.3", "Harbor WS 5.0b2", "tinyws/0.3"}

// caseIDsForPayload returns Autobahn-like case ids 1.1.1 ... for the
// report-like payloads, independent of the registry.
func caseIDsForPayload() []string {
	var ids []string
	for sec, subs := range [][]int{{8, 8}, {11}, {7}, {5, 5}, {20}, {1, 5, 4, 4, 6, 6, 12, 3, 3}, {6, 0, 6, 0, 1, 0, 13, 0, 9, 0, 0, 0, 6}} {
		for sub, n := range subs {
			for k := range n {
				if len(subs) == 1 {
					ids = append(ids, fmt.Sprintf("%d.%d", sec+1, k+1))
				} else {
					ids = append(ids, fmt.Sprintf("%d.%d.%d", sec+1, sub+1, k+1))
				}
			}
		}
	}
	return ids
}

// genIndexJSON writes a report index in the schema of Autobahn's
// index.json: agent → case → behavior, duration, close code, report file.
func genIndexJSON(size int) []byte {
	rng := newRand(1)
	var b bytes.Buffer
	b.WriteString("{\n")
	closing := "\n   }\n}\n"
	ids := caseIDsForPayload()
	firstAgent := true
	for round := 0; b.Len() < size; round++ {
		agent := reportAgents[round%len(reportAgents)]
		if round >= len(reportAgents) {
			agent = fmt.Sprintf("%s-r%d", agent, round/len(reportAgents))
		}
		if !firstAgent {
			b.WriteString("\n   },\n")
		}
		firstAgent = false
		fmt.Fprintf(&b, "   %q: {\n", agent)
		file := strings.NewReplacer("/", "_", ".", "_", " ", "_", "-", "_").Replace(strings.ToLower(agent))
		for i, id := range ids {
			behavior, closeB, code := "OK", "OK", "1000"
			switch v := rng.IntN(40); {
			case v == 0:
				behavior = "FAILED"
			case v == 1:
				behavior, code = "NON-STRICT", "1002"
			case v == 2:
				closeB, code = "WRONG CODE", "1006"
			case v == 3:
				behavior = "INFORMATIONAL"
			}
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, "      %q: {\n         \"behavior\": %q,\n         \"behaviorClose\": %q,\n         \"duration\": %d,\n         \"remoteCloseCode\": %s,\n         \"reportfile\": \"%s_case_%s.json\"\n      }",
				id, behavior, closeB, rng.IntN(200)+1, code, file, strings.ReplaceAll(id, ".", "_"))
			if b.Len() > size-len(closing)-400 {
				break
			}
		}
		if b.Len() > size-len(closing)-400 {
			break
		}
	}
	b.WriteString(closing)
	return padTo(b.Bytes(), size, ' ')
}

// genReportHTML writes a report page like Autobahn's index.html: a style
// sheet, a result table, case descriptions, with a few non-ASCII
// characters (the UTF-8 test strings of section 6).
func genReportHTML(size int) []byte {
	rng := newRand(2)
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html>\n   <head>\n      <meta charset=\"utf-8\" />\n      <style lang=\"css\">\n")
	for _, sel := range []string{"body", "p#intro", "p#intro a", ".block", "p.case_text_block", "pre.http_dump", "td.case_ok", "td.case_failed", "td.case_non_strict", "td.case_info", "td.case_unimplemented", "td.case_missing", "a.up", "table#agent_case_results"} {
		fmt.Fprintf(&b, "%s {\n   color: #%03x;\n   padding: %dpx;\n   margin: %dpx %dpx;\n   font-size: 0.%dem;\n}\n\n", sel, rng.IntN(4096), rng.IntN(20), rng.IntN(20), rng.IntN(40), rng.IntN(9)+1)
	}
	b.WriteString("      </style>\n   </head>\n   <body>\n")
	b.WriteString("      <p id=\"intro\">Test strings: Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!! and \u03ba\u1f79\u03c3\u03bc\u03b5.</p>\n")
	b.WriteString("      <p id=\"intro\">Test strings: Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!! and \u03ba\u1f79\u03c3\u03bc\u03b5.</p>\n")
	b.WriteString("      <table id=\"agent_case_results\">\n")
	tail := "      </table>\n   </body>\n</html>\n"
	ids := caseIDsForPayload()
	for round := 0; b.Len() < size-len(tail)-2000; round++ {
		id := ids[round%len(ids)]
		u := strings.ReplaceAll(id, ".", "_")
		fmt.Fprintf(&b, "         <tr class=\"agent_case_result_row\">\n            <td class=\"case\"><a href=\"#case_desc_%s\">Case %s</a></td>\n", u, id)
		for _, agent := range reportAgents {
			file := strings.NewReplacer("/", "_", ".", "_", " ", "_", "-", "_").Replace(strings.ToLower(agent))
			cls, text := "case_ok", "Pass"
			if rng.IntN(30) == 0 {
				cls, text = "case_failed", "Fail"
			}
			fmt.Fprintf(&b, "            <td class=\"%s\"><a href=\"%s_case_%s.html\">%s</a><br/><span class=\"case_duration\">%d ms [%.3f/%.3f]</span></td><td class=\"close close_hide %s\"><span class=\"close_code\">1000</span></td>\n",
				cls, file, u, text, rng.IntN(400)+1, rng.Float64(), rng.Float64(), cls)
		}
		b.WriteString("         </tr>\n")
	}
	b.WriteString(tail)
	out := b.Bytes()
	// Pad inside the document, before the closing tags.
	pad := size - len(out)
	if pad < 0 {
		return out[:size]
	}
	i := len(out) - len(tail)
	return append(append(append([]byte(nil), out[:i]...), bytes.Repeat([]byte{' '}, pad)...), out[i:]...)
}

// genBitmap writes an 8-bit grayscale BMP of 512x512 pixels (1078 header
// and palette bytes, then the rows): smooth shapes with sensor-like noise,
// which DEFLATE shrinks little.
func genBitmap(size int) []byte {
	const w, h = 512, 512
	rng := newRand(3)
	b := make([]byte, 0, size)
	b = append(b, 'B', 'M')
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 1078)
	b = binary.LittleEndian.AppendUint32(b, 40)
	b = binary.LittleEndian.AppendUint32(b, w)
	b = binary.LittleEndian.AppendUint32(b, h)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 8)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, w*h)
	b = binary.LittleEndian.AppendUint32(b, 2835)
	b = binary.LittleEndian.AppendUint32(b, 2835)
	b = binary.LittleEndian.AppendUint32(b, 256)
	b = binary.LittleEndian.AppendUint32(b, 0)
	for i := range 256 {
		b = append(b, byte(i), byte(i), byte(i), 0)
	}
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/w, float64(y)/h
			v := 110 + 60*math.Sin(6*fx+2*math.Sin(5*fy)) + 40*math.Cos(9*fy*fx+3*fy) + 20*math.Sin(23*fx*fy)
			v += rng.NormFloat64() * 4.2
			b = append(b, byte(min(max(v, 0), 255)))
		}
	}
	return padTo(b, size, 0)
}

// genVerse writes a German-looking verse drama in UTF-8 with a byte order
// mark: speakers, stage directions and lines of words drawn from a
// generated vocabulary with umlauts and ß.
func genVerse(size int) []byte {
	rng := newRand(4)
	onsets := []string{"b", "d", "f", "g", "h", "k", "l", "m", "n", "r", "s", "t", "w", "z", "sch", "st", "br", "gr", "fl", "kr", "tr", "pf", "sp", "ch", "", "", ""}
	vowels := []string{"a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au", "ie", "eu", "e", "e", "a"}
	codas := []string{"", "", "n", "r", "s", "t", "ch", "ng", "ß", "ck", "nd", "rt", "lt", "m", "st", "cht"}
	suffixes := []string{"", "", "", "en", "er", "e", "t", "est", "lich", "ung", "heit", "keit", "nis"}
	vocab := make([]string, 8000)
	for i := range vocab {
		var w strings.Builder
		for range 1 + rng.IntN(3) {
			w.WriteString(onsets[rng.IntN(len(onsets))])
			w.WriteString(vowels[rng.IntN(len(vowels))])
			w.WriteString(codas[rng.IntN(len(codas))])
		}
		w.WriteString(suffixes[rng.IntN(len(suffixes))])
		vocab[i] = w.String()
	}
	common := []string{"und", "die", "der", "ich", "nicht", "das", "du", "zu", "mich", "mir", "ist", "ein", "es", "so", "sich", "mit", "den", "wie", "dem", "auf", "nur", "was", "doch", "wohl", "noch"}
	speakers := []string{"FAUST", "MEPHISTOPHELES", "WAGNER", "GRETCHEN", "MARTHE", "CHOR DER ENGEL", "DER HERR", "SCHÜLER", "LIESCHEN", "VALENTIN"}
	zipf := rand.NewZipf(rng, 1.05, 8, uint64(len(vocab)-1))
	var b bytes.Buffer
	b.WriteString("\ufeffDer Tragödie erster Teil (generated verse)\r\n\r\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "\r\n%s:\r\n", speakers[rng.IntN(len(speakers))])
		if rng.IntN(6) == 0 {
			fmt.Fprintf(&b, "(%s %s %s.)\r\n", capitalize(vocab[rng.IntN(len(vocab))]), common[rng.IntN(len(common))], vocab[rng.IntN(len(vocab))])
		}
		for range 2 + rng.IntN(9) {
			n := 4 + rng.IntN(5)
			for j := range n {
				var w string
				if rng.IntN(6) == 0 {
					w = common[rng.IntN(len(common))]
				} else if rng.IntN(3) == 0 {
					w = vocab[rng.IntN(len(vocab))]
				} else {
					w = vocab[zipf.Uint64()]
				}
				if j == 0 || rng.IntN(5) == 0 {
					w = capitalize(w)
				}
				b.WriteString(w)
				if j < n-1 {
					if rng.IntN(9) == 0 {
						b.WriteString(",")
					}
					b.WriteString(" ")
				}
			}
			b.WriteString([]string{",", ".", "!", "?", ";", "", ","}[rng.IntN(7)])
			b.WriteString("\r\n")
		}
	}
	out := b.Bytes()[:size]
	// Do not end inside a UTF-8 sequence (the file is UTF-8 text).
	for i := size - 1; i >= 0 && i >= size-4; i-- {
		if utf8.RuneStart(out[i]) {
			if !utf8.FullRune(out[i:]) {
				for j := i; j < size; j++ {
					out[j] = '\n'
				}
			}
			break
		}
	}
	return out
}

func capitalize(w string) string {
	r, k := utf8.DecodeRuneInString(w)
	return strings.ToUpper(string(r)) + w[k:]
}

var pdfWords = []string{"memory", "model", "the", "of", "cache", "coherence", "protocol", "processor", "latency", "bandwidth", "section", "figure", "results", "we", "show", "that", "and", "a", "in", "is", "simulation", "workload", "table", "system"}

// genPDF writes a PDF-like file: object dictionaries and a cross-reference
// table around streams of already compressed (random) bytes.
func genPDF(size int) []byte {
	rng := newRand(5)
	var b bytes.Buffer
	b.WriteString("%PDF-1.2\n")
	var offsets []int
	obj := 1
	for b.Len() < size-40000 {
		offsets = append(offsets, b.Len())
		n := 2000 + rng.IntN(9000)
		if rng.IntN(4) == 0 {
			// An uncompressed content stream: text operators.
			fmt.Fprintf(&b, "%d 0 obj\n<</Length %d 0 R>>\nstream\n", obj, obj+1)
			for start := b.Len(); b.Len()-start < n; {
				fmt.Fprintf(&b, "BT /F%d %d Tf %d %d Td (%s %s) Tj ET\n", rng.IntN(4)+1, 8+rng.IntN(6), 72+rng.IntN(400), 40+rng.IntN(700),
					pdfWords[rng.IntN(len(pdfWords))], pdfWords[rng.IntN(len(pdfWords))])
			}
		} else {
			fmt.Fprintf(&b, "%d 0 obj\n<</Length %d 0 R/Filter /FlateDecode>>\nstream\n", obj, obj+1)
			for range n / 8 {
				b.Write(binary.LittleEndian.AppendUint64(nil, rng.Uint64()))
			}
		}
		b.WriteString("\nendstream\nendobj\n")
		obj++
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%d\nendobj\n", obj, n)
		obj++
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n<</Type/Page/Parent 3 0 R/Resources %d 0 R/Contents %d 0 R/MediaBox[0 0 612 792]>>\nendobj\n", obj, obj+1, obj-2)
		obj++
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n<</ProcSet[/PDF/Text]/Font<</F1 %d 0 R/F2 %d 0 R/F3 %d 0 R>>/ExtGState<</GS1 %d 0 R>>>>\nendobj\n", obj, 4+rng.IntN(40), 4+rng.IntN(40), 4+rng.IntN(40), 4+rng.IntN(40))
		obj++
		for range rng.IntN(3) {
			offsets = append(offsets, b.Len())
			fmt.Fprintf(&b, "%d 0 obj\n<</Type/Font/Subtype/Type1/Name/F%d/FirstChar 32/LastChar 255/Widths %d 0 R/BaseFont/Times-Roman/Encoding/WinAnsiEncoding>>\nendobj\n", obj, rng.IntN(60), obj+1)
			obj++
		}
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	trailer := fmt.Sprintf("trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	out := b.Bytes()
	if pad := size - len(out) - len(trailer); pad > 0 {
		out = append(out, bytes.Repeat([]byte{'\n'}, pad)...)
	}
	return padTo(append(out, trailer...), size, '\n')
}
