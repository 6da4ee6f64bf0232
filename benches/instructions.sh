#!/bin/sh
# Instructions per iteration of one bench scenario, counted by callgrind:
# (instructions for N iterations - instructions for 0) / N. Repeatable on a
# loaded machine, unlike times.
#
# usage: benches/instructions.sh <bench> <scenario> [N]
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
with=$(count "$n")
without=$(count 0)
echo "$scenario: $(( (with - without) / n )) instructions per iteration ($n iterations, $bin)"
