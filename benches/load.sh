#!/bin/sh
# Loopback load test: the orders API bare vs behind the whole stack, same
# process, same wrk settings, alternating runs.
#
# usage: benches/load.sh [rounds] [duration] [connections]
# Needs wrk (apt-get install wrk). Pins the server to CPU 1 (one tokio worker)
# and wrk to CPU 0 when taskset is available, so they do not fight each other
# (other processes on the machine still can).
set -eu
rounds=${1:-3}
duration=${2:-10s}
connections=${3:-32}
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
# LOAD_BIN: a server binary built beforehand (skips the build).
bin=${LOAD_BIN:-$target/release/examples/gateway_load}
[ -n "${LOAD_BIN:-}" ] || cargo build --release --example gateway_load
pin() {
    cpu=$1
    shift
    if command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi
}
out=$(mktemp)
# `exec` in the subshell, so that $! is the server itself and the trap
# below stops it (otherwise it outlives the script and holds its stdout).
(
    export TOKIO_WORKER_THREADS=1
    if command -v taskset >/dev/null; then exec taskset -c 1 "$bin" 18081 18082; else exec "$bin" 18081 18082; fi
) >"$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q '^API_KEY=' "$out" && break; sleep 0.1; done
token=$(sed -n 's/^TOKEN=//p' "$out")
key=$(sed -n 's/^API_KEY=//p' "$out")
# Warm both (JWT claims cache, connections).
curl -sf -o /dev/null http://127.0.0.1:18081/orders
curl -sf -o /dev/null http://127.0.0.1:18082/orders -H "authorization: Bearer $token" -H "x-api-key: $key"
run() {
    pin 0 wrk -t1 -c"$connections" -d"$duration" --latency "$@" |
        awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
             END {printf "%s req/s  p50 %s  p99 %s%s\n", rps, p50, p99, (bad ? "  NON-2XX " bad : "")}'
}
for round in $(seq "$rounds"); do
    printf 'round %s bare  : ' "$round"
    run http://127.0.0.1:18081/orders
    printf 'round %s stack : ' "$round"
    run http://127.0.0.1:18082/orders -H "authorization: Bearer $token" -H "x-api-key: $key"
done
