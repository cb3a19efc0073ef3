package autobahn

import (
	"fmt"
	"strings"
)

// Section 7: the closing handshake (RFC 6455 §5.5.1, §7). All of these are
// started by the fuzzer; most send the close frame themselves and so
// suppress the automatic close.

func init() { section7() }

func section7() {
	reg := func(d *Def) {
		if d.Lost == nil {
			d.Lost = failOnWrongCode
		}
		register(d)
	}

	reg(&Def{
		ID:          "7.1.1",
		Description: "Send a text message, then close once it has come back.",
		Expectation: "The message comes back, then a clean close with normal code.",
		Open: func(r *Run) {
			r.Expect(OK, TextMessage("Hello World!"))
			r.ExpectClose(closeNormal)
			r.P.SendFrame(Fr(opText, "Hello World!"))
			r.P.KillAfter(1 * sec)
		},
	})
	afterClose := func(id, desc, exp string, send func(r *Run)) {
		reg(&Def{
			ID:          id,
			Description: desc,
			Expectation: exp,
			Open: func(r *Run) {
				r.SuppressClose = true
				r.Expect(OK)
				r.ExpectClose(closeNormal)
				send(r)
				r.P.KillAfter(1 * sec)
			},
		})
	}
	afterClose("7.1.2", "Send two close frames.", "Clean close with normal code; the second close frame is ignored (RFC 6455 §5.5.1).", func(r *Run) {
		r.P.SendClose(1000, "")
		r.P.SendFrame(Fr(opClose, ""))
	})
	afterClose("7.1.3", "Send a ping after the close frame.", "Clean close with normal code; no pong (nothing is sent after a close frame).", func(r *Run) {
		r.P.SendClose(1000, "")
		r.P.SendFrame(Fr(opPing, ""))
	})
	afterClose("7.1.4", "Send a text message after the close frame.", "Clean close with normal code; the message is ignored.", func(r *Run) {
		r.P.SendClose(1000, "")
		r.P.SendFrame(Fr(opText, "Hello World!"))
	})
	afterClose("7.1.5", "Send the first fragment of a text message, then a close frame, then the last fragment.", "Clean close with normal code.", func(r *Run) {
		r.P.SendFrame(Fr(opText, "fragment1").NoFin())
		r.P.SendClose(1000, "")
		r.P.SendFrame(Fr(opCont, "fragment2"))
	})
	reg(&Def{
		ID:          "7.1.6",
		Description: "Send a 256 KiB text message, a short text message, a close frame and a ping, back to back.",
		Expectation: "Depends on the implementation: if the close is handled before the large echo is written, the messages may not come back, or only in part.",
		Open: func(r *Run) {
			r.SuppressClose = true
			r.Expect(OK, TextMessage("Hello World!"))
			r.Expect(NonStrict)
			r.ExpectClose(closeNormal)
			r.P.SendFrame(Fr(opText, "BAsd7&jh23").RepeatTo(256 << 10))
			r.P.SendFrame(Fr(opText, "Hello World!"))
			r.P.SendClose(1000, "")
			r.P.SendFrame(Fr(opPing, ""))
			r.P.KillAfter(1 * sec)
		},
		Lost: func(r *Run) {
			switch r.Behavior {
			case OK:
				r.Result = "Text message was processed before close."
			case NonStrict:
				r.Result = "Close was processed before text message could be returned."
			}
			r.Behavior = Informational
			r.BehaviorClose = Informational
		},
	})

	// 7.3.x: close payload lengths.
	closeFrame := func(id, desc, exp string, ec ExpectedClose, code int, reason string, viaSendClose bool) {
		reg(&Def{
			ID:          id,
			Description: desc,
			Expectation: exp,
			Open: func(r *Run) {
				r.SuppressClose = true
				r.Expect(OK)
				r.ExpectClose(ec)
				if viaSendClose {
					r.P.SendClose(code, reason)
				} else {
					var rb []byte
					if reason != "" {
						rb = []byte(reason)
					}
					r.P.SendCloseFrame(code, rb, false)
				}
				r.P.KillAfter(1 * sec)
			},
		})
	}
	protoOrDrop := ExpectedClose{ClosedByMe: true, CloseCode: []int{1002}, RequireClean: false}
	closeFrame("7.3.1", "Send a close frame with an empty payload (no code, no reason).", "Clean close with normal code.", closeNormal, NoCode, "", false)
	closeFrame("7.3.2", "Send a close frame with a payload of 1 byte.", "Clean close with protocol error (1002), or TCP dropped (RFC 6455 §5.5.1: a close body starts with a 2-byte code).", protoOrDrop, NoCode, "a", false)
	closeFrame("7.3.3", "Send a close frame with a payload of 2 bytes (a code, no reason).", "Clean close with normal code.", closeNormal, 1000, "", true)
	closeFrame("7.3.4", "Send a close frame with a code and a reason.", "Clean close with normal code.", closeNormal, 1000, "Hello World!", true)
	closeFrame("7.3.5", "Send a close frame with a code and a reason of 123 bytes, the longest that fits (RFC 6455 §5.5).", "Clean close with normal code.", closeNormal, 1000, strings.Repeat("*", 123), true)
	closeFrame("7.3.6", "Send a close frame with a code and a reason of 124 bytes: a payload of 126 bytes, too long for a control frame.", "Clean close with protocol error (1002), or TCP dropped.", protoOrDrop, 1000, strings.Repeat("*", 124), false)

	reg(&Def{
		ID:          "7.5.1",
		Description: "Send a close frame whose reason is not valid UTF-8.",
		Expectation: "Clean close with protocol error (1002) or invalid payload (1007), or TCP dropped (RFC 6455 §8.1).",
		Open: func(r *Run) {
			r.SuppressClose = true
			r.Expect(OK)
			r.ExpectClose(ExpectedClose{ClosedByMe: true, CloseCode: []int{1002, 1007}, RequireClean: false})
			r.P.SendCloseFrame(1000, []byte(kosme+"\xed\xa0\x80edited"), false)
			r.P.KillAfter(1 * sec)
		},
	})

	// 7.7.x: valid close codes (RFC 6455 §7.4.1, §7.4.2).
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		reg(&Def{
			ID:          fmt.Sprintf("7.7.%d", i+1),
			Description: fmt.Sprintf("Send a close frame with the valid close code %d.", code),
			Expectation: "Clean close with normal code or the code sent.",
			Open: func(r *Run) {
				r.Expect(OK)
				r.ExpectClose(ExpectedClose{ClosedByMe: true, CloseCode: []int{1000, code}, RequireClean: true})
				r.P.SendCloseFrame(code, nil, false)
				r.P.KillAfter(1 * sec)
			},
		})
	}
	// 7.9.x: codes that must not appear on the wire (RFC 6455 §7.4.1:
	// 1004-1006 reserved, 1016-2999 for future RFCs, below 1000 unused).
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		reg(&Def{
			ID:          fmt.Sprintf("7.9.%d", i+1),
			Description: fmt.Sprintf("Send a close frame with the invalid close code %d.", code),
			Expectation: "Clean close with protocol error (1002), or TCP dropped.",
			Open: func(r *Run) {
				r.Expect(OK)
				r.ExpectClose(ExpectedClose{ClosedByMe: true, CloseCode: []int{1002}, RequireClean: false})
				r.P.SendCloseFrame(code, nil, false)
				r.P.KillAfter(1 * sec)
			},
		})
	}
	// 7.13.x: codes outside 0-4999's defined ranges; the spec does not say
	// what happens.
	for i, code := range []int{5000, 65535} {
		register(&Def{
			ID:          fmt.Sprintf("7.13.%d", i+1),
			Description: fmt.Sprintf("Send a close frame with close code %d.", code),
			Expectation: "Undefined by the spec; informational.",
			Open: func(r *Run) {
				r.SuppressClose = true
				r.Expect(OK)
				r.ExpectClose(ExpectedClose{ClosedByMe: true, CloseCode: []int{1000, code, 1002}, RequireClean: false})
				r.P.SendCloseFrame(code, nil, false)
				r.P.KillAfter(1 * sec)
			},
			Lost: func(r *Run) {
				r.Behavior = Informational
				r.BehaviorClose = Informational
				r.Result = "Actual events are undefined by the spec."
			},
		})
	}
}
