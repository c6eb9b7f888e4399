//! `mutex`: an uncontended lock and unlock in one green thread (coroutine,
//! task); one iteration is one lock and its unlock.
//!
//! - `mutex/cothread`: `sync::Mutex::lock` and the guard's drop.
//! - `mutex/may_1_worker`: `may::sync::Mutex`, in a coroutine on one worker.
//! - `mutex/tokio_localset`: `tokio::sync::Mutex::lock().await`, in a task on
//!   a current-thread runtime's `LocalSet`.
//!
//! `mutex_handoff`: two green threads contend for one lock; each locks, gives
//! the CPU back while it holds the lock (a turn), and unlocks, which hands
//! the lock to the other, waiting one. One iteration is one hand-off: the
//! turn taken holding the lock and the change of hands. Beside it a plain
//! turn of cothread (`os::sleep(Duration::ZERO)`): the goal is a
//! hand-off within 1.5x of a turn, so the whole iteration within 2.5 turns.
//!
//! - `mutex_handoff/cothread`: `sync::Mutex`, the turn an
//!   `os::sleep(Duration::ZERO)`, on the virtual clock.
//! - `mutex_handoff/cothread_turn`: two threads taking plain turns.
//! - `mutex_handoff/may_1_worker`: `may::sync::Mutex`, the turn a
//!   `may::coroutine::yield_now`, two coroutines on one worker.
//! - `mutex_handoff/tokio_localset`: `tokio::sync::Mutex` (FIFO, as
//!   cothread's), the turn a `tokio::task::yield_now`, two tasks on a
//!   `LocalSet`.
//!
//! Run with `cargo bench --bench mutex`.

mod common;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use cothread::sync::Mutex;
use cothread::Kernel;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use common::{bench_turn, config, handoff_lockers, SMALL_STACK};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn kernel() -> Kernel {
    Kernel::builder().virtual_time(true).stack_size(SMALL_STACK).build()
}

fn tokio_local() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    (runtime, tokio::task::LocalSet::new())
}

fn uncontended(group: &mut Group<'_>) {
    let mut kernel = kernel();
    group.bench_function("cothread", |b| {
        b.iter_custom(|pairs| {
            kernel
                .run(move || {
                    let m = Mutex::new(0u64);
                    let start = Instant::now();
                    for _ in 0..pairs {
                        *std::hint::black_box(&m).lock() += 1;
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(*m.lock(), pairs);
                    elapsed
                })
                .expect("the program ends")
        })
    });
    group.bench_function("may_1_worker", |b| {
        b.iter_custom(|pairs| {
            may::go!(move || {
                let m = may::sync::Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..pairs {
                    *std::hint::black_box(&m).lock().expect("not poisoned") += 1;
                }
                let elapsed = start.elapsed();
                assert_eq!(*m.lock().expect("not poisoned"), pairs);
                elapsed
            })
            .join()
            .expect("the coroutine ends")
        })
    });
    let (runtime, local) = tokio_local();
    group.bench_function("tokio_localset", |b| {
        b.iter_custom(|pairs| {
            local.block_on(&runtime, async move {
                let m = tokio::sync::Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..pairs {
                    *std::hint::black_box(&m).lock().await += 1;
                }
                let elapsed = start.elapsed();
                assert_eq!(*m.lock().await, pairs);
                elapsed
            })
        })
    });
}

fn handoff(group: &mut Group<'_>) {
    let mut kernel = kernel();
    group.bench_function("cothread", |b| {
        b.iter_custom(|handoffs| {
            let m = Rc::new(Mutex::new(0u64));
            let lockers = handoff_lockers(&mut kernel, &m, handoffs);
            let start = Instant::now();
            let report = kernel.run_until_idle();
            let elapsed = start.elapsed();
            assert!(!report.alive && lockers.into_iter().all(|l| l.wait().is_ok()));
            assert_eq!(*m.lock(), handoffs);
            elapsed
        })
    });
    bench_turn(group);
    group.bench_function("may_1_worker", |b| {
        b.iter_custom(|handoffs| {
            let m = Arc::new(may::sync::Mutex::new(0u64));
            let (a, b) = (handoffs / 2, handoffs - handoffs / 2);
            let locker = |n: u64, m: Arc<may::sync::Mutex<u64>>| {
                may::go!(move || {
                    for _ in 0..n {
                        let mut held = m.lock().expect("not poisoned");
                        may::coroutine::yield_now();
                        *held += 1;
                    }
                })
            };
            let start = Instant::now();
            let lockers = [locker(a, m.clone()), locker(b, m.clone())];
            for l in lockers {
                l.join().expect("the locker ends");
            }
            let elapsed = start.elapsed();
            assert_eq!(*m.lock().expect("not poisoned"), handoffs);
            elapsed
        })
    });
    let (runtime, local) = tokio_local();
    group.bench_function("tokio_localset", |b| {
        b.iter_custom(|handoffs| {
            local.block_on(&runtime, async move {
                let m = Rc::new(tokio::sync::Mutex::new(0u64));
                let (a, b) = (handoffs / 2, handoffs - handoffs / 2);
                let locker = |n: u64, m: Rc<tokio::sync::Mutex<u64>>| {
                    tokio::task::spawn_local(async move {
                        for _ in 0..n {
                            let mut held = m.lock().await;
                            tokio::task::yield_now().await;
                            *held += 1;
                        }
                    })
                };
                let start = Instant::now();
                let lockers = [locker(a, m.clone()), locker(b, m.clone())];
                for l in lockers {
                    l.await.expect("the locker ends");
                }
                let elapsed = start.elapsed();
                assert_eq!(*m.lock().await, handoffs);
                elapsed
            })
        })
    });
}

fn mutex(c: &mut Criterion) {
    // may's scheduler starts with this many workers at its first coroutine:
    // one, as cothread and the LocalSet have.
    may::config().set_workers(1);
    let mut group = c.benchmark_group("mutex");
    group.throughput(Throughput::Elements(1));
    uncontended(&mut group);
    group.finish();
    let mut group = c.benchmark_group("mutex_handoff");
    group.throughput(Throughput::Elements(1));
    handoff(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = mutex
}
criterion_main!(benches);
