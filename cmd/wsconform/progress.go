package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress reports the run on stderr: on a terminal, one line redrawn in
// place (case n of N, id, time in the case and in the run); otherwise, one
// plain line per finished case.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	start time.Time

	mu        sync.Mutex
	n         int
	id        string
	caseStart time.Time
	stop      chan struct{}
	done      chan struct{}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func newProgress(w io.Writer, tty bool, total int) *progress {
	p := &progress{w: w, tty: tty, total: total, start: time.Now()}
	if tty {
		p.stop = make(chan struct{})
		p.done = make(chan struct{})
		go p.tick()
	}
	return p
}

func (p *progress) tick() {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

func (p *progress) draw() {
	if p.id == "" {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K[%*d/%d] case %-8s %5.1fs   (run %s)", len(fmt.Sprint(p.total)), p.n, p.total, p.id,
		time.Since(p.caseStart).Seconds(), time.Since(p.start).Round(time.Second))
}

// begin notes that case id, the n-th, starts.
func (p *progress) begin(n int, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n, p.id, p.caseStart = n, id, time.Now()
	if p.tty {
		p.draw()
	}
}

// end notes the outcome of the current case.
func (p *progress) end(outcome string, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		if failed {
			// Keep failures on screen above the progress line.
			fmt.Fprintf(p.w, "\r\x1b[Kcase %-8s %s\n", p.id, outcome)
		}
		return
	}
	fmt.Fprintf(p.w, "[%*d/%d] case %-8s %s\n", len(fmt.Sprint(p.total)), p.n, p.total, p.id, outcome)
}

// note prints a message without breaking the progress line.
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) close() {
	if p.tty {
		close(p.stop)
		<-p.done
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
