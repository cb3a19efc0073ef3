//go:build linux

// Package proc reads another process's CPU time and memory from Linux
// (clock_gettime on the process CPU clock, /proc/<pid>/stat and status), so
// that a load generator can charge an echo server for exactly the CPU it
// used between two instants.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// CPU is the CPU time used by a process (all its threads, live and
// exited) up to some instant.
type CPU struct {
	Total     time.Duration // nanosecond-precise scheduler time
	User, Sys time.Duration // split from /proc/<pid>/stat (10 ms resolution)
}

// Sub returns the CPU time used between b and a.
func (a CPU) Sub(b CPU) CPU {
	return CPU{Total: a.Total - b.Total, User: a.User - b.User, Sys: a.Sys - b.Sys}
}

// ReadCPU returns the CPU time used by process pid so far.
func ReadCPU(pid int) (CPU, error) {
	var c CPU
	total, err := cpuClock(pid)
	if err != nil {
		return c, err
	}
	c.Total = total
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return c, err
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state(3) ... utime(14) stime(15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return c, fmt.Errorf("proc: malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return c, fmt.Errorf("proc: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return c, fmt.Errorf("proc: /proc/%d/stat: %w", pid, err)
	}
	c.User = time.Duration(ut) * time.Second / clockTicks
	c.Sys = time.Duration(st) * time.Second / clockTicks
	return c, nil
}

// cpuClock reads the process-wide CPU clock of pid, the clock id that
// clock_getcpuclockid(3) computes: ((^pid) << 3) | CPUCLOCK_SCHED.
func cpuClock(pid int) (time.Duration, error) {
	const cpuclockSched = 2
	id := (^int64(pid))<<3 | cpuclockSched
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 {
		return 0, fmt.Errorf("proc: clock_gettime(cpu clock of %d): %w", pid, e)
	}
	return time.Duration(ts.Nano()), nil
}

// RSS returns the resident set size of process pid in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("proc: VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("proc: no VmRSS in /proc/%d/status", pid)
}
