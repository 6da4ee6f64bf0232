#!/bin/sh
# Instructions per iteration of one bench scenario, counted by callgrind:
# (instructions for N iterations - instructions for 0) / N. Repeatable on a
# loaded machine, unlike times.
#
# usage: [ONLY_LOOP=1] benches/instructions.sh <bench> <scenario> [N]
#   e.g. benches/instructions.sh core "MatchRoute"
# Build first: cargo bench --bench <bench> --no-run (CARGO_TARGET_DIR honoured).
set -eu
bench=$1
scenario=$2
n=${3:-20000}
target=${CARGO_TARGET_DIR:-target}
# BENCH_BIN overrides the binary (e.g. a copy taken right after the build).
bin=${BENCH_BIN:-$(ls -t "$target"/release/deps/"$bench"-* | grep -v '\.d$' | head -1)}
count() {
    APIGW_BENCH_LOOP="$scenario:$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
if [ -n "${ONLY_LOOP:-}" ]; then
    # Only the measured iterations are counted (support's
    # `measured_iterations`): for benches whose start-up work varies from run
    # to run (the gateway bench's ES256 keys and entropy), which would
    # otherwise swamp the difference of two runs.
    total=$(APIGW_BENCH_LOOP="$scenario:$n" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --collect-atstart=no --toggle-collect='*measured_iterations*' \
        "$bin" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo "$scenario: $(( total / n )) instructions per iteration ($n iterations, measured loop only, $bin)"
    exit 0
fi
with=$(count "$n")
without=$(count 0)
echo "$scenario: $(( (with - without) / n )) instructions per iteration ($n iterations, $bin)"
