//! Helpers shared by the benches: the Criterion settings, kernels and their
//! receivers, bare corosensei coroutines, and how many threads the OS's limit
//! on memory mappings allows.
//!
//! Each bench includes this module with `mod common;` and uses a part of it.
#![allow(dead_code)]

use std::rc::Rc;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use cothread::sync::Mutex;
use cothread::thread::JoinHandle;
use cothread::{event, os, thread, Kernel};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// The stack size of the many-thread benches: 100 000 stacks must fit, and
/// only the pages a thread touches take memory.
pub const SMALL_STACK: usize = 16 * 1024;

/// Two noisy shared cores: few samples, short windows, no plots. Compare the
/// figures of one run as ratios; absolute times move with the machine's load.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

/// A kernel on the virtual clock with `stack_size` stacks.
pub fn kernel(stack_size: usize) -> Kernel {
    Kernel::builder().virtual_time(true).stack_size(stack_size).build()
}

/// Starts a program that creates one thread per name, each receiving signals
/// of its name for ever, and then waits itself (so that it stays alive, and its
/// threads with it). Returns once every thread waits.
///
/// # Panics
///
/// If a stack cannot be had: call [`feasible_threads`] first.
pub fn start_receivers(kernel: &mut Kernel, names: Vec<String>) -> thread::JoinHandle<()> {
    kernel.spawn(move || {
        for name in names {
            thread::Builder::new()
                .spawn(move || while event::pull(None, name.as_str()).is_some() {})
                .expect("a receiver's stack (see feasible_threads)");
        }
        event::pull(None, "never");
    })
}

/// A bare corosensei coroutine that yields each time it is resumed.
pub fn yielding_coroutine(stack_size: usize) -> Coroutine<(), (), ()> {
    let stack = DefaultStack::new(stack_size).expect("a coroutine stack");
    Coroutine::with_stack(stack, |yielder, ()| loop {
        yielder.suspend(());
    })
}

/// One resume and yield of a coroutine made by [`yielding_coroutine`].
pub fn resume(coroutine: &mut Coroutine<(), (), ()>) {
    match coroutine.resume(()) {
        CoroutineResult::Yield(()) => {}
        CoroutineResult::Return(()) => unreachable!("the coroutine loops for ever"),
    }
}

/// `vm.max_map_count`, the OS's limit on a process's memory mappings.
pub fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

/// The memory mappings this process has now (lines of `/proc/self/maps`).
pub fn mappings() -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    Some(maps.lines().count())
}

/// How many memory mappings one idle thread with `stack_size` stacks costs,
/// measured: 256 threads are created and the mappings counted. With one
/// guard page below each stack it is 2 (the guard and the stack).
pub fn mappings_per_thread(stack_size: usize) -> f64 {
    const PROBE: usize = 256;
    let Some(before) = mappings() else { return 2.0 };
    let mut kernel = kernel(stack_size);
    let program = start_receivers(&mut kernel, (0..PROBE).map(|i| format!("p{i}")).collect());
    let after = mappings().unwrap_or(before);
    drop(program);
    drop(kernel);
    after.saturating_sub(before) as f64 / PROBE as f64
}

/// How many threads with `stack_size` stacks fit under `vm.max_map_count`,
/// up to `wanted`, with room left for the process's own mappings. Linux's
/// default (65 530) allows about 32 000 at two mappings a thread; running out
/// would fail the bench, so it measures fewer and says how to raise the limit.
pub fn feasible_threads(wanted: usize, stack_size: usize) -> usize {
    const HEADROOM: usize = 4_000;
    let (Some(limit), Some(used)) = (max_map_count(), mappings()) else { return wanted };
    let per_thread = mappings_per_thread(stack_size).max(0.01);
    let needed = (wanted as f64 * per_thread) as usize + used + HEADROOM;
    if needed <= limit {
        return wanted;
    }
    let fits = (limit.saturating_sub(used + HEADROOM) as f64 / per_thread) as usize;
    eprintln!(
        "warning: vm.max_map_count = {limit} allows about {fits} threads ({per_thread:.2} \
         mappings each), not {wanted}; measuring with {fits}. Raise it for the full figure: \
         `sysctl -w vm.max_map_count={}`",
        needed.next_power_of_two()
    );
    fits
}

/// Spawns the two green threads of a contended `Mutex`: each locks `m`,
/// takes a turn holding it (`os::sleep(Duration::ZERO)`) and adds one, so
/// that each unlock hands the lock to the other one, waiting; `handoffs`
/// locks between them.
pub fn handoff_lockers(
    kernel: &mut Kernel,
    m: &Rc<Mutex<u64>>,
    handoffs: u64,
) -> Vec<JoinHandle<()>> {
    let (a, b) = (handoffs / 2, handoffs - handoffs / 2);
    [a, b]
        .into_iter()
        .map(|n| {
            let m = m.clone();
            kernel.spawn(move || {
                for _ in 0..n {
                    let mut held = m.lock();
                    os::sleep(Duration::ZERO);
                    *held += 1;
                }
            })
        })
        .collect()
}

/// `cothread_turn`: two threads taking plain turns (`os::sleep(Duration::ZERO)`)
/// on the virtual clock, one iteration a turn: the unit of the sync layer's
/// goals, beside the bench's other entries.
pub fn bench_turn(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut kernel = kernel(SMALL_STACK);
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
