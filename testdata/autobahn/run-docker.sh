#!/usr/bin/env bash
# Runs the real Autobahn testsuite (the crossbario/autobahn-testsuite image,
# `wstest -m fuzzingclient`) against wsecho, for comparison with
# `go run ./cmd/wsconform`, which ports the same cases.
#
#   bash testdata/autobahn/run-docker.sh            # all cases (1-10, 12, 13), reports in ./reports/autobahn
#
# Environment:
#   PORT=9001            port wsecho listens on (the spec file says 9001)
#   START_WSECHO=1       build and start wsecho on 0.0.0.0:$PORT (0: test a server you started)
#   OUT=./reports/autobahn   where the container writes its reports (servers/index.html)
#   AUTOBAHN_IMAGE=crossbario/autobahn-testsuite
#   SPEC=testdata/autobahn/fuzzingclient-docker.json
#
# The container reaches the host as host.docker.internal (mapped to the
# host gateway with --add-host, which also works on Linux with Docker
# 20.10+), so the server must listen on an address the Docker bridge can
# reach: 0.0.0.0, not 127.0.0.1. Exit status: 0 if no case FAILED, 1 if
# some did, 2 if the run could not be done.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PORT=${PORT:-9001}
START_WSECHO=${START_WSECHO:-1}
OUT=${OUT:-$root/reports/autobahn}
IMAGE=${AUTOBAHN_IMAGE:-crossbario/autobahn-testsuite}
SPEC=${SPEC:-$here/fuzzingclient-docker.json}

die() { echo "run-docker.sh: $*" >&2; exit 2; }

command -v docker >/dev/null 2>&1 || die "docker is not installed (use 'go run ./cmd/wsconform -url ws://127.0.0.1:$PORT' instead)"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker daemon (is it running? are you in the docker group?)"
[ -f "$SPEC" ] || die "no spec file $SPEC"
spec_dir=$(cd "$(dirname "$SPEC")" && pwd)
spec_name=$(basename "$SPEC")
if [ "$PORT" != 9001 ]; then
	echo "run-docker.sh: note: $spec_name names port 9001; edit it (or SPEC=...) to test port $PORT" >&2
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

echo_pid=""
cleanup() {
	if [ -n "$echo_pid" ]; then
		kill "$echo_pid" 2>/dev/null || true
		wait "$echo_pid" 2>/dev/null || true
	fi
	if [ -n "${bin:-}" ]; then rm -rf "$bin"; fi
}
trap cleanup EXIT

if [ "$START_WSECHO" = 1 ]; then
	if port_open "$PORT"; then
		die "port $PORT is already in use; stop that server or run with START_WSECHO=0 to test it"
	fi
	command -v go >/dev/null 2>&1 || die "go is not installed (needed to build wsecho)"
	bin=$(mktemp -d)
	(cd "$root" && go build -o "$bin/wsecho" ./cmd/wsecho) || die "building wsecho failed"
	"$bin/wsecho" -addr "0.0.0.0:$PORT" -log warn &
	echo_pid=$!
	for _ in $(seq 1 50); do
		port_open "$PORT" && break
		sleep 0.1
	done
	port_open "$PORT" || die "wsecho did not start listening on port $PORT"
	echo "run-docker.sh: wsecho (pid $echo_pid) listening on 0.0.0.0:$PORT"
else
	port_open "$PORT" || die "nothing listens on port $PORT (START_WSECHO=0)"
fi

mkdir -p "$OUT"
user_args=()
if [ "$(uname -s)" = Linux ]; then
	# Write the reports as the calling user rather than root.
	user_args=(--user "$(id -u):$(id -g)")
fi

echo "run-docker.sh: running $IMAGE (wstest -m fuzzingclient -s $spec_name); reports in $OUT/servers"
docker run --rm \
	--add-host=host.docker.internal:host-gateway \
	${user_args[@]+"${user_args[@]}"} \
	-v "$spec_dir:/config:ro" \
	-v "$OUT:/reports" \
	"$IMAGE" \
	wstest -m fuzzingclient -s "/config/$spec_name" ||
	die "the Autobahn container failed"

index="$OUT/servers/index.json"
[ -f "$index" ] || die "no $index was written"
failed=$(grep -c '"behavior": "FAILED"' "$index" || true)
non_ok=$(grep -c '"behavior": "\(NON-STRICT\|UNIMPLEMENTED\)"\|"behaviorClose": "\(WRONG CODE\|UNCLEAN\|FAILED BY CLIENT\|FAILED\)"' "$index" || true)
echo "run-docker.sh: $failed case(s) FAILED, $non_ok other non-OK verdict(s); open $OUT/servers/index.html"
[ "$failed" = 0 ]
