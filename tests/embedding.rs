//! Embedding (issue 4): a host-driven kernel for frame loops, fixed-step
//! simulations and blocking automation hosts. One section per capability of the
//! issue: stepping and its reports, advancing a virtual clock, budgets and their
//! fairness, pushes from other OS threads, an idle kernel's CPU use, naming and
//! introspection, determinism and the trace hook, and `log`.
//!
//! Every test runs on the virtual clock except the ones where the kernel must
//! block in the OS (pushes from other OS threads, idle CPU): those use the real
//! clock, never sleep for real and assert no wall time.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::{kernel, secs, within, Out};
use cothread::{
    event, os, thread, Budget, Error, Filter, Kernel, Signal, Status, StepReport, ThreadId, Trace,
    Waiting,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A trace recorder: each line is the time on the kernel's clock and the event.
fn record_trace(k: &mut Kernel) -> Out {
    let trace = Out::new();
    let t = trace.clone();
    k.on_trace(move |at, event| t.print(format!("{at:?} {event}")));
    trace
}

/// A tiny linear congruential generator (Knuth's MMIX constants): the
/// "randomized" programs below are the same on every run.
#[derive(Clone)]
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------
// Stepping: step, run_until_idle and their reports
// ---------------------------------------------------------------------------

#[test]
fn step_reports_resumes_signals_next_deadline_and_liveness() {
    let mut k = kernel();
    let r = k.step();
    assert_eq!((r.resumes, r.signals, r.next_deadline, r.alive), (0, 0, None, false));

    let reader = k.spawn(|| {
        let first = event::pull(None, "go").map(|s| s.to_string());
        let second = event::pull(None, "go").map(|s| s.to_string());
        (first, second)
    });
    let sleeper = k.spawn(|| os::sleep(secs(2)));

    // Nothing is ready: nothing runs, the clock does not move.
    let r = k.step();
    assert_eq!((r.resumes, r.signals), (0, 0));
    assert_eq!(r.next_deadline, Some(secs(2)));
    assert!(r.alive);
    assert_eq!(k.uptime(), Duration::ZERO);

    // Two signals delivered, one of them wakes the reader.
    k.push_signal(Signal::new("noise"));
    k.push_signal(Signal::new("go").with(1));
    let r = k.step();
    assert_eq!((r.resumes, r.signals), (1, 2));
    assert_eq!(r.next_deadline, Some(secs(2)));
    assert!(r.alive);

    // The reader ends; the sleeper keeps the kernel alive.
    k.push_signal(Signal::new("go").with(2));
    let r = k.step();
    assert_eq!((r.resumes, r.signals), (1, 1));
    assert!(r.alive);
    assert_eq!(reader.status(), Status::Dead);
    assert_eq!(reader.wait(), Ok((Some("go 1".into()), Some("go 2".into()))));

    // The sleeper's deadline comes with the clock.
    let r = k.advance(secs(2));
    assert_eq!((r.resumes, r.signals, r.next_deadline, r.alive), (1, 0, None, false));
    assert_eq!(sleeper.wait(), Ok(()));
}

#[test]
fn step_runs_one_round_signals_pushed_during_it_wait_for_the_next() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.spawn(move || {
        event::pull(None, "ping");
        o.print("ping");
        event::push(Signal::new("pong"));
        event::pull(None, "pong");
        o.print("pong");
    });
    k.push_signal(Signal::new("ping"));
    let r = k.step();
    assert_eq!((r.resumes, r.signals), (1, 1));
    assert_eq!(out.lines(), ["ping"]);
    let r = k.step();
    assert_eq!((r.resumes, r.signals, r.alive), (1, 1, false));
    assert_eq!(out.lines(), ["ping", "pong"]);
}

/// `StepReport::next_deadline` is "the nearest deadline on the kernel's clock
/// after the step": a pull whose signal came before its timeout has no
/// deadline left.
#[test]
fn next_deadline_forgets_waits_that_ended_early() {
    let mut k = kernel();
    let quick = k.spawn(|| event::pull(secs(5), "go").is_some());
    let slow = k.spawn(|| os::sleep(secs(10)));
    assert_eq!(k.step().next_deadline, Some(secs(5)));

    k.push_signal(Signal::new("go"));
    let r = k.step();
    assert_eq!(quick.wait(), Ok(true));
    assert!(r.alive);
    assert_eq!(r.next_deadline, Some(secs(10)), "the pull's 5 s timeout no longer exists");

    slow.kill();
    let r = k.step();
    assert!(!r.alive);
    assert_eq!(r.next_deadline, None, "nothing waits for any deadline");
}

/// When nothing is ready, a virtual clock moves to the nearest deadline: one
/// that still exists. Here the only deadline ever set (a pull's timeout) was
/// cancelled by its signal, so a deadlocked program leaves the clock at zero.
#[test]
fn the_virtual_clock_does_not_jump_to_a_deadline_that_no_longer_exists() {
    let mut k = kernel();
    let out = k.run(|| {
        let t = thread::create(|| event::pull(secs(10), "x").is_some());
        event::push(Signal::new("x"));
        assert_eq!(t.wait(), Ok(true));
        event::pull(None, "never")
    });
    assert!(matches!(out, Err(Error::Deadlock(_))), "{out:?}");
    assert_eq!(k.uptime(), Duration::ZERO);
}

#[test]
fn run_until_idle_runs_rounds_until_nothing_is_ready_without_moving_the_clock() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let relay = k.spawn(move || {
        let o1 = o.clone();
        // Each hop is woken by the previous one's push: one round each.
        thread::create(move || {
            event::pull(None, "a");
            o1.print("a");
            event::push(Signal::new("b"));
        });
        let o2 = o.clone();
        thread::create(move || {
            event::pull(None, "b");
            o2.print("b");
            event::push(Signal::new("c"));
        });
        event::pull(None, "c");
        o.print("c");
    });
    let sleeper = k.spawn(|| os::sleep(secs(1)));
    k.push_signal(Signal::new("a"));
    let r = k.run_until_idle();
    assert_eq!(out.lines(), ["a", "b", "c"]);
    assert_eq!(relay.status(), Status::Dead);
    // a, b, c and the two threads' "thread_exit".
    assert_eq!(r.signals, 5);
    // Three hops, then the program's close joins its two threads (ended already).
    assert!(r.resumes >= 3);
    assert!(r.alive);
    assert_eq!(r.next_deadline, Some(secs(1)));
    assert_eq!(k.uptime(), Duration::ZERO);
    assert_eq!(sleeper.status(), Status::Running);

    let r = k.run_until_idle();
    assert_eq!((r.resumes, r.signals), (0, 0));
}

// ---------------------------------------------------------------------------
// advance: deadlines in order, each at its own time; frames = one big advance
// ---------------------------------------------------------------------------

#[test]
fn advance_runs_deadlines_in_order_each_at_its_own_time() {
    let out = Out::new();
    let mut k = kernel();
    for (name, sleep) in [("a", 300), ("b", 100), ("c", 200)] {
        let o = out.clone();
        k.spawn(move || {
            os::sleep(ms(sleep));
            o.print(format!("{name} {}", os::uptime().as_millis()));
        });
    }
    let o = out.clone();
    k.spawn(move || {
        let got = event::pull(ms(250), "never");
        o.print(format!("pull {:?} {}", got, os::uptime().as_millis()));
    });
    let o = out.clone();
    k.spawn(move || {
        let o2 = o.clone();
        event::timer(ms(150), 2, move || o2.print(format!("timer {}", os::uptime().as_millis())));
        event::pull(None, "stop");
    });

    let r = k.advance(secs(1));
    assert_eq!(
        out.lines(),
        [
            "b 100",
            "timer 150",
            "c 200",
            "pull None 250",
            // A tie: a's deadline was set at 0, the timer's second one at 150.
            "a 300",
            "timer 300",
        ]
    );
    assert_eq!(k.uptime(), secs(1));
    assert_eq!(r.resumes, 4);
    assert!(r.alive);
    assert_eq!(r.next_deadline, None);
}

#[test]
fn advance_runs_what_is_ready_now_first() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.spawn(move || {
        let s = event::pull(None, "go").unwrap();
        o.print(format!("{s} at {:?}", os::uptime()));
    });
    k.push_signal(Signal::new("go"));
    k.advance(secs(3));
    assert_eq!(out.lines(), ["go at 0ns"]);
}

/// A program with sleeps of odd lengths, timers, pulls with timeouts, and
/// signals pushed between threads, so that many deadlines fall inside frames
/// and some on frame boundaries.
fn busy_second(k: &mut Kernel, out: &Out) {
    let mut rng = Lcg(7);
    for i in 0..12u64 {
        let o = out.clone();
        let mut rng = Lcg(rng.next());
        k.spawn(move || {
            for step in 0..8 {
                match rng.below(4) {
                    0 => os::sleep(Duration::from_micros(rng.below(90_000))),
                    // 50 ms: exactly three frames of 1/60 s.
                    1 => os::sleep(ms(50)),
                    2 => event::push(Signal::new(format!("s{}", rng.below(3))).with(i).with(step)),
                    _ => {
                        let got = event::pull(
                            Duration::from_micros(rng.below(120_000)),
                            Filter::pattern("^s"),
                        );
                        o.print(format!(
                            "{:?} #{i} got {:?}",
                            os::uptime(),
                            got.map(|s| s.to_string())
                        ));
                    }
                }
            }
            o.print(format!("{:?} #{i} done", os::uptime()));
        });
    }
    let o = out.clone();
    k.spawn(move || {
        let o2 = o.clone();
        event::timer(Duration::from_micros(70_001), 12, move || {
            o2.print(format!("{:?} tick", os::uptime()));
        });
        os::sleep(secs(1));
    });
}

#[test]
fn sixty_frames_of_one_sixtieth_equal_one_advance_of_a_second() {
    let record = |frames: bool| {
        let mut k = kernel();
        let trace = record_trace(&mut k);
        let out = Out::new();
        busy_second(&mut k, &out);
        if frames {
            for frame in 1..=60u32 {
                // Frame boundaries at exact multiples of 1/60 s.
                let target = secs(1) * frame / 60;
                let dt = target - k.uptime();
                k.advance(dt);
            }
        } else {
            k.advance(secs(1));
        }
        assert_eq!(k.uptime(), secs(1));
        (trace.lines(), out.lines(), k.step().alive)
    };
    let (one_trace, one_out, one_alive) = record(false);
    let (frames_trace, frames_out, frames_alive) = record(true);
    assert!(one_out.len() > 20, "the program did something: {one_out:?}");
    assert!(one_trace.iter().any(|l| l.contains("timer")));
    assert_eq!(frames_out, one_out);
    assert_eq!(frames_trace, one_trace);
    assert_eq!(frames_alive, one_alive);
}

// ---------------------------------------------------------------------------
// step_for: budgets and fairness
// ---------------------------------------------------------------------------

/// Spawns `n` threads that each log their index and yield, forever.
fn yielders(k: &mut Kernel, n: usize) -> Rc<RefCell<Vec<usize>>> {
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..n {
        let l = log.clone();
        k.spawn(move || loop {
            l.borrow_mut().push(i);
            os::sleep(Duration::ZERO);
        });
    }
    log.borrow_mut().clear(); // their first stretches ran in `spawn`
    log
}

#[test]
fn a_busy_yielder_cannot_starve_the_others() {
    let out = Out::new();
    let mut k = kernel();
    let spins = Rc::new(Cell::new(0u64));
    let s = spins.clone();
    k.spawn(move || loop {
        s.set(s.get() + 1);
        os::sleep(Duration::ZERO);
    });
    let o = out.clone();
    let reader = k.spawn(move || {
        let s = event::pull(None, "go").unwrap();
        o.print(format!("reader got {s}"));
    });
    let o = out.clone();
    let napper = k.spawn(move || {
        for n in 1..=3 {
            os::sleep(Duration::ZERO);
            o.print(format!("napper {n}"));
        }
    });
    k.push_signal(Signal::new("go"));

    // A budget of one resume a step: still everyone gets their turn.
    let mut steps = 0;
    while napper.status() != Status::Dead || reader.status() != Status::Dead {
        let r = k.step_for(Budget::Resumes(1));
        assert_eq!(r.resumes, 1);
        steps += 1;
        assert!(steps <= 10, "starved after {steps} steps: {:?}", out.lines());
    }
    assert_eq!(out.lines(), ["reader got go", "napper 1", "napper 2", "napper 3"]);
    assert!(spins.get() >= 3, "and the yielder ran too");
}

#[test]
fn a_round_cut_by_the_budget_goes_on_where_it_stopped() {
    let mut k = kernel();
    let log = yielders(&mut k, 5);
    for _ in 0..10 {
        assert_eq!(k.step_for(Budget::Resumes(2)).resumes, 2);
    }
    // Strict round robin across the cuts: the second step starts at the third
    // thread, not over at the first.
    let expected: Vec<usize> = (0..20).map(|n| n % 5).collect();
    assert_eq!(*log.borrow(), expected);

    log.borrow_mut().clear();
    for _ in 0..5 {
        assert_eq!(k.step_for(Budget::Resumes(3)).resumes, 3);
    }
    assert_eq!(*log.borrow(), (0..15).map(|n| n % 5).collect::<Vec<_>>());
}

/// A random program of yielding, pushing, pulling and joining threads, run at
/// one instant. Each line of the log names the script, the step and what it
/// got; for even seeds the trace hook's events are in it too (a traced
/// resume takes another path).
fn rounds_program(seed: u64) -> (Kernel, Rc<RefCell<Vec<String>>>) {
    fn name(rng: &mut Lcg) -> &'static str {
        ["a", "b"][rng.below(2) as usize]
    }
    fn run_script(script: u64, mut rng: Lcg, log: Rc<RefCell<Vec<String>>>) {
        for step in 0..rng.below(8) {
            let got = match rng.below(6) {
                0 => {
                    os::sleep(Duration::ZERO);
                    "slept".to_string()
                }
                1 => format!("yielded {:?}", thread::yield_now().map(|s| s.name().to_string())),
                2 => {
                    event::push(Signal::new(name(&mut rng)));
                    "pushed".to_string()
                }
                3 => format!("polled {:?}", event::pull(Duration::ZERO, name(&mut rng)).is_some()),
                4 => format!("pulled {:?}", event::pull(None, name(&mut rng)).is_some()),
                _ => {
                    let child = thread::create(|| {
                        os::sleep(Duration::ZERO);
                        event::push(Signal::new("a"));
                    });
                    format!("joined {:?}", child.thread().join(None))
                }
            };
            log.borrow_mut().push(format!("{script}.{step} {got}"));
        }
    }
    let mut rng = Lcg(seed);
    let mut k = kernel();
    let log = Rc::new(RefCell::new(Vec::new()));
    if seed % 2 == 0 {
        let trace = log.clone();
        k.on_trace(move |_, event| trace.borrow_mut().push(format!("trace: {event}")));
    }
    for script in 0..2 + rng.below(4) {
        let (rng, log) = (Lcg(rng.next()), log.clone());
        k.spawn(move || run_script(script, rng, log));
    }
    k.push_signal(Signal::new(name(&mut rng)));
    (k, log)
}

/// `run_until_idle` and `step_for` go from one round into the next without
/// returning when the next has only deadlines to run: the same work in the
/// same order as one `step` (one round) after another.
#[test]
fn rounds_run_back_to_back_do_what_single_steps_do() {
    for seed in 0..300 {
        let (mut stepped, by_step) = rounds_program(seed);
        let mut done = (0, 0);
        loop {
            let r = stepped.step();
            if (r.resumes, r.signals) == (0, 0) {
                break;
            }
            done = (done.0 + r.resumes, done.1 + r.signals);
        }
        let (mut settled, by_settle) = rounds_program(seed);
        let r = settled.run_until_idle();
        assert_eq!(*by_settle.borrow(), *by_step.borrow(), "seed {seed}");
        assert_eq!((r.resumes, r.signals), done, "seed {seed}");

        let (mut budgeted, by_budget) = rounds_program(seed);
        let budget = 1 + seed as usize % 3;
        while budgeted.step_for(Budget::Resumes(budget)).resumes > 0 {}
        assert_eq!(*by_budget.borrow(), *by_step.borrow(), "seed {seed}, budget {budget}");
        for k in [&mut stepped, &mut settled, &mut budgeted] {
            assert_eq!((k.step().resumes, k.run_until_idle().resumes), (0, 0), "seed {seed}");
        }
    }
}

/// A program of sleepers, pullers with timeouts, pushes, kills and a
/// repeating timer on the virtual clock, each line logged with the instant
/// it happened at.
fn timed_program(seed: u64) -> (Kernel, Rc<RefCell<Vec<String>>>) {
    fn name(rng: &mut Lcg) -> &'static str {
        ["a", "b"][rng.below(2) as usize]
    }
    fn run_script(script: u64, mut rng: Lcg, log: Rc<RefCell<Vec<String>>>) {
        for step in 0..4 + rng.below(12) {
            let got = match rng.below(10) {
                0..=2 => {
                    os::sleep(ms(rng.below(4)));
                    "slept".to_string()
                }
                3 | 4 => {
                    event::push(Signal::new(name(&mut rng)));
                    "pushed".to_string()
                }
                5..=7 => {
                    let timeout = ms(rng.below(8));
                    format!("pulled {:?}", event::pull(timeout, name(&mut rng)).is_some())
                }
                8 => {
                    let child = thread::create(|| os::sleep(ms(2)));
                    format!("joined {:?}", child.thread().join(Some(ms(1))))
                }
                _ => {
                    let _ = event::timer(ms(1 + rng.below(2)), 2, || {
                        event::push(Signal::new("a"));
                    });
                    "timer".to_string()
                }
            };
            log.borrow_mut().push(format!("{:?} {script}.{step} {got}", os::uptime()));
        }
    }
    let mut rng = Lcg(seed);
    let mut k = kernel();
    let log = Rc::new(RefCell::new(Vec::new()));
    if seed % 2 == 0 {
        let trace = log.clone();
        k.on_trace(move |at, event| trace.borrow_mut().push(format!("{at:?} trace: {event}")));
    }
    for script in 0..2 + rng.below(5) {
        let (rng, log) = (Lcg(rng.next()), log.clone());
        k.spawn(move || run_script(script, rng, log));
    }
    (k, log)
}

/// `advance` moves the clock from one deadline to the next inside its
/// rounds where nothing else is ready: the same work at the same instants
/// as a host that runs what is ready (`run_until_idle`) and then advances to
/// the next deadline alone, deadline after deadline.
#[test]
fn an_advance_runs_what_advances_from_deadline_to_deadline_run() {
    for seed in 0..300 {
        let target = ms(1 + seed % 20);
        let (mut whole, by_whole) = timed_program(seed);
        let r = whole.advance(target);
        let (mut single, by_single) = timed_program(seed);
        let mut done = (0, 0, 0);
        let mut add = |r: StepReport| {
            done = (done.0 + r.resumes, done.1 + r.signals, done.2 + r.callbacks);
        };
        loop {
            let idle = single.run_until_idle();
            let next = idle.next_deadline.filter(|&at| at <= target);
            add(idle);
            let Some(at) = next else {
                add(single.advance(target - single.uptime()));
                break;
            };
            add(single.advance(at - single.uptime()));
        }
        assert_eq!(*by_single.borrow(), *by_whole.borrow(), "seed {seed}");
        assert_eq!((r.resumes, r.signals, r.callbacks), done, "seed {seed}");
        assert_eq!(whole.uptime(), target, "seed {seed}");
    }
}

/// A signal pushed from another OS thread's sender while threads yield
/// arrives at the start of the next round, rollover or not: a round never
/// flows into the next past a remote push.
#[test]
fn a_remote_push_among_yields_is_delivered_at_the_next_round() {
    fn program() -> (Kernel, Out) {
        let out = Out::new();
        let (yields, gets) = (out.clone(), out.clone());
        let mut k = kernel();
        let sender = k.signal_sender();
        k.spawn(move || {
            thread::create(move || {
                event::pull(None, "x");
                gets.print("got x");
            });
            for turn in 0..3 {
                os::sleep(Duration::ZERO);
                yields.print(format!("turn {turn}"));
                if turn == 0 {
                    let sender = sender.clone();
                    std::thread::spawn(move || sender.push(Signal::new("x")))
                        .join()
                        .expect("the pushing OS thread ends")
                        .expect("the kernel is alive");
                }
            }
        });
        (k, out)
    }
    let (mut stepped, by_step) = program();
    while stepped.step().resumes > 0 {}
    let (mut settled, by_settle) = program();
    settled.run_until_idle();
    assert_eq!(by_step.lines(), ["turn 0", "got x", "turn 1", "turn 2"]);
    assert_eq!(by_settle.lines(), by_step.lines());
}

/// The rustdoc of `step_for`: "with a budget of at least the number of ready
/// threads, each of them runs in this step", wherever the previous step cut
/// the round, and also for a thread that became ready after the cut.
#[test]
fn with_a_budget_of_the_ready_count_every_ready_thread_runs_in_the_step() {
    for cut in 0..7 {
        let mut k = kernel();
        let log = yielders(&mut k, 5);
        let reader = k.spawn(|| event::pull(None, "go").is_some());
        k.step_for(Budget::Resumes(cut));
        log.borrow_mut().clear();

        // Five yielders ready: each runs once.
        let r = k.step_for(Budget::Resumes(5));
        assert_eq!(r.resumes, 5);
        let ran: BTreeSet<usize> = log.borrow().iter().copied().collect();
        assert_eq!(ran.len(), 5, "after a cut at {cut}: {:?}", log.borrow());

        // A sixth becomes ready: with a budget of six, it runs in this step.
        k.push_signal(Signal::new("go"));
        log.borrow_mut().clear();
        let r = k.step_for(Budget::Resumes(6));
        assert_eq!(reader.status(), Status::Dead, "after a cut at {cut}");
        assert_eq!(reader.wait(), Ok(true));
        assert_eq!(r.resumes, 6);
        let ran: BTreeSet<usize> = log.borrow().iter().copied().collect();
        assert_eq!(ran.len(), 5, "after a cut at {cut}: {:?}", log.borrow());
    }
}

#[test]
fn a_time_budget_bounds_a_step_with_a_busy_yielder() {
    let mut k = kernel();
    let log = yielders(&mut k, 1);
    let reader = k.spawn(|| event::pull(None, "go").is_some());
    // A spent budget resumes nothing.
    assert_eq!(k.step_for(Duration::ZERO).resumes, 0);
    assert!(log.borrow().is_empty());
    // A step with the yielder always ready still returns, and the reader
    // gets its turn.
    k.push_signal(Signal::new("go"));
    let mut steps = 0;
    while reader.status() != Status::Dead {
        k.step_for(Budget::Time(ms(1)));
        steps += 1;
        assert!(steps < 1000);
    }
    assert_eq!(reader.wait(), Ok(true));
}

// ---------------------------------------------------------------------------
// Blocking runs fed from other OS threads
// ---------------------------------------------------------------------------

#[test]
fn four_os_threads_push_ten_thousand_signals_each_none_lost_order_kept() {
    const SENDERS: usize = 4;
    const EACH: i64 = 10_000;
    // The real clock: the kernel blocks in the OS between pushes.
    let mut k = Kernel::new();
    let feeders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let tx = k.signal_sender();
            std::thread::spawn(move || {
                for n in 0..EACH {
                    tx.push(Signal::new("n").with(sender).with(n)).unwrap();
                }
            })
        })
        .collect();
    let received = k
        .run(|| {
            let mut per_sender = vec![Vec::new(); SENDERS];
            for _ in 0..SENDERS * EACH as usize {
                // The timeout only turns a lost signal into a failure, not a hang.
                let s = event::pull(secs(30), "n").expect("a signal was lost");
                let sender = s.arg(0).as_int().unwrap() as usize;
                per_sender[sender].push(s.arg(1).as_int().unwrap());
            }
            per_sender
        })
        .unwrap();
    for feeder in feeders {
        feeder.join().unwrap();
    }
    let in_order: Vec<i64> = (0..EACH).collect();
    for (sender, got) in received.iter().enumerate() {
        assert_eq!(got.len(), EACH as usize, "sender {sender}");
        assert!(*got == in_order, "sender {sender}'s signals out of order");
    }
    // Nothing arrives twice.
    assert_eq!(k.step().signals, 0);
}

#[test]
fn pushing_to_a_dropped_kernel_is_an_error_not_a_panic() {
    let mut k = kernel();
    let tx = k.signal_sender();
    let from_elsewhere = tx.clone();
    assert_eq!(tx.push(Signal::new("early")), Ok(()));
    assert_eq!(k.run(|| event::pull(None, "early").is_some()), Ok(true));
    drop(k);
    assert_eq!(tx.push(Signal::new("late")), Err(Error::KernelGone));
    let pushed = std::thread::spawn(move || from_elsewhere.push(Signal::new("late")));
    assert_eq!(pushed.join().unwrap(), Err(Error::KernelGone));
    assert_eq!(Error::KernelGone.to_string(), "the kernel has been dropped");
}

/// `run_forever` "returns once no program or thread is alive and no live
/// SignalSender could push anything": an automation host whose scripts are
/// kernel-wide listeners, fed by an OS thread that ends (stdin closed). The
/// kernel is blocked waiting for a push when the last sender goes away.
#[test]
fn run_forever_returns_when_the_last_sender_is_dropped() {
    let lines = within(secs(30), || {
        let mut lines = Vec::new();
        for round in 0..20 {
            let mut k = Kernel::new();
            let seen = Rc::new(RefCell::new(Vec::new()));
            let (ack, acked) = mpsc::channel();
            let s = seen.clone();
            k.listen("line", move |sig: &Signal| {
                s.borrow_mut().push(sig.to_string());
                let _ = ack.send(());
            });
            let tx = k.signal_sender();
            let feeder = std::thread::spawn(move || {
                tx.push(Signal::new("line").with(round)).unwrap();
                // Wait until the kernel has taken the line: it is then on its
                // way to block, waiting for the next one.
                acked.recv().unwrap();
                drop(tx);
            });
            k.run_forever().unwrap();
            feeder.join().unwrap();
            lines.extend(seen.borrow().iter().cloned());
        }
        lines
    });
    assert_eq!(lines, (0..20).map(|n| format!("line {n}")).collect::<Vec<_>>());
}

/// `run` reports a deadlock once nothing can wake its program: here, when the
/// last sender goes away while the kernel waits for a push.
#[test]
fn run_reports_a_deadlock_when_the_last_sender_is_dropped() {
    let outcome = within(secs(30), || {
        let mut k = Kernel::new();
        let tx = k.signal_sender();
        let (ack, acked) = mpsc::channel();
        let feeder = std::thread::spawn(move || {
            tx.push(Signal::new("hello")).unwrap();
            acked.recv().unwrap();
            drop(tx);
        });
        let out = k.run(move || {
            event::pull(None, "hello");
            let _ = ack.send(());
            event::pull(None, "never").is_some()
        });
        feeder.join().unwrap();
        matches!(out, Err(Error::Deadlock(_)))
    });
    assert!(outcome, "run should end with Error::Deadlock");
}

/// A blocked kernel sleeps in the OS: over the second a thread waits for a
/// signal that never comes, the kernel's OS thread uses under 1% of a CPU.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_kernel_uses_no_cpu() {
    /// CPU time of the calling OS thread, in nanoseconds.
    fn thread_cpu_ns() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        stat.split_whitespace().next().unwrap().parse().unwrap()
    }
    let mut k = Kernel::new();
    let program = k.spawn(|| thread::create(|| event::pull(secs(1), "never")).wait());
    let before = thread_cpu_ns();
    k.run_forever().unwrap();
    let used = thread_cpu_ns() - before;
    assert_eq!(program.wait(), Ok(Ok(None)), "the pull timed out");
    assert!(k.uptime() >= secs(1));
    assert!(used < 10_000_000, "the idle kernel used {used} ns of CPU in one second");
}

// ---------------------------------------------------------------------------
// Naming and introspection
// ---------------------------------------------------------------------------

#[test]
fn threads_lists_names_parents_waits_and_counters() {
    let mut k = kernel();
    let ids: Rc<RefCell<Vec<(String, ThreadId)>>> = Rc::default();
    let i = ids.clone();
    let program = k.spawn(move || {
        let named = |name: &str| thread::Builder::new().name(name);
        let sleeper = named("sleeper").spawn(|| os::sleep(secs(5))).unwrap();
        let reader = named("reader")
            .spawn(|| {
                let mut n = 0;
                while event::pull(secs(100), Filter::name("key").arg(0, 1)).is_some() {
                    n += 1;
                }
                n
            })
            .unwrap();
        let target = sleeper.clone();
        let joiner = named("joiner").spawn(move || target.join(None)).unwrap();
        let frozen =
            named("frozen").spawn(|| thread::current().unwrap().suspend().unwrap()).unwrap();
        let parent = named("parent")
            .spawn(|| {
                let child = thread::Builder::new()
                    .name("child")
                    .spawn(|| event::pull(None, "never"))
                    .unwrap();
                let id = child.id();
                event::pull(None, "never");
                id
            })
            .unwrap();
        let detached = named("detached").spawn(|| event::pull(None, "never")).unwrap();
        detached.detach().unwrap();
        let anonymous = thread::create(|| event::pull(None, "never"));
        for (name, t) in [
            ("sleeper", &*sleeper),
            ("reader", &*reader),
            ("joiner", &*joiner),
            ("frozen", &*frozen),
            ("parent", &*parent),
            ("detached", &*detached),
            ("anonymous", &*anonymous),
        ] {
            assert_eq!(t.name(), if name == "anonymous" { None } else { Some(name) });
            i.borrow_mut().push((name.to_string(), t.id()));
        }
        event::pull(None, "end");
    });
    k.push_signal(Signal::new("key").with(1));
    k.push_signal(Signal::new("key").with(2)); // filtered out
    k.push_signal(Signal::new("key").with(1));
    k.advance(secs(1));

    let ps = k.threads();
    let id = |name: &str| ids.borrow().iter().find(|(n, _)| n == name).unwrap().1;
    let row = |name: &str| ps.iter().find(|t| t.name.as_deref() == Some(name)).unwrap();

    // Oldest first, the program at the top.
    assert_eq!(ps.len(), 9);
    assert_eq!(ps[0].id, program.id());
    assert!(ps[0].program);
    assert_eq!((ps[0].name.clone(), ps[0].parent), (None, None));
    assert_eq!(ps[0].waiting, Waiting::Signal("\"end\"".into()));
    assert!(ps.windows(2).all(|w| w[0].id < w[1].id));

    let sleeper = row("sleeper");
    assert_eq!(sleeper.id, id("sleeper"));
    assert!(!sleeper.program);
    assert_eq!(sleeper.status, Status::Running);
    assert_eq!(sleeper.parent, Some(program.id()));
    assert_eq!(sleeper.waiting, Waiting::Sleep);
    assert_eq!(sleeper.deadline, Some(secs(5)));
    assert_eq!((sleeper.resumes, sleeper.signals), (1, 0));

    let reader = row("reader");
    match &reader.waiting {
        Waiting::Signal(filter) => assert!(filter.contains("\"key\"") && filter.contains("arg 0")),
        other => panic!("the reader waits for a signal, not {other:?}"),
    }
    assert_eq!(reader.deadline, Some(secs(100)), "its last pull began at 0");
    // Its first stretch, then one resume per matching signal.
    assert_eq!((reader.resumes, reader.signals), (3, 2));

    let joiner = row("joiner");
    assert_eq!(joiner.waiting, Waiting::Join(vec![id("sleeper")]));
    assert_eq!(joiner.deadline, None);

    let frozen = row("frozen");
    assert_eq!((frozen.status, frozen.waiting.clone()), (Status::Suspended, Waiting::Suspended));

    let parent = row("parent");
    let child = row("child");
    assert_eq!(child.parent, Some(parent.id));
    assert_eq!(parent.parent, Some(program.id()));

    let detached = row("detached");
    assert_eq!((detached.parent, detached.program), (None, false));

    let anonymous = ps.iter().find(|t| t.id == id("anonymous")).unwrap();
    assert_eq!(anonymous.name, None);
    assert_eq!(anonymous.waiting.to_string(), "pull \"never\"");

    // A program whose body returned waits for its threads: a join.
    let closing = k.spawn(|| {
        thread::Builder::new().name("last").spawn(|| os::sleep(secs(1))).unwrap();
    });
    let ps = k.threads();
    let last = ps.iter().find(|t| t.name.as_deref() == Some("last")).unwrap();
    let closing_row = ps.iter().find(|t| t.id == closing.id()).unwrap();
    assert_eq!(closing_row.waiting, Waiting::Join(vec![last.id]));

    // A killed thread leaves the table.
    program.kill();
    let ps = k.threads();
    assert!(ps.iter().all(|t| t.id != id("sleeper")));
    assert!(ps.iter().any(|t| t.name.as_deref() == Some("detached")));
}

#[test]
fn builder_sets_name_and_stack_size_and_reports_a_refused_stack() {
    let mut k = Kernel::builder().virtual_time(true).stack_size(64 * 1024).build();
    let (big, absurd, after) = k
        .run(|| {
            // 1 MiB on the stack: far beyond the kernel's 64 KiB.
            let big = thread::Builder::new()
                .name("big")
                .stack_size(8 << 20)
                .spawn(|| {
                    let buf = std::hint::black_box([1u8; 1 << 20]);
                    buf.iter().map(|&b| b as usize).sum::<usize>()
                })
                .unwrap();
            assert_eq!(big.name(), Some("big"));
            let big = big.wait();
            let absurd = thread::Builder::new().name("absurd").stack_size(1 << 60).spawn(|| ());
            let after = thread::Builder::new().name("after").spawn(|| 7).unwrap().wait();
            (big, absurd.map(|_| ()), after)
        })
        .unwrap();
    assert_eq!(big, Ok(1 << 20));
    assert!(matches!(absurd, Err(Error::StackAlloc(_))), "{absurd:?}");
    assert!(absurd.unwrap_err().to_string().starts_with("cannot allocate a thread stack"));
    assert_eq!(after, Ok(7), "the kernel goes on after a refused stack");
}

// ---------------------------------------------------------------------------
// Determinism and the trace hook
// ---------------------------------------------------------------------------

/// Many threads sleeping random virtual durations, pushing and pulling signals,
/// creating children and timers; the host pushes signals between advances.
fn random_program(seed: u64) -> (Vec<String>, Vec<String>) {
    let mut k = kernel();
    let trace = record_trace(&mut k);
    let out = Out::new();
    let mut rng = Lcg(seed);
    for i in 0..40u64 {
        let o = out.clone();
        let mut rng = Lcg(rng.next());
        k.spawn(move || {
            for step in 0..25u64 {
                match rng.below(6) {
                    0 => os::sleep(ms(rng.below(40))),
                    1 => event::push(Signal::new(format!("s{}", rng.below(4))).with(i).with(step)),
                    2 | 3 => {
                        let name = format!("s{}", rng.below(4));
                        let got = event::pull(ms(1 + rng.below(30)), name.as_str());
                        o.print(format!(
                            "{:?} #{i} {name}: {:?}",
                            os::uptime(),
                            got.map(|s| s.to_string())
                        ));
                    }
                    4 => {
                        let o2 = o.clone();
                        let nap = ms(rng.below(25));
                        thread::create(move || {
                            os::sleep(nap);
                            event::push(Signal::new("s0").with("child"));
                            o2.print(format!("{:?} child of #{i} done", os::uptime()));
                        });
                    }
                    _ => {
                        let o2 = o.clone();
                        let times = 1 + rng.below(3) as u32;
                        event::timer(ms(1 + rng.below(20)), times, move || {
                            o2.print(format!("{:?} timer of #{i}", os::uptime()));
                        });
                    }
                }
            }
        });
    }
    let mut host = Lcg(seed ^ 0xdead_beef);
    while k.step().alive {
        if host.below(3) == 0 {
            k.push_signal(Signal::new(format!("s{}", host.below(4))).with("host"));
        }
        k.advance(ms(1 + host.below(10)));
        assert!(k.uptime() < secs(3600), "the program should end");
    }
    (trace.lines(), out.lines())
}

#[test]
fn the_same_program_gives_the_same_trace_and_outputs_on_every_run() {
    let (trace_a, out_a) = random_program(42);
    let (trace_b, out_b) = random_program(42);
    assert!(
        out_a.len() > 100 && trace_a.len() > 1000,
        "{} lines, {} events",
        out_a.len(),
        trace_a.len()
    );
    for kind in ["spawn", "resume", "deliver", "timer", "end"] {
        assert!(trace_a.iter().any(|e| e.contains(kind)), "no {kind} in the trace");
    }
    assert_eq!(out_a, out_b);
    assert_eq!(trace_a, trace_b);
    // And the seed matters: another program gives another run.
    let (trace_c, _) = random_program(43);
    assert_ne!(trace_a, trace_c);
}

#[test]
fn the_trace_reports_spawns_switches_deliveries_timers_and_ends() {
    let mut k = kernel();
    let trace = record_trace(&mut k);
    k.run(|| {
        let t = thread::create(|| event::pull(None, "go"));
        event::timer(ms(5), 1, || {});
        event::push(Signal::new("go").with(1));
        os::sleep(ms(10));
        t.join(None).unwrap();
    })
    .unwrap();
    assert_eq!(
        trace.lines(),
        [
            "0ns spawn #1",
            "0ns resume #1",
            "0ns spawn #2 in #1",
            "0ns resume #2",
            "0ns deliver go 1 to 1",
            "0ns resume #2",
            "0ns end #2",
            "0ns deliver thread_exit 2 to 0",
            "5ms timer of #1",
            "10ms resume #1",
            "10ms end #1",
        ]
    );
}

#[test]
fn a_trace_hook_that_panics_is_removed_and_reported() {
    let errors = Out::new();
    let calls = Rc::new(Cell::new(0));
    let mut k = kernel();
    let e = errors.clone();
    k.on_error(move |msg| e.print(msg));
    let c = calls.clone();
    k.on_trace(move |_, event| {
        c.set(c.get() + 1);
        if let Trace::Resume { .. } = event {
            panic!("hook broke");
        }
    });
    let value = k.run(|| thread::create(|| 5).wait()).unwrap();
    assert_eq!(value, Ok(5), "the kernel goes on");
    assert_eq!(calls.get(), 2, "spawn, then the resume that panicked; then never again");
    let errors = errors.lines();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("[trace]") && errors[0].contains("hook broke"), "{errors:?}");
}

/// `os::exit` in a trace hook (which runs for the kernel, not in a program,
/// even when a program's own call, here a spawn, is what it traces) is
/// reported by name, not as a panic of unknown type.
#[test]
fn os_exit_in_a_trace_hook_is_reported_by_name() {
    let errors = Out::new();
    let mut k = kernel();
    let e = errors.clone();
    k.on_error(move |msg| e.print(msg));
    k.on_trace(|_, event| {
        if let Trace::Spawn { parent: Some(_), .. } = event {
            os::exit();
        }
    });
    assert_eq!(k.run(|| thread::create(|| 5).wait()).unwrap(), Ok(5));
    assert_eq!(
        errors.lines(),
        ["[trace] os::exit, which only a program or thread can call (the trace hook is removed)"]
    );
}

// ---------------------------------------------------------------------------
// log: kernel events at trace!/debug!, errors at error!, with the thread's name
// ---------------------------------------------------------------------------

mod capture {
    use std::sync::{Mutex, Once};

    /// Every log record of this test binary, as (level, text).
    pub static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            let line = record.args().to_string();
            RECORDS.lock().unwrap_or_else(|p| p.into_inner()).push((record.level(), line));
        }
        fn flush(&self) {}
    }

    static LOGGER: Capture = Capture;

    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            log::set_logger(&LOGGER).unwrap();
            log::set_max_level(log::LevelFilter::Trace);
        });
    }

    /// The records whose text contains `needle`.
    pub fn containing(needle: &str) -> Vec<(log::Level, String)> {
        let records = RECORDS.lock().unwrap_or_else(|p| p.into_inner());
        records.iter().filter(|(_, text)| text.contains(needle)).cloned().collect()
    }
}

/// Kernel events (a spawn, each switch, each delivery, an end) are logged at
/// `trace!` or `debug!`, each naming the thread.
#[test]
fn log_names_the_thread_in_each_kernel_event() {
    capture::install();
    let mut k = kernel();
    let events: Rc<RefCell<Vec<Trace>>> = Rc::default();
    let e = events.clone();
    k.on_trace(move |_, event| e.borrow_mut().push(event.clone()));
    let program = k.spawn(|| {
        let t = thread::Builder::new()
            .name("log-probe-7c1")
            .spawn(|| {
                event::pull(None, "log-probe-signal");
                os::sleep(ms(1));
            })
            .unwrap();
        t.id()
    });
    k.push_signal(Signal::new("log-probe-signal"));
    k.advance(ms(5));
    let id = program.wait().unwrap();
    // Its spawn, three switches (first stretch, the signal, the sleep's end), its end.
    let expected = events
        .borrow()
        .iter()
        .filter(|event| match event {
            Trace::Spawn { thread, .. } | Trace::Resume { thread } | Trace::End { thread } => {
                *thread == id
            }
            _ => false,
        })
        .count();
    assert_eq!(expected, 5);
    let named: Vec<_> = capture::containing("log-probe-7c1")
        .into_iter()
        .filter(|(level, _)| matches!(level, log::Level::Trace | log::Level::Debug))
        .collect();
    assert!(
        named.len() >= expected,
        "expected a trace!/debug! record naming the thread for each of its {expected} kernel events \
         (spawn, 3 switches, end), got {named:?}"
    );
    let delivered = capture::containing("log-probe-signal");
    assert!(
        delivered.iter().any(|(level, _)| matches!(level, log::Level::Trace | log::Level::Debug)),
        "the delivery of log-probe-signal is not logged: {delivered:?}"
    );
}

/// A thread's panic is logged at `error!` (the default error reporter) with
/// the thread's name.
#[test]
fn log_reports_a_thread_panic_at_error_with_its_name() {
    capture::install();
    let mut k = kernel();
    let out = k.run(|| {
        thread::Builder::new()
            .name("log-probe-9f2")
            .spawn(|| -> () { panic!("log-probe-boom") })
            .unwrap()
            .wait()
    });
    assert_eq!(out, Ok(Err(Error::Panicked("log-probe-boom".into()))));
    let errors: Vec<_> = capture::containing("log-probe-boom")
        .into_iter()
        .filter(|(level, _)| *level == log::Level::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].1.contains("log-probe-9f2"),
        "the error does not name the thread: {errors:?}"
    );
}

/// A panic in a thread's pull filter is logged at `error!` naming the thread,
/// as its listeners' and timers' panics are; the error reporter gets
/// OpenOS's text, `"[filter] ..."`.
#[test]
fn log_reports_a_filter_panic_with_the_threads_name() {
    capture::install();
    let mut k = kernel();
    let out = k.run(|| {
        let t = thread::Builder::new()
            .name("log-probe-5e8")
            .spawn(|| {
                event::pull(None, Filter::new(|_: &Signal| -> bool { panic!("log-probe-filter") }))
            })
            .unwrap();
        event::push(Signal::new("anything"));
        os::sleep(ms(1));
        t.kill();
    });
    assert_eq!(out, Ok(()));
    let errors: Vec<_> = capture::containing("log-probe-filter")
        .into_iter()
        .filter(|(level, _)| *level == log::Level::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // The report's Display: the origin, the thread's name and spawn site,
    // the message, and where the thread waits.
    assert!(errors[0].1.starts_with("[filter log-probe-5e8 spawned at tests/"), "{errors:?}");
    assert!(errors[0].1.contains("] log-probe-filter, waiting at tests/"), "{errors:?}");
}

/// `advance_for` with a budget large enough is `advance`; with a thread that
/// yields forever it returns once the budget is spent, the clock held back.
#[test]
fn advance_for_bounds_a_frame_and_otherwise_matches_advance() {
    fn sleepers(k: &mut cothread::Kernel, out: &Out) {
        for (i, ms) in [(1, 300), (2, 700), (3, 500)] {
            let o = out.clone();
            k.spawn(move || {
                os::sleep(Duration::from_millis(ms));
                o.print(format!("{i} at {}", os::uptime().as_millis()));
            });
        }
    }
    let (whole, framed) = (Out::new(), Out::new());
    let mut a = kernel();
    sleepers(&mut a, &whole);
    a.advance(Duration::from_secs(1));
    let mut b = kernel();
    sleepers(&mut b, &framed);
    for _ in 0..10 {
        let report = b.advance_for(Duration::from_millis(100), Budget::Resumes(1_000));
        assert!(!report.behind);
    }
    assert_eq!(framed.lines(), whole.lines());
    assert_eq!(b.uptime(), a.uptime());

    let mut c = kernel();
    c.spawn(|| loop {
        os::sleep(Duration::ZERO);
    });
    let report = c.advance_for(Duration::from_millis(16), Budget::Resumes(25));
    assert!(report.behind);
    assert_eq!(report.resumes, 25);
    assert_eq!(c.uptime(), Duration::ZERO);
}

/// `Kernel::enter` from one of the kernel's own green threads (which reaches
/// the kernel through an `Rc<RefCell<..>>`, here a job's work run by a retry)
/// acts for the root as it does from the host: what it registers belongs to
/// the kernel and outlives the thread, `thread::current()` is `None`, and a
/// blocking call panics instead of parking the thread inside it.
#[test]
fn enter_from_one_of_the_kernels_own_threads_acts_for_the_root() {
    use cothread::job::JobContext;

    let slot = Rc::new(RefCell::new(Some(kernel())));
    let inner = slot.clone();
    let seen = Out::new();
    let out = seen.clone();
    let first = Cell::new(true);
    let job = slot.borrow_mut().as_mut().unwrap().job(move |_: &JobContext<()>| {
        if first.replace(false) {
            return Ok::<_, String>(());
        }
        let mut borrowed = inner.borrow_mut();
        let kernel = borrowed.as_mut().unwrap();
        let who = kernel.enter(|| thread::current().map(|t| t.id()));
        out.print(format!("current: {who:?}"));
        let sink = out.clone();
        kernel.listen("later", move |_: &Signal| sink.print("kernel-wide listener ran"));
        let blocked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kernel.enter(|| os::sleep(secs(1)))
        }));
        out.print(format!("sleep inside enter panicked: {}", blocked.is_err()));
        Ok(())
    });
    job.retry().unwrap();
    let mut borrowed = slot.borrow_mut();
    let kernel = borrowed.as_mut().unwrap();
    kernel.push_signal(Signal::new("later"));
    assert_eq!(kernel.step().callbacks, 1);
    assert_eq!(
        seen.lines(),
        ["current: None", "sleep inside enter panicked: true", "kernel-wide listener ran"]
    );
}

// ---------------------------------------------------------------------------
// Where threads were spawned and where they wait: `ThreadInfo` and the dump.
// ---------------------------------------------------------------------------

/// `file:line` of this file, `offset` lines below `top`.
fn here(top: u32, offset: u32) -> String {
    format!("{}:{}", file!(), top + offset)
}

#[test]
fn thread_info_gives_the_spawn_site_and_the_wait_site() {
    let mut k = kernel();
    let top = line!();
    k.spawn(|| {
        let sleeper = thread::create(|| {
            os::sleep(secs(5));
        });
        thread::Builder::new().name("reader").spawn(|| event::pull(None, "key_down")).unwrap();
        sleeper.join(None).unwrap();
    });
    let sites: Vec<(Option<String>, Option<String>)> = k
        .threads()
        .iter()
        .map(|t| {
            let site = |at: &std::panic::Location| format!("{}:{}", at.file(), at.line());
            (t.spawned_at.map(site), t.waiting_at.map(site))
        })
        .collect();
    let at = |offset| Some(here(top, offset));
    assert_eq!(sites, [(at(1), at(6)), (at(2), at(3)), (at(5), at(5))]);
}

#[test]
fn the_dump_shows_the_process_tree_with_its_sites() {
    let mut k = kernel();
    let top = line!();
    k.spawn(|| {
        let reader = thread::Builder::new().name("reader").spawn(|| {
            thread::create(|| os::sleep(secs(5)));
            event::pull(None, "key_down")
        });
        let idle = thread::create(|| event::pull(secs(9), "quit"));
        idle.suspend().unwrap();
        thread::create(|| os::sleep(secs(60))).detach().unwrap();
        drop(reader);
        event::pull(None, "never");
    });
    k.push_signal(Signal::new("noise"));
    k.step();
    let expected = format!(
        "init\n\
         \x20 program #1, spawned at {}: pull \"never\" at {}; 1 resume, 0 signals\n\
         \x20   thread #2 (reader), spawned at {}: pull \"key_down\" at {}; 1 resume, 0 signals\n\
         \x20     thread #3, spawned at {}: sleep at {} until 5s; 1 resume, 0 signals\n\
         \x20   thread #4 [suspended], spawned at {}: pull \"quit\" at {} until 9s; 1 resume, 0 signals\n\
         \x20 thread #5, spawned at {}: sleep at {} until 60s; 1 resume, 0 signals\n",
        here(top, 1),
        here(top, 10),
        here(top, 2),
        here(top, 4),
        here(top, 3),
        here(top, 3),
        here(top, 6),
        here(top, 6),
        here(top, 8),
        here(top, 8),
    );
    assert_eq!(k.dump(), expected);
}
