package autobahn

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// Result is the outcome of one case, with the fields (and JSON names) of
// Autobahn's per-case report, so that tools reading Autobahn reports can
// read these.
type Result struct {
	Case                   int            `json:"case"` // 1-based position among all cases
	ID                     string         `json:"id"`
	Description            string         `json:"description"`
	Expectation            string         `json:"expectation"`
	Agent                  string         `json:"agent"`
	Started                string         `json:"started"`  // UTC, ISO 8601
	Duration               int64          `json:"duration"` // ms, from the end of the opening handshake
	ReportTime             bool           `json:"reportTime"`
	ReportCompressionRatio bool           `json:"reportCompressionRatio"`
	Behavior               Verdict        `json:"behavior"`
	BehaviorClose          Verdict        `json:"behaviorClose"`
	Expected               map[string]any `json:"expected"`
	ExpectedClose          any            `json:"expectedClose"`
	Received               []any          `json:"received"`
	Result                 string         `json:"result"`
	ResultClose            string         `json:"resultClose"`
	Wirelog                []any          `json:"wirelog"`
	CreateWirelog          bool           `json:"createWirelog"`

	ClosedByMe                     bool    `json:"closedByMe"`
	FailedByMe                     bool    `json:"failedByMe"`
	DroppedByMe                    bool    `json:"droppedByMe"`
	WasClean                       bool    `json:"wasClean"`
	WasNotCleanReason              *string `json:"wasNotCleanReason"`
	WasServerConnectionDropTimeout bool    `json:"wasServerConnectionDropTimeout"`
	WasOpenHandshakeTimeout        bool    `json:"wasOpenHandshakeTimeout"`
	WasCloseHandshakeTimeout       bool    `json:"wasCloseHandshakeTimeout"`
	LocalCloseCode                 *int    `json:"localCloseCode"`
	LocalCloseReason               *string `json:"localCloseReason"`
	RemoteCloseCode                *int    `json:"remoteCloseCode"`
	RemoteCloseReason              *string `json:"remoteCloseReason"`
	IsServer                       bool    `json:"isServer"`

	CreateStats  bool           `json:"createStats"`
	RxOctetStats map[string]int `json:"rxOctetStats"`
	RxFrameStats map[string]int `json:"rxFrameStats"`
	TxOctetStats map[string]int `json:"txOctetStats"`
	TxFrameStats map[string]int `json:"txFrameStats"`
	HTTPRequest  string         `json:"httpRequest"`
	HTTPResponse string         `json:"httpResponse"`
	TrafficStats any            `json:"trafficStats"`
}

func statsJSON(m map[int]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[strconv.Itoa(k)] = v
	}
	return out
}

func strPtr(s string) *string { return &s }

func buildResult(r *Run, agent string, started time.Time, req, resp string) *Result {
	p := r.P
	d := r.Def
	res := &Result{
		Case:                           d.index,
		ID:                             d.ID,
		Description:                    d.Description,
		Expectation:                    d.Expectation,
		Agent:                          agent,
		Started:                        started.UTC().Format("2006-01-02T15:04:05.000Z"),
		ReportTime:                     r.ReportTime,
		ReportCompressionRatio:         r.ReportCompressionRatio,
		Behavior:                       r.Behavior,
		BehaviorClose:                  r.BehaviorClose,
		Expected:                       map[string]any{},
		ExpectedClose:                  map[string]any{},
		Received:                       reportEvents(r.Received),
		Result:                         r.Result,
		ResultClose:                    r.ResultClose,
		Wirelog:                        p.wirelog,
		CreateWirelog:                  p.createWirelog,
		ClosedByMe:                     p.closedByMe,
		FailedByMe:                     p.failedByMe,
		DroppedByMe:                    p.droppedByMe,
		WasClean:                       p.wasClean,
		WasServerConnectionDropTimeout: p.wasServerConnectionDropTimeout,
		WasOpenHandshakeTimeout:        p.wasOpenHandshakeTimeout,
		WasCloseHandshakeTimeout:       p.wasCloseHandshakeTimeout,
		LocalCloseCode:                 p.localCloseCode,
		RemoteCloseCode:                p.remoteCloseCode,
		RemoteCloseReason:              p.remoteCloseReason,
		IsServer:                       p.opts.Role == RoleServer,
		CreateStats:                    true,
		RxOctetStats:                   statsJSON(p.rxOctetStats),
		RxFrameStats:                   statsJSON(p.rxFrameStats),
		TxOctetStats:                   statsJSON(p.txOctetStats),
		TxFrameStats:                   statsJSON(p.txFrameStats),
		HTTPRequest:                    req,
		HTTPResponse:                   resp,
	}
	if res.Wirelog == nil {
		res.Wirelog = []any{}
	}
	if !p.caseStart.IsZero() && !p.caseEnd.IsZero() {
		res.Duration = p.caseEnd.Sub(p.caseStart).Milliseconds()
	}
	for _, e := range r.Expected {
		res.Expected[string(e.Verdict)] = reportEvents(e.Events)
	}
	if r.expectedSet {
		res.ExpectedClose = r.ExpectedClose
	}
	if r.TrafficStats != nil {
		res.TrafficStats = r.TrafficStats.json()
	}
	if p.wasNotCleanReason != "" {
		res.WasNotCleanReason = strPtr(p.wasNotCleanReason)
	}
	if p.localCloseReason != nil {
		// Invalid UTF-8 (case 7.5.1 sends some) is shown in hex, as
		// Autobahn's case does.
		if utf8.Valid(p.localCloseReason) {
			res.LocalCloseReason = strPtr(string(p.localCloseReason))
		} else {
			res.LocalCloseReason = strPtr(hex.EncodeToString(p.localCloseReason))
		}
	}
	return res
}

// Failed reports whether the result counts as a failure (see
// Verdict.IsFailure).
func (res *Result) Failed(strict bool) bool {
	return res.Behavior.IsFailure(strict) || res.BehaviorClose.IsFailure(strict)
}
