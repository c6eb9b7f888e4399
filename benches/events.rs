//! Signal delivery at scale, side by side with corosensei's own switch.
//!
//! - `push_one_receiver/among_100000`: 100 000 threads each wait for a signal
//!   of their own name; one iteration pushes a signal for one of them (a
//!   different one each time) and steps the kernel until that thread has
//!   received it and waits again. The cost must not grow with the number of
//!   threads that do not receive it.
//! - `fan_out/cothread_10000_receivers`: 10 000 threads wait for `"tick"`; one
//!   iteration pushes one and steps until every one of them has run once.
//!   Throughput is per woken thread.
//! - `fan_out/corosensei_resume_yield`: one resume and yield of a bare
//!   corosensei coroutine, the floor for the line above (hot caches).
//! - `fan_out/corosensei_resume_yield_10000_stacks`: one resume and yield of
//!   each of 10 000 bare coroutines in turn, the floor with the fan-out's
//!   working set (each stack cold again by its next turn).
//!
//! Run with `cargo bench --bench events`. The threads are created once, outside
//! the measured loop, through the host-driven API (`Kernel::spawn`,
//! `Kernel::push_signal`, `Kernel::step`).

use std::hint::black_box;
use std::time::Duration;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use cothread::{event, thread, Kernel, Signal};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Small stacks: 100 000 of them must fit (pages are committed when touched).
const STACK_SIZE: usize = 16 * 1024;
const RECEIVERS: usize = 100_000;
const FAN_OUT: usize = 10_000;

fn kernel() -> Kernel {
    Kernel::builder().virtual_time(true).stack_size(STACK_SIZE).build()
}

/// Starts a program that creates one thread per name, each receiving signals of
/// its name for ever, and then waits itself (so that it stays alive, and its
/// threads with it). Returns once every thread waits.
fn start_receivers(kernel: &mut Kernel, names: Vec<String>) -> thread::JoinHandle<()> {
    kernel.spawn(move || {
        for name in names {
            thread::create(move || while event::pull(None, name.as_str()).is_some() {});
        }
        event::pull(None, "never");
    })
}

/// How many threads fit under the OS's limit on memory mappings: each stack
/// takes two (the guard page and the stack), and the process needs some for
/// itself. Linux's default (65 530) allows about 32 000 threads; raise
/// `vm.max_map_count` to run the full figure.
fn feasible_threads(wanted: usize) -> usize {
    const HEADROOM: usize = 4_000;
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    match limit {
        Some(limit) if wanted * 2 + HEADROOM > limit => {
            let fits = limit.saturating_sub(HEADROOM) / 2;
            eprintln!(
                "warning: vm.max_map_count = {limit} allows about {fits} threads, not {wanted}; \
                 measuring with {fits} (raise it with `sysctl -w vm.max_map_count={}`)",
                wanted * 2 + HEADROOM
            );
            fits
        }
        _ => wanted,
    }
}

fn push_one_receiver(c: &mut Criterion) {
    let receivers = feasible_threads(RECEIVERS);
    let names: Vec<String> = (0..receivers).map(|i| format!("s{i}")).collect();
    let signals: Vec<Signal> = names.iter().map(|n| Signal::new(n.as_str())).collect();
    let mut kernel = kernel();
    let program = start_receivers(&mut kernel, names);

    // The figure is only meaningful if each push wakes exactly its receiver.
    kernel.push_signal(signals[0].clone());
    let report = kernel.step();
    assert_eq!((report.signals, report.resumes), (1, 1), "one push must run one receiver");

    let mut group = c.benchmark_group("push_one_receiver");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function(format!("among_{receivers}"), |b| {
        b.iter(|| {
            kernel.push_signal(signals[next].clone());
            next = (next + 1) % signals.len();
            let report = kernel.step();
            assert_eq!(report.resumes, 1);
            black_box(report)
        })
    });
    group.finish();
    drop(program);
    drop(kernel);
}

fn fan_out(c: &mut Criterion) {
    let mut kernel = kernel();
    let program = start_receivers(&mut kernel, vec!["tick".to_string(); FAN_OUT]);
    let tick = Signal::new("tick");

    kernel.push_signal(tick.clone());
    let report = kernel.step();
    assert_eq!(report.resumes, FAN_OUT, "one tick must run every receiver once");

    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements(FAN_OUT as u64));
    group.bench_function(format!("cothread_{FAN_OUT}_receivers"), |b| {
        b.iter(|| {
            kernel.push_signal(tick.clone());
            let report = kernel.step();
            assert_eq!(report.resumes, FAN_OUT);
            black_box(report)
        })
    });
    drop(program);
    drop(kernel);

    let mut coroutine = yielding_coroutine();
    group.throughput(Throughput::Elements(1));
    group.bench_function("corosensei_resume_yield", |b| b.iter(|| resume(&mut coroutine)));

    // The same switch over as many stacks as the fan-out wakes, each cold again
    // by its next turn: the floor once cache misses are counted.
    let mut coroutines: Vec<_> = (0..FAN_OUT).map(|_| yielding_coroutine()).collect();
    group.throughput(Throughput::Elements(FAN_OUT as u64));
    group.bench_function(format!("corosensei_resume_yield_{FAN_OUT}_stacks"), |b| {
        b.iter(|| coroutines.iter_mut().for_each(resume))
    });
    group.finish();
}

/// A bare corosensei coroutine that yields each time it is resumed.
fn yielding_coroutine() -> Coroutine<(), (), ()> {
    let stack = DefaultStack::new(STACK_SIZE).expect("a coroutine stack");
    Coroutine::with_stack(stack, |yielder, ()| loop {
        yielder.suspend(());
    })
}

fn resume(coroutine: &mut Coroutine<(), (), ()>) {
    match coroutine.resume(()) {
        CoroutineResult::Yield(()) => {}
        CoroutineResult::Return(()) => unreachable!("the coroutine loops for ever"),
    }
}

fn config() -> Criterion {
    // Two noisy shared cores: few samples, short windows, no plots.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = push_one_receiver, fan_out
}
criterion_main!(benches);
