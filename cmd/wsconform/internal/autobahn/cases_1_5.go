package autobahn

import (
	"fmt"
	"strings"
	"time"
)

// Sections 1-5: framing, pings and pongs, reserved bits, opcodes and
// fragmentation (RFC 6455 §5). Each case sends what the Autobahn case of
// the same id sends, with the same timers and expectations.

const sec = time.Second

// Expected ends shared by many cases. The code lists are never modified.
var (
	// The fuzzer closes with 1000 once the echo arrived; the closing
	// handshake must complete.
	closeNormal = ExpectedClose{ClosedByMe: true, CloseCode: []int{1000}, RequireClean: true}
	// The other side must fail the connection with 1002 (or drop TCP).
	failProtocol = ExpectedClose{ClosedByMe: false, CloseCode: []int{1002}, RequireClean: false}
)

// Op codes by name, for readability of the case tables.
const (
	opCont   = 0
	opText   = 1
	opBinary = 2
	opClose  = 8
	opPing   = 9
	opPong   = 10
)

func init() {
	section1()
	section2()
	section3()
	section4()
	section5()
}

func section1() {
	// 1.1.x text and 1.2.x binary messages around the length encoding
	// boundaries of RFC 6455 §5.2 (7-bit, 16-bit, 64-bit lengths).
	type size struct {
		n    int
		kill time.Duration
		chop int
	}
	sizes := []size{{0, 1 * sec, 0}, {125, 1 * sec, 0}, {126, 1 * sec, 0}, {127, 1 * sec, 0}, {128, 1 * sec, 0},
		{65535, 10 * sec, 0}, {65536, 10 * sec, 0}, {65536, 10 * sec, 997}}
	for sub, kind := range []string{"text", "binary"} {
		for i, s := range sizes {
			binary := sub == 1
			op, fill := opText, "*"
			if binary {
				op, fill = opBinary, "\xfe"
			}
			desc := fmt.Sprintf("Send a %s message with a payload of %d bytes.", kind, s.n)
			if s.chop > 0 {
				desc = fmt.Sprintf("Send a %s message with a payload of %d bytes, written to TCP in pieces of %d bytes.", kind, s.n, s.chop)
			}
			register(&Def{
				ID:          fmt.Sprintf("1.%d.%d", sub+1, i+1),
				Description: desc,
				Expectation: fmt.Sprintf("The %s message comes back unchanged. Clean close with normal code.", kind),
				Open: func(r *Run) {
					payload := strings.Repeat(fill, s.n)
					r.Expect(OK, Message([]byte(payload), binary))
					r.ExpectClose(closeNormal)
					r.P.SendFrame(Fr(op, payload).Chop(s.chop))
					r.P.KillAfter(s.kill)
				},
			})
		}
	}
}

func section2() {
	// Pings and pongs (RFC 6455 §5.5.2, §5.5.3).
	pingCase := func(id, desc, payload string, chop int, wait time.Duration) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "A pong with the ping's payload comes back. Clean close with normal code.",
			Open: func(r *Run) {
				r.Expect(OK, Pong([]byte(payload)))
				r.ExpectClose(closeNormal)
				r.P.SendFrame(Fr(opPing, payload).Chop(chop))
				r.P.CloseAfter(wait)
			},
		})
	}
	pingCase("2.1", "Send a ping without payload.", "", 0, 1*sec)
	pingCase("2.2", "Send a ping with a short text payload.", "Hello, world!", 0, 1*sec)
	pingCase("2.3", "Send a ping with a short binary payload that is not UTF-8.", "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 0, 1*sec)
	pingCase("2.4", "Send a ping with a binary payload of 125 bytes, the largest a control frame may carry.", strings.Repeat("\xfe", 125), 0, 1*sec)
	register(&Def{
		ID:          "2.5",
		Description: "Send a ping with a binary payload of 126 bytes.",
		Expectation: "The connection is failed at once (1002): control frames carry at most 125 bytes (RFC 6455 §5.5).",
		Open: func(r *Run) {
			r.Expect(OK)
			r.ExpectClose(failProtocol)
			r.P.SendFrame(Fr(opPing, strings.Repeat("\xfe", 126)))
			r.P.KillAfter(1 * sec)
		},
	})
	pingCase("2.6", "Send a ping with a binary payload of 125 bytes, written to TCP one byte at a time.", strings.Repeat("\xfe", 125), 1, 2*sec)
	unsolicited := func(id, desc, payload string) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "Nothing comes back for the pong (RFC 6455 §5.5.3). Clean close with normal code.",
			Open: func(r *Run) {
				r.Expect(OK)
				r.ExpectClose(closeNormal)
				r.P.SendFrame(Fr(opPong, payload))
				r.P.SendClose(1000, "")
				r.P.CloseAfter(1 * sec)
			},
		})
	}
	unsolicited("2.7", "Send an unsolicited pong without payload, then close.", "")
	unsolicited("2.8", "Send an unsolicited pong with a payload, then close.", "unsolicited pong payload")
	register(&Def{
		ID:          "2.9",
		Description: "Send an unsolicited pong with a payload, then a ping with a payload.",
		Expectation: "Nothing comes back for the pong; a pong with the ping's payload comes back for the ping. Clean close with normal code.",
		Open: func(r *Run) {
			r.Expect(OK, Pong([]byte("ping payload")))
			r.ExpectClose(closeNormal)
			r.P.SendFrame(Fr(opPong, "unsolicited pong payload"))
			r.P.SendFrame(Fr(opPing, "ping payload"))
			r.P.CloseAfter(1 * sec)
		},
	})
	tenPings := func(id, desc string, chop int) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "A pong for each ping, in order, with its payload (RFC 6455 §5.5.3 allows answering only the latest ping; the case asks for all). Clean close with normal code.",
			Open: func(r *Run) {
				var pongs []Event
				for i := range 10 {
					payload := fmt.Sprintf("payload-%d", i)
					pongs = append(pongs, Pong([]byte(payload)))
					r.P.SendFrame(Fr(opPing, payload).Chop(chop))
				}
				r.Expect(OK, pongs...)
				r.ExpectClose(closeNormal)
				r.P.CloseAfter(3 * sec)
			},
		})
	}
	tenPings("2.10", "Send 10 pings with payloads.", 0)
	tenPings("2.11", "Send 10 pings with payloads, written to TCP one byte at a time.", 1)
}

// failCase registers a case that sends frames and expects the other side
// to fail the connection with 1002 without echoing anything, after
// echoing okEcho if it is not empty (a message sent before the bad frame);
// not echoing it is then NON-STRICT.
func failCase(id, desc, expect, okEcho string, frames ...Frame) {
	register(&Def{
		ID:          id,
		Description: desc,
		Expectation: expect,
		Open: func(r *Run) {
			if okEcho != "" {
				r.Expect(OK, TextMessage(okEcho))
				r.Expect(NonStrict)
			} else {
				r.Expect(OK)
			}
			r.ExpectClose(failProtocol)
			for _, f := range frames {
				r.P.SendFrame(f)
			}
			r.P.KillAfter(1 * sec)
		},
	})
}

func section3() {
	// RFC 6455 §5.2: RSV1-3 must be 0 unless an extension defines them.
	const hello = "Hello, world!"
	const failNow = "The connection is failed at once (1002): no extension gives the RSV bits a meaning (RFC 6455 §5.2)."
	const failAfterEcho = "The first message comes back; then the connection is failed at once (1002), since no extension gives the RSV bits a meaning. No pong comes back."
	failCase("3.1", "Send a short text message with RSV = 1.", failNow, "",
		Fr(opText, hello).WithRsv(1))
	failCase("3.2", "Send a short text message, then the same with RSV = 2, then a ping.", failAfterEcho, hello,
		Fr(opText, hello), Fr(opText, hello).WithRsv(2), Fr(opPing, ""))
	failCase("3.3", "Send a short text message, then the same with RSV = 3, then a ping; each frame in a write of its own.", failAfterEcho, hello,
		Fr(opText, hello).SyncWrite(true), Fr(opText, hello).WithRsv(3).SyncWrite(true), Fr(opPing, "").SyncWrite(true))
	failCase("3.4", "Send a short text message, then the same with RSV = 4, then a ping; written to TCP one byte at a time.", failAfterEcho, hello,
		Fr(opText, hello).Chop(1), Fr(opText, hello).WithRsv(4).Chop(1), Fr(opPing, "").Chop(1))
	failCase("3.5", "Send a short binary message with RSV = 5.", failNow, "",
		Fr(opBinary, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff").WithRsv(5))
	// Autobahn's 3.6 is described as a ping but sends a binary frame.
	failCase("3.6", "Send a binary frame with a short payload and RSV = 6.", failNow, "",
		Fr(opBinary, hello).WithRsv(6))
	failCase("3.7", "Send a close frame with RSV = 7.", failNow, "",
		Fr(opClose, "").WithRsv(7))
}

func section4() {
	// RFC 6455 §5.2: "If an unknown opcode is received, the receiving
	// endpoint MUST _Fail the WebSocket Connection_."
	const hello = "Hello, world!"
	const failNow = "The connection is failed at once (1002): the opcode is reserved (RFC 6455 §5.2)."
	const failAfterEcho = "The first message comes back; then the connection is failed at once (1002), since the opcode is reserved. No pong comes back."
	failCase("4.1.1", "Send a frame with the reserved non-control opcode 3.", failNow, "",
		Fr(3, ""))
	failCase("4.1.2", "Send a frame with the reserved non-control opcode 4 and a payload.", failNow, "",
		Fr(4, "reserved opcode payload"))
	failCase("4.1.3", "Send a short text message, then a frame with the reserved non-control opcode 5, then a ping.", failAfterEcho, hello,
		Fr(opText, hello), Fr(5, ""), Fr(opPing, ""))
	failCase("4.1.4", "Send a short text message, then a frame with the reserved non-control opcode 6 and a payload, then a ping.", failAfterEcho, hello,
		Fr(opText, hello), Fr(6, hello), Fr(opPing, ""))
	failCase("4.1.5", "Send a short text message, then a frame with the reserved non-control opcode 7 and a payload, then a ping; written to TCP one byte at a time.", failAfterEcho, hello,
		Fr(opText, hello).Chop(1), Fr(7, hello).Chop(1), Fr(opPing, "").Chop(1))
	failCase("4.2.1", "Send a frame with the reserved control opcode 11.", failNow, "",
		Fr(11, ""))
	failCase("4.2.2", "Send a frame with the reserved control opcode 12 and a payload.", failNow, "",
		Fr(12, "reserved opcode payload"))
	failCase("4.2.3", "Send a short text message, then a frame with the reserved control opcode 13, then a ping.", failAfterEcho, hello,
		Fr(opText, hello), Fr(13, ""), Fr(opPing, ""))
	failCase("4.2.4", "Send a short text message, then a frame with the reserved control opcode 14 and a payload, then a ping.", failAfterEcho, hello,
		Fr(opText, hello), Fr(14, hello), Fr(opPing, ""))
	failCase("4.2.5", "Send a short text message, then a frame with the reserved control opcode 15 and a payload, then a ping; written to TCP one byte at a time.", failAfterEcho, hello,
		Fr(opText, hello).Chop(1), Fr(15, hello).Chop(1), Fr(opPing, "").Chop(1))
}

func section5() {
	// Fragmentation (RFC 6455 §5.4).
	const ctrlFrag = "The connection is failed at once (1002): control frames must not be fragmented (RFC 6455 §5.5)."
	failCase("5.1", "Send a ping in 2 fragments.", ctrlFrag, "",
		Fr(opPing, "fragment1").NoFin(), Fr(opCont, "fragment2"))
	failCase("5.2", "Send a pong in 2 fragments.", ctrlFrag, "",
		Fr(opPong, "fragment1").NoFin(), Fr(opCont, "fragment2"))

	twoFragments := func(id, desc string, sync bool, chop int) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "The message is reassembled and comes back. Clean close with normal code.",
			Open: func(r *Run) {
				r.Expect(OK, TextMessage("fragment1fragment2"))
				r.ExpectClose(closeNormal)
				r.P.SendFrame(Fr(opText, "fragment1").NoFin().SyncWrite(sync).Chop(chop))
				r.P.SendFrame(Fr(opCont, "fragment2").SyncWrite(sync).Chop(chop))
				r.P.CloseAfter(1 * sec)
			},
		})
	}
	twoFragments("5.3", "Send a text message in 2 fragments.", false, 0)
	twoFragments("5.4", "Send a text message in 2 fragments, each frame in a write of its own.", true, 0)
	twoFragments("5.5", "Send a text message in 2 fragments, written to TCP one byte at a time.", false, 1)

	pingBetween := func(id, desc string, sync bool, chop int) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "A pong comes back, then the message (control frames may be injected between fragments, RFC 6455 §5.4). Clean close with normal code.",
			Open: func(r *Run) {
				r.Expect(OK, Pong([]byte("ping payload")), TextMessage("fragment1fragment2"))
				r.ExpectClose(closeNormal)
				r.P.SendFrame(Fr(opText, "fragment1").NoFin().SyncWrite(sync).Chop(chop))
				r.P.SendFrame(Fr(opPing, "ping payload").SyncWrite(sync).Chop(chop))
				r.P.SendFrame(Fr(opCont, "fragment2").SyncWrite(sync).Chop(chop))
				r.P.CloseAfter(1 * sec)
			},
		})
	}
	pingBetween("5.6", "Send a text message in 2 fragments with a ping between them.", false, 0)
	pingBetween("5.7", "Send a text message in 2 fragments with a ping between them, each frame in a write of its own.", true, 0)
	pingBetween("5.8", "Send a text message in 2 fragments with a ping between them, written to TCP one byte at a time.", false, 1)

	const nothingToContinue = "The connection is failed at once (1002): there is no message to continue (RFC 6455 §5.4)."
	cont := func(id, desc string, fin, sync bool, chop int) {
		failCase(id, desc, nothingToContinue, "",
			Fr(opCont, "non-continuation payload").WithFin(fin).SyncWrite(sync).Chop(chop),
			Fr(opText, "Hello, world!").SyncWrite(sync).Chop(chop))
	}
	cont("5.9", "Send a continuation frame with FIN set while no message is in progress, then a text message.", true, false, 0)
	cont("5.10", "Send a continuation frame with FIN set while no message is in progress, then a text message; each frame in a write of its own.", true, true, 0)
	cont("5.11", "Send a continuation frame with FIN set while no message is in progress, then a text message; written to TCP one byte at a time.", true, false, 1)
	cont("5.12", "Send a continuation frame without FIN while no message is in progress, then a text message.", false, false, 0)
	cont("5.13", "Send a continuation frame without FIN while no message is in progress, then a text message; each frame in a write of its own.", false, true, 0)
	cont("5.14", "Send a continuation frame without FIN while no message is in progress, then a text message; written to TCP one byte at a time.", false, false, 1)

	failCase("5.15", "Send a text message in 2 fragments, then a continuation frame without FIN, then a text message.",
		"The first message comes back; then the connection is failed at once (1002), since there is no message to continue.",
		"fragment1fragment2",
		Fr(opText, "fragment1").NoFin(), Fr(opCont, "fragment2"), Fr(opCont, "fragment3").NoFin(), Fr(opText, "fragment4"))
	var f16, f17 []Frame
	for range 2 {
		f16 = append(f16, Fr(opCont, "fragment1").NoFin(), Fr(opText, "fragment2").NoFin(), Fr(opCont, "fragment3"))
		f17 = append(f17, Fr(opCont, "fragment1"), Fr(opText, "fragment2").NoFin(), Fr(opCont, "fragment3"))
	}
	failCase("5.16", "Twice: a continuation frame without FIN while no message is in progress, then a text message in 2 fragments.", nothingToContinue, "", f16...)
	failCase("5.17", "Twice: a continuation frame with FIN while no message is in progress, then a text message in 2 fragments.", nothingToContinue, "", f17...)
	failCase("5.18", "Send a text message in 2 fragments whose second frame has the text opcode too.",
		"The connection is failed at once (1002): frames after the first of a message must be continuation frames (RFC 6455 §5.4).", "",
		Fr(opText, "fragment1").NoFin(), Fr(opText, "fragment2"))

	interleaved := func(id, desc string, sync bool) {
		register(&Def{
			ID:          id,
			Description: desc,
			Expectation: "The first pong comes back before the message is complete, then the second pong, then the whole message.",
			Open: func(r *Run) {
				frags := []string{"fragment1", "fragment2", "fragment3", "fragment4", "fragment5"}
				pings := []string{"pongme 1!", "pongme 2!"}
				r.Expect(OK, Pong([]byte(pings[0])), Pong([]byte(pings[1])), TextMessage(strings.Join(frags, "")))
				r.ExpectClose(closeNormal)
				r.P.SendFrame(Fr(opText, frags[0]).NoFin().SyncWrite(sync))
				r.P.SendFrame(Fr(opCont, frags[1]).NoFin().SyncWrite(sync))
				r.P.SendFrame(Fr(opPing, pings[0]).SyncWrite(sync))
				r.P.ContinueLater(1*sec, "", func() {
					r.P.SendFrame(Fr(opCont, frags[2]).NoFin().SyncWrite(sync))
					r.P.SendFrame(Fr(opCont, frags[3]).NoFin().SyncWrite(sync))
					r.P.SendFrame(Fr(opPing, pings[1]).SyncWrite(sync))
					r.P.SendFrame(Fr(opCont, frags[4]).SyncWrite(sync))
					r.P.CloseAfter(1 * sec)
				})
			},
		})
	}
	interleaved("5.19", "Send a text message in 5 fragments: 2 fragments, a ping, a 1 s pause, 2 more fragments, another ping, the last fragment. Everything is legal.", false)
	interleaved("5.20", "Same as 5.19, with each frame in a write of its own.", true)
}
