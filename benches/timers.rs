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
//! 100 000 threads need about 200 000 memory mappings; see `push_one` for what
//! the bench does under Linux's default `vm.max_map_count`.
//!
//! Run with `cargo bench --bench timers`.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use cothread::{event, os, thread, Kernel};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use common::{config, feasible_threads, kernel, SMALL_STACK};

const SLEEPERS: [usize; 2] = [1_000, 100_000];

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

criterion_group! {
    name = benches;
    config = config();
    targets = timers
}
criterion_main!(benches);
