//! `spawn`: create an empty thread, run it to its end and reap it; one
//! iteration is one thread, so the figure is ns per thread.
//!
//! - `spawn/cothread`: `thread::create(|| ())` in a program, with the stack pool
//!   warm (the kernel is reused across samples, so every stack comes from the
//!   pool). The thread runs to its end inside `create`; its slot and stack are
//!   reclaimed there, and the `"thread_exit"` signal each end pushes is
//!   delivered by a yield every 1 024 threads (counted in the figure).
//! - `spawn/cothread_no_pool`: the same with `stack_pool(0)`: every thread maps
//!   a fresh stack and unmaps it at its end.
//! - `spawn/corosensei_fresh_stack`: a bare coroutine on a fresh `DefaultStack`
//!   (mmap + mprotect + munmap), resumed to its end.
//! - `spawn/corosensei_reused_stack`: the same on one stack taken back with
//!   `into_stack` and reused: the floor for a pooled spawn.
//! - `spawn/may_go_join`: `may::go!(|| ())` and `join`, from a coroutine on
//!   may's one worker thread (may pools its coroutines too).
//! - `spawn/tokio_spawn_local`: `tokio::task::spawn_local(async {})` awaited,
//!   on a current-thread runtime's `LocalSet` (no stack at all).
//!
//! Every stack is [`cothread::DEFAULT_STACK_SIZE`] bytes.
//!
//! Run with `cargo bench --bench spawn`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use cothread::{os, thread, Kernel, DEFAULT_STACK_SIZE};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use common::config;

/// Threads created between two yields of the creating program, which let the
/// kernel deliver their `"thread_exit"` signals.
const BATCH: u64 = 1024;

fn cothread(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, mut kernel: Kernel) {
    group.bench_function(id, |b| {
        b.iter_custom(|threads| {
            let elapsed = kernel.run(move || {
                let start = Instant::now();
                for i in 1..=threads {
                    black_box(thread::create(|| ()));
                    if i % BATCH == 0 {
                        os::sleep(Duration::ZERO);
                    }
                }
                os::sleep(Duration::ZERO);
                start.elapsed()
            });
            elapsed.expect("the creating program ends")
        })
    });
}

/// A coroutine that returns at once, run to its end; gives its stack back.
fn run_empty(stack: DefaultStack) -> DefaultStack {
    let mut coroutine = Coroutine::with_stack(stack, |_: &Yielder<(), ()>, ()| {});
    match coroutine.resume(()) {
        CoroutineResult::Return(()) => coroutine.into_stack(),
        CoroutineResult::Yield(()) => unreachable!("the coroutine never yields"),
    }
}

fn corosensei(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("corosensei_fresh_stack", |b| {
        b.iter(|| {
            let stack = DefaultStack::new(DEFAULT_STACK_SIZE).expect("a coroutine stack");
            drop(run_empty(stack));
        })
    });
    let mut stack = Some(DefaultStack::new(DEFAULT_STACK_SIZE).expect("a coroutine stack"));
    group.bench_function("corosensei_reused_stack", |b| {
        b.iter(|| stack = Some(run_empty(stack.take().expect("the stack was given back"))))
    });
}

fn may_go_join(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("may_go_join", |b| {
        b.iter_custom(|threads| {
            let driver = may::go!(move || {
                let start = Instant::now();
                for _ in 0..threads {
                    may::go!(|| ()).join().expect("an empty coroutine ends");
                }
                start.elapsed()
            });
            driver.join().expect("the driver coroutine ends")
        })
    });
}

fn tokio_spawn_local(group: &mut BenchmarkGroup<'_, WallTime>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    group.bench_function("tokio_spawn_local", |b| {
        b.iter_custom(|tasks| {
            local.block_on(&runtime, async move {
                let start = Instant::now();
                for _ in 0..tasks {
                    tokio::task::spawn_local(async {}).await.expect("an empty task ends");
                }
                start.elapsed()
            })
        })
    });
}

fn spawn(c: &mut Criterion) {
    may::config().set_workers(1);
    let mut group = c.benchmark_group("spawn");
    group.throughput(Throughput::Elements(1));
    let virtual_clock = || Kernel::builder().virtual_time(true);
    cothread(&mut group, "cothread", virtual_clock().build());
    cothread(&mut group, "cothread_no_pool", virtual_clock().stack_pool(0).build());
    corosensei(&mut group);
    may_go_join(&mut group);
    tokio_spawn_local(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn
}
criterion_main!(benches);
