#!/bin/sh
# Loopback load test: the orders API bare vs behind the whole stack, same
# process, same wrk settings and the same request (token and API key headers
# sent to both), alternating runs.
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
# LOAD_PROFILE: the cargo profile to build with (default release-lto, see
# Cargo.toml; `release` for the plain release profile).
profile=${LOAD_PROFILE:-release-lto}
bin=${LOAD_BIN:-$target/$profile/examples/gateway_load}
[ -n "${LOAD_BIN:-}" ] || cargo build --profile "$profile" --example gateway_load
pin() {
    cpu=$1
    shift
    if command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi
}
out=$(mktemp)
bare_runs=$(mktemp)
stack_runs=$(mktemp)
# `exec` in the subshell, so that $! is the server itself and the trap
# below stops it (otherwise it outlives the script and holds its stdout).
(
    export TOKIO_WORKER_THREADS=1
    if command -v taskset >/dev/null; then exec taskset -c 1 "$bin" 18081 18082 18083; else exec "$bin" 18081 18082 18083; fi
) >"$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out" "$bare_runs" "$stack_runs"' EXIT
for _ in $(seq 50); do grep -q '^API_KEY=' "$out" && break; sleep 0.1; done
token=$(sed -n 's/^TOKEN=//p' "$out")
key=$(sed -n 's/^API_KEY=//p' "$out")
# Warm both (JWT claims cache, connections).
curl -sf -o /dev/null http://127.0.0.1:18081/orders -H "authorization: Bearer $token" -H "x-api-key: $key"
curl -sf -o /dev/null http://127.0.0.1:18082/orders -H "authorization: Bearer $token" -H "x-api-key: $key"
# The server's in-process latency histograms, emptied (see gateway_load.rs).
latency() { curl -sf http://127.0.0.1:18083/latency; }
latency >/dev/null
# One wrk run against side $2 (bare or stack); prints its line and appends
# "rps p50_us p99_us in_process_p50_us in_process_p99_us in_process_p999_us"
# to $1. The control port answers "side COUNT P50 P90 P99 P999" (ns).
run() {
    record=$1
    side=$2
    shift 2
    result=$(pin 0 wrk -t1 -c"$connections" -d"$duration" --latency "$@")
    inside=$(latency | awk -v side="$side" '$1 == side {printf "%.1f %.1f %.1f", $3 / 1000, $5 / 1000, $6 / 1000}')
    printf '%s\n' "$result" |
        awk -v record="$record" -v inside="$inside" '
            function us(v) {
                if (v ~ /us$/) return v + 0
                if (v ~ /ms$/) return v * 1000
                if (v ~ /s$/) return v * 1000000
                return v
            }
            /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
            END {
                split(inside, i, " ")
                printf "%s req/s  p50 %s  p99 %s  in process p50 %s us  p99 %s us  p999 %s us%s\n", rps, p50, p99, i[1], i[2], i[3], (bad ? "  NON-2XX " bad : "")
                printf "%s %s %s %s\n", rps, us(p50), us(p99), inside >> record
            }'
}
for round in $(seq "$rounds"); do
    printf 'round %s bare  : ' "$round"
    # The same request bytes to both: bare axum ignores the two headers.
    run "$bare_runs" bare http://127.0.0.1:18081/orders -H "authorization: Bearer $token" -H "x-api-key: $key"
    printf 'round %s stack : ' "$round"
    run "$stack_runs" stack http://127.0.0.1:18082/orders -H "authorization: Bearer $token" -H "x-api-key: $key"
done
# Rounds run back to back, so each pair saw the same machine: the ratio is
# taken per round, and the medians summarize (this VM's speed drifts by tens
# of per cent between rounds).
paste "$bare_runs" "$stack_runs" | awk '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function lo(a, n,    i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
    function hi(a, n,    i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
    {
        n++; ratio[n] = $7 / $1; p50[n] = $8 - $2; p99[n] = $9 - $3
        in50[n] = $10 - $4; in99[n] = $11 - $5; b99[n] = $5; s99[n] = $11
        in999[n] = $12 - $6; b999[n] = $6; s999[n] = $12
    }
    END {
        printf "median of %d rounds: stack/bare throughput %.2f (min %.2f, max %.2f)\n", n, median(ratio, n), lo(ratio, n), hi(ratio, n)
        printf "  added by the stack, client side: p50 %.0f us, p99 %.0f us\n", median(p50, n), median(p99, n)
        printf "  added by the stack, in process:  p50 %.1f us, p99 %.1f us (in-process p99 bare %.1f us, stack %.1f us)\n", median(in50, n), median(in99, n), median(b99, n), median(s99, n)
        printf "  added by the stack, in process:  p99.9 %.1f us (bare %.1f us, stack %.1f us)\n", median(in999, n), median(b999, n), median(s999, n)
    }'
