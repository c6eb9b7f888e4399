//! `broadcast`: one push waking N = 10 000 threads that wait for the same
//! name; one iteration pushes the signal and steps the kernel until every one
//! of them has run once and waits again. The throughput is per woken thread,
//! to be compared with `switch/cothread` (the target: within 3x).
//!
//! - `broadcast/cothread_10000`: the above.
//! - `broadcast/corosensei_10000_stacks`: one resume and yield of each of
//!   10 000 bare corosensei coroutines in turn: the floor with the same working
//!   set (each stack is cold again by its next turn), per coroutine.
//!
//! Run with `cargo bench --bench broadcast`. The threads are created once,
//! outside the measured loop, through the host-driven API.

mod common;

use std::hint::black_box;

use cothread::Signal;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use common::{
    config, feasible_threads, kernel, resume, start_receivers, yielding_coroutine, SMALL_STACK,
};

const RECEIVERS: usize = 10_000;

fn broadcast(c: &mut Criterion) {
    let receivers = feasible_threads(RECEIVERS, SMALL_STACK);
    let mut group = c.benchmark_group("broadcast");
    group.throughput(Throughput::Elements(receivers as u64));

    let mut kernel = kernel(SMALL_STACK);
    let program = start_receivers(&mut kernel, vec!["tick".to_string(); receivers]);
    let tick = Signal::new("tick");
    kernel.push_signal(tick.clone());
    let report = kernel.step();
    assert_eq!(report.resumes, receivers, "one tick must run every receiver once");
    group.bench_function(format!("cothread_{receivers}"), |b| {
        b.iter(|| {
            kernel.push_signal(tick.clone());
            let report = kernel.step();
            assert_eq!(report.resumes, receivers);
            black_box(report)
        })
    });
    drop(program);
    drop(kernel);

    let mut coroutines: Vec<_> = (0..receivers).map(|_| yielding_coroutine(SMALL_STACK)).collect();
    group.bench_function(format!("corosensei_{receivers}_stacks"), |b| {
        b.iter(|| coroutines.iter_mut().for_each(resume))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = broadcast
}
criterion_main!(benches);
