//! `timers`: N threads sleeping distinct durations on the virtual clock; the
//! figure is ns per wake-up.
//!
//! Thread `i` (0-based) first sleeps `i + 1` µs, then `N` µs each time it
//! wakes, so it wakes at `k·N + i + 1` µs: every instant is distinct, and each
//! window of `N` µs wakes every thread once, in the order of `i`. One
//! iteration is `Kernel::advance(N µs)`: N wake-ups, each a deadline taken from
//! the queue, a turn of its thread and the next deadline put in. The
//! throughput is per wake-up.
//!
//! - `timers/cothread_1000` and `timers/cothread_100000`: N = 1 000 and
//!   100 000. The target: under 200 ns per wake-up, growing as
//!   O(log N) or better (log 100 000 / log 1 000 = 1.67).
//!
//! Outside the measured loop, before and after it, one window is run with the
//! threads logging their wake-ups, and the bench asserts the order and each
//! instant are exact. Inside it a thread only tests that logging is off.
//!
//! - `timers/kernel_timer_10000` and `timers/kernel_timer_100000`: N one-shot
//!   kernel-wide timers (`Kernel::timer`, all of one owner, the root), timer
//!   `i` due at `1 + (i * 7919) % N` µs (each instant once, registration order
//!   scattered), and one iteration is the `Kernel::advance` that fires them
//!   all; the throughput is per firing. Registering them is outside the timed
//!   part. Each firing removes its timer from its owner's list, which scanned
//!   the list until the fix of defect r11 (100 000 took seconds); now a
//!   firing's cost grows with the caches the deadline heap outgrows, not with
//!   N (docs/performance.md, "Kernel timers"). Before the measured loop one
//!   run asserts that every timer fires once, in deadline order.
//!
//! 100 000 threads need about 200 000 memory mappings; see `push_one` for what
//! the bench does under Linux's default `vm.max_map_count`.
//!
//! Run with `cargo bench --bench timers`.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use cothread::{event, os, thread, Kernel};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};

use common::{config, feasible_threads, kernel, SMALL_STACK};

const SLEEPERS: [usize; 2] = [1_000, 100_000];

const KERNEL_TIMERS: [u64; 2] = [10_000, 100_000];

/// Who woke when, while `on` is set.
#[derive(Default)]
struct WakeLog {
    on: Cell<bool>,
    wakes: RefCell<Vec<(usize, Duration)>>,
}

/// Starts `n` sleepers (see the module docs) under a program that waits for
/// ever; returns once every one sleeps.
fn start_sleepers(kernel: &mut Kernel, n: usize, log: &Rc<WakeLog>) -> thread::JoinHandle<()> {
    let log = log.clone();
    kernel.spawn(move || {
        for i in 0..n {
            let log = log.clone();
            thread::Builder::new()
                .spawn(move || {
                    os::sleep(Duration::from_micros(i as u64 + 1));
                    loop {
                        if log.on.get() {
                            log.wakes.borrow_mut().push((i, os::uptime()));
                        }
                        os::sleep(Duration::from_micros(n as u64));
                    }
                })
                .expect("a sleeper's stack (see feasible_threads)");
        }
        event::pull(None, "never");
    })
}

/// Runs one window with logging on and asserts that every thread woke once,
/// in order, each at its own instant.
fn assert_exact_order(kernel: &mut Kernel, n: usize, log: &WakeLog) {
    let window = Duration::from_micros(n as u64);
    let base = kernel.uptime();
    assert_eq!(base.as_micros() % n as u128, 0, "windows start at multiples of N µs");
    log.on.set(true);
    let report = kernel.advance(window);
    log.on.set(false);
    assert_eq!(report.resumes, n, "one window wakes every sleeper once");
    let wakes = log.wakes.take();
    let expected: Vec<(usize, Duration)> =
        (0..n).map(|i| (i, base + Duration::from_micros(i as u64 + 1))).collect();
    assert!(wakes == expected, "sleepers woke out of order or at the wrong instant");
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    // An iteration wakes every sleeper: long enough for equal-sized samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    for wanted in SLEEPERS {
        let n = feasible_threads(wanted, SMALL_STACK);
        let log = Rc::new(WakeLog::default());
        let mut kernel = kernel(SMALL_STACK);
        let program = start_sleepers(&mut kernel, n, &log);
        assert_exact_order(&mut kernel, n, &log);

        group.throughput(Throughput::Elements(n as u64));
        let window = Duration::from_micros(n as u64);
        group.bench_function(format!("cothread_{n}"), |b| {
            b.iter(|| {
                let report = kernel.advance(window);
                assert_eq!(report.resumes, n);
            })
        });

        assert_exact_order(&mut kernel, n, &log);
        drop(program);
        drop(kernel);
    }
    group.finish();
}

/// When kernel timer `i` of `n` falls due (see the module docs).
fn timer_due(i: u64, n: u64) -> Duration {
    Duration::from_micros(1 + i * 7919 % n)
}

/// A kernel with `n` one-shot kernel timers (see the module docs), timer `i`
/// calling `callback(i)`.
fn kernel_with_timers<F: FnMut() + 'static>(n: u64, callback: impl Fn(u64) -> F) -> Kernel {
    let mut kernel = kernel(SMALL_STACK);
    for i in 0..n {
        kernel.timer(timer_due(i, n), 1, callback(i));
    }
    kernel
}

fn kernel_timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    for n in KERNEL_TIMERS {
        let window = Duration::from_micros(n + 1);

        let order = Rc::new(RefCell::new(Vec::new()));
        let mut kernel = kernel_with_timers(n, |i| {
            let order = order.clone();
            move || order.borrow_mut().push(i)
        });
        kernel.advance(window);
        let mut expected: Vec<u64> = (0..n).collect();
        expected.sort_unstable_by_key(|&i| timer_due(i, n));
        assert!(*order.borrow() == expected, "kernel timers fired out of order or not once each");
        drop(kernel);

        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("kernel_timer_{n}"), |b| {
            b.iter_batched(
                // Empty callbacks, as the reproducer's: the figure is the kernel's.
                || kernel_with_timers(n, |_| || {}),
                |mut kernel| {
                    let report = kernel.advance(window);
                    assert_eq!(report.next_deadline, None, "every timer fired");
                    // Dropped outside the timed part.
                    kernel
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = timers, kernel_timers
}
criterion_main!(benches);
