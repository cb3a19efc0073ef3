// Command wsconform tests a WebSocket server against the cases of the
// Autobahn testsuite, as `wstest -m fuzzingclient` does: it connects to
// the server as a client once per case, sends the case's traffic (valid
// and deliberately broken frames, chopped writes, delays), judges what
// comes back and how the connection closes, and writes Autobahn-style
// reports (index.json, index.html, one JSON and HTML file per case).
// With -serve it is Autobahn's fuzzingserver, which tests clients; with
// -client it runs ws6455's own client against such a server.
//
// Usage:
//
//	wsconform -url ws://127.0.0.1:9001 [-agent name] [-cases 1.*,2.1] [-exclude 9.*] [-outdir dir] [-strict]
//	wsconform -spec fuzzingclient.json [flags]
//	wsconform -serve 127.0.0.1:9002 [flags]
//	wsconform -client ws://127.0.0.1:9002 [-agent name] [-cases 1.*] [-strict]
//
// Run wsconform -h for the details.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
)

const usageText = `wsconform runs the Autobahn testsuite's cases (sections 1-10 and 12-13: framing,
pings, reserved bits, opcodes, fragmentation, UTF-8, closing,
limits/performance, auto-fragmentation, permessage-deflate with different
payloads and different offers), one connection per case, one case at a
time, and writes Autobahn-compatible reports. It has three modes:

  wsconform -url ws://HOST:PORT/PATH [flags]     test a server (wstest -m fuzzingclient)
  wsconform -serve HOST:PORT [flags]              test a client that connects (wstest -m fuzzingserver)
  wsconform -client ws://HOST:PORT [flags]        run ws6455's own client against a fuzzing server

-url (or a -spec with "servers"): the server should echo every text and
binary message it receives, as Autobahn's test servers do.

-serve: the same cases, with the fuzzer as the server, test a client. The
client drives the run through the request URI: it connects to /getCaseCount
(a text message with the number of cases N), then to /runCase?case=I&agent=NAME
for I = 1..N, echoing every message until the connection closes, then to
/updateReports?agent=NAME (writes the index). /getCaseInfo?case=I,
/getCaseStatus?case=I&agent=NAME and /stopServer work as in Autobahn. Each
case's report is written when it ends; on interrupt or /stopServer the index
is written and a summary per agent printed.

-client: the client test harness for that protocol, with ws6455's client
(handshake.Dialer and frame.Conn, offering permessage-deflate): it asks the
fuzzing server at the URL (the real wstest -m fuzzingserver, or wsconform
-serve) for its cases, runs each one, echoing every message until the
connection closes, asks for each case's behavior (/getCaseStatus), then
for the reports (/updateReports). The fuzzing server writes the reports, in
its own outdir; wsconform prints each case's behavior and a summary:

  wsconform -serve 127.0.0.1:9002 &
  wsconform -client ws://127.0.0.1:9002 -strict

Flags:
  -url URL       server to test (ws:// or wss://); replaces the spec's servers
  -serve ADDR    be the fuzzing server on ADDR (host:port); the spec's "options",
                 "cases", "exclude-cases", "exclude-agent-cases" and "outdir"
                 apply, its "servers" do not
  -client URL    run ws6455's client against the fuzzing server at URL
                 (ws://HOST:PORT); -cases and -exclude pick among the server's
                 cases
  -agent NAME    name in the reports: of the server tested (default: the spec's
                 agent, else the Server header of the handshake response), or
                 with -client of our client (default "ws6455")
  -spec FILE     an Autobahn fuzzingclient or fuzzingserver spec: {"outdir",
                 "options", "servers": [{"agent", "url", "options"}], "cases",
                 "exclude-cases", "exclude-agent-cases"}
  -cases LIST    comma-separated case ids or patterns to run, replacing the
                 spec's "cases" (default: all, "*"). A '*' matches any text:
                 "1.*", "6.4.*", "9.*", "2.1*" (2.1, 2.10, 2.11); "7.1.1" is one
                 case. As with wstest, a pattern that matches no case ("8.*":
                 there is no section 8) selects nothing; wsconform warns about
                 it, and stops only if no case is selected at all
  -exclude LIST  patterns to leave out, added to the spec's "exclude-cases"
  -outdir DIR    where to write index.json, index.html and the per-case files.
                 Default: the spec's "outdir", else wsconform-reports/servers
                 (with -serve, wsconform-reports/clients) in the system's
                 temporary directory (` + "`$TMPDIR`" + `, else /tmp), so that a run in a
                 checkout leaves it clean; the path is printed at the end
  -strict        also count NON-STRICT, WRONG CODE, FAILED BY CLIENT and
                 UNIMPLEMENTED as failures (for CI); INFORMATIONAL never fails
  -list          print the cases the patterns select, with descriptions, and exit
  -http2         run each case's opening handshake over HTTP/2 (RFC 8441): a new
                 HTTP/2 connection per case (TLS with ALPN h2 for wss://, prior
                 knowledge "h2c" for ws://), an extended CONNECT with :protocol
                 websocket on it, and the case's frames in the stream's DATA
                 frames. The server's END_STREAM (or RST_STREAM) counts as its
                 closing of TCP. Every case applies unchanged, 13.7.* (three
                 permessage-deflate offers in one header, RFC 7692 §5) too: the
                 request carries the same Sec-WebSocket-Extensions field as over
                 HTTP/1.1. A server that does not offer RFC 8441
                 (no SETTINGS_ENABLE_CONNECT_PROTOCOL; a Go server needs
                 GODEBUG=http2xconnect=1) stops the run. The report shows the
                 request and response as pseudo-header fields and fields
  -insecure      wss://: do not verify the server's certificate (for a self-signed
                 one, e.g. wsecho -tls auto)
  -cacert FILE   wss://: trust the CA certificates in FILE (PEM) instead of the
                 system's
  -payload-dir DIR
                 sections 12-13 send slices of Autobahn's own test files from DIR
                 (autobahntestsuite/testdata: data1.json, lena512.bmp, pg2229.txt,
                 data1.html, 10.1.1.105.5439.pdf) instead of generated stand-ins of
                 the same size, kind and compressibility

Verdicts (Autobahn's): each case gets a behavior verdict (OK, NON-STRICT,
INFORMATIONAL, UNIMPLEMENTED, FAILED) and a closing-behavior verdict (OK,
WRONG CODE, UNCLEAN, FAILED BY CLIENT, FAILED). With -client only the
behavior is known to wsconform (the fuzzing server's /getCaseStatus gives no
more); the closing behavior is in the server's reports.

Exit status: 0 if no case failed, 1 if some case FAILED (or was UNCLEAN;
with -strict, also the verdicts above), 2 on a usage error, an unreachable
server or an interrupt (reports for the cases run so far are still written).
Progress goes to stderr (one redrawn line on a terminal), the summary by
section to stdout.

Examples:
  wsconform -url ws://127.0.0.1:9001 -agent ws6455
  wsconform -url ws://127.0.0.1:9001 -cases '1.*,2.*' -exclude 2.11
  wsconform -spec testdata/autobahn/fuzzingclient.json -strict
  wsconform -serve 127.0.0.1:9002 -cases '1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*'
  wsconform -client ws://127.0.0.1:9002 -agent ws6455 -cases '1.*,7.*'
  wsconform -url wss://127.0.0.1:8443/ -http2 -insecure -cases '1.*,2.*,5.*,7.*' -strict
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr)))
}

// server is one server to test, with its resolved options.
type server struct {
	agent  string
	target autobahn.Target
	opts   autobahn.Options
}

func run(args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("wsconform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -h prints usageText below; a bad flag gets a hint
	var (
		specPath = fs.String("spec", "", "")
		urlFlag  = fs.String("url", "", "")
		agent    = fs.String("agent", "", "")
		cases    = fs.String("cases", "", "")
		exclude  = fs.String("exclude", "", "")
		outdir   = fs.String("outdir", "", "")
		strict   = fs.Bool("strict", false, "")
		list     = fs.Bool("list", false, "")
		payloads = fs.String("payload-dir", "", "")
		serve    = fs.String("serve", "", "")
		client   = fs.String("client", "", "")
		http2    = fs.Bool("http2", false, "")
		insecure = fs.Bool("insecure", false, "")
		cacert   = fs.String("cacert", "", "")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return 0
		}
		// The flag package has printed what is wrong.
		fmt.Fprintln(stderr, helpHint)
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wsconform: "+format+"\n", a...)
		return 2
	}
	// hintErr is a usage error about how wsconform was invoked: it points
	// to -h rather than printing the whole help.
	hintErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wsconform: "+format+"\n%s\n", append(a, helpHint)...)
		return 2
	}
	if fs.NArg() > 0 {
		return hintErr("unexpected arguments %q (flags come first, each with a leading -)", fs.Args())
	}
	modes := 0
	for _, m := range []string{*urlFlag, *serve, *client} {
		if m != "" {
			modes++
		}
	}
	if modes > 1 {
		return hintErr("-url, -serve and -client exclude each other: give one")
	}
	if (*http2 || *insecure || *cacert != "") && (*serve != "" || *client != "") {
		return hintErr("-http2, -insecure and -cacert go with -url (or a spec's servers): they set how wsconform connects to the server under test")
	}
	tlsConfig, err := clientTLSConfig(*insecure, *cacert)
	if err != nil {
		return usageErr("%v", err)
	}

	if *payloads != "" {
		if err := autobahn.SetPayloadDir(*payloads); err != nil {
			return usageErr("-payload-dir: %v", err)
		}
	}

	spec := &Spec{}
	if *specPath != "" {
		s, err := loadSpec(*specPath)
		if err != nil {
			return usageErr("%v", err)
		}
		spec = s
	}

	// Cases: flags replace the spec's list (-cases) or add to it
	// (-exclude). As with wstest, a pattern that matches no case selects
	// nothing ("8.*": Autobahn has no section 8); wsconform says so on
	// stderr, in case it is a typo. Only a selection that ends up empty is
	// an error.
	include, excl := spec.Cases, spec.ExcludeCases
	if len(include) == 0 {
		include = []string{"*"}
	}
	if *cases != "" {
		include = splitList(*cases)
	}
	excl = append(slices.Clone(excl), splitList(*exclude)...)

	if *client != "" && !*list {
		return runClientMode(*client, *agent, include, excl, *strict, stdout, stderr, tty)
	}

	ids, _ := autobahn.Resolve(include, excl)
	warnUnmatched(stderr, include, excl, func(pat string) bool {
		ids, _ := autobahn.Resolve([]string{pat}, nil)
		return len(ids) > 0
	})
	if len(ids) == 0 {
		if _, um := autobahn.Resolve(include, nil); len(um) == len(include) {
			return usageErr("no case selected: %s matches no case (sections 1-7, 9, 10, 12 and 13 exist; see wsconform -list)", quoteList(include))
		}
		return usageErr("no case selected: the exclusions %s leave none of %s", quoteList(excl), quoteList(include))
	}
	if *list {
		for _, id := range ids {
			d := autobahn.Lookup(id)
			fmt.Fprintf(stdout, "%-8s %s\n", id, stripTags(d.Description))
		}
		return 0
	}

	if *serve != "" {
		opts := autobahn.DefaultOptions(autobahn.RoleServer)
		ignored, err := opts.ApplySpecOptions(spec.Options)
		if err != nil {
			return usageErr("%v", err)
		}
		for _, k := range ignored {
			fmt.Fprintf(stderr, "wsconform: note: option %q is not supported; ignored\n", k)
		}
		dir := *outdir
		if dir == "" {
			dir = spec.Outdir
		}
		if dir == "" {
			dir = defaultOutdir("clients")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return usageErr("%v", err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runServe(ctx, *serve, newFuzzServer(ids, spec, opts, dir, *strict, stderr), stdout)
	}

	// Servers.
	specServers := spec.Servers
	if *urlFlag != "" {
		specServers = []SpecServer{{URL: *urlFlag}}
	}
	if len(specServers) == 0 {
		if *specPath != "" {
			return hintErr("the spec %s lists no \"servers\": give -url ws://HOST:PORT", *specPath)
		}
		return hintErr("nothing to test: give -url ws://HOST:PORT to test a server, -serve HOST:PORT to test a client, or -client ws://HOST:PORT to run our client against a fuzzing server")
	}
	var servers []server
	for _, ss := range specServers {
		t, err := autobahn.ParseTarget(ss.URL)
		if err != nil {
			return usageErr("%v", err)
		}
		t.ServerName = ss.Hostname
		t.TLSConfig = tlsConfig
		t.HTTP2 = *http2
		opts := autobahn.DefaultOptions(autobahn.RoleClient)
		opts.Origin, opts.Protocols = ss.Origin, ss.Protocols
		for _, m := range []map[string]any{spec.Options, ss.Options} {
			ignored, err := opts.ApplySpecOptions(m)
			if err != nil {
				return usageErr("%s: %v", ss.URL, err)
			}
			for _, k := range ignored {
				fmt.Fprintf(stderr, "wsconform: note: option %q is not supported; ignored\n", k)
			}
		}
		a := ss.Agent
		if *agent != "" {
			a = *agent
		}
		servers = append(servers, server{agent: a, target: t, opts: opts})
	}

	dir := *outdir
	if dir == "" {
		dir = spec.Outdir
	}
	if dir == "" {
		dir = defaultOutdir("servers")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErr("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	results := map[string]map[string]*autobahn.Result{}
	status := 0
	var summaries []string
	for _, srv := range servers {
		res, took, err := runServer(ctx, srv, ids, spec, dir, stderr, tty, *strict)
		for a, m := range res {
			if results[a] == nil {
				results[a] = map[string]*autobahn.Result{}
			}
			for id, r := range m {
				results[a][id] = r
			}
			summaries = append(summaries, summary(a, srv.target.URL.String(), m, ids, took, *strict))
		}
		if err != nil {
			fmt.Fprintf(stderr, "wsconform: %s: %v\n", srv.target.URL, err)
			status = 2
			if ctx.Err() != nil {
				break
			}
		}
	}
	if err := writeIndex(dir, results, ids, *strict, modeClient); err != nil {
		fmt.Fprintf(stderr, "wsconform: writing reports: %v\n", err)
		status = 2
	}
	for _, s := range summaries {
		fmt.Fprint(stdout, s)
	}
	fmt.Fprintf(stdout, "Reports: %s\n", strings.TrimSuffix(dir, "/")+"/index.html")
	if status == 0 {
		for _, m := range results {
			for _, r := range m {
				if r.Failed(*strict) {
					status = 1
				}
			}
		}
	}
	return status
}

// runServer runs the cases against one server, writing each case's report
// as soon as it is done. It stops at the first case the server cannot be
// reached for (as Autobahn does) or on interrupt.
func runServer(ctx context.Context, srv server, ids []string, spec *Spec, dir string, stderr io.Writer, tty, strict bool) (map[string]map[string]*autobahn.Result, time.Duration, error) {
	out := map[string]map[string]*autobahn.Result{}
	agent := srv.agent
	pr := newProgress(stderr, tty, len(ids))
	defer pr.close()
	start := time.Now()
	for i, id := range ids {
		if agent != "" && spec.agentExcluded(agent, id) {
			pr.note("case %s skipped for agent %s (exclude-agent-cases)", id, agent)
			continue
		}
		if ctx.Err() != nil {
			return out, time.Since(start), errors.New("interrupted")
		}
		pr.begin(i+1, id)
		res, err := autobahn.RunClientCase(ctx, autobahn.Lookup(id), srv.target, srv.opts, agent)
		if err != nil {
			return out, time.Since(start), fmt.Errorf("case %s: %w (remaining cases not run)", id, err)
		}
		if ctx.Err() != nil {
			// The case was cut short by the interrupt: its verdict means
			// nothing.
			return out, time.Since(start), errors.New("interrupted")
		}
		if agent == "" {
			agent = res.Agent
		}
		if out[res.Agent] == nil {
			out[res.Agent] = map[string]*autobahn.Result{}
		}
		out[res.Agent][id] = res
		if err := writeCaseReport(dir, res); err != nil {
			return out, time.Since(start), fmt.Errorf("writing report: %w", err)
		}
		outcome := fmt.Sprintf("%s / %s", res.Behavior, res.BehaviorClose)
		if res.RemoteCloseCode != nil {
			outcome += fmt.Sprintf(" (%d)", *res.RemoteCloseCode)
		}
		outcome += fmt.Sprintf("  %d ms", res.Duration)
		failed := res.Failed(strict)
		if failed {
			outcome += "  " + res.Result + " / " + res.ResultClose
		}
		pr.end(outcome, failed)
	}
	return out, time.Since(start), nil
}

// summary renders the per-section table of one agent's results.
func summary(agent, url string, res map[string]*autobahn.Result, ids []string, took time.Duration, strict bool) string {
	t := newTally("Close not OK")
	for _, id := range ids {
		r := res[id]
		if r == nil {
			continue
		}
		closeBad := r.BehaviorClose != autobahn.OK && r.BehaviorClose != autobahn.Informational
		var notOK string
		if r.Failed(strict) || r.Behavior == autobahn.NonStrict || closeBad {
			notOK = fmt.Sprintf("%s %s/%s%s", id, r.Behavior, r.BehaviorClose, failMark(r.Failed(strict)))
		}
		t.add(id, r.Behavior, closeBad, notOK)
	}
	return t.render(fmt.Sprintf("%s (%s)", agent, url), took, "", strict)
}

// counts are the verdicts of a section, or of all.
type counts struct{ cases, ok, nonStrict, info, unimpl, failed, extra int }

// tally collects the verdicts of a run, section by section, for the
// summary tables of the server and client modes. extra is the last
// column, which differs by mode.
type tally struct {
	extra string
	order []string
	by    map[string]*counts
	names map[string]string
	total counts
	notOK []string
}

func newTally(extra string) *tally {
	return &tally{extra: extra, by: map[string]*counts{}, names: map[string]string{}}
}

// add counts one case; notOK, if not empty, lists it under "Not OK".
func (t *tally) add(id string, behavior autobahn.Verdict, extra bool, notOK string) {
	s, name := autobahn.Section(id)
	if t.by[s] == nil {
		t.by[s] = &counts{}
		t.order = append(t.order, s)
		t.names[s] = name
	}
	for _, c := range []*counts{t.by[s], &t.total} {
		c.cases++
		switch behavior {
		case autobahn.OK:
			c.ok++
		case autobahn.NonStrict:
			c.nonStrict++
		case autobahn.Informational:
			c.info++
		case autobahn.Unimplemented:
			c.unimpl++
		case "":
		default:
			c.failed++
		}
		if extra {
			c.extra++
		}
	}
	if notOK != "" {
		t.notOK = append(t.notOK, notOK)
	}
}

// render writes the table, a note under it if any, and the cases not OK.
func (t *tally) render(title string, took time.Duration, note string, strict bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s: %d cases in %s\n\n", title, t.total.cases, took.Round(10*time.Millisecond))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Section\tCases\tOK\tNon-strict\tInfo\tUnimpl\tFailed\t%s\t\n", t.extra)
	row := func(s, name string, c counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", strings.TrimSpace(fmt.Sprintf("%2s %s", s, name)), c.cases, c.ok, c.nonStrict, c.info, c.unimpl, c.failed, c.extra)
	}
	for _, s := range t.order {
		row(s, t.names[s], *t.by[s])
	}
	row("", "Total", t.total)
	tw.Flush()
	b.WriteString(note)
	if len(t.notOK) > 0 {
		fmt.Fprintf(&b, "\nNot OK (* counts as failed%s):\n", map[bool]string{true: " with -strict", false: ""}[strict])
		for _, s := range t.notOK {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// failMark marks a case that counts as failed.
func failMark(failed bool) string {
	if failed {
		return " *"
	}
	return ""
}

// clientTLSConfig builds the TLS configuration of -insecure and -cacert,
// or nil for the system's defaults.
func clientTLSConfig(insecure bool, cacert string) (*tls.Config, error) {
	if !insecure && cacert == "" {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: insecure}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-cacert %s: no PEM certificate found", cacert)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// helpHint ends the message of a usage error.
const helpHint = "run wsconform -h for help"

// defaultOutdir is where reports go without -outdir or a spec's "outdir":
// kind ("servers" or "clients") under wsconform-reports in the system's
// temporary directory, so that a run inside a checkout leaves it clean
// (Autobahn's default, ./reports/KIND, would put 4 MB of reports into the
// working tree). The path is printed at the end of every run.
func defaultOutdir(kind string) string {
	return filepath.Join(os.TempDir(), "wsconform-reports", kind)
}

// warnUnmatched tells on stderr which case patterns select nothing. wstest
// ignores them silently; a warning catches typos ("7.1.*" meant, "71.*"
// written) without refusing patterns written for the whole Autobahn suite
// ("8.*", "11.*": sections that do not exist).
func warnUnmatched(stderr io.Writer, include, exclude []string, matches func(pattern string) bool) {
	for _, p := range include {
		if !matches(p) {
			fmt.Fprintf(stderr, "wsconform: warning: case pattern %q matches no case; it selects nothing\n", p)
		}
	}
	for _, p := range exclude {
		if !matches(p) {
			fmt.Fprintf(stderr, "wsconform: warning: exclusion pattern %q matches no case; it removes nothing\n", p)
		}
	}
}

// quoteList renders patterns as "a", "b".
func quoteList(ps []string) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = strconv.Quote(p)
	}
	return strings.Join(q, ", ")
}

// stripTags drops the HTML of a description for the terminal.
func stripTags(s string) string {
	s = strings.ReplaceAll(s, "<br>", " ")
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
