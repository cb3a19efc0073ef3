package autobahn

import (
	"bytes"
	"encoding/hex"
	"unicode/utf8"
)

// Verdict is an outcome of a case, spelled as Autobahn spells it in its
// reports.
type Verdict string

// Verdicts for Run.Behavior (the traffic the other side sent) and
// Run.BehaviorClose (the way the connection ended).
const (
	OK            Verdict = "OK"
	NonStrict     Verdict = "NON-STRICT"    // conformant, but a SHOULD or the canonical behavior was not followed
	Informational Verdict = "INFORMATIONAL" // the spec leaves the behavior open; never a failure
	Unimplemented Verdict = "UNIMPLEMENTED" // an optional feature the case needs is not offered
	Failed        Verdict = "FAILED"

	// Closing behavior only.
	WrongCode      Verdict = "WRONG CODE"       // the close code is not one the case allows
	Unclean        Verdict = "UNCLEAN"          // the close handshake did not complete though it must
	FailedByClient Verdict = "FAILED BY CLIENT" // the client, not the server, had to drop TCP
)

// IsFailure reports whether v makes a case count as failed. Plain FAILED
// and UNCLEAN always do; with strict, NON-STRICT, WRONG CODE, FAILED BY
// CLIENT and UNIMPLEMENTED do too. INFORMATIONAL and OK never do.
func (v Verdict) IsFailure(strict bool) bool {
	switch v {
	case Failed, Unclean:
		return true
	case NonStrict, WrongCode, FailedByClient, Unimplemented:
		return strict
	}
	return false
}

// EventKind names what a case can observe, as in Autobahn's received lists.
type EventKind string

// Observable events.
const (
	EvMessage EventKind = "message" // a complete data message
	EvPong    EventKind = "pong"
	EvPing    EventKind = "ping" // not recorded by the fuzzer (pings are answered), kept for custom cases
	EvTimeout EventKind = "timeout"
)

// Event is one entry of a case's expected or received traffic: a message
// (payload and whether it was binary), a ping or pong (payload) or a
// timeout the case recorded itself (tag).
type Event struct {
	Kind    EventKind
	Payload []byte
	Binary  bool
	Tag     string
}

// Message returns the event "a message with payload p arrived".
func Message(p []byte, binary bool) Event { return Event{Kind: EvMessage, Payload: p, Binary: binary} }

// TextMessage returns the event "a text message with payload s arrived".
func TextMessage(s string) Event { return Message([]byte(s), false) }

// Pong returns the event "a pong with payload p arrived".
func Pong(p []byte) Event { return Event{Kind: EvPong, Payload: p} }

// Timeout returns the event "the case's delay tagged tag expired with the
// connection still open".
func Timeout(tag string) Event { return Event{Kind: EvTimeout, Tag: tag} }

func (e Event) equal(o Event) bool {
	if e.Kind != o.Kind {
		return false
	}
	switch e.Kind {
	case EvTimeout:
		return e.Tag == o.Tag
	case EvMessage:
		return e.Binary == o.Binary && bytes.Equal(e.Payload, o.Payload)
	}
	return bytes.Equal(e.Payload, o.Payload)
}

func eventsEqual(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

// report returns the event in the form Autobahn writes to its JSON reports:
// ["message", text, binary], ["pong", text] or ["timeout", tag], with the
// payload shortened by logText.
func (e Event) report() []any {
	switch e.Kind {
	case EvMessage:
		return []any{string(e.Kind), logText(e.Payload, 64), e.Binary}
	case EvTimeout:
		return []any{string(e.Kind), e.Tag}
	}
	return []any{string(e.Kind), logText(e.Payload, 64)}
}

func reportEvents(evs []Event) []any {
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.report())
	}
	return out
}

const ellipsis = " ..."

// logHex is the hex dump Autobahn uses in wire logs: data shortened to
// maxlen bytes, with " ..." appended when it was longer than maxlen-4.
func logHex(data []byte, maxlen int) string {
	if len(data) > maxlen-len(ellipsis) {
		return hex.EncodeToString(data[:min(maxlen, len(data))]) + ellipsis
	}
	return hex.EncodeToString(data)
}

// logText is Autobahn's printable form of a payload: the (shortened) bytes
// as text when they are valid UTF-8, otherwise "0x" and their hex dump.
func logText(data []byte, maxlen int) string {
	var d []byte
	if len(data) > maxlen-len(ellipsis) {
		d = append(append(d, data[:min(maxlen, len(data))]...), ellipsis...)
	} else {
		d = data
	}
	if utf8.Valid(d) {
		return string(d)
	}
	return "0x" + logHex(data, maxlen)
}
