package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
)

// Reports in Autobahn's layout: index.json and index.html in outdir, and
// <agent>_case_<id>.json and .html per case.

// cleanForFilename is Autobahn's: lower case, characters other than a-z
// and 0-9 become spaces, trimmed, spaces become underscores.
func cleanForFilename(s string) string {
	b := []byte(strings.ToLower(strings.TrimSpace(s)))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = ' '
		}
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_")
}

func caseFile(agent, id, ext string) string {
	return cleanForFilename(agent) + "_case_" + strings.ReplaceAll(id, ".", "_") + "." + ext
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "   ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeCaseReport writes the JSON and HTML detail reports of one case.
func writeCaseReport(outdir string, res *autobahn.Result) error {
	if err := writeJSON(filepath.Join(outdir, caseFile(res.Agent, res.ID, "json")), res); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := caseTmpl.Execute(&buf, caseView(res)); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outdir, caseFile(res.Agent, res.ID, "html")), buf.Bytes(), 0o644)
}

type indexEntry struct {
	Behavior        autobahn.Verdict `json:"behavior"`
	BehaviorClose   autobahn.Verdict `json:"behaviorClose"`
	Duration        int64            `json:"duration"`
	RemoteCloseCode *int             `json:"remoteCloseCode"`
	ReportFile      string           `json:"reportfile"`
}

// Which side the fuzzer played, for the report's wording.
type reportMode int

const (
	modeClient reportMode = iota // fuzzingclient: servers were tested
	modeServer                   // fuzzingserver (-serve): clients were tested
)

// writeIndex writes index.json (agent -> case id -> summary, Autobahn's
// schema) and index.html.
func writeIndex(outdir string, results map[string]map[string]*autobahn.Result, ids []string, strict bool, mode reportMode) error {
	idx := map[string]map[string]indexEntry{}
	for agent, m := range results {
		idx[agent] = map[string]indexEntry{}
		for id, r := range m {
			idx[agent][id] = indexEntry{r.Behavior, r.BehaviorClose, r.Duration, r.RemoteCloseCode, caseFile(agent, id, "json")}
		}
	}
	if err := writeJSON(filepath.Join(outdir, "index.json"), idx); err != nil {
		return err
	}
	var buf bytes.Buffer
	d := indexView(results, ids, strict)
	d.Mode, d.Peer = "fuzzingclient", "server"
	if mode == modeServer {
		d.Mode, d.Peer = "fuzzingserver", "client"
	}
	if err := indexTmpl.Execute(&buf, d); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outdir, "index.html"), buf.Bytes(), 0o644)
}

// ---- index.html ----

// compressionRatios formats the incoming and outgoing compression ratios
// of a case's traffic statistics as Autobahn's index does ("-" when there
// was no traffic); ok is false when the case recorded no statistics.
func compressionRatios(r *autobahn.Result) (in, out string, ok bool) {
	ts, _ := r.TrafficStats.(map[string]any)
	if ts == nil {
		return "", "", false
	}
	f := func(k string) string {
		if v, ok := ts[k].(float64); ok {
			return fmt.Sprintf("%.3f", v)
		}
		return "-"
	}
	return f("incomingCompressionRatio"), f("outgoingCompressionRatio"), true
}

type cell struct {
	Missing    bool
	Text       string // Pass, Non-Strict, Fail, Info, Unimplemented
	Class      string
	CloseText  string
	CloseClass string
	Detail     string // duration for timed cases
	Href       string
	Title      string
}

type row struct {
	Category    string // set on the first row of a section
	Subcategory string // set on the first row of a subsection
	ID          string
	Anchor      string
	Cells       []cell
}

type agentSummary struct {
	Agent                                                  string
	Total, Pass, NonStrict, Info, Unimpl, Fail, CloseIssue int
	Failed                                                 int
}

type indexData struct {
	Mode      string // fuzzingclient or fuzzingserver
	Peer      string // server or client: the side tested
	Generated string
	Strict    bool
	Colspan   int
	Agents    []string
	Summaries []agentSummary
	Rows      []row
	Cases     []caseDesc
}

type caseDesc struct {
	ID, Anchor  string
	Description template.HTML
	Expectation template.HTML
}

func behaviorCell(v autobahn.Verdict) (string, string) {
	switch v {
	case autobahn.OK:
		return "Pass", "ok"
	case autobahn.NonStrict:
		return "Non-Strict", "nonstrict"
	case autobahn.Informational:
		return "Info", "info"
	case autobahn.Unimplemented:
		return "Unimplemented", "unimpl"
	}
	return "Fail", "failed"
}

func closeCell(r *autobahn.Result) (string, string) {
	code := "-"
	if r.RemoteCloseCode != nil {
		code = strconv.Itoa(*r.RemoteCloseCode)
	}
	switch r.BehaviorClose {
	case autobahn.OK:
		return code, "ok"
	case autobahn.FailedByClient:
		return code, "almost"
	case autobahn.WrongCode:
		return code, "nonstrict"
	case autobahn.Unclean:
		return "Unclean", "failed"
	case autobahn.Informational:
		return code, "info"
	}
	return "Fail", "failed"
}

func indexView(results map[string]map[string]*autobahn.Result, ids []string, strict bool) indexData {
	d := indexData{Generated: time.Now().UTC().Format("2006-01-02 15:04:05 UTC"), Strict: strict}
	for a := range results {
		d.Agents = append(d.Agents, a)
	}
	slices.Sort(d.Agents)
	d.Colspan = 2*len(d.Agents) + 1
	for _, a := range d.Agents {
		s := agentSummary{Agent: a}
		for _, r := range results[a] {
			s.Total++
			switch r.Behavior {
			case autobahn.OK:
				s.Pass++
			case autobahn.NonStrict:
				s.NonStrict++
			case autobahn.Informational:
				s.Info++
			case autobahn.Unimplemented:
				s.Unimpl++
			default:
				s.Fail++
			}
			if r.BehaviorClose != autobahn.OK && r.BehaviorClose != autobahn.Informational {
				s.CloseIssue++
			}
			if r.Failed(strict) {
				s.Failed++
			}
		}
		d.Summaries = append(d.Summaries, s)
	}
	lastCat, lastSub := "", ""
	for _, id := range ids {
		rw := row{ID: id, Anchor: "case_" + strings.ReplaceAll(id, ".", "_")}
		if cat, name := autobahn.Section(id); cat != lastCat {
			rw.Category = cat + " " + name
			lastCat, lastSub = cat, ""
		}
		// Subsections exist for ids of three parts (1.1.x, 6.4.x, ...).
		if sub, name := autobahn.Subsection(id); strings.Count(id, ".") == 2 && sub != lastSub {
			rw.Subcategory = strings.TrimSpace(sub + " " + name)
			lastSub = sub
		}
		for _, a := range d.Agents {
			r := results[a][id]
			if r == nil {
				rw.Cells = append(rw.Cells, cell{Missing: true})
				continue
			}
			c := cell{Href: caseFile(a, id, "html"), Title: r.Result + " / " + r.ResultClose}
			c.Text, c.Class = behaviorCell(r.Behavior)
			c.CloseText, c.CloseClass = closeCell(r)
			if r.ReportTime {
				c.Detail = fmt.Sprintf("%d ms", r.Duration)
			}
			if r.ReportCompressionRatio {
				if in, out, ok := compressionRatios(r); ok {
					c.Detail = strings.TrimSpace(c.Detail + " [" + in + "/" + out + "]")
				}
			}
			rw.Cells = append(rw.Cells, c)
		}
		d.Rows = append(d.Rows, rw)
		if def := autobahn.Lookup(id); def != nil {
			d.Cases = append(d.Cases, caseDesc{ID: id, Anchor: rw.Anchor,
				Description: template.HTML(def.Description), Expectation: template.HTML(def.Expectation)})
		}
	}
	return d
}

const css = `
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; }
td, th { padding: 3px 8px; border: 1px solid #ccc; }
th { background: #eee; text-align: left; }
.category td { background: #333; color: #fff; font-weight: bold; font-size: 1.1em; }
.subcategory td { background: #ddd; font-style: italic; }
.ok { background: #0a0; color: #fff; }
.nonstrict { background: #db0; }
.almost { background: #8c6; }
.failed { background: #d11; color: #fff; }
.info { background: #59c; color: #fff; }
.unimpl, .missing { background: #aaa; color: #fff; }
td.ok a, td.failed a, td.info a { color: #fff; }
.dur { font-size: 0.8em; display: block; }
.desc { margin: 0.5em 0 1.5em 1em; max-width: 60em; }
pre { margin: 0; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.rx { color: #036; } .tx { color: #060; } .txsync { color: #0a0; } .timer { color: #a50; }
.kv td:first-child { font-family: monospace; }
`

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>wsconform report</title><style>` + css + `</style></head>
<body>
<h1>WebSocket conformance report (Autobahn {{.Mode}} cases)</h1>
<p>Generated {{.Generated}} by wsconform{{if .Strict}} with -strict{{end}}. Each case has two cells: the behavior (what the {{.Peer}} sent back) and the closing behavior (the close code the {{.Peer}} sent, or why the close was wrong). Hover for the result text; click for the details.</p>
<table>
<tr><th>Agent</th><th>Cases</th><th>Pass</th><th>Non-Strict</th><th>Info</th><th>Unimplemented</th><th>Fail</th><th>Close not OK</th><th>Counted as failed</th></tr>
{{range .Summaries}}<tr><td>{{.Agent}}</td><td>{{.Total}}</td><td class="ok">{{.Pass}}</td><td class="nonstrict">{{.NonStrict}}</td><td class="info">{{.Info}}</td><td class="unimpl">{{.Unimpl}}</td><td class="failed">{{.Fail}}</td><td>{{.CloseIssue}}</td><td><b>{{.Failed}}</b></td></tr>
{{end}}</table>
<p><span class="ok">&nbsp;Pass&nbsp;</span> conformant.
<span class="nonstrict">&nbsp;Non-Strict&nbsp;</span> conformant, but a SHOULD (or the canonical behavior) was not followed; for the close cell: an unexpected close code.
<span class="almost">&nbsp;close code&nbsp;</span> the client had to drop TCP.
<span class="failed">&nbsp;Fail&nbsp;</span> a MUST was broken (performance cases: the echo did not come in time).
<span class="info">&nbsp;Info&nbsp;</span> behavior the spec leaves open.
<span class="missing">&nbsp;Missing&nbsp;</span> not run.</p>
<table>
{{range .Rows}}{{if .Category}}<tr class="category"><td>{{.Category}}</td>{{range $.Agents}}<td colspan="2">{{.}}</td>{{end}}</tr>
{{end}}{{if .Subcategory}}<tr class="subcategory"><td colspan="{{$.Colspan}}">{{.Subcategory}}</td></tr>
{{end}}<tr><td><a href="#{{.Anchor}}">Case {{.ID}}</a></td>{{range .Cells}}{{if .Missing}}<td class="missing" colspan="2">Missing</td>{{else}}<td class="{{.Class}}" title="{{.Title}}"><a href="{{.Href}}">{{.Text}}</a>{{if .Detail}}<span class="dur">{{.Detail}}</span>{{end}}</td><td class="{{.CloseClass}}">{{.CloseText}}</td>{{end}}{{end}}</tr>
{{end}}</table>
<h2>Case descriptions</h2>
{{range .Cases}}<h3 id="{{.Anchor}}">Case {{.ID}}</h3>
<div class="desc"><p><b>Description.</b> {{.Description}}</p><p><b>Expectation.</b> {{.Expectation}}</p></div>
{{end}}
</body></html>
`))

// ---- per-case HTML ----

type wireLine struct{ Class, Text string }

type caseData struct {
	R              *autobahn.Result
	BehaviorClass  string
	BehaviorText   string
	Description    template.HTML
	Expectation    template.HTML
	Expected       string
	Received       string
	ExpectedClose  string
	Closing        [][2]string
	Stats          []statTable
	Traffic        [][2]string
	Wire           []wireLine
	DroppedByMe    bool
	WirelogEnabled bool
}

type statTable struct {
	Title string
	Rows  [][2]int
	Total int
}

func compactJSON(v any, limit int) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > limit {
		s = s[:limit-4] + " ..."
	}
	return s
}

func statRows(title string, m map[string]int) statTable {
	t := statTable{Title: title}
	for k, v := range m {
		n, _ := strconv.Atoi(k)
		t.Rows = append(t.Rows, [2]int{n, v})
		t.Total += v
	}
	slices.SortFunc(t.Rows, func(a, b [2]int) int { return a[0] - b[0] })
	return t
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case *int:
		if v == nil {
			return "None"
		}
		return strconv.Itoa(*v)
	case *string:
		if v == nil {
			return "None"
		}
		return *v
	}
	return fmt.Sprint(v)
}

// wireLines renders Autobahn-style wire log entries.
func wireLines(log []any) []wireLine {
	var out []wireLine
	for i, e := range log {
		t, ok := e.([]any)
		if !ok || len(t) == 0 {
			continue
		}
		kind, _ := t[0].(string)
		pl := func() string {
			if p, ok := t[1].([]any); ok && len(p) == 2 {
				return fmt.Sprintf("%v: %v", p[0], p[1])
			}
			return ""
		}
		var l wireLine
		switch kind {
		case "RO":
			l = wireLine{"rx", "RX OCTETS " + pl()}
		case "TO":
			cls := "tx"
			if len(t) > 2 && t[2] == true {
				cls = "txsync"
			}
			l = wireLine{cls, "TX OCTETS " + pl()}
		case "RF":
			l = wireLine{"rx", fmt.Sprintf("RX FRAME  OPCODE=%v, FIN=%v, RSV=%v, MASKED=%v, MASK=%v, PAYLOAD %s", t[2], t[3], t[4], t[5], str(t[6]), pl())}
		case "TF":
			cls := "tx"
			if t[8] == true || t[7] != nil {
				cls = "txsync"
			}
			l = wireLine{cls, fmt.Sprintf("TX FRAME  OPCODE=%v, FIN=%v, RSV=%v, MASK=%v, PAYLOAD-REPEAT-LEN=%v, CHOPSIZE=%v, SYNC=%v, PAYLOAD %s", t[2], t[3], t[4], str(t[5]), str(t[6]), str(t[7]), t[8], pl())}
		case "CT":
			l = wireLine{"timer", fmt.Sprintf("DELAY %v sec for TAG %v", t[1], str(t[2]))}
		case "CTE":
			l = wireLine{"timer", fmt.Sprintf("DELAY TIMEOUT on TAG %v", str(t[1]))}
		case "KL":
			l = wireLine{"timer", fmt.Sprintf("FAIL CONNECTION AFTER %v sec", t[1])}
		case "KLE":
			l = wireLine{"timer", "FAILING CONNECTION"}
		case "TI":
			l = wireLine{"timer", fmt.Sprintf("CLOSE CONNECTION AFTER %v sec", t[1])}
		case "TIE":
			l = wireLine{"timer", "CLOSING CONNECTION"}
		case "WLM":
			l = wireLine{"timer", fmt.Sprintf("WIRELOG ENABLED=%v", t[1])}
		default:
			continue
		}
		l.Text = fmt.Sprintf("%03d %s", i, l.Text)
		out = append(out, l)
	}
	return out
}

func caseView(r *autobahn.Result) caseData {
	d := caseData{R: r, Description: template.HTML(r.Description), Expectation: template.HTML(r.Expectation),
		Expected: compactJSON(r.Expected, 1000), Received: compactJSON(r.Received, 1000),
		ExpectedClose: compactJSON(r.ExpectedClose, 1000), DroppedByMe: r.DroppedByMe, WirelogEnabled: r.CreateWirelog}
	d.BehaviorText, d.BehaviorClass = behaviorCell(r.Behavior)
	d.Closing = [][2]string{
		{"isServer", str(r.IsServer)}, {"closedByMe", str(r.ClosedByMe)}, {"failedByMe", str(r.FailedByMe)},
		{"droppedByMe", str(r.DroppedByMe)}, {"wasClean", str(r.WasClean)}, {"wasNotCleanReason", str(r.WasNotCleanReason)},
		{"wasServerConnectionDropTimeout", str(r.WasServerConnectionDropTimeout)}, {"wasOpenHandshakeTimeout", str(r.WasOpenHandshakeTimeout)},
		{"wasCloseHandshakeTimeout", str(r.WasCloseHandshakeTimeout)}, {"localCloseCode", str(r.LocalCloseCode)},
		{"localCloseReason", str(r.LocalCloseReason)}, {"remoteCloseCode", str(r.RemoteCloseCode)}, {"remoteCloseReason", str(r.RemoteCloseReason)},
	}
	d.Stats = []statTable{
		statRows("Octets received, by read size", r.RxOctetStats), statRows("Octets sent, by write size", r.TxOctetStats),
		statRows("Frames received, by opcode", r.RxFrameStats), statRows("Frames sent, by opcode", r.TxFrameStats),
	}
	if ts, ok := r.TrafficStats.(map[string]any); ok {
		keys := make([]string, 0, len(ts))
		for k := range ts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := "None"
			switch x := ts[k].(type) {
			case float64:
				v = strconv.FormatFloat(x, 'f', 3, 64)
			case int64:
				v = strconv.FormatInt(x, 10)
			}
			d.Traffic = append(d.Traffic, [2]string{k, v})
		}
	}
	d.Wire = wireLines(r.Wirelog)
	return d
}

var caseTmpl = template.Must(template.New("case").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.R.Agent}} case {{.R.ID}}</title><style>` + css + `</style></head>
<body>
<p><a href="index.html">&larr; all cases</a></p>
<h1><span class="{{.BehaviorClass}}">&nbsp;{{.BehaviorText}}&nbsp;</span> {{.R.Agent}} &ndash; Case {{.R.ID}}</h1>
<p>{{.R.Duration}} ms, started {{.R.Started}}</p>
<p><b>Description.</b> {{.Description}}</p>
<p><b>Expectation.</b> {{.Expectation}}</p>
<h2>Outcome: {{.R.Behavior}}</h2>
<p>{{.R.Result}}</p>
<p><i>Expected:</i> <code>{{.Expected}}</code></p>
<p><i>Observed:</i> <code>{{.Received}}</code></p>
<h2>Closing behavior: {{.R.BehaviorClose}}</h2>
<p>{{.R.ResultClose}}</p>
<p><i>Expected close:</i> <code>{{.ExpectedClose}}</code></p>
<table class="kv">{{range .Closing}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
<h2>Opening handshake</h2>
<pre>{{.R.HTTPRequest}}</pre><br><pre>{{.R.HTTPResponse}}</pre>
{{if .Traffic}}<h2>Traffic statistics</h2>
<p>Data messages only, counted when the last echo arrived: octets on the wire, in frame payloads (compressed) and in messages (uncompressed). Compression ratio = compressed / uncompressed.</p>
<table class="kv">{{range .Traffic}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
{{end}}<h2>Wire statistics</h2>
{{range .Stats}}<h3>{{.Title}}</h3><table><tr><th>Size / opcode</th><th>Count</th></tr>{{range .Rows}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}<tr><th>Total</th><th>{{.Total}}</th></tr></table>
{{end}}
<h2>Wire log</h2>
{{if not .WirelogEnabled}}<p><i>The wire log was switched off for (part of) this case.</i></p>{{end}}
{{range .Wire}}<pre class="{{.Class}}">{{.Text}}</pre>
{{end}}<pre>{{if .DroppedByMe}}TCP DROPPED BY ME{{else}}TCP DROPPED BY PEER{{end}}</pre>
</body></html>
`))
