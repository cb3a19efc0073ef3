package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// wsconform -serve is Autobahn's fuzzingserver (wstest -m fuzzingserver):
// the fuzzer listens and the client under test drives the run through the
// request URI of each connection, as Autobahn's client test harnesses do:
//
//	/getCaseCount                 a text message with the number of cases, then close
//	/runCase?case=N&agent=NAME    run case N (1-based, in the selected list) with NAME's client
//	/updateReports?agent=NAME     write index.json and index.html, then close
//	/getCaseInfo?case=N           {"id": ..., "description": ...}, then close
//	/getCaseStatus?case=N&agent=NAME  {"behavior": ...} once case N has run, then close
//	/stopServer                   close, then stop the server
//
// A client harness connects to /getCaseCount, then to /runCase for each
// case, echoing every message it receives until the connection closes,
// then to /updateReports. runCase also accepts casetuple=ID instead of
// case=N. Each case's report is written as soon as it ends.

// fuzzServer is the state of a -serve run: the cases offered and the
// results of every agent.
type fuzzServer struct {
	ids    []string
	spec   *Spec
	opts   autobahn.Options
	outdir string
	strict bool
	log    io.Writer

	mu      sync.Mutex
	results map[string]map[string]*autobahn.Result
	running map[string]int // cases in progress, by agent
	changed chan struct{}  // closed (and replaced) when a case starts or ends
	conns   map[net.Conn]bool
	wg      sync.WaitGroup

	stopOnce sync.Once
	stopped  chan struct{} // closed by /stopServer
}

func newFuzzServer(ids []string, spec *Spec, opts autobahn.Options, outdir string, strict bool, log io.Writer) *fuzzServer {
	opts.Role = autobahn.RoleServer
	return &fuzzServer{
		ids: ids, spec: spec, opts: opts, outdir: outdir, strict: strict, log: log,
		results: map[string]map[string]*autobahn.Result{},
		running: map[string]int{},
		changed: make(chan struct{}),
		conns:   map[net.Conn]bool{},
		stopped: make(chan struct{}),
	}
}

// serverName is the Server header of the fuzzer's handshake responses.
const serverName = "wsconform (ws6455; Autobahn fuzzingserver port)"

// serve accepts connections on ln until ctx ends or a client asks
// /stopServer, then closes the connections still open and returns when
// their handlers are done.
func (s *fuzzServer) serve(ctx context.Context, ln net.Listener) error {
	go func() {
		select {
		case <-ctx.Done():
		case <-s.stopped:
		}
		ln.Close()
	}()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			select {
			case <-ctx.Done():
			case <-s.stopped:
			default:
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				err = aerr
			}
			break
		}
		s.mu.Lock()
		s.conns[nc] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc)
			nc.Close()
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *fuzzServer) stop() { s.stopOnce.Do(func() { close(s.stopped) }) }

func (s *fuzzServer) logf(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.log, format+"\n", a...)
}

// recorder keeps the bytes read through it (the request, for the report).
type recorder struct {
	r   io.Reader
	buf []byte
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	return n, err
}

// handle serves one connection: the opening handshake, then the case or
// command its URI names.
func (s *fuzzServer) handle(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(s.opts.TCPNoDelay)
	}
	if s.opts.OpenHandshakeTimeout > 0 {
		nc.SetDeadline(time.Now().Add(s.opts.OpenHandshakeTimeout))
	}
	rec := &recorder{r: nc}
	br := bufio.NewReaderSize(rec, 4096)
	req, err := handshake.ReadRequest(br, handshake.Limits{})
	if err != nil {
		var re *handshake.RequestError
		if errors.As(err, &re) {
			re.WriteResponse(nc)
		}
		return
	}
	reject := func(status int, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		handshake.WriteErrorResponse(nc, status, nil, msg)
		s.logf("wsconform: %s %s from %s: %d %s", req.Method, req.Target, nc.RemoteAddr(), status, msg)
	}

	// The parameters, checked as Autobahn's onConnect does.
	q := req.URL.Query()
	for _, k := range []string{"agent", "case", "casetuple"} {
		if len(q[k]) > 1 {
			reject(400, "multiple %s parameters", k)
			return
		}
	}
	agent := q.Get("agent")
	caseN := 0
	if t := q.Get("casetuple"); t != "" {
		for i, id := range s.ids {
			if id == t {
				caseN = i + 1
			}
		}
		if caseN == 0 {
			reject(400, "invalid test case tuple %s", t)
			return
		}
	}
	if c := q.Get("case"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil {
			reject(400, "invalid test case ID %s", c)
			return
		}
		caseN = n
	}
	var d *autobahn.Def
	if caseN != 0 {
		if caseN < 1 || caseN > len(s.ids) {
			reject(404, "case %d not found (%d cases)", caseN, len(s.ids))
			return
		}
		d = autobahn.Lookup(s.ids[caseN-1])
	}
	path := req.URL.Path
	switch path {
	case "/runCase", "/getCaseStatus":
		if d == nil || agent == "" {
			reject(400, "%s needs case=N and agent=NAME", path)
			return
		}
	case "/updateReports":
		if agent == "" {
			reject(400, "need agent to update reports for")
			return
		}
	case "/getCaseInfo":
		if d == nil {
			reject(400, "need case to get info")
			return
		}
	case "/getCaseCount", "/stopServer":
	default:
		reject(404, "unknown resource %s: use /getCaseCount, /runCase?case=N&agent=NAME, /updateReports?agent=NAME, /getCaseInfo?case=N, /getCaseStatus?case=N&agent=NAME or /stopServer", path)
		return
	}

	u := handshake.Upgrader{
		CheckOrigin:  func(*handshake.Request) bool { return true },
		ExtraHeaders: map[string][]string{"Server": {serverName}},
	}
	res, err := u.Negotiate(req)
	if err != nil {
		var re *handshake.RequestError
		if errors.As(err, &re) {
			re.WriteResponse(nc)
		}
		return
	}
	var deflate *frame.DeflateParams
	if path == "/runCase" {
		ext, p, err := autobahn.ServerDeflate(d, req.Extensions)
		if err != nil {
			reject(400, "%v", err)
			return
		}
		if p != nil {
			res.ResponseHeader.Set("Sec-WebSocket-Extensions", ext)
			deflate = p
		}
	}
	resp := res.AppendResponse(nil)
	if _, err := nc.Write(resp); err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	buffered, _ := br.Peek(br.Buffered())
	buffered = bytes.Clone(buffered)
	request := string(rec.buf[:len(rec.buf)-len(buffered)])

	switch path {
	case "/runCase":
		if s.spec.agentExcluded(agent, d.ID) {
			s.logf("wsconform: case %s skipped for agent %s (exclude-agent-cases)", d.ID, agent)
			s.command(nc, buffered, "")
			return
		}
		s.mu.Lock()
		s.running[agent]++
		s.mu.Unlock()
		r := autobahn.RunServerCase(d, nc, buffered, s.opts, agent, request, string(resp), deflate)
		r.Case = caseN
		s.add(r)
	case "/getCaseCount":
		s.command(nc, buffered, strconv.Itoa(len(s.ids)))
	case "/getCaseInfo":
		b, _ := json.Marshal(map[string]string{"id": d.ID, "description": stripTags(d.Description)})
		s.command(nc, buffered, string(b))
	case "/getCaseStatus":
		var r *autobahn.Result
		extra, ok := s.await(nc, func() bool { r = s.results[agent][d.ID]; return r != nil })
		if !ok {
			return
		}
		b, _ := json.Marshal(map[string]string{"behavior": string(r.Behavior)})
		s.command(nc, append(buffered, extra...), string(b))
	case "/updateReports":
		// The agent's last case may still be ending on our side when its
		// client asks for the reports: wait for it.
		extra, ok := s.await(nc, func() bool { return s.running[agent] == 0 })
		if !ok {
			return
		}
		if err := s.writeIndex(); err != nil {
			s.logf("wsconform: writing reports: %v", err)
		} else {
			s.logf("wsconform: reports updated for agent %s: %s/index.html", agent, s.outdir)
		}
		s.command(nc, append(buffered, extra...), "")
	case "/stopServer":
		s.command(nc, buffered, "")
		s.stop()
	}
}

// command answers a command connection: an optional text message, then
// the close handshake (RFC 6455 §7.1.2).
func (s *fuzzServer) command(nc net.Conn, buffered []byte, msg string) {
	c := frame.NewConn(nc, buffered, frame.Config{Role: frame.RoleServer, CloseTimeout: 2 * time.Second})
	if msg != "" {
		if c.WriteMessage(frame.OpText, []byte(msg)) != nil {
			c.CloseNow()
			return
		}
	}
	c.CloseWith(frame.CloseNormal, "")
}

// add records a finished case and writes its report.
func (s *fuzzServer) add(r *autobahn.Result) {
	err := writeCaseReport(s.outdir, r)
	s.mu.Lock()
	if s.results[r.Agent] == nil {
		s.results[r.Agent] = map[string]*autobahn.Result{}
	}
	s.results[r.Agent][r.ID] = r
	s.running[r.Agent]--
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	outcome := fmt.Sprintf("%s / %s", r.Behavior, r.BehaviorClose)
	if r.RemoteCloseCode != nil {
		outcome += fmt.Sprintf(" (%d)", *r.RemoteCloseCode)
	}
	if r.Failed(s.strict) {
		outcome += "  " + r.Result + " / " + r.ResultClose
	}
	s.logf("[%d/%d] %s: case %-8s %s  %d ms", r.Case, len(s.ids), r.Agent, r.ID, outcome, r.Duration)
	if err != nil {
		s.logf("wsconform: writing report: %v", err)
	}
}

// await waits until cond, called with mu held, is true (Autobahn's
// getCaseStatus waits for the case to have run), and reports false if the
// server stops or the client sends something (its close, or it goes away)
// first. Bytes read from the client while waiting are returned, to be
// processed after the buffered ones.
func (s *fuzzServer) await(nc net.Conn, cond func() bool) ([]byte, bool) {
	var gone chan []byte
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			if gone == nil {
				return nil, true
			}
			// Stop the watcher's read; lift the deadline once it has
			// returned.
			nc.SetReadDeadline(time.Now())
			extra := <-gone
			nc.SetReadDeadline(time.Time{})
			return extra, true
		}
		if gone == nil {
			gone = make(chan []byte, 1)
			go func() {
				// The client sends nothing before the answer: a read
				// returns when it closes the connection, or when the
				// server closes it or lifts the wait.
				b := make([]byte, 512)
				n, _ := nc.Read(b)
				gone <- b[:n]
			}()
		}
		select {
		case <-ch:
		case <-gone:
			return nil, false
		case <-s.stopped:
			return nil, false
		}
	}
}

// snapshot copies the results.
func (s *fuzzServer) snapshot() map[string]map[string]*autobahn.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]*autobahn.Result, len(s.results))
	for a, m := range s.results {
		out[a] = make(map[string]*autobahn.Result, len(m))
		for id, r := range m {
			out[a][id] = r
		}
	}
	return out
}

func (s *fuzzServer) writeIndex() error {
	return writeIndex(s.outdir, s.snapshot(), s.ids, s.strict, modeServer)
}

// runServe is wsconform -serve: it serves until interrupted or stopped,
// then writes the index and prints a summary per agent.
func runServe(ctx context.Context, addr string, s *fuzzServer, stdout io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(s.log, "wsconform: %v\n", err)
		return 2
	}
	start := time.Now()
	s.logf("wsconform: fuzzing server on ws://%s: %d cases; a client runs case N at /runCase?case=N&agent=NAME (see -h); reports in %s", ln.Addr(), len(s.ids), s.outdir)
	err = s.serve(ctx, ln)
	took := time.Since(start)
	results := s.snapshot()
	status := 0
	if err != nil {
		fmt.Fprintf(s.log, "wsconform: %v\n", err)
		status = 2
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "No case was run.")
		return status
	}
	if err := s.writeIndex(); err != nil {
		fmt.Fprintf(s.log, "wsconform: writing reports: %v\n", err)
		status = 2
	}
	agents := make([]string, 0, len(results))
	for a := range results {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	for _, a := range agents {
		fmt.Fprint(stdout, summary(a, "client of ws://"+ln.Addr().String(), results[a], s.ids, took, s.strict))
		if status == 0 {
			for _, r := range results[a] {
				if r.Failed(s.strict) {
					status = 1
				}
			}
		}
	}
	fmt.Fprintf(stdout, "Reports: %s/index.html\n", s.outdir)
	return status
}
