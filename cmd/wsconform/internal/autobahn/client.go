package autobahn

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/ws6455/ws6455/handshake"
)

// RunClientCase runs one case against a server (Autobahn's fuzzingclient
// mode): connect, opening handshake, the case, and the verdicts once the
// TCP connection is gone. agent names the server in the result; if empty,
// the Server header of the handshake response is used. opts.Role must be
// RoleClient.
//
// A failed opening handshake is a result (the case FAILED); the error is
// non-nil only when the server could not be reached at all
// (IsConnectError), which ends a run in Autobahn.
func RunClientCase(ctx context.Context, d *Def, t Target, opts Options, agent string) (*Result, error) {
	opts.Role = RoleClient
	r := newRun(d)
	p := newPeer(opts, r)
	started := time.Now()

	var (
		nc  net.Conn
		hs  *handshakeResult
		err error
	)
	if t.HTTP2 {
		var hd *handshake.Dialer
		nc, hs, hd, err = http2Handshake(ctx, t, opts, d.DeflateOffers)
		if hd != nil {
			// The case's own HTTP/2 connection ends with the case.
			defer hd.CloseIdleConnections()
		}
		if IsConnectError(err) {
			return nil, err
		}
	} else {
		nc, err = dialTCP(ctx, t, opts)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() { nc.Close() })
		defer stop()
		hs, err = clientHandshake(nc, t, opts, d.DeflateOffers)
	}
	if nc != nil {
		p.nc = nc
		if t.HTTP2 {
			// (The Dialer's handshake itself was bounded by ctx.)
			stop := context.AfterFunc(ctx, func() { nc.Close() })
			defer stop()
		}
	}
	var he *handshakeError
	if errors.As(err, &he) {
		if nc != nil {
			nc.Close()
		}
		p.droppedByMe = true
		p.state = StateClosed
		p.wasNotCleanReason = he.reason
		if he.timeout {
			p.wasNotCleanReason = "peer did not finish (in time) the opening handshake"
			p.wasOpenHandshakeTimeout = true
		}
		p.caseStart = started
		p.caseEnd = time.Now()
		r.evaluate()
		if agent == "" {
			agent = "UnknownServer"
		}
		return buildResult(r, agent, started, he.request, he.response), nil
	} else if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, err
	}
	if agent == "" {
		agent = hs.server
		if agent == "" {
			agent = "UnknownServer"
		}
	}
	p.deflate = hs.deflate
	p.traffic.PreopenOutgoingOctetsWire = int64(len(hs.request))
	p.traffic.PreopenIncomingOctetsWire = int64(len(hs.response))
	p.stream = t.HTTP2
	p.runOpen(nc, hs.buffered)
	return buildResult(r, agent, started, hs.request, hs.response), nil
}

// runOpen runs the case on an open connection until the TCP connection is
// gone, then computes the verdicts. buffered holds bytes read past the
// opening handshake.
func (p *Peer) runOpen(nc net.Conn, buffered []byte) {
	p.nc = nc
	p.w = newWriter(nc, p.stream)
	p.state = StateOpen
	p.connectionWasOpen = true
	p.caseStart = time.Now()
	p.armWatchdog(0)
	if p.deflate != nil {
		p.pmce = newDeflateCodec(*p.deflate, p.opts.Role)
	}

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		readLoop(nc, p.q, buffered)
	}()

	p.run.Def.Open(p.run)
	p.flushPending()
	for !p.lost {
		for _, ev := range p.q.take() {
			p.dispatch(ev)
			p.flushPending()
			if p.lost {
				break
			}
		}
	}
	p.caseEnd = time.Now()

	for _, t := range p.timers {
		t.cancel()
	}
	if p.watchdog != nil {
		p.watchdog.Stop()
	}
	p.w.abort()
	<-readDone
	p.w.stop()
	p.run.evaluate()
}

func (p *Peer) dispatch(ev any) {
	switch ev := ev.(type) {
	case evFrame:
		p.processFrame(ev)
	case evOctets:
		p.rxOctetStats[ev.n]++
		if p.state == StateOpen {
			p.traffic.IncomingOctetsWireLevel += int64(ev.n)
		}
		if p.createWirelog {
			p.wirelog = append(p.wirelog, []any{"RO", []any{ev.n, logHex(ev.head, 64)}})
		}
	case evTimer:
		if !ev.t.cancelled {
			ev.fn()
		}
	case evWatchdog:
		p.onWatchdog()
	case evLost:
		p.connectionLost()
	}
}

// connectionLost is Autobahn's _connectionLost: the TCP connection is gone,
// whoever closed it.
func (p *Peer) connectionLost() {
	p.serverDropTime.cancel()
	p.serverDropTime = nil
	p.state = StateClosed
	if !p.wasClean && !p.droppedByMe && p.wasNotCleanReason == "" {
		p.wasNotCleanReason = "peer dropped the TCP connection without previous WebSocket closing handshake"
	}
	p.lost = true
}
