//! `push_one`: one push reaching one of N threads that each wait for a signal
//! of their own name; one iteration pushes a signal for one of them (a
//! different one each time, in turn) and steps the kernel until that thread
//! has received it and waits again. So the figure is a push, a delivery, a
//! turn of the receiver and its next `event::pull`.
//!
//! - `push_one/cothread_1000`: N = 1 000.
//! - `push_one/cothread_100000`: N = 100 000. The cost must not grow with the
//!   threads that do not receive the signal (the target: under 2 µs,
//!   within 2x of N = 1 000).
//! - `push_one/corosensei_1000_stacks`, `push_one/corosensei_100000_stacks`:
//!   one resume and yield of one of N bare corosensei coroutines, each in turn:
//!   the floor once the receiver's stack is as cold as in the lines above (how
//!   much of the growth with N the hardware imposes).
//!
//! 100 000 threads need about 200 000 memory mappings (a stack and its guard
//! page each), more than Linux's default `vm.max_map_count` (65 530) allows;
//! the bench then measures as many as fit, names the figure after that number
//! and says how to raise the limit.
//!
//! Run with `cargo bench --bench push_one`. The threads are created once per
//! N, outside the measured loop, through the host-driven API
//! (`Kernel::spawn`, `Kernel::push_signal`, `Kernel::step`).

mod common;

use std::hint::black_box;

use cothread::Signal;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use common::{
    config, feasible_threads, kernel, resume, start_receivers, yielding_coroutine, SMALL_STACK,
};

const RECEIVERS: [usize; 2] = [1_000, 100_000];

fn push_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("push_one");
    group.throughput(Throughput::Elements(1));
    for wanted in RECEIVERS {
        let receivers = feasible_threads(wanted, SMALL_STACK);
        let names: Vec<String> = (0..receivers).map(|i| format!("s{i}")).collect();
        let signals: Vec<Signal> = names.iter().map(|n| Signal::new(n.as_str())).collect();
        let mut kernel = kernel(SMALL_STACK);
        let program = start_receivers(&mut kernel, names);

        // The figure is only meaningful if each push wakes exactly its receiver.
        kernel.push_signal(signals[0].clone());
        let report = kernel.step();
        assert_eq!((report.signals, report.resumes), (1, 1), "one push must run one receiver");

        let mut next = 0;
        group.bench_function(format!("cothread_{receivers}"), |b| {
            b.iter(|| {
                kernel.push_signal(signals[next].clone());
                next = (next + 1) % signals.len();
                let report = kernel.step();
                assert_eq!(report.resumes, 1);
                black_box(report)
            })
        });
        // Free the stacks (and their mappings) before the next N.
        drop(program);
        drop(kernel);

        let mut coroutines: Vec<_> =
            (0..receivers).map(|_| yielding_coroutine(SMALL_STACK)).collect();
        let mut next = 0;
        group.bench_function(format!("corosensei_{receivers}_stacks"), |b| {
            b.iter(|| {
                resume(&mut coroutines[next]);
                next = (next + 1) % coroutines.len();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = push_one
}
criterion_main!(benches);
