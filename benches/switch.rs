//! `switch`: two threads taking turns; one iteration is one turn (a thread is
//! resumed, runs, and gives the CPU back), so the figure is ns per turn.
//!
//! - `switch/cothread`: two programs loop on `os::sleep(Duration::ZERO)` on
//!   the virtual clock; `Kernel::run_until_idle` runs their turns (it resumes
//!   each in its round until both have ended).
//! - `switch/cothread_real_clock`: the same on the real clock, which reads the
//!   OS's clock in each sleep and each round.
//! - `switch/corosensei_raw`: one resume and yield of a bare corosensei
//!   coroutine, the floor (the target: `cothread` within 4x of it).
//! - `switch/may_1_worker`: two `may` coroutines on one worker thread taking
//!   turns with `may::coroutine::yield_now`.
//! - `switch/tokio_localset`: two tasks on a current-thread runtime's
//!   `LocalSet` taking turns with `tokio::task::yield_now`.
//!
//! The threads (coroutines, tasks) are started before the clock starts; each
//! sample runs a fresh pair for as many turns as Criterion asks.
//!
//! Run with `cargo bench --bench switch`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use cothread::{os, Kernel};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use common::{config, resume, yielding_coroutine, SMALL_STACK};

/// Splits `turns` between the two threads.
fn halves(turns: u64) -> (u64, u64) {
    (turns / 2, turns - turns / 2)
}

fn cothread(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, virtual_time: bool) {
    let mut kernel = Kernel::builder().virtual_time(virtual_time).stack_size(SMALL_STACK).build();
    let id = if virtual_time { "cothread" } else { "cothread_real_clock" };
    group.bench_function(id, |b| {
        b.iter_custom(|turns| {
            let (a, b) = halves(turns);
            // Each runs its first stretch here, up to its first sleep.
            let first = kernel.spawn(move || (0..a).for_each(|_| os::sleep(Duration::ZERO)));
            let second = kernel.spawn(move || (0..b).for_each(|_| os::sleep(Duration::ZERO)));
            let start = Instant::now();
            let report = kernel.run_until_idle();
            let elapsed = start.elapsed();
            assert_eq!(report.resumes as u64, turns, "one resume per turn");
            assert!(!report.alive && first.wait().is_ok() && second.wait().is_ok());
            elapsed
        })
    });
}

fn corosensei_raw(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let mut coroutine = yielding_coroutine(SMALL_STACK);
    group.bench_function("corosensei_raw", |b| b.iter(|| resume(black_box(&mut coroutine))));
}

fn may_one_worker(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.bench_function("may_1_worker", |b| {
        b.iter_custom(|turns| {
            let (a, b) = halves(turns);
            // A driver coroutine starts its partner, then takes turns with it;
            // both run on may's one worker thread.
            let driver = may::go!(move || {
                let partner = may::go!(move || (0..b).for_each(|_| may::coroutine::yield_now()));
                let start = Instant::now();
                (0..a).for_each(|_| may::coroutine::yield_now());
                partner.join().expect("the partner coroutine ends");
                start.elapsed()
            });
            driver.join().expect("the driver coroutine ends")
        })
    });
}

fn tokio_localset(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    group.bench_function("tokio_localset", |b| {
        b.iter_custom(|turns| {
            let (a, b) = halves(turns);
            local.block_on(&runtime, async move {
                let first = tokio::task::spawn_local(async move {
                    for _ in 0..a {
                        tokio::task::yield_now().await;
                    }
                });
                let second = tokio::task::spawn_local(async move {
                    for _ in 0..b {
                        tokio::task::yield_now().await;
                    }
                });
                // Spawned tasks first run when this one waits, below.
                let start = Instant::now();
                first.await.expect("the first task ends");
                second.await.expect("the second task ends");
                start.elapsed()
            })
        })
    });
}

fn switch(c: &mut Criterion) {
    // Before may's first coroutine: its scheduler starts with this many workers.
    may::config().set_workers(1);
    let mut group = c.benchmark_group("switch");
    group.throughput(Throughput::Elements(1));
    cothread(&mut group, true);
    cothread(&mut group, false);
    corosensei_raw(&mut group);
    may_one_worker(&mut group);
    tokio_localset(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = switch
}
criterion_main!(benches);
