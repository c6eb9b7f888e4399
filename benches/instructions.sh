#!/usr/bin/env bash
# Counts the instructions of one operation of each path of docs/performance.md
# ("Where the time goes") with callgrind: the driver (benches/instructions.rs)
# runs each path 20 000 and 120 000 times, and the difference of the two
# totals, divided by 100 000, is printed.
#
#   benches/instructions.sh [PATH...]   # default: every path
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench instructions --no-run 2>&1 | grep -o '[^ (]*/deps/instructions-[0-9a-f]*' | tail -1)
paths=("${@:-switch switch_alone switch_watched spawn spawn_nopool push push_among_one push_among_two broadcast timers channel notify mutex mutex_handoff block_on_ready block_on_turn}")
for path in ${paths[@]}; do
    total() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$path" "$1" 2>&1 \
            | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    short=$(total 20000)
    long=$(total 120000)
    python3 -c "print(f'$path: {($long - $short) / 100000:.1f} instructions an operation')"
done
