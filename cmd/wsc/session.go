package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/cmd/internal/trace"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// closeWait bounds how long wsc waits for the server's close frame after
// sending its own (RFC 6455 §7.1.2), on top of the frame package's wait
// for the server to close TCP (§7.1.1).
const closeWait = frame.DefaultCloseTimeout + 2*time.Second

// session is one open connection and the goroutines around it: the reader
// (owns ReadMessage and stdout), the stdin sender, the pinger, and run,
// which decides when to close and what the exit status is.
type session struct {
	o      *options
	c      *frame.Conn
	stdout io.Writer
	errw   *syncWriter
	log    *slog.Logger

	outbuf []byte // reader goroutine only

	pingMu sync.Mutex
	pings  map[string]time.Time // ping payload -> time sent
}

// stdinError is a failure to read stdin, as opposed to a failed write.
type stdinError struct{ err error }

func (e *stdinError) Error() string { return "read stdin: " + e.err.Error() }

// run drives the open connection until it ends and returns the exit status.
func (s *session) run(ctx context.Context, stdin io.Reader) int {
	c := s.c
	defer c.CloseNow()
	exec := s.o.execute != nil

	replied := make(chan struct{}) // closed when the first message was printed
	readDone := make(chan error, 1)
	go func() { readDone <- s.readLoop(replied) }()

	var wg sync.WaitGroup
	stopPing := make(chan struct{})
	defer func() { close(stopPing); wg.Wait() }()
	if s.o.ping > 0 {
		wg.Go(func() { s.pingLoop(stopPing) })
	}

	var timeout <-chan time.Time
	if s.o.timeout > 0 {
		t := time.NewTimer(s.o.timeout)
		defer t.Stop()
		timeout = t.C
	}

	op := frame.OpText
	if s.o.binary {
		op = frame.OpBinary
	}
	var inputDone chan error // stays nil with -x: stdin is not read
	var waitReply <-chan struct{}
	if exec {
		waitReply = replied
		if err := c.WriteMessage(op, []byte(*s.o.execute)); err != nil {
			// The reader reports why the connection is gone.
			s.log.Debug("send -x message failed", "err", err)
		}
	} else {
		inputDone = make(chan error, 1)
		go func() { inputDone <- s.sendLines(stdin, op) }()
	}

	code, reason := s.o.closeCode, s.o.closeReason
	var timedOut, stdinFailed bool
	select {
	case err := <-readDone:
		// The server closed first, or the connection failed.
		return s.exitStatus(err, 0, replied, false)
	case <-waitReply:
		s.log.Debug("reply received; closing")
	case err := <-inputDone:
		var se *stdinError
		switch {
		case err == nil:
			s.log.Debug("stdin ended; closing")
		case errors.As(err, &se):
			fmt.Fprintf(s.errw, "wsc: %v\n", err)
			stdinFailed = true
		default:
			s.log.Debug("send failed", "err", err)
		}
	case <-timeout:
		timedOut = true
		if exec {
			fmt.Fprintf(s.errw, "wsc: no reply within %v\n", s.o.timeout)
		} else {
			s.log.Debug("--timeout passed; closing", "timeout", s.o.timeout)
		}
	case <-ctx.Done():
		code, reason = frame.CloseGoingAway, ""
		s.log.Debug("interrupted; closing with 1001")
	}

	// RFC 6455 §7.1.2: start the close handshake, then keep reading (and
	// printing) until the server's close frame arrives.
	s.log.Debug("sending close", "code", code.String(), "reason", reason)
	if err := c.WriteClose(code, reason); err != nil {
		s.log.Debug("send close failed", "err", err)
	}
	wait := time.NewTimer(closeWait)
	defer wait.Stop()
	var err error
	select {
	case err = <-readDone:
	case <-wait.C:
		fmt.Fprintf(s.errw, "wsc: the server did not answer the close frame within %v; closing TCP\n", closeWait)
		c.CloseNow()
		err = <-readDone
	}
	st := s.exitStatus(err, code, replied, timedOut)
	if st == exitOK && stdinFailed {
		return exitFailure
	}
	return st
}

// exitStatus turns the reader's final error into the exit status, printing
// why on stderr when the end was not normal. sent is the close code wsc
// sent, 0 if the server closed first.
func (s *session) exitStatus(err error, sent frame.CloseCode, replied <-chan struct{}, timedOut bool) int {
	gotReply := false
	select {
	case <-replied:
		gotReply = true
	default:
	}
	exec := s.o.execute != nil

	var ce *frame.CloseError
	if !errors.As(err, &ce) {
		ce = &frame.CloseError{Code: frame.CloseAbnormal, Err: err}
	}
	clean := false
	var why string
	switch {
	case errors.Is(ce, frame.ErrCloseTimeout):
		why = fmt.Sprintf("the server did not answer the close frame within %v; wsc closed TCP", frame.DefaultCloseTimeout)
	case ce.Local && ce.Code == frame.CloseAbnormal:
		why = "connection lost: " + ce.Err.Error()
	case ce.Local:
		// We failed the connection (RFC 6455 §7.1.7): the server broke
		// the protocol.
		why = fmt.Sprintf("connection failed: wsc closed it with %s", ce.Code)
		if ce.Reason != "" {
			why += ": " + ce.Reason
		}
	case ce.Code == frame.CloseAbnormal:
		why = "connection lost without a close frame (1006 abnormal closure)"
		if ce.Err != nil {
			why += ": " + ce.Err.Error()
		}
	case ce.Code == frame.CloseNormal, ce.Code == frame.CloseGoingAway, ce.Code == frame.CloseNoStatus,
		sent != 0 && ce.Code == sent:
		clean = true
	default:
		why = "the server closed the connection: " + closeStatus(ce)
	}
	if clean {
		s.log.Debug("closed", "code", ce.Code.String(), "reason", ce.Reason, "initiator", initiator(sent))
	}
	// The server ended the connection with its close frame (RFC 6455
	// §7.1.5): say how, even when that is a normal end, so that a user of
	// an interactive session knows why it stopped. (When wsc closed first,
	// the server's close frame only echoes wsc's.)
	serverClosed := clean && sent == 0

	if exec {
		switch {
		case gotReply:
			if !clean {
				s.log.Warn("after the reply: " + why)
			} else if serverClosed {
				fmt.Fprintf(s.errw, "wsc: the server closed the connection: %s\n", closeStatus(ce))
			}
			return exitOK
		case !clean:
			fmt.Fprintf(s.errw, "wsc: %s\n", why)
			return exitAbnormal
		case timedOut:
			return exitFailure // "no reply within" already printed
		default:
			fmt.Fprintf(s.errw, "wsc: the server closed the connection before replying: %s\n", closeStatus(ce))
			return exitFailure
		}
	}
	if !clean {
		fmt.Fprintf(s.errw, "wsc: %s\n", why)
		return exitAbnormal
	}
	if serverClosed {
		fmt.Fprintf(s.errw, "wsc: the server closed the connection: %s\n", closeStatus(ce))
	}
	return exitOK
}

// closeStatus renders the close frame's status code and reason (RFC 6455
// §7.1.5, §7.1.6), e.g. `1001 going away: "server shutting down"`; the
// reason is quoted, as it comes from the peer.
func closeStatus(ce *frame.CloseError) string {
	if ce.Reason == "" {
		return ce.Code.String()
	}
	return ce.Code.String() + ": " + strconv.Quote(ce.Reason)
}

func initiator(sent frame.CloseCode) string {
	if sent != 0 {
		return "wsc"
	}
	return "server"
}

// readLoop prints every message received until the connection ends,
// including those that arrive after wsc sent its close frame (the server
// may finish sending before it answers, RFC 6455 §5.5.1), and returns the
// final read error (a *frame.CloseError). With -x only the reply is
// printed: the first message, or the first that matches --match; replied
// is closed after it.
func (s *session) readLoop(replied chan<- struct{}) error {
	var buf []byte
	gotReply := false
	for {
		op, msg, err := s.c.ReadMessage(buf)
		if err != nil {
			return err
		}
		buf = msg
		switch {
		case s.o.execute == nil:
			s.print(op, msg)
		case gotReply:
			s.log.Debug("message after the -x reply, not printed", "bytes", len(msg))
		case s.o.match != nil && !s.o.match.Match(msg):
			s.log.Debug("message does not match --match, skipped", "bytes", len(msg))
		default:
			s.print(op, msg)
			gotReply = true
			close(replied)
		}
	}
}

// print writes one message to stdout in a single write: text as is, binary
// as hex, each followed by a newline; binary with --raw as the bytes alone.
func (s *session) print(op frame.Opcode, msg []byte) {
	b := s.outbuf[:0]
	switch {
	case op == frame.OpText:
		b = append(append(b, msg...), '\n')
	case s.o.raw:
		b = append(b, msg...)
	default:
		b = append(hex.AppendEncode(b, msg), '\n')
	}
	s.stdout.Write(b)
	if cap(b) <= 64<<10 {
		s.outbuf = b
	}
}

// sendLines sends each line of r, without its line ending ("\n" or
// "\r\n"), as one message of type op. It returns nil at the end of r.
// A text line that is not valid UTF-8 is skipped with a warning: RFC 6455
// §8.1 makes the server fail the connection on it.
func (s *session) sendLines(r io.Reader, op frame.Opcode) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = trimEOL(line)
			if op == frame.OpText && !utf8.Valid(line) {
				fmt.Fprintf(s.errw, "wsc: stdin line %d is not valid UTF-8; not sent (use -b to send binary)\n", lineNo)
			} else if werr := s.c.WriteMessage(op, line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &stdinError{err}
		}
	}
}

func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

// pingLoop sends a ping every --ping interval (RFC 6455 §5.5.2) with a
// payload that onPong matches to its pong (§5.5.3: the pong carries the
// ping's "Application data").
func (s *session) pingLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.o.ping)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return
		case <-s.c.Done():
			return
		case <-t.C:
		}
		p := "wsc-ping-" + strconv.Itoa(seq)
		s.pingMu.Lock()
		if s.pings == nil || len(s.pings) > 100 {
			s.pings = make(map[string]time.Time) // forget pings never answered
		}
		s.pings[p] = time.Now()
		s.pingMu.Unlock()
		if err := s.c.WriteControl(frame.OpPing, []byte(p)); err != nil {
			return
		}
	}
}

// onPong prints the round-trip time of one of our pings; it runs in the
// reading goroutine.
func (s *session) onPong(p []byte) {
	s.pingMu.Lock()
	sent, ok := s.pings[string(p)]
	delete(s.pings, string(p))
	s.pingMu.Unlock()
	if !ok {
		s.log.Debug("unsolicited pong", "payload", string(p))
		return
	}
	seq := strings.TrimPrefix(string(p), "wsc-ping-")
	fmt.Fprintf(s.errw, "pong seq=%s rtt=%v\n", seq, time.Since(sent).Round(time.Microsecond))
}

// traceFrame is the frame.Config.Trace hook of --show-frames.
func (s *session) traceFrame(_ *frame.Conn, dir frame.Direction, h frame.Header, p []byte) {
	fmt.Fprintf(s.errw, "%s %s\n", time.Now().Format("15:04:05.000"), trace.Frame(dir, h, p))
}

// logConnected logs what the handshake agreed (-v).
func (s *session) logConnected(resp *handshake.Response) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := []any{"url", s.o.url.Redacted(), "remote", s.c.NetConn().RemoteAddr().String()}
	if resp.Subprotocol != "" {
		attrs = append(attrs, "subprotocol", resp.Subprotocol)
	}
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); ext != "" {
		attrs = append(attrs, "extensions", ext)
	}
	attrs = append(attrs, "compression", resp.Deflate != nil)
	if tc, ok := s.c.NetConn().(*tls.Conn); ok {
		st := tc.ConnectionState()
		attrs = append(attrs, "tls", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	}
	s.log.Debug("connected", attrs...)
	if len(s.o.protocols) > 0 && resp.Subprotocol == "" {
		s.log.Debug("the server chose none of the offered subprotocols", "offered", strings.Join(s.o.protocols, ","))
	}
}
