package autobahn

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ws6455/ws6455/frame"
)

// Section 6: UTF-8 handling of text messages (RFC 6455 §5.6, §8.1). A text
// message that is not valid UTF-8 must fail the connection with 1007, as
// soon as the invalid byte is seen ("fail fast", 6.4.x).

func init() { section6() }

// kosme is "κόσμε", the Greek word Markus Kuhn's UTF-8 test file opens with.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// failInvalid is the expected end of the invalid UTF-8 cases: the other side
// fails with 1007; if we have to close instead, it never noticed.
var failInvalid = ExpectedClose{ClosedByMe: false, CloseCode: []int{1007}, RequireClean: false, ClosedByWrongEndpointIsFatal: true}

func section6() {
	echoText := func(id, desc string, send func(r *Run), payload string) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "The message comes back. Clean close with normal code.",
			Open: func(r *Run) {
				r.Expect(OK, TextMessage(payload))
				r.ExpectClose(closeNormal)
				send(r)
				r.P.CloseAfter(1 * sec)
			},
		})
	}
	echoText("6.1.1", "Send a text message with an empty payload.", func(r *Run) {
		r.P.SendFrame(Fr(opText, ""))
	}, "")
	echoText("6.1.2", "Send a text message in 3 fragments, all empty.", func(r *Run) {
		r.P.SendFrame(Fr(opText, "").NoFin())
		r.P.SendFrame(Fr(opCont, "").NoFin())
		r.P.SendFrame(Fr(opCont, ""))
	}, "")
	echoText("6.1.3", "Send a text message in 3 fragments, the first and last empty.", func(r *Run) {
		r.P.SendFrame(Fr(opText, "").NoFin())
		r.P.SendFrame(Fr(opCont, "middle frame payload").NoFin())
		r.P.SendFrame(Fr(opCont, ""))
	}, "middle frame payload")

	const hello = "Hello-µ@ßöäüàá-UTF-8!!"
	const hello1, hello2 = "Hello-µ@ßöä", "üàá-UTF-8!!"
	echoText("6.2.1", "Send a valid UTF-8 text message in one frame.<br><br>MESSAGE:<br>"+hello+"<br>"+hex.EncodeToString([]byte(hello)), func(r *Run) {
		r.P.SendMessage([]byte(hello), false, 0)
	}, hello)
	echoText("6.2.2", "Send a valid UTF-8 text message in 2 fragments split on a code point boundary.<br><br>FRAGMENTS:<br>"+
		hello1+" ("+hex.EncodeToString([]byte(hello1))+")<br>"+hello2+" ("+hex.EncodeToString([]byte(hello2))+")", func(r *Run) {
		r.P.SendFrame(Fr(opText, hello1).NoFin())
		r.P.SendFrame(Fr(opCont, hello2))
	}, hello1+hello2)
	echoText("6.2.3", "Send a valid UTF-8 text message in frames of 1 byte, so that frames end inside code points.<br><br>MESSAGE:<br>"+hello+"<br>"+hex.EncodeToString([]byte(hello)), func(r *Run) {
		r.P.SendMessage([]byte(hello), false, 1)
	}, hello)
	echoText("6.2.4", "Send a valid UTF-8 text message in frames of 1 byte, so that frames end inside code points.<br><br>MESSAGE:<br>"+kosme+"<br>"+hex.EncodeToString([]byte(kosme)), func(r *Run) {
		r.P.SendMessage([]byte(kosme), false, 1)
	}, kosme)

	// κόσμε, then a UTF-16 surrogate (ED A0 80, invalid at its second
	// byte, the 13th of the message), then "edited".
	invalid := kosme + "\xed\xa0\x80" + "edited"
	for i, frag := range []int{0, 1} {
		how := "in one frame"
		if frag == 1 {
			how = "in frames of 1 byte"
		}
		register(&Def{
			ID:          fmt.Sprintf("6.3.%d", i+1),
			Description: "Send an invalid UTF-8 text message " + how + ".<br><br>MESSAGE:<br>" + hex.EncodeToString([]byte(invalid)),
			Expectation: "The connection is failed at once (1007): the payload is not valid UTF-8.",
			Open: func(r *Run) {
				r.Expect(OK)
				r.ExpectClose(failInvalid)
				r.P.SendMessage([]byte(invalid), false, frag)
				r.P.KillAfter(1 * sec)
			},
		})
	}

	section6FailFast()
	section6Sequences()
}

// section6FailFast registers 6.4.1-6.4.4: a text message whose payload
// turns invalid in its middle part (F4 90 80 80 encodes 0x110000, above
// U+10FFFF), sent in 3 parts with a 1 s pause after the first and second.
// A receiver that fails fast fails during the first pause; one that fails
// only at the end of the message or frame is NON-STRICT.
func section6FailFast() {
	const part1, part2, part3 = kosme, "\xf4\x90\x80\x80", "edited"
	const payload = part1 + part2 + part3
	// 6.4.1, 6.4.3: parts as above. 6.4.2, 6.4.4: the second part is only
	// the byte that makes the payload invalid (0x90, byte 13).
	splits := [][3]string{{part1, part2, part3}, {payload[:12], payload[12:13], payload[13:]}}
	for i, asChops := range []bool{false, false, true, true} {
		parts := splits[i%2]
		unit := "frames"
		if asChops {
			unit = "pieces of one frame"
		}
		register(&Def{
			ID: fmt.Sprintf("6.4.%d", i+1),
			Description: fmt.Sprintf("Send an invalid UTF-8 text message as 3 %s: the first valid, a 1 s pause, the second making the payload invalid, a 1 s pause, the rest.<br><br>PARTS:<br>%s<br>%s<br>%s",
				unit, hex.EncodeToString([]byte(parts[0])), hex.EncodeToString([]byte(parts[1])), hex.EncodeToString([]byte(parts[2]))),
			Expectation: "The first part is accepted, so the first pause passes. The second part is rejected at once (fail fast on UTF-8, RFC 6455 §8.1): the connection is failed with 1007 before the second pause ends. Failing only at the end is NON-STRICT.",
			Open: func(r *Run) {
				r.Expect(OK, Timeout("A"))
				r.Expect(NonStrict, Timeout("A"), Timeout("B"))
				r.ExpectClose(failInvalid)
				send := func(s string) { r.P.SendFrame(Fr(opCont, s).NoFin()) }
				if asChops {
					r.P.BeginMessage(false)
					r.P.BeginMessageFrame(int64(len(payload)))
					r.P.SendMessageFrameData([]byte(parts[0]))
					send = func(s string) { r.P.SendMessageFrameData([]byte(s)) }
				} else {
					r.P.SendFrame(Fr(opText, parts[0]).NoFin())
				}
				r.P.ContinueLater(1*sec, "A", func() {
					if r.P.State() != StateOpen {
						return
					}
					r.Record(Timeout("A"))
					send(parts[1])
					r.P.ContinueLater(1*sec, "B", func() {
						if r.P.State() != StateOpen {
							return
						}
						r.Record(Timeout("B"))
						if asChops {
							r.P.SendMessageFrameData([]byte(parts[2]))
							r.P.EndMessage()
						} else {
							r.P.SendFrame(Fr(opCont, parts[2]))
						}
						r.P.KillAfter(1 * sec)
					})
				})
			},
		})
	}
}

// utf8Group is one group of test strings of cases 6.5-6.23, after Markus
// Kuhn's UTF-8 decoder stress test, in Autobahn's order (the case numbers
// depend on it).
type utf8Group struct {
	name  string
	seqs  []string
	valid []bool // nil: compute with a validator (a string is valid if it is complete, valid UTF-8)
}

func utf8Groups() []utf8Group {
	v := func(n int, b bool) []bool {
		s := make([]bool, n)
		for i := range s {
			s[i] = b
		}
		return s
	}
	var g []utf8Group
	g = append(g, utf8Group{"Some valid UTF-8 sequences", []string{
		"hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme}, v(5, true)})
	var prefixes []string
	for i := 1; i <= len(kosme); i++ {
		prefixes = append(prefixes, kosme[:i])
	}
	g = append(g, utf8Group{"All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes, nil})
	g = append(g, utf8Group{"First possible sequence of a certain length", []string{
		"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"}, v(4, true)})
	g = append(g, utf8Group{"First possible sequence length 5/6 (invalid codepoints)", []string{
		"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"}, v(2, false)})
	g = append(g, utf8Group{"Last possible sequence of a certain length", []string{
		"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}, v(4, true)})
	g = append(g, utf8Group{"Last possible sequence length 4/5/6 (invalid codepoints)", []string{
		"\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"}, v(3, false)})
	g = append(g, utf8Group{"Other boundary conditions", []string{
		"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80"},
		[]bool{true, true, true, true, false}})

	var allCont strings.Builder
	for b := 0x80; b < 0xbf; b++ { // 0x80-0xBE, as in Autobahn
		allCont.WriteByte(byte(b))
	}
	g = append(g, utf8Group{"Unexpected continuation bytes", []string{
		"\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf",
		allCont.String()}, v(8, false)})

	var lonely []string
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s strings.Builder
		for b := r[0]; b < r[1]; b++ { // the upper bound is excluded, as in Autobahn
			s.WriteByte(byte(b))
			s.WriteByte(0x20)
		}
		lonely = append(lonely, s.String())
	}
	g = append(g, utf8Group{"Lonely start characters", lonely, v(5, false)})

	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	g = append(g, utf8Group{"Sequences with last continuation byte missing", missing, v(10, false)})
	g = append(g, utf8Group{"Concatenation of incomplete sequences", []string{strings.Join(missing, "")}, v(1, false)})
	g = append(g, utf8Group{"Impossible bytes", []string{"\xfe", "\xff", "\xfe\xfe\xff\xff"}, v(3, false)})
	g = append(g, utf8Group{"Examples of an overlong ASCII character", []string{
		"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"}, v(5, false)})
	g = append(g, utf8Group{"Maximum overlong sequences", []string{
		"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"}, v(5, false)})
	g = append(g, utf8Group{"Overlong representation of the NUL character", []string{
		"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"}, v(5, false)})
	g = append(g, utf8Group{"Single UTF-16 surrogates", []string{
		"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"}, v(7, false)})
	g = append(g, utf8Group{"Paired UTF-16 surrogates", []string{
		"\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
		"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"}, v(8, false)})

	// Noncharacters are valid UTF-8 (RFC 3629): U+FFFE, U+FFFF and the
	// last two code points of planes 1-16.
	nonchars := []string{"\xef\xbf\xbe", "\xef\xbf\xbf"}
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				s := string([]byte{z1, z2, 0xbf, z3})
				if s == "\xf0\x8f\xbf\xbe" || s == "\xf0\x8f\xbf\xbf" {
					continue // overlong
				}
				nonchars = append(nonchars, s)
			}
		}
	}
	g = append(g, utf8Group{"Non-character code points (valid UTF-8)", nonchars, v(len(nonchars), true)})
	g = append(g, utf8Group{"Unicode specials (i.e. replacement char)", []string{
		"\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf"}, v(7, true)})
	return g
}

// section6Sequences registers 6.5.x-6.23.x: each test string sent as one
// text message. Valid ones must come back; invalid ones must fail the
// connection with 1007.
func section6Sequences() {
	for gi, grp := range utf8Groups() {
		sub := fmt.Sprintf("6.%d", gi+5)
		subcategories[sub] = grp.name
		for si, s := range grp.seqs {
			valid := frame.ValidUTF8([]byte(s))
			if grp.valid != nil && grp.valid[si] != valid {
				panic(fmt.Sprintf("autobahn: UTF-8 test string %s.%d (%x) misclassified", sub, si+1, s))
			}
			desc, exp := "Send a text message whose payload is valid UTF-8, in one frame.", "The message comes back."
			if !valid {
				desc, exp = "Send a text message whose payload is not valid UTF-8, in one frame.", "The connection is failed at once (1007): the payload is not valid UTF-8."
			}
			register(&Def{
				ID:          fmt.Sprintf("%s.%d", sub, si+1),
				Description: desc + "<br><br>Payload: 0x" + hex.EncodeToString([]byte(s)),
				Expectation: exp,
				Open: func(r *Run) {
					if valid {
						r.Expect(OK, TextMessage(s))
						r.ExpectClose(closeNormal)
					} else {
						r.Expect(OK)
						r.ExpectClose(failInvalid)
					}
					r.P.SendMessage([]byte(s), false, 0)
					r.P.KillAfter(sec / 2)
				},
			})
		}
	}
}
