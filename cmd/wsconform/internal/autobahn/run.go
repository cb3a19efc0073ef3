package autobahn

import (
	"strconv"
	"strings"
)

// Expectation is one acceptable outcome of a case: if the received events
// equal Events, the behavior verdict is Verdict.
type Expectation struct {
	Verdict Verdict
	Events  []Event
}

// ExpectedClose is how the connection must end (Autobahn's expectedClose).
type ExpectedClose struct {
	// ClosedByMe: the fuzzer sends the first close frame (true), or the
	// other side must close or fail the connection (false).
	ClosedByMe bool `json:"closedByMe"`
	// CloseCode lists the close codes the other side may send; its first
	// code is the one the fuzzer closes with. Sending no code is accepted.
	CloseCode []int `json:"closeCode"`
	// RequireClean: the closing handshake must complete.
	RequireClean bool `json:"requireClean"`
	// ClosedByWrongEndpointIsFatal: if the wrong side closes, the behavior
	// verdict is FAILED too (the other side did not notice the error).
	ClosedByWrongEndpointIsFatal bool `json:"closedByWrongEndpointIsFatal,omitempty"`
}

// Run is one execution of a case (Autobahn's Case instance): the case's
// expectations, what was received, and the verdicts. Case callbacks get
// the Run and reach the connection through P.
type Run struct {
	P   *Peer
	Def *Def

	Received      []Event
	Expected      []Expectation
	ExpectedClose ExpectedClose
	expectedSet   bool

	Behavior      Verdict
	BehaviorClose Verdict
	Result        string
	ResultClose   string

	// ReportTime shows the duration in the report (performance cases).
	ReportTime bool
	// ReportCompressionRatio shows the compression ratios of TrafficStats
	// in the report.
	ReportCompressionRatio bool
	// TrafficStats, if set, is the snapshot of the traffic statistics the
	// report shows (Autobahn's trafficStats: the compression cases take
	// it when the last echo has arrived).
	TrafficStats *trafficStats
	// SuppressClose stops the fuzzer from closing once the expected
	// events have arrived (cases that close in their own way).
	SuppressClose bool

	// OnMessage and OnPong replace the default handling of received
	// messages and pongs (record the event, then FinishWhenDone).
	OnMessage func(payload []byte, binary bool)
	OnPong    func(payload []byte)
}

func newRun(d *Def) *Run {
	return &Run{
		Def:           d,
		Behavior:      Failed,
		BehaviorClose: Failed,
		Result:        "Actual events differ from any expected.",
		ResultClose:   "TCP connection was dropped without close handshake",
		ReportTime:    d.ReportTime,

		ReportCompressionRatio: d.ReportCompressionRatio,
	}
}

// Expect adds an acceptable outcome. Outcomes are tried in the order they
// were added.
func (r *Run) Expect(v Verdict, events ...Event) {
	r.Expected = append(r.Expected, Expectation{Verdict: v, Events: events})
}

// ExpectClose sets how the connection must end.
func (r *Run) ExpectClose(ec ExpectedClose) {
	r.ExpectedClose = ec
	r.expectedSet = true
}

// Record appends a received event.
func (r *Run) Record(e Event) { r.Received = append(r.Received, e) }

func (r *Run) onMessage(payload []byte, binary bool) {
	if r.OnMessage != nil {
		r.OnMessage(payload, binary)
		return
	}
	r.Record(Message(payload, binary))
	r.FinishWhenDone()
}

func (r *Run) onPong(payload []byte) {
	if r.OnPong != nil {
		r.OnPong(payload)
		return
	}
	r.Record(Pong(payload))
	r.FinishWhenDone()
}

// FinishWhenDone starts the closing handshake once the received events
// equal every expected outcome, if the fuzzer is the one to close
// (Autobahn's finishWhenDone).
func (r *Run) FinishWhenDone() {
	for _, e := range r.Expected {
		if !eventsEqual(r.Received, e.Events) {
			return
		}
	}
	if r.ExpectedClose.ClosedByMe && !r.SuppressClose {
		r.P.SendClose(r.ExpectedClose.CloseCode[0], "")
	}
}

// evaluate computes the verdicts once the TCP connection is gone
// (Autobahn's Case.onConnectionLost), then runs the case's own hook.
func (r *Run) evaluate() {
	p := r.P
	for _, e := range r.Expected {
		if eventsEqual(r.Received, e.Events) {
			r.Behavior = e.Verdict
			r.Result = "Actual events match at least one expected."
			break
		}
	}
	if p.connectionWasOpen {
		ec := r.ExpectedClose
		switch {
		case ec.ClosedByMe != p.closedByMe:
			r.BehaviorClose = Failed
			r.ResultClose = "The connection was failed by the wrong endpoint"
		case ec.RequireClean && !p.wasClean:
			r.BehaviorClose = Unclean
			r.ResultClose = "The spec requires the connection to be failed cleanly here"
		case p.remoteCloseCode != nil && !containsInt(ec.CloseCode, *p.remoteCloseCode):
			r.BehaviorClose = WrongCode
			r.ResultClose = "The close code should have been " + joinInts(ec.CloseCode) + " or empty"
		case p.opts.Role == RoleClient && p.droppedByMe:
			r.BehaviorClose = FailedByClient
			r.ResultClose = "It is preferred that the server close the TCP connection"
		default:
			r.BehaviorClose = OK
			r.ResultClose = "Connection was properly closed"
		}
		// For the UTF-8 cases a close by the wrong side means the other
		// side never noticed the invalid payload.
		if ec.ClosedByWrongEndpointIsFatal && ec.ClosedByMe != p.closedByMe {
			r.Behavior = Failed
		}
	} else {
		r.BehaviorClose = Failed
		r.ResultClose = "The WebSocket opening handshake was never completed!"
	}
	if r.Def.Lost != nil {
		r.Def.Lost(r)
	}
}

// failOnWrongCode is the onConnectionLost hook of the section 7 cases: a
// wrong close code fails the case.
func failOnWrongCode(r *Run) {
	if r.BehaviorClose == WrongCode {
		r.Behavior = Failed
		r.Result = r.ResultClose
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func joinInts(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}
