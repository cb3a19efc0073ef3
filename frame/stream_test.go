package frame

// StreamConn against the contract of net.Conn, in the spirit of
// golang.org/x/net/nettest.TestConn (which this module does not import):
// bytes in order in both directions whatever the chunking, concurrent
// use, deadlines in the past, present and future, Close unblocking a
// blocked Read, io.EOF at a normal end. The one documented difference, a
// write that times out in the middle of a frame failing the connection, is
// tested as such.

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// streamPair returns the two ends of a StreamConn over loopback TCP.
func streamPair(t *testing.T) (c1, c2 net.Conn) {
	srv, cli := connPair(t, transports[0], Config{}, Config{})
	return StreamConn(srv, OpBinary), StreamConn(cli, OpBinary)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Bytes arrive whole and in order, in both directions at once, whatever
// the sizes of the writes and reads.
func TestStreamConn_BasicIO(t *testing.T) {
	c1, c2 := streamPair(t)
	want := pattern(1<<20, 7)
	var wg sync.WaitGroup
	for _, pair := range [][2]net.Conn{{c1, c2}, {c2, c1}} {
		from, to := pair[0], pair[1]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(1, 2))
			for rest := want; len(rest) > 0; {
				n := min(len(rest), 1+r.IntN(70000))
				if _, err := from.Write(rest[:n]); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				rest = rest[n:]
			}
		})
		wg.Go(func() {
			got := make([]byte, 0, len(want))
			buf := make([]byte, 3000)
			to.SetReadDeadline(time.Now().Add(testTimeout))
			for len(got) < len(want) {
				n, err := to.Read(buf)
				if err != nil {
					t.Errorf("read after %d bytes: %v", len(got), err)
					return
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("stream corrupted")
			}
		})
	}
	wg.Wait()
}

// Reads from several goroutines at once are safe (each byte goes to one
// of them), as are writes.
func TestStreamConn_ConcurrentReadsAndWrites(t *testing.T) {
	c1, c2 := streamPair(t)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := c1.Write([]byte("0123456789")); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	var total sync.Mutex
	n := 0
	var readers sync.WaitGroup
	c2.SetReadDeadline(time.Now().Add(testTimeout))
	for range 4 {
		readers.Go(func() {
			buf := make([]byte, 7)
			for {
				k, err := c2.Read(buf)
				total.Lock()
				n += k
				done := n >= writers*each*10
				total.Unlock()
				if err != nil || done {
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(testTimeout)
	for {
		total.Lock()
		got := n
		total.Unlock()
		if got >= writers*each*10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes", got, writers*each*10)
		}
		time.Sleep(time.Millisecond)
	}
	c2.SetReadDeadline(time.Now()) // release the readers still waiting
	readers.Wait()
}

// A deadline in the past makes Read and Write fail at once with a timeout
// (net.Error.Timeout), and the connection stays usable once it is lifted.
func TestStreamConn_PastDeadline(t *testing.T) {
	c1, c2 := streamPair(t)
	c1.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c1.Write([]byte("x")); !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %v", err)
	}
	if _, err := c1.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	c1.SetDeadline(time.Time{})
	roundTripStream(t, c1, c2, "still usable")
}

// A read deadline that passes while a Read waits ends it with a timeout,
// in the middle of a message too; after it is moved, reading resumes where
// it stopped.
func TestStreamConn_ReadDeadlineWhileBlocked(t *testing.T) {
	c1, c2 := streamPair(t)
	c1.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c1.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("Read with nothing sent: %v, want a timeout", err)
	}
	// A message longer than the read buffer, read in two parts with a
	// timeout in between.
	if _, err := c2.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	c1.SetReadDeadline(time.Time{})
	buf := make([]byte, 3)
	if n, err := io.ReadFull(c1, buf); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("first part %q %v", buf[:n], err)
	}
	if n, err := io.ReadFull(c1, buf); err != nil || string(buf[:n]) != "def" {
		t.Fatalf("second part %q %v", buf[:n], err)
	}
	done := make(chan error, 1)
	go func() { _, err := c1.Read(make([]byte, 1)); done <- err }()
	c1.SetReadDeadline(time.Now()) // the present: the blocked Read ends
	select {
	case err := <-done:
		if !isTimeout(err) {
			t.Fatalf("blocked Read: %v, want a timeout", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("a deadline set while Read waited did not end it")
	}
	c1.SetReadDeadline(time.Time{})
	roundTripStream(t, c2, c1, "after the timeouts")
}

// The one difference from TCP: a write that times out after part of its
// frame went out fails the WebSocket connection (the stream would no
// longer parse); later writes and reads report it.
func TestStreamConn_WriteTimeoutMidFrameFailsConnection_RFC6455_7_1_7(t *testing.T) {
	s, c := tcpPairSmallBuffers(t, 16<<10)
	c1 := StreamConn(newTestConn(t, s, Config{Role: RoleServer}), OpBinary)
	c1.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_ = c // the peer never reads
	var err error
	for i := 0; i < 64 && err == nil; i++ {
		_, err = c1.Write(make([]byte, 1<<20))
	}
	if !isTimeout(err) {
		t.Fatalf("writes to a peer that does not read: %v, want a timeout", err)
	}
	c1.SetWriteDeadline(time.Time{})
	if _, err := c1.Write([]byte("x")); err == nil {
		t.Fatal("a write after a write timed out in the middle of a frame succeeded")
	}
}

// Close runs the close handshake and unblocks a Read waiting on the same
// connection; the peer's Read then returns io.EOF (normal closure), and
// so does every later one.
func TestStreamConn_CloseAndEOF_RFC6455_7_1_2(t *testing.T) {
	c1, c2 := streamPair(t)
	go io.Copy(io.Discard, c2) // the peer reads (and answers the close)
	blocked := make(chan error, 1)
	go func() { _, err := c1.Read(make([]byte, 1)); blocked <- err }()
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-blocked:
		if err == nil {
			t.Fatal("blocked Read returned no error")
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not unblock Read")
	}
	c3, c4 := streamPair(t)
	go c3.Close()
	for range 2 {
		c4.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := c4.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read after the peer's Close: %v, want io.EOF", err)
		}
	}
	if c1.LocalAddr() == nil || c1.RemoteAddr() == nil {
		t.Fatal("no addresses")
	}
}

// RFC 6455 §7.4.1 (1003): a message of the other type is refused.
func TestStreamConn_OtherType_RFC6455_7_4_1(t *testing.T) {
	srv, cli := connPair(t, transports[0], Config{}, Config{})
	s := StreamConn(srv, OpBinary)
	msgs := readLoop(cli)
	if err := cli.WriteMessage(OpText, []byte("text")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, errUnexpectedType) {
		t.Fatalf("Read of a text message on a binary stream: %v", err)
	}
	expectCloseError(t, msgs, CloseUnsupportedData, false)
}

func roundTripStream(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	to.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(to, buf); err != nil || string(buf) != msg {
		t.Fatalf("got %q %v, want %q", buf, err, msg)
	}
}
