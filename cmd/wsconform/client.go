package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// wsconform -client is the other half of Autobahn's client tests: the
// client test harness that a library under test runs against a fuzzing
// server (wstest -m fuzzingserver, or wsconform -serve), here with
// ws6455's own client. It speaks the fuzzing server's URI protocol (see
// serve.go): /getCaseCount, then for each case /runCase, echoing every
// message until the connection closes, then /updateReports. It also asks
// /getCaseInfo (for the case ids that -cases selects by) and
// /getCaseStatus (for the progress and the summary), which Autobahn's
// fuzzingserver answers too.

// clientAgent runs a client through a fuzzing server's cases.
type clientAgent struct {
	base   string // ws://HOST:PORT of the fuzzing server, without a path
	agent  string // the client's name in the server's reports
	dialer *handshake.Dialer
	// include and exclude pick cases by id (autobahn.MatchID); no include
	// pattern selects nothing.
	include, exclude []string
	// statusWait is how long to wait for a case's status after the case
	// ended; 0 means 30 s. A fuzzing server answers as soon as it has
	// recorded the case, which it does when the TCP connection is gone;
	// a case it skipped (exclude-agent-cases) never gets one.
	statusWait time.Duration
	// warn, if set, gets a warning for each pattern that matches none of
	// the server's cases.
	warn io.Writer
}

// errNoCase: the patterns select none of the server's cases.
var errNoCase = errors.New("no case selected")

// agentCase is one case the agent ran.
type agentCase struct {
	N        int              // the server's case number (1-based)
	ID       string           // "7.1.1"
	Behavior autobahn.Verdict // from /getCaseStatus; "" if none came
}

// command connects to the fuzzing server at path and reads what it sends
// until it closes the connection (RFC 6455 §7.1.2, which frame.Conn
// answers); it returns the first data message, if any. ctx bounds the
// whole exchange.
func (a *clientAgent) command(ctx context.Context, path string) (string, error) {
	c, _, err := a.dialer.Dial(ctx, a.base+path)
	if err != nil {
		return "", err
	}
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	defer stop()
	defer c.CloseNow()
	var first []byte
	got := false
	for {
		_, msg, err := c.ReadMessage(nil)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			var ce *frame.CloseError
			if !got && !errors.As(err, &ce) {
				return "", err
			}
			return string(first), nil
		}
		if !got {
			first, got = msg, true
		}
	}
}

// caseCount asks /getCaseCount for the number of cases the server offers.
func (a *clientAgent) caseCount(ctx context.Context) (int, error) {
	s, err := a.command(ctx, "/getCaseCount")
	if err != nil {
		return 0, fmt.Errorf("/getCaseCount: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("/getCaseCount answered %q, not a number of cases", s)
	}
	return n, nil
}

// caseID asks /getCaseInfo for the id of case n.
func (a *clientAgent) caseID(ctx context.Context, n int) (string, error) {
	s, err := a.command(ctx, "/getCaseInfo?case="+strconv.Itoa(n))
	if err != nil {
		return "", fmt.Errorf("/getCaseInfo?case=%d: %w", n, err)
	}
	var info struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(s), &info); err != nil || info.ID == "" {
		return "", fmt.Errorf("/getCaseInfo?case=%d answered %q, not {\"id\": ...}", n, s)
	}
	return info.ID, nil
}

// selected reports whether the patterns pick the case id.
func (a *clientAgent) selected(id string) bool {
	in := false
	for _, p := range a.include {
		in = in || autobahn.MatchID(p, id)
	}
	for _, p := range a.exclude {
		in = in && !autobahn.MatchID(p, id)
	}
	return in
}

// runCase runs case n: connect to /runCase and echo every message, text
// as text and binary as binary, until the connection is closed. This is
// all a client test harness does; the fuzzing server judges the rest.
func (a *clientAgent) runCase(ctx context.Context, n int) error {
	c, _, err := a.dialer.Dial(ctx, fmt.Sprintf("%s/runCase?case=%d&agent=%s", a.base, n, url.QueryEscape(a.agent)))
	if err != nil {
		return fmt.Errorf("/runCase?case=%d: %w", n, err)
	}
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	defer stop()
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil || c.WriteMessage(op, msg) != nil {
			break
		}
		buf = msg
	}
	c.CloseNow()
	return ctx.Err()
}

// caseStatus asks /getCaseStatus for the behavior verdict of case n; ""
// if none comes within statusWait.
func (a *clientAgent) caseStatus(ctx context.Context, n int) (autobahn.Verdict, error) {
	wait := a.statusWait
	if wait == 0 {
		wait = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s, err := a.command(sctx, fmt.Sprintf("/getCaseStatus?case=%d&agent=%s", n, url.QueryEscape(a.agent)))
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return "", nil
	}
	var st struct {
		Behavior string `json:"behavior"`
	}
	if json.Unmarshal([]byte(s), &st) != nil {
		return "", nil
	}
	return autobahn.Verdict(st.Behavior), nil
}

// updateReports asks the server to write its reports for the agent.
func (a *clientAgent) updateReports(ctx context.Context) error {
	if _, err := a.command(ctx, "/updateReports?agent="+url.QueryEscape(a.agent)); err != nil {
		return fmt.Errorf("/updateReports: %w", err)
	}
	return nil
}

// run selects the cases, runs them one after the other, asks for each
// one's status, then for the reports. done, if not nil, is called after
// each case. It returns the server's case count and the cases run.
func (a *clientAgent) run(ctx context.Context, begin func(i, total int, id string), done func(agentCase)) (int, []agentCase, error) {
	total, err := a.caseCount(ctx)
	if err != nil {
		return 0, nil, err
	}
	var sel []agentCase
	var all []string
	for n := 1; n <= total; n++ {
		id, err := a.caseID(ctx, n)
		if err != nil {
			return total, nil, err
		}
		all = append(all, id)
		if a.selected(id) {
			sel = append(sel, agentCase{N: n, ID: id})
		}
	}
	if a.warn != nil {
		warnUnmatched(a.warn, a.include, a.exclude, func(p string) bool {
			return slices.ContainsFunc(all, func(id string) bool { return autobahn.MatchID(p, id) })
		})
	}
	if len(sel) == 0 {
		return total, nil, errNoCase
	}
	for i := range sel {
		c := &sel[i]
		if begin != nil {
			begin(i+1, len(sel), c.ID)
		}
		if err := a.runCase(ctx, c.N); err != nil {
			return total, sel[:i], err
		}
		if c.Behavior, err = a.caseStatus(ctx, c.N); err != nil {
			return total, sel[:i], err
		}
		if done != nil {
			done(*c)
		}
	}
	return total, sel, a.updateReports(ctx)
}

// runClientMode is wsconform -client.
func runClientMode(rawURL, agent string, include, exclude []string, strict bool, stdout, stderr io.Writer, tty bool) int {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		fmt.Fprintf(stderr, "wsconform: -client %q: want the fuzzing server's ws://HOST:PORT (or wss://)\n%s\n", rawURL, helpHint)
		return 2
	}
	if agent == "" {
		agent = "ws6455"
	}
	a := &clientAgent{
		base:    strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"),
		agent:   agent,
		dialer:  &handshake.Dialer{Compression: &handshake.DeflateOffer{}},
		include: include,
		exclude: exclude,
		warn:    stderr,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.main(ctx, strict, stdout, stderr, tty)
}

// main runs the agent with progress on stderr and the summary on stdout,
// and returns the exit status.
func (a *clientAgent) main(ctx context.Context, strict bool, stdout, stderr io.Writer, tty bool) int {
	var pr *progress
	start := time.Now()
	total, ran, err := a.run(ctx,
		func(i, n int, id string) {
			if pr == nil {
				pr = newProgress(stderr, tty, n)
			}
			pr.begin(i, id)
		},
		func(c agentCase) {
			outcome := string(c.Behavior)
			if outcome == "" {
				outcome = "no status from the server (a case it skipped?)"
			}
			pr.end(outcome, c.Behavior.IsFailure(strict))
		})
	if pr != nil {
		pr.close()
	}
	took := time.Since(start)
	if errors.Is(err, errNoCase) {
		fmt.Fprintf(stderr, "wsconform: no case selected: the patterns match none of the %d cases of the fuzzing server at %s\n", total, a.base)
		return 2
	}
	fmt.Fprint(stdout, clientSummary(a.agent, a.base, ran, took, strict))
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "wsconform: -client %s: %v\n", a.base, err)
		return 2
	}
	fmt.Fprintf(stdout, "Reports: written by the fuzzing server at %s, in its outdir (agent %q)\n", a.base, a.agent)
	for _, c := range ran {
		if c.Behavior.IsFailure(strict) {
			return 1
		}
	}
	return 0
}

// clientSummary renders the behavior verdicts of the cases run, by
// section.
func clientSummary(agent, base string, ran []agentCase, took time.Duration, strict bool) string {
	t := newTally("No status")
	for _, c := range ran {
		var notOK string
		if c.Behavior != autobahn.OK && c.Behavior != autobahn.Informational {
			b := string(c.Behavior)
			if b == "" {
				b = "no status"
			}
			notOK = fmt.Sprintf("%s %s%s", c.ID, b, failMark(c.Behavior.IsFailure(strict)))
		}
		t.add(c.ID, c.Behavior, c.Behavior == "", notOK)
	}
	return t.render(fmt.Sprintf("%s (client, against %s)", agent, base), took,
		"\nThe behavior verdicts only (the fuzzing server's /getCaseStatus); the closing behavior is in its reports.\n", strict)
}
