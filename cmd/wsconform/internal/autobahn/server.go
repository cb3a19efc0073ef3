package autobahn

import (
	"net"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// RunServerCase runs one case with the fuzzer as the server, on a
// connection whose opening handshake the caller has completed (Autobahn's
// fuzzingserver mode, where a client under test connects to
// /runCase?case=N&agent=NAME). buffered holds bytes read past the client's
// request; request and response are the handshake texts for the report;
// deflate are the permessage-deflate parameters the response agreed to
// (ServerDeflate), or nil.
//
// The case code is the same as in RunClientCase: only the Peer's role
// changes (no masking, masked frames required, the server drops TCP after
// the close handshake, and no FAILED BY CLIENT verdict).
//
// wsconform -serve is the accept loop around it: it reads the request,
// maps the case number of the URI to a Def, answers the handshake (with
// ServerDeflate for the compression cases) and writes the reports.
func RunServerCase(d *Def, nc net.Conn, buffered []byte, opts Options, agent, request, response string, deflate *frame.DeflateParams) *Result {
	opts.Role = RoleServer
	r := newRun(d)
	p := newPeer(opts, r)
	started := time.Now()
	p.deflate = deflate
	p.traffic.PreopenIncomingOctetsWire = int64(len(request))
	p.traffic.PreopenOutgoingOctetsWire = int64(len(response))
	p.runOpen(nc, buffered)
	return buildResult(r, agent, started, request, response)
}
