#!/bin/bash
# results.sh: every measurement behind RESULTS.md, in one session, in the
# order RESULTS.md shows them. Servers on CPU 0, load on CPU 1. About 25
# minutes on the project's 2-core VM; keep the machine otherwise idle.
#
#   cd testdata/bench && ./results.sh [OUTDIR]      (default /tmp/ws6455-results)
#
# Each step writes OUTDIR/STEP.md (compare's report: tables and the command
# line), STEP.err (progress) and STEP.json (every raw measurement); OUTDIR/log
# has each step's start and end. The last step counts the servers' system
# calls with perf (skipped without perf or without permission to trace):
# syscalls.txt (the counts), syscalls.md (per message, as in RESULTS.md).
set -u
out=${1:-/tmp/ws6455-results}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/bin"
cd "$here"
(cd node && npm ci --silent) || { echo "results.sh: npm ci in node/ failed" >&2; exit 1; }
go build -o "$out/bin/" ./cmd/... || exit 1
ulimit -n 20000 || { echo "results.sh: need ulimit -n 20000 (10,000 held connections)" >&2; exit 1; }
cd "$out"
{ git -C "$here" log -1 --format='commit %H %cd'; go version; uname -r; node --version; nproc; } > machine
C="taskset -c 1 $out/bin/compare -server-cpus 0 -echoserver $out/bin/echoserver"
ALL=ws6455,ws6455-uring,ws6455-workers,ws6455-goroutine,gobwas,gws,gorilla,coder,node,floor-goroutine,floor-epoll,floor-uring
GO_PEERS=gobwas,gws,gorilla,coder
step() {
	name=$1
	shift
	echo "$(date -u +%T) start $name: $*" >> log
	echo "results.sh: $name" >&2
	"$@" < /dev/zero > "$name.md" 2> "$name.err"
	echo "$(date -u +%T) end $name rc=$?" >> log
}

# CPU per echoed message, with the floors' columns.
step pingpong $C -impls $ALL -sizes 16,128,1KiB,16KiB,64KiB,1MiB -rounds 3 -duration 1.5s \
	-fair-conns 0 -mem-conns 0 -json pingpong.json
step pipelined $C -impls $ALL -sizes 16,128,1KiB,16KiB -conns 100 -inflight 16 -rounds 3 -duration 1.5s \
	-fair-conns 0 -mem-conns 0 -json pipelined.json
# Fairness and latency under pipelining.
step fair1k $C -impls $ALL -rounds 0 -mem-conns 0 -fair-rounds 2 -fair-size 1KiB -json fair1k.json
step fair128 $C -impls $ALL -rounds 0 -mem-conns 0 -fair-rounds 2 -fair-size 128 -json fair128.json
step fair16k $C -impls $ALL -rounds 0 -mem-conns 0 -fair-rounds 2 -fair-size 16KiB -json fair16k.json
# Idle memory at 10,000 connections, without and with compression.
step mem $C -impls ws6455,ws6455-workers,ws6455-goroutine,$GO_PEERS,node -rounds 0 -fair-conns 0 \
	-mem-conns 10000 -mem-msgs 4 -json mem.json
step memdeflate $C -deflate -payload text -impls ws6455,ws6455-workers,ws6455-goroutine,gws,gorilla,coder \
	-rounds 0 -fair-conns 0 -mem-conns 10000 -mem-msgs 1 -json memdeflate.json
# permessage-deflate, compressible and incompressible.
step deflatetext $C -deflate -payload text -impls ws6455,ws6455-goroutine,gws,gorilla,coder,node \
	-sizes 128,1KiB,16KiB,64KiB -rounds 3 -duration 1.5s -fair-conns 0 -mem-conns 0 -json deflatetext.json
step deflaterandom $C -deflate -payload random -impls ws6455,ws6455-goroutine,gws,gorilla,coder,node \
	-sizes 128,1KiB,16KiB,64KiB -rounds 3 -duration 1.5s -fair-conns 0 -mem-conns 0 -json deflaterandom.json
# Handshakes: paced to the same 2,000/s for every server (with 0 and 10,000
# idle connections held), then closed loop.
step handshake $C -impls ws6455,ws6455-goroutine,$GO_PEERS,node,floor-goroutine,floor-epoll -rounds 0 \
	-fair-conns 0 -mem-conns 0 -hs-rounds 3 -duration 2s -hs-rate 2000 -json handshake.json
step handshakeclosed $C -impls ws6455,ws6455-goroutine,$GO_PEERS,node -rounds 0 -fair-conns 0 -mem-conns 0 \
	-hs-rounds 3 -duration 2s -hs-held 0 -json handshakeclosed.json

# System calls per echoed message, counted on the server process alone.
syscalls() {
	local impl=$1 size=$2 conns=$3 inflight=$4 addr pid lp
	coproc SRV { exec taskset -c 0 env GOMAXPROCS=1 "$out/bin/echoserver" -impl "$impl"; }
	read -r addr <&"${SRV[0]}"
	addr=$(grep -oE '[0-9.]+:[0-9]+' <<< "$addr" | head -1)
	pid=$SRV_PID
	taskset -c 1 "$out/bin/wsload" -q -url "ws://$addr/" -pid "$pid" -conns "$conns" -inflight "$inflight" \
		-size "$size" -duration 6s > "load.tmp" 2>&1 &
	lp=$!
	sleep 2
	echo "## $impl size $size conns $conns inflight $inflight"
	perf stat -x, -e 'syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,context-switches' \
		-p "$pid" -- sleep 3 2>&1 | awk -F, '{print $3, $1}'
	wait $lp
	grep -E '^rate|server cpu' load.tmp
	kill "$pid"
	wait "$pid" 2> /dev/null
}
# per_message turns syscalls.txt's counts (over 3 s) into RESULTS.md's table:
# each count divided by wsload's msg/s x 3. Reads include recvfrom; epoll
# is epoll_pwait (Go's netpoller) plus epoll_wait (event loops, floor-epoll).
per_message() {
	echo '| impl | load | write | read | epoll | io_uring_enter | futex | nanosleep | context switches | ns/msg |'
	echo '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'
	awk '
	function row() {
		if (impl == "") return
		n = rate * 3
		load = inflight == 1 ? size " B ping-pong, " conns " conns" : size " pipelined, " conns " conns x " inflight
		sub(/KiB B/, "KiB", load)
		printf "| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n", impl, load,
			c["write"] / n, (c["read"] + c["recvfrom"]) / n, (c["epoll_pwait"] + c["epoll_wait"]) / n,
			c["io_uring_enter"] / n, c["futex"] / n, c["nanosleep"] / n, c["context-switches"] / n, ns
		split("", c)
	}
	/^## / { row(); impl = $2; size = $4; conns = $6; inflight = $8 }
	/^syscalls:|^context-switches/ { k = $1; sub(/^syscalls:sys_enter_/, "", k); c[k] = $2 }
	/^rate/ { rate = $2 }
	/^server cpu/ { ns = $3 }
	END { row() }'
}
if command -v perf > /dev/null && perf stat -e syscalls:sys_enter_write -- true > /dev/null 2>&1; then
	echo "$(date -u +%T) start syscalls" >> log
	for impl in ws6455 ws6455-uring ws6455-goroutine gobwas gws gorilla floor-epoll; do
		syscalls $impl 16 50 1
		syscalls $impl 1KiB 100 16
	done > syscalls.txt 2>&1
	rm -f load.tmp
	per_message < syscalls.txt > syscalls.md
	echo "$(date -u +%T) end syscalls" >> log
else
	echo "$(date -u +%T) syscalls skipped: perf cannot trace here" >> log
fi
echo "$(date -u +%T) all done" >> log
