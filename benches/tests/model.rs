//! Model-based tests: random programs of thread operations (create, nested
//! create, sleep, pull, push, listen, timer, suspend, resume, kill, join with a
//! timeout, attach, detach, exit, panic) and of operations on a fixed set of
//! shared sync objects the program makes up front (see below) run on the
//! virtual clock, on the runtime and on a small reference model of
//! docs/semantics.md, docs/sync.md and the crate's documented choices
//! (`model/reference.rs`), which must agree on every logged line and its
//! uptime, on what `run` and `run_forever` return, on every thread's final
//! status and `wait()`, and on the drop counters (each script holds one; all
//! are dropped once the kernel is; each channel value holds one too). No
//! panic may escape the runtime.
//!
//! The sync objects and their operations:
//!
//! - two channels, `c1` (`sync::channel(1)`) and `cu` (`sync::unbounded()`):
//!   `send` with an optional timeout (`send_timeout`; a timeout of 0 fails at
//!   once if it does not fit), `try_send`, `recv` with an optional timeout,
//!   `try_recv`. Each value sent is named by the step that sent it and
//!   counts its drops: the model says how many were dropped after
//!   `run_forever` (received, refused, or a killed sender's), after the
//!   kernel's drop (which unwinds the parked senders) and after the
//!   channels' (all, once each).
//! - a `sync::Mutex`: `lock n` locks it, holds it through a sleep of n ticks
//!   and unlocks it (a kill during the sleep unlocks it as the stack
//!   unwinds).
//! - a `sync::Semaphore` of 2 permits: `acquire` with an optional timeout
//!   (0: `try_acquire`) keeps the permit in the script's frame; `release`
//!   drops the newest one; a kill, panic, exit or the body's end gives back
//!   the rest.
//! - `select c want t`: `select!` over a receive on channel c, a pull of
//!   `want`, and a timeout if t is given, in that order (the first listed
//!   ready case wins).
//!
//! The model follows src/park.rs's and src/sync/'s rules to the round:
//! hand-offs first come first served, wake-ups run in the next round's wake
//! phase (after its signals and deadlines), a woken waiter re-checks and
//! parks again with a new wait. A thread left waiting on a channel with
//! nothing else to happen makes the kernel wait in the OS for ever (another
//! OS thread could send): the model says so, and such a program is skipped
//! (counted, and bounded like the endless ones).
//!
//! The operation language and its interpreter (`model/ops.rs`) are shared with
//! the fuzzer (`fuzz/fuzz_targets/programs.rs`).
//!
//! 2 000 cases by default. To run more:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test model
//! ```
//!
//! A failure prints the smallest program proptest could shrink it to, one
//! script a line, and where the runtime and the model part ways.
//! `PROPTEST_RNG_SEED=<n>` replays a run's choice of programs.

#[path = "model/ops.rs"]
mod ops;
#[path = "model/reference.rs"]
mod reference;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use ops::{Chan, Checked, Mode, Name, Op, Program, Want, MAX_OPS, SCRIPTS};

/// The cases run when `PROPTEST_CASES` does not say.
const DEFAULT_CASES: u32 = 2000;

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![Just(Name::A), Just(Name::B)]
}

fn ticks() -> impl Strategy<Value = u8> {
    0u8..4
}

fn timeout() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![1 => Just(None), 3 => ticks().prop_map(Some)]
}

fn target() -> impl Strategy<Value = usize> {
    1..SCRIPTS
}

fn chan() -> impl Strategy<Value = Chan> {
    prop_oneof![Just(Chan::One), Just(Chan::Unbounded)]
}

/// A channel or lock wait's timeout: mostly given, so that fewer programs
/// leave a thread waiting on a channel for ever (see `WaitsForever`).
fn sync_timeout() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![1 => Just(None), 4 => ticks().prop_map(Some)]
}

/// One operation of script `script`. The program creates threads more often
/// than threads do, so that most programs have a few. `sync`: mostly
/// channel, lock and select operations, with fewer process-tree ones.
fn op(script: usize, sync: bool) -> BoxedStrategy<Op> {
    let (s, p) = if sync { (2, 0) } else { (1, 1) };
    let want = prop_oneof![3 => name().prop_map(Want::Name), 1 => Just(Want::Any)];
    let mode = prop_oneof![3 => Just(Mode::Keep), 1 => Just(Mode::Once), 1 => Just(Mode::Panic)];
    let mut arms: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (5, ticks().prop_map(Op::Sleep).boxed()),
        (5, (want, timeout()).prop_map(|(w, t)| Op::Pull(w, t)).boxed()),
        (5, name().prop_map(Op::Push).boxed()),
        (2, (name(), mode).prop_map(|(n, m)| Op::Listen(n, m)).boxed()),
        (1, (1u8..4, 1u8..4).prop_map(|(i, n)| Op::Timer(i, n)).boxed()),
        (4, target().prop_map(Op::Suspend).boxed()),
        (5, target().prop_map(Op::Resume).boxed()),
        (2, target().prop_map(Op::Kill).boxed()),
        (3, (target(), timeout()).prop_map(|(j, t)| Op::Join(j, t)).boxed()),
        (2 * p, (target(), 0u8..3).prop_map(|(j, l)| Op::Attach(j, l)).boxed()),
        (p, target().prop_map(Op::Detach).boxed()),
        (p, target().prop_map(Op::Status).boxed()),
        (1, Just(Op::Exit).boxed()),
        (1, Just(Op::Panic).boxed()),
        (4 * s, (chan(), sync_timeout()).prop_map(|(c, t)| Op::Send(c, t)).boxed()),
        (2 * s, chan().prop_map(Op::TrySend).boxed()),
        (4 * s, (chan(), sync_timeout()).prop_map(|(c, t)| Op::Recv(c, t)).boxed()),
        (2 * s, chan().prop_map(Op::TryRecv).boxed()),
        (3 * s, ticks().prop_map(Op::Lock).boxed()),
        // Three in a program are needed for a wait on the two permits.
        (2 * s * s, sync_timeout().prop_map(Op::Acquire).boxed()),
        (2 * s, Just(Op::Release).boxed()),
        (
            3 * s,
            (
                chan(),
                prop_oneof![3 => name().prop_map(Want::Name), 1 => Just(Want::Any)],
                sync_timeout(),
            )
                .prop_map(|(c, w, t)| Op::Select(c, w, t))
                .boxed(),
        ),
    ];
    if script + 1 < SCRIPTS {
        let weight = if script == 0 { 12 } else { 4 };
        arms.push((weight, (script + 1..SCRIPTS).prop_map(Op::Create).boxed()));
    }
    arms.retain(|(weight, _)| *weight > 0);
    Union::new_weighted(arms).boxed()
}

/// A program. Most start with a few creates, so that most have threads to
/// act on; threads' scripts are never empty. `sync`: see [`op`].
fn program(sync: bool) -> impl Strategy<Value = Program> {
    let creates = proptest::collection::vec((1..SCRIPTS).prop_map(Op::Create), 1..=3);
    let main = prop_oneof![
        1 => proptest::collection::vec(op(0, sync), 0..=MAX_OPS),
        4 => (creates, proptest::collection::vec(op(0, sync), 0..=MAX_OPS - 3)).prop_map(|(mut c, rest)| {
            c.extend(rest);
            c
        }),
    ];
    let threads: Vec<_> =
        (1..SCRIPTS).map(|i| proptest::collection::vec(op(i, sync), 1..=MAX_OPS)).collect();
    (main, threads).prop_map(|(main, threads)| {
        let mut scripts = vec![main];
        scripts.extend(threads);
        Program { scripts }
    })
}

fn config() -> Config {
    let cases =
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_CASES);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Aborts the test binary, naming the program, if one case runs for more
/// than a minute: a hang in the runtime (or the model) then fails the run
/// instead of stalling it.
struct Watchdog {
    case: Arc<Mutex<Option<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let case: Arc<Mutex<Option<(Instant, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (case.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if let Some((since, program)) = &*c.lock().unwrap() {
                    if since.elapsed() > Duration::from_secs(60) {
                        // Not `eprintln!`: the test harness captures that, and
                        // the capture dies with the process.
                        let _ = writeln!(
                            std::io::stderr(),
                            "model: a case ran for over a minute:\n{program}"
                        );
                        std::process::abort();
                    }
                }
            }
        });
        Watchdog { case, stop }
    }

    fn watch<T>(&self, program: &Program, f: impl FnOnce() -> T) -> T {
        *self.case.lock().unwrap() = Some((Instant::now(), format!("{program:?}")));
        let out = f();
        *self.case.lock().unwrap() = None;
        out
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn random_programs_agree_with_the_model() {
    agree_with_the_model(false);
}

/// The same with programs made mostly of channel, lock and select
/// operations: the hand-offs, re-parks and wake-up orders that only several
/// waiters on one object show.
#[test]
fn sync_heavy_programs_agree_with_the_model() {
    agree_with_the_model(true);
}

fn agree_with_the_model(sync: bool) {
    ops::quiet_script_panics();
    let watchdog = Watchdog::start();
    let config = config();
    let cases = config.cases;
    let started = Instant::now();
    let endless = std::cell::Cell::new(0u32);
    let waits = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&program(sync), |p| match watchdog.watch(&p, || ops::check(&p)) {
        Ok(Checked::Agreed) => Ok(()),
        Ok(Checked::Endless) => {
            endless.set(endless.get() + 1);
            Ok(())
        }
        Ok(Checked::WaitsForever) => {
            waits.set(waits.get() + 1);
            Ok(())
        }
        Err(diff) => Err(TestCaseError::fail(format!("\n{p:?}\n{diff}"))),
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (endless, waits) = (endless.get(), waits.get());
    eprintln!(
        "model{}: {} programs agreed, {endless} skipped as endless, {waits} as waiting for ever \
         on a channel, in {:.1?}",
        if sync { " (sync-heavy)" } else { "" },
        cases - endless - waits,
        started.elapsed()
    );
    assert!(endless * 20 < cases, "too many endless programs: {endless} of {cases}");
    assert!(waits * 4 < cases, "too many programs waiting for ever: {waits} of {cases}");
}

/// The fuzzer's way into the language: byte strings decoded into programs.
/// A fixed pseudo-random set, so that `Program::decode` is exercised here too.
#[test]
fn decoded_byte_strings_agree_with_the_model() {
    ops::quiet_script_panics();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..300 {
        let len = (next() % 90) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let program = Program::decode(&bytes);
        if let Err(diff) = ops::check(&program) {
            panic!("case {case}, bytes {bytes:?}:\n{program:?}\n{diff}");
        }
    }
}

/// Programs written out by hand, each for a corner the generator reaches only
/// now and then.
#[test]
fn hand_written_corner_cases_agree_with_the_model() {
    use Op::*;
    ops::quiet_script_panics();
    let a = Want::Name(Name::A);
    let (c1, cu) = (Chan::One, Chan::Unbounded);
    let programs: Vec<Vec<Vec<Op>>> = vec![
        // A thread kills its creator during its first stretch, while the
        // creator's stack is busy under it.
        vec![vec![Create(1), Sleep(1)], vec![Create(2), Pull(a, None)], vec![Kill(1), Sleep(1)]],
        // A thread suspends its creator during its first stretch, then resumes it.
        vec![vec![Create(1), Resume(1)], vec![Create(2), Sleep(1)], vec![Suspend(1), Sleep(2)]],
        vec![vec![Create(1), Sleep(3), Resume(1)], vec![Create(2), Sleep(1)], vec![Suspend(1)]],
        // A suspended pull misses its signal; a sleep's deadline passes while
        // suspended and is delivered at the resume.
        vec![
            vec![Create(1), Create(2), Suspend(1), Suspend(2), Push(Name::A), Sleep(2)],
            vec![Pull(a, None)],
            vec![Sleep(1)],
        ],
        // A self-suspended thread is killed by its owner's close.
        vec![vec![Create(1)], vec![Suspend(1)]],
        // Detach, then the program ends; the detached thread goes on.
        vec![vec![Create(1), Detach(1)], vec![Sleep(2), Pull(Want::Any, Some(1))]],
        // Attaching out from under a suspended owner thaws a thread.
        vec![
            vec![Create(1), Sleep(1), Attach(2, 0), Sleep(3)],
            vec![Create(2), Suspend(1)],
            vec![Sleep(2)],
        ],
        // Timers and listeners of a suspended owner skip; a panicking listener.
        vec![
            vec![Create(1), Suspend(1), Push(Name::A), Sleep(3), Resume(1), Push(Name::A)],
            vec![Listen(Name::A, Mode::Keep), Listen(Name::A, Mode::Panic), Timer(1, 3), Sleep(3)],
        ],
        // A join that times out, then one that kills a suspended target.
        vec![vec![Create(1), Join(1, Some(1)), Suspend(1), Join(1, None)], vec![Sleep(3)]],
        // Deadlock: the program waits for a signal nobody pushes.
        vec![vec![Create(1), Pull(a, None)], vec![Pull(Want::Name(Name::B), None)]],
        // A value handed to a receiver killed before it ran goes back to the
        // front of the channel, ahead of one sent after it.
        vec![
            vec![Create(1), Send(cu, None), Send(cu, None), Kill(1), TryRecv(cu), TryRecv(cu)],
            vec![Recv(cu, None)],
        ],
        // A receiver's registration wakes the select watching its channel
        // through the remote path: that wake-up runs after the round's
        // others (T2's hand-off), and the select then finds the second value.
        vec![
            vec![Create(1), Create(2), Send(cu, None), Send(cu, None)],
            vec![Select(cu, a, None)],
            vec![Recv(cu, None)],
        ],
        // Woken for nothing, the select parks again as a new wait: behind
        // T2's pull for the next signal.
        vec![
            vec![Create(1), Create(2), Create(3), Sleep(0), Push(Name::A)],
            vec![Select(cu, a, Some(3))],
            vec![Pull(a, None)],
            vec![Recv(cu, Some(2))],
        ],
        // Lock hand-offs in the order asked; a killed holder's lock goes on
        // as its stack unwinds; a killed waiter leaves the queue.
        vec![
            vec![Create(1), Create(2), Create(3), Kill(1), Kill(2), Lock(1)],
            vec![Lock(3)],
            vec![Lock(1)],
            vec![Lock(1)],
        ],
        // Permits kept in the frame, given back by a kill, a panic and the
        // body's end; a timed-out request leaves the queue.
        vec![
            vec![Create(1), Create(2), Create(3), Acquire(Some(1)), Kill(1), Acquire(None)],
            vec![Acquire(None), Acquire(None), Sleep(3)],
            vec![Acquire(None), Panic],
            vec![Acquire(Some(2)), Release, Release],
        ],
        // A sender parked on the full channel, killed: its value is dropped
        // once; another parked sender's value moves into the buffer.
        vec![
            vec![Create(1), Create(2), Create(3), Kill(2), Recv(c1, None), Recv(c1, Some(1))],
            vec![Send(c1, None), Send(c1, None)],
            vec![Send(c1, None)],
            vec![Send(c1, Some(2)), TrySend(c1)],
        ],
    ];
    for (i, scripts) in programs.into_iter().enumerate() {
        let mut scripts = scripts;
        scripts.resize(SCRIPTS, Vec::new());
        let program = Program { scripts };
        match ops::check(&program) {
            Ok(Checked::Agreed) => {}
            Ok(Checked::Endless) => panic!("hand-written program {i} is endless:\n{program:?}"),
            Ok(Checked::WaitsForever) => {
                panic!("hand-written program {i} waits for ever:\n{program:?}")
            }
            Err(diff) => panic!("hand-written program {i}:\n{program:?}\n{diff}"),
        }
    }
}

/// Prints how often each kind of log line, outcome and thread count comes up
/// in 2 000 generated programs (on the model only), to tune the generator:
/// `cargo test --test model generator_coverage -- --ignored --nocapture`
/// (with `MODEL_SYNC_HEAVY=1`, of the sync-heavy generator).
#[test]
#[ignore]
fn generator_coverage() {
    use proptest::strategy::ValueTree;
    use std::collections::BTreeMap;
    let sync = std::env::var_os("MODEL_SYNC_HEAVY").is_some();
    let mut runner = TestRunner::deterministic();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = |key: String| *counts.entry(key).or_default() += 1;
    for _ in 0..2000 {
        let p = program(sync).new_tree(&mut runner).expect("a program").current();
        let seen = match reference::run_model(&p) {
            reference::Outcome::Ends(seen) => seen,
            reference::Outcome::Endless => {
                count("endless".to_string());
                continue;
            }
            reference::Outcome::WaitsForever => {
                count("waits for ever".to_string());
                continue;
            }
        };
        count(format!("run: {}", seen.run));
        count(format!("run_forever: {}", seen.run_forever));
        count(format!("threads: {}", seen.statuses.len()));
        count(format!("uptime: {} ms", seen.uptime_ms));
        for line in &seen.log {
            // "<ms> <who> <what>[: <result>]": count <what> and <result>.
            let what = line.splitn(3, ' ').nth(2).unwrap_or("");
            let op = what.split(' ').next().unwrap_or("");
            let key = match what.split_once(": ") {
                Some((_, result)) if op != "[listener]" => format!("{op}: {result}"),
                _ => op.to_string(),
            };
            count(key);
        }
    }
    for (key, n) in counts {
        println!("{n:6} {key}");
    }
}
