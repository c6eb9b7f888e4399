//! `future`: a wake-up from another OS thread to a parked wait, end to end.
//! One iteration: the waiter asks a helper OS thread (a std channel), parks
//! on a `tokio::sync::Notify`'s `notified()` future, and the helper's
//! `notify_one` wakes it; the figure is ns per round trip.
//!
//! - `future/cothread_block_on`: a green thread's `future::block_on` (the
//!   kernel on the real clock blocks in the OS between wake-ups, and the
//!   waker comes in through the remote wake path).
//! - `future/tokio_current_thread`: the same future awaited by a task of a
//!   current-thread tokio runtime.
//! - `future/cothread_block_on_ready`: a `block_on` of a future ready at
//!   once, beside `future/cothread_turn`, a plain turn
//!   (`os::sleep(Duration::ZERO)`).
//!
//! Run with `cargo bench --bench future`.

mod common;

use std::hint::black_box;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cothread::{future, os, Kernel};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tokio::sync::Notify;

use common::{config, SMALL_STACK};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The helper OS thread: for each request, one `notify_one`. Ends when the
/// requests' sender is dropped.
fn notifier() -> (mpsc::Sender<()>, Arc<Notify>, std::thread::JoinHandle<()>) {
    let (requests, incoming) = mpsc::channel::<()>();
    let notify = Arc::new(Notify::new());
    let n = notify.clone();
    let helper = std::thread::spawn(move || {
        while incoming.recv().is_ok() {
            n.notify_one();
        }
    });
    (requests, notify, helper)
}

fn cothread_block_on(group: &mut Group<'_>) {
    let mut kernel = Kernel::builder().stack_size(SMALL_STACK).build();
    let (requests, notify, helper) = notifier();
    group.bench_function("cothread_block_on", |b| {
        b.iter_custom(|iters| {
            let (requests, notify) = (requests.clone(), notify.clone());
            kernel
                .run(move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        requests.send(()).expect("the helper lives");
                        future::block_on(notify.notified());
                    }
                    start.elapsed()
                })
                .expect("the waiting program ends")
        })
    });
    drop(requests);
    helper.join().expect("the helper ends");
}

fn tokio_current_thread(group: &mut Group<'_>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let (requests, notify, helper) = notifier();
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    requests.send(()).expect("the helper lives");
                    notify.notified().await;
                }
                start.elapsed()
            })
        })
    });
    drop(requests);
    helper.join().expect("the helper ends");
}

fn cothread_block_on_ready(group: &mut Group<'_>) {
    let mut kernel = Kernel::builder().virtual_time(true).stack_size(SMALL_STACK).build();
    group.bench_function("cothread_block_on_ready", |b| {
        b.iter_custom(|iters| {
            kernel
                .run(move || {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(future::block_on(std::future::ready(black_box(i))));
                    }
                    start.elapsed()
                })
                .expect("the program ends")
        })
    });
}

fn cothread_turn(group: &mut Group<'_>) {
    let mut kernel = Kernel::builder().virtual_time(true).stack_size(SMALL_STACK).build();
    group.bench_function("cothread_turn", |b| {
        b.iter_custom(|turns| {
            let only = kernel.spawn(move || (0..turns).for_each(|_| os::sleep(Duration::ZERO)));
            let start = Instant::now();
            let report = kernel.run_until_idle();
            let elapsed = start.elapsed();
            assert!(!report.alive && only.wait().is_ok());
            elapsed
        })
    });
}

fn futures(c: &mut Criterion) {
    let mut group = c.benchmark_group("future");
    group.throughput(Throughput::Elements(1));
    cothread_block_on(&mut group);
    tokio_current_thread(&mut group);
    cothread_block_on_ready(&mut group);
    cothread_turn(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = futures
}
criterion_main!(benches);
