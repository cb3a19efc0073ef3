package autobahn

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// Section 9: limits and performance (large messages, many fragments, many
// small writes, round trips). Section 10: auto-fragmentation. The verdict
// only says whether the echo arrived in time; the report shows durations.

func init() {
	section9()
	section10()
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// echoLength sets the handler of the section 9 cases: the case passes when
// one message of the right type and length comes back; then it closes.
// The content is not compared (Autobahn does not either).
func echoLength(r *Run, binary bool, length int) {
	r.OnMessage = func(msg []byte, isBinary bool) {
		switch {
		case isBinary != binary && binary:
			r.Result = "Expected binary message with payload, but got text."
		case isBinary != binary:
			r.Result = "Expected text message with payload, but got binary."
		case len(msg) != length:
			kind := "text"
			if binary {
				kind = "binary"
			}
			r.Result = fmt.Sprintf("Expected %s message with payload of length %d, but got %d.", kind, length, len(msg))
		default:
			r.Behavior = OK
			kind := "text"
			if binary {
				kind = "binary"
			}
			r.Result = fmt.Sprintf("Received %s message of length %d.", kind, len(msg))
		}
		r.P.SetCreateWirelog(true)
		r.P.SendClose(1000, "")
	}
}

func section9() {
	type big struct {
		n    int
		wait time.Duration
	}
	// 9.1.x text, 9.2.x binary: one frame of increasing size. The waits
	// are Autobahn's (note 9.2.3 and 9.2.4 wait only 10 s).
	textSizes := []big{{64 << 10, 10 * sec}, {256 << 10, 10 * sec}, {1 << 20, 100 * sec}, {4 << 20, 100 * sec}, {8 << 20, 100 * sec}, {16 << 20, 100 * sec}}
	binSizes := []big{{64 << 10, 10 * sec}, {256 << 10, 10 * sec}, {1 << 20, 10 * sec}, {4 << 20, 10 * sec}, {8 << 20, 100 * sec}, {16 << 20, 100 * sec}}
	for sub, sizes := range [][]big{textSizes, binSizes} {
		binary := sub == 1
		op, pattern, kind := opText, "BAsd7&jh23", "text"
		if binary {
			op, pattern, kind = opBinary, "\x00\xfe\x23\xfa\xf0", "binary"
		}
		for i, s := range sizes {
			register(&Def{
				ID:          fmt.Sprintf("9.%d.%d", sub+1, i+1),
				Description: fmt.Sprintf("Send a %s message with a payload of %s.", kind, sizeName(s.n)),
				Expectation: fmt.Sprintf("The %s message comes back (with the payload sent).", kind),
				ReportTime:  true,
				Open: func(r *Run) {
					r.P.SetCreateWirelog(false)
					r.Behavior = Failed
					r.ExpectClose(closeNormal)
					r.Result = fmt.Sprintf("Did not receive message within %d seconds.", int(s.wait/sec))
					echoLength(r, binary, s.n)
					r.P.SendFrame(Fr(op, pattern).RepeatTo(int64(s.n)))
					r.P.CloseAfter(s.wait)
				},
			})
		}
	}

	// 9.3.x text, 9.4.x binary: a 4 MiB message in fragments of 64 bytes
	// up to 4 MiB (up to 65536 frames).
	for sub, binary := range []bool{false, true} {
		kind := "text"
		if binary {
			kind = "binary"
		}
		for i, frag := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			const n = 4 << 20
			register(&Def{
				ID:          fmt.Sprintf("9.%d.%d", sub+3, i+1),
				Description: fmt.Sprintf("Send a %s message with a payload of 4 MiB in fragments of %s.", kind, sizeName(frag)),
				Expectation: fmt.Sprintf("The %s message comes back (with the payload sent).", kind),
				ReportTime:  true,
				Open: func(r *Run) {
					r.P.SetCreateWirelog(false)
					r.Behavior = Failed
					r.ExpectClose(closeNormal)
					r.Result = "Did not receive message within 100 seconds."
					echoLength(r, binary, n)
					fill := "*"
					if binary && i == 0 {
						fill = "\xfe" // only Autobahn's 9.4.1 fills with 0xFE
					}
					r.P.SendMessage([]byte(strings.Repeat(fill, n)), binary, frag)
					r.P.CloseAfter(100 * sec)
				},
			})
		}
	}

	// 9.5.x text, 9.6.x binary: a 1 MiB message written to TCP in pieces
	// of 64 to 2048 bytes.
	for sub, binary := range []bool{false, true} {
		op, pattern, kind := opText, "BAsd7&jh23", "text"
		if binary {
			op, pattern, kind = opBinary, "\x00\xfe\x23\xfa\xf0", "binary"
		}
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			const n = 1 << 20
			register(&Def{
				ID:          fmt.Sprintf("9.%d.%d", sub+5, i+1),
				Description: fmt.Sprintf("Send a %s message with a payload of 1 MiB, written to TCP in pieces of %d bytes.", kind, chop),
				Expectation: fmt.Sprintf("The %s message comes back (with the payload sent).", kind),
				ReportTime:  true,
				Open: func(r *Run) {
					r.P.SetCreateWirelog(false)
					r.Behavior = Failed
					r.ExpectClose(closeNormal)
					r.Result = "Did not receive message within 1000 seconds."
					echoLength(r, binary, n)
					r.P.SendFrame(Fr(op, pattern).RepeatTo(n).Chop(chop))
					r.P.CloseAfter(1000 * sec)
				},
			})
		}
	}

	// 9.7.x text, 9.8.x binary: 1000 round trips of messages of 0 to 4096
	// bytes, one at a time.
	type rtt struct {
		n    int
		wait time.Duration
	}
	for sub, binary := range []bool{false, true} {
		kind := "text"
		if binary {
			kind = "binary"
		}
		for i, t := range []rtt{{0, 60 * sec}, {16, 60 * sec}, {64, 60 * sec}, {256, 120 * sec}, {1024, 240 * sec}, {4096, 480 * sec}} {
			const count = 1000
			register(&Def{
				ID:          fmt.Sprintf("9.%d.%d", sub+7, i+1),
				Description: fmt.Sprintf("Send %d %s messages of payload size %d, one after the other, each once the previous came back, to measure round trip time.", count, kind, t.n),
				Expectation: fmt.Sprintf("All %s messages come back (with the payload sent) within %d s.", kind, int(t.wait/sec)),
				ReportTime:  true,
				Open: func(r *Run) {
					r.P.EnableWirelog(false)
					r.Behavior = Failed
					r.ExpectClose(closeNormal)
					r.Result = fmt.Sprintf("Case did not finish within %d seconds.", int(t.wait/sec))
					r.P.CloseAfter(t.wait)
					sent := 0
					op, fill := opText, "*"
					if binary {
						op, fill = opBinary, "\xfe"
					}
					sendOne := func() {
						// Autobahn repeats the fill byte to the size; for
						// size 0 that is an empty payload.
						r.P.SendFrame(Fr(op, strings.Repeat(fill, t.n)))
						sent++
					}
					r.OnMessage = func(msg []byte, isBinary bool) {
						switch {
						case isBinary != binary || len(msg) != t.n:
							r.Behavior = Failed
							r.Result = fmt.Sprintf("Echo'ed message type or length differs from what I sent (got binary = %v, payload length = %d).", isBinary, len(msg))
						case sent < count:
							sendOne()
							return
						default:
							r.Behavior = OK
							r.Result = "Ok, received all echo'ed messages in time."
						}
						r.P.EnableWirelog(true)
						r.P.SendClose(1000, "")
					}
					sendOne()
				},
			})
		}
	}
}

func section10() {
	const n, frag = 65536, 1300
	register(&Def{
		ID:          "10.1.1",
		Description: fmt.Sprintf("Send a text message with a payload of %d bytes, fragmented automatically into frames of %d bytes.", n, frag),
		Expectation: "The message comes back (with the payload sent), and the expected number of frames was sent. Clean close with normal code.",
		Open: func(r *Run) {
			payload := strings.Repeat("*", n)
			r.P.SetAutoFragmentSize(frag)
			r.Expect(OK, TextMessage(payload))
			r.ExpectClose(closeNormal)
			r.P.SendMessage([]byte(payload), false, 0)
			r.P.KillAfter(10 * sec)
		},
		Lost: func(r *Run) {
			if !r.P.connectionWasOpen {
				r.Behavior = Failed
				r.Result = "WebSocket connection was never open"
				return
			}
			fs := r.P.AutoFragmentSize()
			want := map[int]int{0: n / fs, 1: 0}
			if n%fs > 0 {
				want[1] = 1
			}
			tx := r.P.TxFrameStats()
			got := map[int]int{0: tx[0], 1: tx[1]}
			if !maps.Equal(want, got) {
				r.Behavior = Failed
				r.Result = fmt.Sprintf("Frames transmitted %v does not match what we expected %v.", got, want)
			}
		},
	})
}
