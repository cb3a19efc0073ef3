package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// floor-uring is floor-epoll's model with io_uring in place of epoll: one
// run-to-completion loop per P, locked to its OS thread, each with a ring
// of its own. A ring is two queues in memory shared with the kernel (mmap):
//
//   - the submission queue (SQ): the loop fills an SQE ("recv into this
//     buffer", "send these bytes") at the SQ's tail and moves the tail on;
//     the kernel takes SQEs from the head.
//   - the completion queue (CQ): the kernel puts a CQE (the SQE's user_data
//     and its result: bytes moved, or -errno) at the CQ's tail; the loop
//     takes CQEs from the head.
//
// The loop queues SQEs while it handles completions, then makes ONE
// io_uring_enter that submits them all and sleeps until at least one
// completion is in; then it handles every CQE there, and so on: many
// connections' receives and sends for one system call.
//
// A connection has one operation in flight at a time: a RECV into its
// buffer; on its completion the bytes are turned into the echo in place
// (floorConn.echo) and a SEND of it follows (again for the rest, after a
// short send); on the send's completion, the next RECV. A recv of 0 bytes
// or an error closes the socket. An SQE's user_data is its descriptor and
// its opcode: fd<<8 | IORING_OP_*. New connections reach a loop on a list
// and an eventfd that always has an IORING_OP_READ pending in the ring: a
// write to the eventfd completes that read and so wakes the loop.
func init() {
	impls["floor-uring"] = serveFloorUring
}

// From linux/io_uring.h. The system call numbers are those of the common
// table (amd64, arm64 and most others).
const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	ioringOpRead = 22 // IORING_OP_READ
	ioringOpSend = 26 // IORING_OP_SEND
	ioringOpRecv = 27 // IORING_OP_RECV

	ioringSetupCQSize       = 1 << 3     // IORING_SETUP_CQSIZE: cq_entries is ours
	ioringSetupSingleIssuer = 1 << 12    // IORING_SETUP_SINGLE_ISSUER: one thread submits (Linux 6.0)
	ioringSetupDeferTaskrun = 1 << 13    // IORING_SETUP_DEFER_TASKRUN: completion work waits for io_uring_enter (6.1)
	ioringFeatSingleMmap    = 1 << 0     // IORING_FEAT_SINGLE_MMAP: SQ and CQ rings in one mapping (5.4)
	ioringEnterGetevents    = 1 << 0     // IORING_ENTER_GETEVENTS: wait for min_complete completions
	ioringOffSQRing         = 0          // IORING_OFF_SQ_RING: mmap offset of the rings
	ioringOffSQEs           = 0x10000000 // IORING_OFF_SQES: mmap offset of the SQE array

	// A connection has one operation in flight, so the CQ holds every
	// completion of 8191 connections per loop; beyond, the kernel keeps the
	// overflow (IORING_FEAT_NODROP). A batch that fills the SQ submits early.
	uringSQEntries = 1024
	uringCQEntries = 8192
)

// uringParams is struct io_uring_params: io_uring_setup reads the flags and
// fills in the sizes, the features and where the rings' fields lie in the
// mapping.
type uringParams struct {
	sqEntries, cqEntries, flags uint32
	sqThreadCPU, sqThreadIdle   uint32
	features, wqFD              uint32
	_                           [3]uint32
	sqOff                       uringSQOffsets
	cqOff                       uringCQOffsets
}

// uringSQOffsets is struct io_sqring_offsets.
type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, _ uint32
	_                                                           uint64
}

// uringCQOffsets is struct io_cqring_offsets.
type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, _ uint32
	_                                                           uint64
}

// uringSQE is struct io_uring_sqe, with the fields a read, a recv and a
// send use.
type uringSQE struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64 // the buffer
	len      uint32
	msgFlags uint32
	userData uint64
	_        [3]uint64
}

// uringCQE is struct io_uring_cqe.
type uringCQE struct {
	userData uint64
	res      int32 // the result: bytes moved, or -errno
	flags    uint32
}

// The kernel's sizes, checked when compiling.
var (
	_ [120]byte = [unsafe.Sizeof(uringParams{})]byte{}
	_ [64]byte  = [unsafe.Sizeof(uringSQE{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(uringCQE{})]byte{}
)

// uring is one ring. The loop owns the SQ's tail and the CQ's head, the
// kernel the SQ's head and the CQ's tail; each side reads the other's with
// an atomic load and publishes its own with an atomic store.
type uring struct {
	fd             int
	sqHead, sqTail *uint32 // in the mapping
	sqMask, sqLen  uint32
	sqes           []uringSQE
	tail           uint32 // SQEs queued up to here; the kernel sees them at enter
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []uringCQE
}

// newUring sets up a ring for the calling thread and maps it.
func newUring() (*uring, error) {
	p := uringParams{flags: ioringSetupCQSize | ioringSetupSingleIssuer | ioringSetupDeferTaskrun, cqEntries: uringCQEntries}
	fd, err := uringSetup(&p)
	if err == syscall.EINVAL { // before Linux 6.1: without the two hints
		p = uringParams{flags: ioringSetupCQSize, cqEntries: uringCQEntries}
		fd, err = uringSetup(&p)
	}
	if err != nil {
		return nil, fmt.Errorf("io_uring_setup: %w (is io_uring allowed? see /proc/sys/kernel/io_uring_disabled)", err)
	}
	if p.features&ioringFeatSingleMmap == 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("no IORING_FEAT_SINGLE_MMAP (Linux 5.4)")
	}
	ringsLen := max(p.sqOff.array+4*p.sqEntries, p.cqOff.cqes+uint32(unsafe.Sizeof(uringCQE{}))*p.cqEntries)
	rings, err := syscall.Mmap(fd, ioringOffSQRing, int(ringsLen), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	sqes, err := syscall.Mmap(fd, ioringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		syscall.Munmap(rings)
		syscall.Close(fd)
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	at := func(off uint32) unsafe.Pointer { return unsafe.Pointer(&rings[off]) }
	r := &uring{
		fd:     fd,
		sqHead: (*uint32)(at(p.sqOff.head)), sqTail: (*uint32)(at(p.sqOff.tail)),
		sqMask: *(*uint32)(at(p.sqOff.ringMask)), sqLen: p.sqEntries,
		sqes:   unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqes[0])), p.sqEntries),
		cqHead: (*uint32)(at(p.cqOff.head)), cqTail: (*uint32)(at(p.cqOff.tail)),
		cqMask: *(*uint32)(at(p.cqOff.ringMask)),
		cqes:   unsafe.Slice((*uringCQE)(at(p.cqOff.cqes)), p.cqEntries),
	}
	// The SQ ring holds indexes into the SQE array: slot i holds SQE i, for good.
	array := unsafe.Slice((*uint32)(at(p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.tail = *r.sqTail
	return r, nil
}

func uringSetup(p *uringParams) (int, error) {
	fd, _, errno := syscall.Syscall(sysIOUringSetup, uringSQEntries, uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// push queues an SQE: op on fd, with the buffer b. If the SQ is full, what
// it holds is submitted first.
func (r *uring) push(op uint8, fd int, b []byte, msgFlags uint32) {
	for r.tail-atomic.LoadUint32(r.sqHead) == r.sqLen {
		r.enter(0)
	}
	r.sqes[r.tail&r.sqMask] = uringSQE{
		opcode:   op,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))),
		len:      uint32(len(b)),
		msgFlags: msgFlags,
		userData: uint64(fd)<<8 | uint64(op),
	}
	r.tail++
}

// enter publishes the queued SQEs and submits them, in one io_uring_enter
// that also waits until minComplete completions are in the CQ.
func (r *uring) enter(minComplete uint32) syscall.Errno {
	atomic.StoreUint32(r.sqTail, r.tail)
	toSubmit := r.tail - atomic.LoadUint32(r.sqHead)
	var flags uintptr
	if minComplete > 0 {
		flags = ioringEnterGetevents
	}
	_, _, errno := syscall.Syscall6(sysIOUringEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), flags, 0, 0)
	return errno
}

// wait is a loop's round trip: it submits what the last completions queued
// and waits for one completion at least.
func (r *uring) wait(who string) {
	switch errno := r.enter(1); errno {
	case 0, syscall.EINTR, syscall.EAGAIN, syscall.EBUSY: // the last two: handle completions first
	default:
		panic(who + ": io_uring_enter: " + errno.Error())
	}
}

// next takes the next CQE off the CQ; ok is false when the CQ is empty.
func (r *uring) next() (c uringCQE, ok bool) {
	head := atomic.LoadUint32(r.cqHead)
	if head == atomic.LoadUint32(r.cqTail) {
		return c, false
	}
	c = r.cqes[head&r.cqMask]
	atomic.StoreUint32(r.cqHead, head+1) // the slot is the kernel's again
	return c, true
}

// uringWake is how connections reach a loop blocked in io_uring_enter: an
// eventfd that always has an IORING_OP_READ pending in the loop's ring. A
// write to the eventfd completes that read, and so wakes the loop.
type uringWake struct {
	fd  int
	buf [8]byte // where the pending read lands
}

// open makes the eventfd and queues its first read in r.
func (w *uringWake) open(r *uring, who string) error {
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return fmt.Errorf("%s: eventfd: %w", who, errno)
	}
	w.fd = int(fd)
	w.rearm(r)
	return nil
}

// rearm queues the next read of the eventfd, after a completion of the last.
func (w *uringWake) rearm(r *uring) { r.push(ioringOpRead, w.fd, w.buf[:], 0) }

// signal completes the loop's pending read.
func (w *uringWake) signal() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	syscall.Write(w.fd, one[:])
}

// uringLoop is one loop: its ring, its connections by descriptor, and the
// connections handed to it and not yet taken.
type uringLoop struct {
	r     *uring
	conns map[int]*floorConn
	wake  uringWake
	mu    sync.Mutex
	added []*floorConn
}

// serveFloorUring starts GOMAXPROCS loops, each setting up its ring on its
// own thread, and deals them the connections, round-robin, in blocking
// mode: io_uring never blocks on a socket (it tries without waiting, then
// polls), and a blocking socket never ends a recv with -EAGAIN.
func serveFloorUring(ln net.Listener) error {
	loops := make([]*uringLoop, runtime.GOMAXPROCS(0))
	ready := make(chan error)
	for i := range loops {
		loops[i] = &uringLoop{conns: map[int]*floorConn{}}
		go loops[i].run(ready)
	}
	var err error
	for range loops {
		if e := <-ready; err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	return floorHandOff(ln, false, func(next int, f *floorConn) { loops[next%len(loops)].add(f) })
}

// add hands f to the loop: onto the list, and a write to the eventfd
// completes the loop's pending read of it.
func (l *uringLoop) add(f *floorConn) {
	l.mu.Lock()
	l.added = append(l.added, f)
	l.mu.Unlock()
	l.wake.signal()
}

// run sets up the ring, reports on ready, and loops: one io_uring_enter
// submits what the last completions queued and waits for one completion
// at least; then every CQE in the CQ is handled.
func (l *uringLoop) run(ready chan<- error) {
	runtime.LockOSThread() // the ring's one submitter, for good
	r, err := newUring()
	if err == nil {
		l.r = r
		err = l.wake.open(r, "floor-uring")
	} else {
		err = fmt.Errorf("floor-uring: %w", err)
	}
	ready <- err
	if err != nil {
		return
	}
	for {
		r.wait("floor-uring")
		for c, ok := r.next(); ok; c, ok = r.next() {
			l.complete(c)
		}
	}
}

// complete handles one completion and queues what comes next.
func (l *uringLoop) complete(c uringCQE) {
	fd, op := int(c.userData>>8), uint8(c.userData)
	if op == ioringOpRead { // the eventfd: new connections
		l.wake.rearm(l.r)
		l.mu.Lock()
		added := l.added
		l.added = nil
		l.mu.Unlock()
		for _, f := range added {
			l.conns[f.fd] = f
			l.received(f, f.have) // the bytes that came behind the handshake, if any
		}
		return
	}
	f := l.conns[fd]
	switch {
	case c.res <= 0: // the peer closed, or an error
		l.drop(f)
	case op == ioringOpRecv:
		l.received(f, f.have+int(c.res))
	default: // a send
		f.out = f.out[c.res:]
		l.next(f)
	}
}

// received turns the n bytes in f.buf into the echo and queues what comes
// next.
func (l *uringLoop) received(f *floorConn, n int) {
	f.out, f.closed = f.echo(n)
	l.next(f)
}

// next queues f's next operation: a send of what is left of the echo; once
// it is all out, a recv, or the end after the echo of a close.
func (l *uringLoop) next(f *floorConn) {
	switch {
	case len(f.out) > 0:
		l.r.push(ioringOpSend, f.fd, f.out, syscall.MSG_NOSIGNAL)
	case f.closed:
		l.drop(f)
	default:
		f.tail()
		l.r.push(ioringOpRecv, f.fd, f.buf[f.have:], 0)
	}
}

// drop closes f, which has no operation in flight.
func (l *uringLoop) drop(f *floorConn) {
	delete(l.conns, f.fd)
	syscall.Close(f.fd)
}
