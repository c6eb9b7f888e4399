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
//! `channel_cross`: throughput between two OS threads, each running its own
//! scheduler: a green thread (coroutine, task) on one sends N numbers, one
//! on the other receives them; one iteration is one message, so the figure
//! is ns per message (Criterion also prints messages per second). The two
//! OS threads live for the whole bench and take one batch of N at a time;
//! a batch's time runs from handing it out to both ends' being done.
//!
//! - `channel_cross/cothread_cap64`, `cothread_cap1`: `sync::channel(64)`
//!   or `(1)` from a green thread of one kernel to a green thread of
//!   another, each kernel on the real clock on its own OS thread (`run`):
//!   a wake-up of the other kernel's thread goes through the remote wake
//!   path, and a kernel with nothing to do sleeps in the OS until it comes.
//! - `channel_cross/tokio_cap64`, `tokio_cap1`: `tokio::sync::mpsc::channel`
//!   of that capacity, between two current-thread runtimes on two OS
//!   threads (`block_on`).
//! - `channel_cross/may_2_workers`: `may::sync::mpsc` (unbounded: may has no
//!   bounded mpsc) between two coroutines on may's scheduler with two
//!   workers; may places the coroutines itself, so they may share a worker.
//!   A batch's time runs from spawning the two coroutines to joining both.
//!   may's worker count is fixed when its scheduler starts, once a process:
//!   it is 2 only when the run selects this group alone (`cargo bench
//!   --bench channel -- channel_cross`); in a run of every group the
//!   scheduler has the one worker `channel/may_1_worker` needs, and this
//!   entry is named `may_1_worker` instead.
//!
//! Run with `cargo bench --bench channel`.

mod common;

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use cothread::{sync, Kernel};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use common::{bench_turn, config, SMALL_STACK};

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

/// An OS thread that runs one batch at a time, handed to it over a std
/// channel, and reports when each is done.
struct Worker<J: Send + 'static> {
    jobs: Option<std_mpsc::Sender<J>>,
    done: std_mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<J: Send + 'static> Worker<J> {
    /// Starts the OS thread: `setup` makes its scheduler there, `run` runs a
    /// batch on it.
    fn start<S: 'static>(
        setup: impl FnOnce() -> S + Send + 'static,
        run: impl Fn(&mut S, J) + Send + 'static,
    ) -> Worker<J> {
        let (jobs, job_rx) = std_mpsc::channel::<J>();
        let (done_tx, done) = std_mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut scheduler = setup();
            for job in job_rx {
                run(&mut scheduler, job);
                done_tx.send(()).expect("the bench waits for the batch");
            }
        });
        Worker { jobs: Some(jobs), done, thread: Some(thread) }
    }

    fn give(&self, job: J) {
        self.jobs.as_ref().expect("the worker lives").send(job).expect("the worker lives");
    }

    fn wait(&self) {
        self.done.recv().expect("the worker finishes its batch");
    }
}

impl<J: Send + 'static> Drop for Worker<J> {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the worker thread ends");
        }
    }
}

/// Times one batch of `messages` from `sender` to `receiver`: both get
/// their half at once, and the batch is over when both are done.
fn batch<A: Send, B: Send>(sender: &Worker<A>, a: A, receiver: &Worker<B>, b: B) -> Duration {
    let start = Instant::now();
    receiver.give(b);
    sender.give(a);
    sender.wait();
    receiver.wait();
    start.elapsed()
}

fn cothread_cross(group: &mut Group<'_>, capacity: usize) {
    let kernel = || Kernel::builder().stack_size(SMALL_STACK).build();
    let sender = Worker::start(kernel, |k: &mut Kernel, (tx, n): (sync::Sender<u64>, u64)| {
        k.run(move || {
            for i in 0..n {
                tx.send(i).expect("the receiver lives");
            }
        })
        .expect("the sending program ends");
    });
    let receiver = Worker::start(kernel, |k: &mut Kernel, (rx, n): (sync::Receiver<u64>, u64)| {
        let sum = k
            .run(move || (0..n).map(|_| rx.recv().expect("the sender lives")).sum::<u64>())
            .expect("the receiving program ends");
        assert_eq!(sum, n * n.saturating_sub(1) / 2, "every message arrived once");
    });
    group.bench_function(format!("cothread_cap{capacity}"), |b| {
        b.iter_custom(|messages| {
            let (tx, rx) = sync::channel::<u64>(capacity);
            batch(&sender, (tx, messages), &receiver, (rx, messages))
        })
    });
}

fn tokio_cross(group: &mut Group<'_>, capacity: usize) {
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    let runtime =
        || tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let sender = Worker::start(runtime, |rt: &mut tokio::runtime::Runtime, (tx, n): (Tx, u64)| {
        rt.block_on(async move {
            for i in 0..n {
                tx.send(i).await.expect("the receiver lives");
            }
        });
    });
    let receiver =
        Worker::start(runtime, |rt: &mut tokio::runtime::Runtime, (mut rx, n): (Rx, u64)| {
            let sum = rt.block_on(async move {
                let mut sum = 0;
                for _ in 0..n {
                    sum += rx.recv().await.expect("the sender lives");
                }
                sum
            });
            assert_eq!(sum, n * n.saturating_sub(1) / 2, "every message arrived once");
        });
    group.bench_function(format!("tokio_cap{capacity}"), |b| {
        b.iter_custom(|messages| {
            let (tx, rx) = tokio::sync::mpsc::channel::<u64>(capacity);
            batch(&sender, (tx, messages), &receiver, (rx, messages))
        })
    });
}

fn may_cross(group: &mut Group<'_>) {
    let workers = may::config().get_workers();
    let id =
        if workers == 1 { "may_1_worker".to_string() } else { format!("may_{workers}_workers") };
    group.bench_function(id, |b| {
        b.iter_custom(|messages| {
            let (tx, rx) = may::sync::mpsc::channel::<u64>();
            let start = Instant::now();
            let receiver = may::go!(move || {
                (0..messages).map(|_| rx.recv().expect("the sender lives")).sum::<u64>()
            });
            let sender = may::go!(move || {
                for i in 0..messages {
                    tx.send(i).expect("the receiver lives");
                }
            });
            sender.join().expect("the sending coroutine ends");
            let sum = receiver.join().expect("the receiving coroutine ends");
            let elapsed = start.elapsed();
            assert_eq!(
                sum,
                messages * messages.saturating_sub(1) / 2,
                "every message arrived once"
            );
            elapsed
        })
    });
}

/// Whether the run selects `channel_cross` alone: then may gets two workers.
fn cross_only() -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    !filters.is_empty() && filters.iter().all(|f| f.contains("cross"))
}

fn channel(c: &mut Criterion) {
    // Before may's first coroutine: its scheduler starts with this many
    // workers (see `cross_only`).
    may::config().set_workers(if cross_only() { 2 } else { 1 });
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(1));
    cothread_ping_pong(&mut group);
    bench_turn(&mut group);
    if may::config().get_workers() == 1 {
        may_one_worker(&mut group);
    }
    tokio_localset(&mut group);
    group.finish();
}

fn channel_cross(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_cross");
    group.throughput(Throughput::Elements(1));
    for capacity in [64, 1] {
        cothread_cross(&mut group, capacity);
        tokio_cross(&mut group, capacity);
    }
    may_cross(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = channel, channel_cross
}
criterion_main!(benches);
