//! `channel`: ping-pong between two green threads (coroutines, tasks) over a
//! pair of channels; one iteration is one message (a send, the receiver's
//! resume and its receive), so the figure is ns per message. Beside it, a
//! plain turn of cothread (`os::sleep(Duration::ZERO)`), the unit of the
//! issue's goal (ping-pong within 1.5x of a turn).
//!
//! - `channel/cothread`: `sync::channel(1)` both ways, on the virtual clock.
//! - `channel/cothread_turn`: two threads taking plain turns.
//! - `channel/may_1_worker`: `may::sync::mpsc` both ways, two coroutines on
//!   one worker thread.
//! - `channel/tokio_localset`: `tokio::sync::mpsc::channel(1)` both ways, two
//!   tasks on a current-thread runtime's `LocalSet`.
//!
//! Run with `cargo bench --bench channel`.

mod common;

use std::time::{Duration, Instant};

use cothread::{os, sync, Kernel};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use common::{config, SMALL_STACK};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn cothread_ping_pong(group: &mut Group<'_>) {
    let mut kernel = Kernel::builder().virtual_time(true).stack_size(SMALL_STACK).build();
    group.bench_function("cothread", |b| {
        b.iter_custom(|messages| {
            let rounds = messages.div_ceil(2);
            let (ping_tx, ping_rx) = sync::channel::<u64>(1);
            let (pong_tx, pong_rx) = sync::channel::<u64>(1);
            let ping = kernel.spawn(move || {
                for i in 0..rounds {
                    ping_tx.send(i).expect("the ponger lives");
                    pong_rx.recv().expect("the ponger answers");
                }
            });
            let pong = kernel.spawn(move || {
                for reply in &ping_rx {
                    pong_tx.send(reply).expect("the pinger lives");
                }
            });
            let start = Instant::now();
            let report = kernel.run_until_idle();
            let elapsed = start.elapsed();
            assert!(!report.alive && ping.wait().is_ok() && pong.wait().is_ok());
            elapsed
        })
    });
}

fn cothread_turn(group: &mut Group<'_>) {
    let mut kernel = Kernel::builder().virtual_time(true).stack_size(SMALL_STACK).build();
    group.bench_function("cothread_turn", |b| {
        b.iter_custom(|turns| {
            let (a, b) = (turns / 2, turns - turns / 2);
            let first = kernel.spawn(move || (0..a).for_each(|_| os::sleep(Duration::ZERO)));
            let second = kernel.spawn(move || (0..b).for_each(|_| os::sleep(Duration::ZERO)));
            let start = Instant::now();
            let report = kernel.run_until_idle();
            let elapsed = start.elapsed();
            assert!(!report.alive && first.wait().is_ok() && second.wait().is_ok());
            elapsed
        })
    });
}

fn may_one_worker(group: &mut Group<'_>) {
    group.bench_function("may_1_worker", |b| {
        b.iter_custom(|messages| {
            let rounds = messages.div_ceil(2);
            let driver = may::go!(move || {
                let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
                let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
                let partner = may::go!(move || {
                    while let Ok(reply) = ping_rx.recv() {
                        pong_tx.send(reply).expect("the pinger lives");
                    }
                });
                let start = Instant::now();
                for i in 0..rounds {
                    ping_tx.send(i).expect("the ponger lives");
                    pong_rx.recv().expect("the ponger answers");
                }
                let elapsed = start.elapsed();
                drop(ping_tx);
                partner.join().expect("the partner coroutine ends");
                elapsed
            });
            driver.join().expect("the driver coroutine ends")
        })
    });
}

fn tokio_localset(group: &mut Group<'_>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    group.bench_function("tokio_localset", |b| {
        b.iter_custom(|messages| {
            let rounds = messages.div_ceil(2);
            local.block_on(&runtime, async move {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let partner = tokio::task::spawn_local(async move {
                    while let Some(reply) = ping_rx.recv().await {
                        pong_tx.send(reply).await.expect("the pinger lives");
                    }
                });
                let start = Instant::now();
                for i in 0..rounds {
                    ping_tx.send(i).await.expect("the ponger lives");
                    pong_rx.recv().await.expect("the ponger answers");
                }
                let elapsed = start.elapsed();
                drop(ping_tx);
                partner.await.expect("the partner task ends");
                elapsed
            })
        })
    });
}

fn channel(c: &mut Criterion) {
    // Before may's first coroutine: its scheduler starts with this many workers.
    may::config().set_workers(1);
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(1));
    cothread_ping_pong(&mut group);
    cothread_turn(&mut group);
    may_one_worker(&mut group);
    tokio_localset(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = channel
}
criterion_main!(benches);
