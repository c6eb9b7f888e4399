//! The instruction-count driver of docs/performance.md ("Where the time
//! goes"): runs one bench path a given number of times, so that callgrind's
//! count for two run lengths gives the instructions of one operation with
//! setup and teardown taken out. `benches/instructions.sh` runs it.
//!
//! usage: instructions <switch|switch_alone|switch_watched|spawn|spawn_nopool|push|push_among_one|
//!                      push_among_two|broadcast|timers|channel|notify|mutex|mutex_handoff|
//!                      block_on_ready|block_on_turn> <ops>
//!
//! `ops` counts operations (turns, spawns, pushes, woken threads, wake-ups,
//! messages, lock+unlock pairs, hand-offs, block_on calls, turns through a future);
//! for `broadcast` and `timers` (1 000 an iteration) a multiple of 1 000.
//! Run by `cargo bench` without arguments, it runs each path a little, as a
//! check that they still work.
use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use cothread::sync::{self, Mutex, Notify};
use cothread::{event, future, os, thread, Filter, Kernel, Signal};

mod common;

use common::start_receivers;

const SMALL_STACK: usize = 16 * 1024;
const N: usize = 1_000;

fn small() -> Kernel {
    common::kernel(SMALL_STACK)
}

fn switch(turns: u64) {
    switch_on(small(), turns);
}

/// `switch` with the watchdog on (its limit never reached): what a switch
/// pays for being watched.
fn switch_watched(turns: u64) {
    let kernel = Kernel::builder()
        .virtual_time(true)
        .stack_size(SMALL_STACK)
        .watchdog(Duration::from_secs(3600))
        .build();
    switch_on(kernel, turns);
}

fn switch_on(mut kernel: Kernel, turns: u64) {
    let (a, b) = (turns / 2, turns - turns / 2);
    let first = kernel.spawn(move || (0..a).for_each(|_| os::sleep(Duration::ZERO)));
    let second = kernel.spawn(move || (0..b).for_each(|_| os::sleep(Duration::ZERO)));
    let report = kernel.run_until_idle();
    assert_eq!(report.resumes as u64, turns);
    assert!(!report.alive && first.wait().is_ok() && second.wait().is_ok());
}

/// One thread alone taking turns: each round resumes one thread, as in a
/// ping-pong, where `switch`'s rounds resume two.
fn switch_alone(turns: u64) {
    let mut kernel = small();
    let only = kernel.spawn(move || (0..turns).for_each(|_| os::sleep(Duration::ZERO)));
    let report = kernel.run_until_idle();
    assert_eq!(report.resumes as u64, turns);
    assert!(!report.alive && only.wait().is_ok());
}

fn spawn_run(kernel: &mut Kernel, threads: u64) {
    kernel
        .run(move || {
            for i in 1..=threads {
                black_box(thread::create(|| ()));
                if i % 1024 == 0 {
                    os::sleep(Duration::ZERO);
                }
            }
            os::sleep(Duration::ZERO);
        })
        .expect("the creating program ends");
}

fn spawn(threads: u64, pool: bool) {
    let builder = Kernel::builder().virtual_time(true);
    let mut kernel = if pool { builder.build() } else { builder.stack_pool(0).build() };
    spawn_run(&mut kernel, 2048); // warm the pool (same in both run lengths)
    spawn_run(&mut kernel, threads);
}

fn push(pushes: u64) {
    let names: Vec<String> = (0..N).map(|i| format!("s{i}")).collect();
    let signals: Vec<Signal> = names.iter().map(|n| Signal::new(n.as_str())).collect();
    let mut kernel = small();
    let program = start_receivers(&mut kernel, names);
    kernel.push_signal(signals[0].clone());
    let report = kernel.step();
    assert_eq!((report.signals, report.resumes), (1, 1));
    let mut next = 0;
    for _ in 0..pushes {
        kernel.push_signal(signals[next].clone());
        next = (next + 1) % signals.len();
        let report = kernel.step();
        assert_eq!(report.resumes, 1);
        black_box(report);
    }
    drop(program);
    drop(kernel);
}

/// A push to one of 5 000 threads, each waiting on `names` names (one of
/// them its own): the waiter index files a wait under each of its names.
fn push_among(pushes: u64, names: usize) {
    const RECEIVERS: usize = 5_000;
    let own: Vec<String> = (0..RECEIVERS).map(|i| format!("s{i}")).collect();
    let signals: Vec<Signal> = own.iter().map(|n| Signal::new(n.as_str())).collect();
    let mut kernel = small();
    let program = kernel.spawn(move || {
        for (i, name) in own.into_iter().enumerate() {
            let mut waits_on = vec![name];
            waits_on.extend((1..names).map(|k| format!("o{}", (i + k) % RECEIVERS)));
            let filter =
                if names == 1 { Filter::name(&waits_on[0]) } else { Filter::names(&waits_on) };
            thread::Builder::new()
                .spawn(move || while event::pull(None, filter.clone()).is_some() {})
                .expect("a receiver's stack");
        }
        event::pull(None, "never");
    });
    let mut next = 0;
    for _ in 0..pushes {
        kernel.push_signal(signals[next].clone());
        next = (next + 1) % signals.len();
        let report = kernel.step();
        assert_eq!(report.resumes, 1);
        black_box(report);
    }
    drop(program);
    drop(kernel);
}

fn broadcast(iters: u64) {
    let mut kernel = small();
    let program = start_receivers(&mut kernel, vec!["tick".to_string(); N]);
    let tick = Signal::new("tick");
    kernel.push_signal(tick.clone());
    assert_eq!(kernel.step().resumes, N);
    for _ in 0..iters {
        kernel.push_signal(tick.clone());
        let report = kernel.step();
        assert_eq!(report.resumes, N);
        black_box(report);
    }
    drop(program);
    drop(kernel);
}

fn timers(iters: u64) {
    let mut kernel = small();
    let on = Rc::new(Cell::new(false));
    let flag = on.clone();
    let program = kernel.spawn(move || {
        for i in 0..N {
            let flag = flag.clone();
            thread::Builder::new()
                .spawn(move || {
                    os::sleep(Duration::from_micros(i as u64 + 1));
                    loop {
                        if flag.get() {
                            black_box(os::uptime());
                        }
                        os::sleep(Duration::from_micros(N as u64));
                    }
                })
                .expect("a sleeper's stack");
        }
        event::pull(None, "never");
    });
    let window = Duration::from_micros(N as u64);
    assert_eq!(kernel.advance(window).resumes, N);
    for _ in 0..iters {
        let report = kernel.advance(window);
        assert_eq!(report.resumes, N);
    }
    drop(program);
    drop(kernel);
    drop(on);
}

/// Channel ping-pong between two green threads: one operation is one message
/// (a send, the receiver's resume, its receive), to set beside a turn.
fn channel(messages: u64) {
    let mut kernel = small();
    let rounds = messages / 2;
    let (ping_tx, ping_rx) = sync::channel::<u64>(1);
    let (pong_tx, pong_rx) = sync::channel::<u64>(1);
    let ping = kernel.spawn(move || {
        for i in 0..rounds {
            ping_tx.send(i).expect("the ponger lives");
            black_box(pong_rx.recv().expect("the ponger answers"));
        }
    });
    let pong = kernel.spawn(move || {
        for reply in &ping_rx {
            pong_tx.send(reply).expect("the pinger lives");
        }
    });
    let report = kernel.run_until_idle();
    assert!(report.resumes as u64 >= messages);
    assert!(!report.alive && ping.wait().is_ok() && pong.wait().is_ok());
}

/// An uncontended `Mutex` lock and unlock in one green thread.
fn mutex(pairs: u64) {
    let mut kernel = small();
    kernel
        .run(move || {
            let m = Mutex::new(0u64);
            for _ in 0..pairs {
                *black_box(&m).lock() += 1;
            }
            assert_eq!(*m.lock(), pairs);
        })
        .expect("the program ends");
}

/// A contended `Mutex`: two green threads each lock, give the CPU back while
/// holding it (a turn), and unlock, which hands the lock to the other one
/// (a second turn). One operation is one hand-off: two turns.
fn mutex_handoff(handoffs: u64) {
    let mut kernel = small();
    let m = Rc::new(Mutex::new(0u64));
    let lockers = common::handoff_lockers(&mut kernel, &m, handoffs);
    let report = kernel.run_until_idle();
    assert!(!report.alive && lockers.into_iter().all(|l| l.wait().is_ok()));
    assert_eq!(*m.lock(), handoffs);
}

/// `Notify` ping-pong between two green threads: one operation is one
/// wake-up and the resume it causes. The simplest wait source on park and
/// wake, so the floor of the others' turns.
fn notify(wakeups: u64) {
    let mut kernel = small();
    let (to_a, to_b) = (Rc::new(Notify::new()), Rc::new(Notify::new()));
    let (a_in, b_out) = (to_a.clone(), to_b.clone());
    let a = kernel.spawn(move || {
        for _ in 0..wakeups / 2 {
            b_out.notify_one();
            a_in.wait();
        }
    });
    let b = kernel.spawn(move || {
        for _ in 0..wakeups / 2 {
            to_b.wait();
            to_a.notify_one();
        }
    });
    let report = kernel.run_until_idle();
    assert!(!report.alive && a.wait().is_ok() && b.wait().is_ok());
}

/// A `future::block_on` of a future that is ready at once: one poll, no
/// switch. Beside `switch_alone`, a plain turn (the unit: at most
/// 1.2x a turn).
fn block_on_ready(calls: u64) {
    let mut kernel = small();
    let only = kernel.spawn(move || {
        let mut sum = 0u64;
        for i in 0..calls {
            sum = sum.wrapping_add(future::block_on(std::future::ready(black_box(i))));
        }
        black_box(sum);
    });
    kernel.run_until_idle();
    assert!(only.wait().is_ok());
}

/// A turn through a future: `block_on` of one that is pending once and
/// wakes itself (on the kernel's own OS thread), so the thread parks and
/// is resumed in the next round. Beside `switch_alone`.
fn block_on_turn(turns: u64) {
    let mut kernel = small();
    let only = kernel.spawn(move || {
        for _ in 0..turns {
            let mut first = true;
            future::block_on(std::future::poll_fn(|cx| {
                if std::mem::take(&mut first) {
                    cx.waker().wake_by_ref();
                    return std::task::Poll::Pending;
                }
                std::task::Poll::Ready(())
            }));
        }
    });
    let report = kernel.run_until_idle();
    assert_eq!(report.resumes as u64, turns);
    assert!(only.wait().is_ok());
}

fn run(path: &str, ops: u64) {
    match path {
        "switch" => switch(ops),
        "switch_alone" => switch_alone(ops),
        "switch_watched" => switch_watched(ops),
        "spawn" => spawn(ops, true),
        "spawn_nopool" => spawn(ops, false),
        "push" => push(ops),
        "push_among_one" => push_among(ops, 1),
        "push_among_two" => push_among(ops, 2),
        "broadcast" => broadcast(ops / N as u64),
        "timers" => timers(ops / N as u64),
        "channel" => channel(ops),
        "notify" => notify(ops),
        "mutex" => mutex(ops),
        "mutex_handoff" => mutex_handoff(ops),
        "block_on_ready" => block_on_ready(ops),
        "block_on_turn" => block_on_turn(ops),
        other => panic!("unknown path {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.as_slice() {
        [path, ops] => run(path, ops.parse().expect("a number of operations")),
        _ => {
            for path in [
                "switch",
                "switch_alone",
                "switch_watched",
                "spawn",
                "spawn_nopool",
                "push",
                "push_among_one",
                "push_among_two",
                "broadcast",
                "timers",
                "channel",
                "notify",
                "mutex",
                "mutex_handoff",
                "block_on_ready",
                "block_on_turn",
            ] {
                run(path, 2_000);
            }
        }
    }
}
