#!/usr/bin/env python3
"""Prints docs/performance.md's tables from a Criterion run.

    python3 benches/report.py [CRITERION_DIR] [--scale SCALE_OUTPUT]...

CRITERION_DIR is `$CARGO_TARGET_DIR/criterion` (default: target/criterion).
Each SCALE_OUTPUT is what `cargo run --release --example scale -- N` printed.
`benches/perf.sh` runs the benches and the scale example and then this.
"""

import json
import math
import os
import re
import subprocess
import sys

GROUPS = ["switch", "spawn", "push_one", "broadcast", "timers"]


def load(criterion_dir):
    """{(group, function): (median ns per element, MAD ns per element, elements)}"""
    figures = {}
    for group in GROUPS:
        group_dir = os.path.join(criterion_dir, group)
        if not os.path.isdir(group_dir):
            continue
        for name in sorted(os.listdir(group_dir)):
            new = os.path.join(group_dir, name, "new")
            try:
                with open(os.path.join(new, "benchmark.json")) as f:
                    bench = json.load(f)
                with open(os.path.join(new, "estimates.json")) as f:
                    est = json.load(f)
            except OSError:
                continue
            elements = (bench.get("throughput") or {}).get("Elements", 1)
            median = est["median"]["point_estimate"] / elements
            mad = est["median_abs_dev"]["point_estimate"] / elements
            figures[(group, bench["function_id"])] = (median, mad, elements)
    return figures


def ns(x):
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f} ms"
    if x >= 1e3:
        return f"{x / 1e3:.2f} µs"
    if x >= 10:
        return f"{x:.0f} ns"
    return f"{x:.2f} ns"


def largest(figures, group, prefix):
    """The id `prefix<N>` with the largest N (the bench names a figure after
    the thread count it could create)."""
    best = None
    for g, f in figures:
        m = re.fullmatch(re.escape(prefix) + r"(\d+)", f) if g == group else None
        if m and (best is None or int(m.group(1)) > int(best[len(prefix):])):
            best = f
    return best


def grouped(n):
    return f"{n:,}".replace(",", " ")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def commit():
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return head + (" + uncommitted changes to src/" if dirty else "")


def scale_figures(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            text = f.read()
        wanted = re.search(r"scale: (\d+) idle threads .*?\((.*?)\), (\d+) KiB stacks", text)
        created = re.search(r"created (\d+) threads in (\S+) \((.+?) each\)", text)
        resident = re.search(r"resident memory: \+(\S+) MiB, (\S+) KiB per thread", text)
        stopped = re.search(r"stopped at .*", text)
        rows.append((wanted, created, resident, stopped))
    return rows


def main():
    args = sys.argv[1:]
    scale_paths = []
    criterion_dir = "target/criterion"
    while args:
        arg = args.pop(0)
        if arg == "--scale":
            scale_paths.append(args.pop(0))
        else:
            criterion_dir = arg
    figures = load(criterion_dir)

    def get(group, function):
        fig = figures.get((group, function)) if function else None
        return fig[0] if fig else None

    print(f"Measured on {cpu_model()} ({os.cpu_count()} cores), commit {commit()}.")
    print()
    print("| bench | median | spread (MAD) | per |")
    print("|---|---:|---:|---|")
    for group in GROUPS:
        for (g, function), (median, mad, elements) in sorted(
            figures.items(), key=lambda kv: (GROUPS.index(kv[0][0]), kv[1][0])
        ):
            if g != group:
                continue
            per = "element" if elements == 1 else f"element (×{elements} an iteration)"
            per = {"switch": "turn", "spawn": "thread", "push_one": "push"}.get(group, per)
            if group in ("broadcast", "timers"):
                per = "woken thread" if group == "broadcast" else "wake-up"
            if function.startswith("kernel_timer"):
                per = "firing"
            if group in ("push_one", "broadcast") and function.startswith("corosensei"):
                per = "resume"
            if function.startswith("index_and_stacks"):
                per = "lookup and resume"
            pct = 100 * mad / median if median else 0
            print(f"| `{group}/{function}` | {ns(median)} | ±{ns(mad)} ({pct:.1f} %) | {per} |")

    push_big = largest(figures, "push_one", "cothread_")
    timers_big = largest(figures, "timers", "cothread_")
    broadcast = largest(figures, "broadcast", "cothread_")
    sw = get("switch", "cothread")
    sp = get("spawn", "cothread")
    rows = []

    def ratio(a, b):
        return a / b if a is not None and b else None

    def row(target, measured, ok):
        rows.append((target, measured, "–" if ok is None else ("met" if ok else "**not met**")))

    def x(r):
        return "–" if r is None else f"{r:.2f}x"

    def cmp(r, limit, below=True):
        return None if r is None else (r <= limit if below else r >= limit)

    r = ratio(sw, get("switch", "corosensei_raw"))
    row("`switch` within 4x of corosensei's raw round trip", f"{ns(sw)} = {x(r)}", cmp(r, 4))
    r = ratio(sw, get("switch", "may_1_worker"))
    row("`switch` faster than `may` (one worker)", f"cothread/may = {x(r)}", cmp(r, 1.0))
    r = ratio(sw, get("switch", "tokio_localset"))
    row("`switch` faster than tokio `LocalSet`", f"cothread/tokio = {x(r)}", cmp(r, 1.0))
    row("`spawn` (pool warm) under 150 ns", ns(sp), None if sp is None else sp < 150)
    r = ratio(sp, get("spawn", "may_go_join"))
    row("`spawn` faster than `may` `go!`+join", f"cothread/may = {x(r)}", cmp(r, 1.0))
    r = ratio(sp, get("spawn", "tokio_spawn_local"))
    row("`spawn` within 2x of tokio `spawn_local`", f"cothread/tokio = {x(r)}", cmp(r, 2.0))
    r = ratio(get("spawn", "corosensei_fresh_stack"), sp)
    row("`spawn` at least 50x faster than a fresh stack", f"{x(r)} faster", cmp(r, 50, False))
    big = get("push_one", push_big)
    n = grouped(int(push_big[len("cothread_"):])) if push_big else "?"
    row(f"`push_one` with {n} waiters under 2 µs", ns(big), None if big is None else big < 2000)
    small = get("push_one", "cothread_1000")
    r = ratio(big, small)
    row(f"`push_one` {n} within 2x of 1 000 waiters", x(r), cmp(r, 2.0))
    floor_big = get("push_one", push_big and push_big.replace("cothread_", "index_and_stacks_"))
    floor_small = get("push_one", "index_and_stacks_1000")
    if None not in (big, small, floor_big, floor_small):
        row(
            f"(the floor) a name lookup and a bare resume, {n} vs 1 000",
            f"{ns(floor_small)} → {ns(floor_big)}: +{ns(floor_big - floor_small)} "
            f"(cothread +{ns(big - small)}; within 2x allows +{ns(small)})",
            None,
        )
    b = get("broadcast", broadcast)
    r = ratio(b, sw)
    row("`broadcast` per woken thread within 3x of `switch`", f"{ns(b)} = {x(r)}", cmp(r, 3.0))
    t = get("timers", timers_big)
    n = grouped(int(timers_big[len("cothread_"):])) if timers_big else "?"
    row(f"`timers` ({n} sleepers) under 200 ns per wake-up", ns(t), None if t is None else t < 200)
    small = get("timers", "cothread_1000")
    r = ratio(t, small)
    if r is not None:
        bound = math.log(int(timers_big[len("cothread_"):])) / math.log(1000)
        row(
            f"`timers` grows as O(log n): {n} vs 1 000 within {bound:.2f}x",
            x(r),
            r <= bound,
        )
    for wanted, created, resident, stopped in scale_figures(scale_paths):
        if not (wanted and created and resident):
            continue
        kib = float(resident.group(2))
        made, asked = int(created.group(1)), int(wanted.group(1))
        measured = (
            f"{grouped(made)} created ({wanted.group(3)} KiB stacks, {wanted.group(2)}) in "
            f"{created.group(2)}: {kib:.2f} KiB resident each"
        )
        if stopped:
            measured += f"; {stopped.group(0)}"
        row(f"`scale`: {grouped(asked)} idle threads, under 8 KiB each", measured,
            made == asked and kib < 8)

    print()
    print("| target (issue 7) | measured | |")
    print("|---|---|---|")
    for target, measured, ok in rows:
        print(f"| {target} | {measured} | {ok} |")


if __name__ == "__main__":
    main()
