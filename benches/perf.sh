#!/usr/bin/env bash
# Regenerates the tables of docs/performance.md: runs every Criterion bench
# (cothread and its references, one run), the scale example, and prints the
# tables in Markdown (benches/report.py).
#
#   benches/perf.sh [SCALE_N...]      # default: 1000000
#
# 100 000 threads (push_one, timers) and 1 000 000 (scale) need more memory
# mappings than Linux's default vm.max_map_count (65 530) allows: raise it
# first (`sudo sysctl -w vm.max_map_count=2097152`), or the benches measure
# as many threads as fit and the scale run stops where stacks run out.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
out="$target/perf"
mkdir -p "$out"
benches=(switch spawn push_one broadcast timers)

# Stale figures (another N, a renamed bench) must not reach the table.
for group in "${benches[@]}"; do rm -rf "$target/criterion/$group"; done

cargo bench $(printf -- '--bench %s ' "${benches[@]}") 2>&1 | tee "$out/bench.txt"

cargo build --release --example scale
scale_args=()
for n in "${@:-1000000}"; do
    "$target/release/examples/scale" "$n" | tee "$out/scale-$n.txt"
    scale_args+=(--scale "$out/scale-$n.txt")
done

python3 benches/report.py "$target/criterion" "${scale_args[@]}" | tee "$out/table.md"
