package autobahn

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/handshake"
)

// Sections 12 and 13: permessage-deflate (RFC 7692). Every case offers the
// extension in the opening handshake, then sends a fixed number of
// compressed messages, each a slice of a payload file, one at a time: the
// next goes out when the echo of the previous one has come back whole and
// equal. Section 12 varies the payload (five kinds), section 13 the offer
// (context takeover, window bits, several offers); both go through the
// same 18 message sizes and fragmentations. A server that declines every
// offer gets UNIMPLEMENTED; one whose answer is not a valid acceptance of
// an offer fails the opening handshake. Echoes may come back compressed or
// not (RFC 7692 §6: the sender chooses per message).

func init() {
	section12()
	section13()
}

// pmceSize is one of Autobahn's MSG_SIZES: the length of each message (in
// bytes, or code points for text), how many are sent, the time the whole
// case may take, and the size of the frames the compressed message is cut
// into (0: one frame).
type pmceSize struct {
	n     int
	count int
	wait  time.Duration
	frag  int
}

var pmceSizes = []pmceSize{
	{16, 1000, 60 * sec, 0},
	{64, 1000, 60 * sec, 0},
	{256, 1000, 120 * sec, 0},
	{1024, 1000, 240 * sec, 0},
	{4096, 1000, 480 * sec, 0},
	{8192, 1000, 480 * sec, 0},
	{16384, 1000, 480 * sec, 0},
	{32768, 1000, 480 * sec, 0},
	{65536, 1000, 480 * sec, 0},
	{131072, 1000, 480 * sec, 0},

	{8192, 1000, 480 * sec, 256},
	{16384, 1000, 480 * sec, 256},
	{32768, 1000, 480 * sec, 256},
	{65536, 1000, 480 * sec, 256},
	{131072, 1000, 480 * sec, 256},
	{131072, 1000, 480 * sec, 1024},
	{131072, 1000, 480 * sec, 4096},
	{131072, 1000, 480 * sec, 32768},
}

func offersHeader(offers []DeflateOffer) string {
	exts := make([]handshake.Extension, len(offers))
	for i, o := range offers {
		exts[i] = o.Extension()
	}
	return handshake.FormatExtensions(exts)
}

func pmceDescription(ps *payloadSet, s pmceSize, offers []DeflateOffer) string {
	unit, kind := "code points", "text"
	if ps.binary {
		unit, kind = "bytes", "binary"
	}
	frag := "each in one frame"
	if s.frag > 0 {
		frag = fmt.Sprintf("the compressed data cut into frames of %d bytes", s.frag)
	}
	return fmt.Sprintf("Send %d compressed %s messages of %d %s each (consecutive slices of the payload), one at a time, %s. Offer: <code>%s</code>",
		s.count, kind, s.n, unit, frag, offersHeader(offers))
}

func pmceExpectation(s pmceSize) string {
	return fmt.Sprintf("Each message comes back with the payload sent (compressed or not), all within %d s. Clean close with normal code.", int(s.wait/sec))
}

func section12() {
	offers := []DeflateOffer{autobahnOffer(false, 0)}
	for j, ps := range payloadSets {
		kind := "utf8"
		if ps.binary {
			kind = "binary"
		}
		subcategories[fmt.Sprintf("12.%d", j+1)] = fmt.Sprintf("%s (%s, %d bytes)", ps.desc, kind, ps.size)
		for i, s := range pmceSizes {
			register(&Def{
				ID:                     fmt.Sprintf("12.%d.%d", j+1, i+1),
				Description:            pmceDescription(ps, s, offers),
				Expectation:            pmceExpectation(s),
				ReportTime:             true,
				ReportCompressionRatio: true,
				DeflateOffers:          offers,
				DeflateAccept:          acceptFirst,
				Open:                   func(r *Run) { pmceOpen(r, ps, s) },
				Lost:                   pmceLost,
			})
		}
	}
}

func section13() {
	// Autobahn's DEFLATE_PARAMS: the offers of each subsection, as
	// (server_no_context_takeover, server_max_window_bits) pairs.
	offerSets := [][]DeflateOffer{
		{autobahnOffer(false, 0)},
		{autobahnOffer(true, 0)},
		{autobahnOffer(false, 9)},
		{autobahnOffer(false, 15)},
		{autobahnOffer(true, 9)},
		{autobahnOffer(true, 15)},
		{autobahnOffer(true, 9), autobahnOffer(true, 0), autobahnOffer(false, 0)},
	}
	// Autobahn's accept1 to accept7: how the fuzzer answers as the
	// server, as (client_no_context_takeover, client_max_window_bits)
	// asked of the client.
	accepts := []func([]ClientOffer) *DeflateAcceptance{
		acceptFirst,
		acceptWith(true, 0),
		acceptWith(false, 9),
		acceptWith(false, 15),
		acceptWith(true, 9),
		acceptWith(true, 15),
		acceptFallback(acceptWith(true, 9), acceptWith(true, 0), acceptFirst),
	}
	acceptDescs := []string{"[(False, 0)]", "[(True, 0)]", "[(False, 9)]", "[(False, 15)]", "[(True, 9)]", "[(True, 15)]", "[(True, 9), (True, 0), (False, 0)]"}
	ps := payloadSets[0] // json_data1
	for j, offers := range offerSets {
		subcategories[fmt.Sprintf("13.%d", j+1)] = fmt.Sprintf("%s (utf8, %d bytes) - client offers (requestNoContextTakeover, requestMaxWindowBits): %s / server accept (requestNoContextTakeover, requestMaxWindowBits): %s",
			ps.desc, ps.size, describeOffers(offers), acceptDescs[j])
		for i, s := range pmceSizes {
			register(&Def{
				ID:                     fmt.Sprintf("13.%d.%d", j+1, i+1),
				Description:            pmceDescription(ps, s, offers),
				Expectation:            pmceExpectation(s),
				ReportTime:             true,
				ReportCompressionRatio: true,
				DeflateOffers:          offers,
				DeflateAccept:          accepts[j],
				Open:                   func(r *Run) { pmceOpen(r, ps, s) },
				Lost:                   pmceLost,
			})
		}
	}
}

// pmceOpen is the onOpen of Autobahn's Case12_X_X and Case13_X_X.
func pmceOpen(r *Run, ps *payloadSet, s pmceSize) {
	p := r.P
	r.ExpectClose(closeNormal)
	p.EnableWirelog(false)
	p.SetAutoFragmentSize(s.frag)
	if p.Deflate() == nil {
		r.Behavior = Unimplemented
		r.Result = "The server declined the permessage-deflate offer."
		p.SendClose(1000, "")
		return
	}
	if _, err := ps.load(); err != nil {
		r.Behavior = Failed
		r.Result = "wsconform: " + err.Error()
		p.SendClose(1000, "")
		return
	}
	r.Behavior = Failed
	r.Result = fmt.Sprintf("Case did not finish within %d seconds.", int(s.wait/sec))
	p.CloseAfter(s.wait)

	units := ps.units()
	ptr, sent := 0, 0
	var expect []byte
	sendOne := func() {
		expect = nil
		if s.n > 0 {
			to := (ptr + s.n) % units
			expect = ps.slice(ptr, to)
			ptr = to
		}
		p.SendMessage(expect, ps.binary, 0)
		sent++
	}
	r.OnMessage = func(msg []byte, binary bool) {
		n := len(msg)
		if !ps.binary {
			n = utf8.RuneCount(msg)
		}
		switch {
		case binary != ps.binary:
			r.Behavior = Failed
			r.Result = fmt.Sprintf("Echo'ed message type differs from what I sent (got binary %s, expected binary %s).", pyBool(binary), pyBool(ps.binary))
		case n != s.n:
			r.Behavior = Failed
			r.Result = fmt.Sprintf("Echo'ed message length differs from what I sent (got length %d, expected length %d).", n, s.n)
		case !bytes.Equal(msg, expect):
			r.Behavior = Failed
			r.Result = fmt.Sprintf("Echo'ed message contents differs from what I sent (got SHA1 %x, expected SHA1 %x).", sha1.Sum(msg), sha1.Sum(expect))
		case sent < s.count:
			sendOne()
			return
		default:
			r.Behavior = OK
			r.Result = "Ok, received all echo'ed messages in time."
			ts := p.traffic
			r.TrafficStats = &ts
		}
		p.EnableWirelog(true)
		p.SendClose(1000, "")
	}
	sendOne()
}

// pmceLost names the cause when a compressed echo could not be inflated
// (Autobahn's zlib raises, and the connection is lost).
func pmceLost(r *Run) {
	if e := r.P.InflateError(); e != "" && r.Behavior == Failed && strings.HasPrefix(r.Result, "Case did not finish") {
		r.Result = "Could not decompress a message from the server: " + e
	}
}
