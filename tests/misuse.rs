//! Re-entrancy and misuse under pressure (issue 6): kills from unexpected
//! places (a thread killing its creator or its program, a destructor killing
//! its killer, a listener or timer killing its own thread), the kernel dropped
//! while threads are suspended, panics inside destructors, and signal senders
//! that outlive their kernel. Each test states the behaviour it pins down;
//! docs/reliability.md collects them.
//!
//! Already covered elsewhere: a destructor that kills another thread while a
//! kill unwinds, and a thread that kills its (blocked) owner
//! (tests/processes.rs); pushing to a dropped kernel (tests/embedding.rs).
//!
//! A panic that escapes a destructor during an unwind aborts the process, so
//! those tests run in a child process (this test binary, re-run with one
//! ignored test selected), as tests/stack_overflow.rs does.

mod common;

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use common::{in_child, kernel, run_child, secs, within, Drops, Out};
use cothread::event::Times;
use cothread::{event, os, thread, Error, Signal, Status};

/// A handle filled in after the thread it names has started.
type HandleCell = Rc<RefCell<Option<thread::Thread>>>;

/// Kills the thread in its cell when dropped.
struct KillOnDrop(HandleCell);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.borrow().clone() {
            t.kill();
        }
    }
}

/// Panics when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

// ---------------------------------------------------------------------------
// Kills from unexpected places
// ---------------------------------------------------------------------------

/// A thread that kills its creator during its first stretch, while the
/// creator's stack is busy under it (inside `thread::create`): the creator is
/// dead at once, the thread runs on until it blocks, and then the creator's
/// stack unwinds, killing the thread with it. Nothing after the creator's
/// `create` runs.
#[test]
fn a_thread_that_kills_its_creator_during_its_first_stretch_dies_when_it_blocks() {
    let out = Out::new();
    let drops = Drops::new();
    let (o, d) = (out.clone(), drops.clone());
    let result = kernel()
        .run(move || {
            let (o1, d1) = (o.clone(), d.clone());
            let creator = thread::create(move || {
                let _g = d1.guard();
                let me = thread::current().unwrap();
                let (o2, d2) = (o1.clone(), d1.clone());
                thread::create(move || {
                    let _g = d2.guard();
                    o2.print("child kills its creator");
                    me.kill();
                    o2.print(format!("child goes on; its creator is {}", me.status()));
                    event::pull(None, "never");
                    o2.print("child after pull");
                });
                o1.print("creator after create");
            });
            o.print(format!("program: creator {}, drops {}", creator.status(), d.count()));
            creator.wait()
        })
        .unwrap();
    assert_eq!(result, Err(Error::Killed));
    assert_eq!(
        out.lines(),
        [
            "child kills its creator",
            "child goes on; its creator is dead",
            "program: creator dead, drops 2"
        ]
    );
    assert_eq!(drops.count(), 2);
}

/// A thread that kills the program it belongs to: the program unwinds and
/// kills its threads; the killer is among them, so `kill` does not return to
/// it either.
#[test]
fn a_thread_that_kills_its_program_ends_both() {
    let out = Out::new();
    let drops = Drops::new();
    let (o, d) = (out.clone(), drops.clone());
    let program_cell: HandleCell = Rc::default();
    let cell = program_cell.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let _g = d.guard();
        let (o1, d1) = (o.clone(), d.clone());
        thread::create(move || {
            let _g = d1.guard();
            event::pull(None, "go");
            o1.print("thread kills its program");
            let program = cell.borrow().clone().unwrap();
            program.kill();
            o1.print("thread after kill");
        });
        event::pull(None, "never");
        o.print("program after pull");
    });
    *program_cell.borrow_mut() = Some(program.thread());
    k.push_signal(Signal::new("go"));
    let report = k.step();
    assert!(!report.alive);
    assert_eq!(out.lines(), ["thread kills its program"]);
    assert_eq!(drops.count(), 2);
    assert_eq!(program.wait(), Err(Error::Killed));
    assert!(k.threads().is_empty());
}

/// Kill from inside a destructor of a thread being killed, aimed at the
/// killer: the killer's stack is busy under the victim's unwinding, so it is
/// marked dead at once and unwinds as soon as its `kill` call returns.
#[test]
fn a_destructor_that_kills_its_killer_ends_both() {
    let out = Out::new();
    let drops = Drops::new();
    let (o, d) = (out.clone(), drops.clone());
    let result = kernel()
        .run(move || {
            let killer_cell: HandleCell = Rc::default();
            let (d1, cell) = (d.clone(), killer_cell.clone());
            let victim = thread::create(move || {
                let _g = d1.guard();
                let _kills_the_killer = KillOnDrop(cell);
                event::pull(None, "never");
            });
            let target = victim.thread();
            let (o2, d2) = (o.clone(), d.clone());
            let killer = thread::create(move || {
                let _g = d2.guard();
                event::pull(None, "go");
                o2.print("killer kills the victim");
                target.kill();
                o2.print("killer after kill");
            });
            *killer_cell.borrow_mut() = Some(killer.thread());
            event::push(Signal::new("go"));
            os::sleep(Duration::ZERO);
            o.print(format!(
                "victim {}, killer {}, drops {}",
                victim.status(),
                killer.status(),
                d.count()
            ));
            (victim.wait(), killer.wait())
        })
        .unwrap();
    assert_eq!(result, (Err(Error::Killed), Err(Error::Killed)));
    assert_eq!(out.lines(), ["killer kills the victim", "victim dead, killer dead, drops 2"]);
    assert_eq!(drops.count(), 2);
}

/// A listener that kills its own thread. It runs on the kernel's stack, on
/// its thread's behalf (`thread::current()` is its thread), so the kill
/// unwinds the thread at once and the listener goes on to its end. The thread
/// was waiting for the same signal: it does not get it. The listener dies
/// with its thread (its closure is dropped once, after it returns) and never
/// runs again; the other waiters still get the signal.
#[test]
fn a_listener_that_kills_its_own_thread() {
    let out = Out::new();
    let drops = Drops::new();
    let (o, d) = (out.clone(), drops.clone());
    kernel()
        .run(move || {
            let (o1, d1) = (o.clone(), d.clone());
            let owner = thread::create(move || {
                let _g = d1.guard();
                let held = d1.guard();
                let o2 = o1.clone();
                event::listen("x", move |s: &Signal| {
                    let _ = &held;
                    let me = thread::current().expect("a thread's listener runs as its thread");
                    o2.print(format!("listener heard {s}; kills its thread"));
                    me.kill();
                    o2.print(format!("listener goes on; its thread is {}", me.status()));
                });
                event::pull(None, "x");
                o1.print("owner got x");
            });
            let o3 = o.clone();
            thread::create(move || {
                let s = event::pull(None, "x").unwrap();
                o3.print(format!("other got {s}"));
            });
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
            o.print(format!("owner {:?}, drops {}", owner.wait(), d.count()));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "listener heard x 1; kills its thread",
            "listener goes on; its thread is dead",
            "other got x 1",
            "owner Err(Killed), drops 2"
        ]
    );
    assert_eq!(drops.count(), 2);
}

/// A timer that kills its own thread: the same as a listener. The timer dies
/// with it (a forever timer fires no more) and its closure is dropped once.
#[test]
fn a_timer_that_kills_its_own_thread() {
    let out = Out::new();
    let drops = Drops::new();
    let (o, d) = (out.clone(), drops.clone());
    kernel()
        .run(move || {
            let (o1, d1) = (o.clone(), d.clone());
            let owner = thread::create(move || {
                let _g = d1.guard();
                let held = d1.guard();
                let o2 = o1.clone();
                let me = thread::current().unwrap();
                event::timer(secs(1), Times::Forever, move || {
                    let _ = &held;
                    o2.print(format!("tick at {}s; kills its thread", os::uptime().as_secs()));
                    me.kill();
                });
                os::sleep(secs(10));
                o1.print("owner woke");
            });
            os::sleep(secs(5));
            o.print(format!(
                "owner {} at {}s, drops {}",
                owner.status(),
                os::uptime().as_secs(),
                d.count()
            ));
        })
        .unwrap();
    assert_eq!(out.lines(), ["tick at 1s; kills its thread", "owner dead at 5s, drops 2"]);
    assert_eq!(drops.count(), 2);
}

// ---------------------------------------------------------------------------
// The kernel dropped while threads are suspended
// ---------------------------------------------------------------------------

/// Dropping the kernel unwinds suspended threads like any other: one that
/// suspended itself, one suspended while it slept (with a listener and a
/// timer of its own, whose closures go too), and a suspended thread with a
/// child frozen under it. Every counted value is dropped exactly once.
#[test]
fn dropping_the_kernel_while_threads_are_suspended_drops_everything_once() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let threads = k
        .run(move || {
            let d1 = d.clone();
            let selfish = thread::create(move || {
                let _g = d1.guard();
                thread::current().unwrap().suspend().unwrap();
            });
            let d2 = d.clone();
            let sleeper = thread::create(move || {
                let _g = d2.guard();
                let (heard, ticked) = (d2.guard(), d2.guard());
                event::listen("x", move |_| {
                    let _ = &heard;
                });
                event::timer(secs(1), Times::Forever, move || {
                    let _ = &ticked;
                });
                os::sleep(secs(100));
            });
            sleeper.suspend().unwrap();
            let d3 = d.clone();
            let parent = thread::create(move || {
                let _g = d3.guard();
                let d4 = d3.clone();
                thread::create(move || {
                    let _g = d4.guard();
                    event::pull(None, "never");
                });
                event::pull(None, "never");
            });
            parent.suspend().unwrap();
            // Detached, so that the program's close does not join (and so
            // kill) them.
            let threads = [selfish.thread(), sleeper.thread(), parent.thread()];
            for t in &threads {
                t.detach().unwrap();
            }
            event::push(Signal::new("x"));
            os::sleep(secs(3));
            threads
        })
        .unwrap();
    assert_eq!(drops.count(), 0);
    let statuses: Vec<Status> = threads.iter().map(|t| t.status()).collect();
    assert_eq!(statuses, [Status::Suspended; 3]);
    drop(k);
    assert_eq!(drops.count(), 1 + 3 + 2);
    let statuses: Vec<Status> = threads.iter().map(|t| t.status()).collect();
    assert_eq!(statuses, [Status::Dead; 3]);
}

// ---------------------------------------------------------------------------
// Panics inside destructors
// ---------------------------------------------------------------------------

/// Runs `name` in a child process and checks that Rust aborted it for a
/// panic that escaped a destructor during an unwind, after it printed
/// `before` and before it printed `after`.
fn child_aborts(name: &str, panic: &str, before: &str, after: &str) {
    let output = run_child(name);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("{name}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{context}");
    assert!(stdout.contains(before) && !stdout.contains(after), "{context}");
    assert!(stderr.contains(panic), "{context}");
    assert!(stderr.contains("panic in a destructor during cleanup"), "{context}");
}

#[test]
#[ignore = "run in a child process"]
fn child_panic_in_drop_during_a_kill() {
    if !in_child() {
        return;
    }
    let _ = kernel().run(|| {
        let t = thread::create(|| {
            let _p = PanicOnDrop("drop panics while a kill unwinds");
            event::pull(None, "never");
        });
        println!("killing");
        t.kill();
        println!("after kill");
    });
    println!("child finished");
}

/// A destructor that panics while `kill` unwinds its thread: the panic
/// escapes a destructor while a panic (the kill's unwind) is under way, and
/// Rust aborts the process ("panic in a destructor during cleanup"), after
/// printing both messages. cothread cannot catch it: the abort happens in the
/// unwinder, before control gets back to the kernel.
#[test]
fn a_panic_escaping_a_destructor_during_a_kill_aborts_the_process() {
    child_aborts(
        "child_panic_in_drop_during_a_kill",
        "drop panics while a kill unwinds",
        "killing",
        "after kill",
    );
}

#[test]
#[ignore = "run in a child process"]
fn child_panic_in_drop_during_a_panic() {
    if !in_child() {
        return;
    }
    let _ = kernel().run(|| {
        println!("starting");
        thread::create(|| -> () {
            let _p = PanicOnDrop("drop panics while a panic unwinds");
            panic!("the thread's own panic");
        });
        println!("after create");
    });
    println!("child finished");
}

/// The same during a thread's own panic: the process aborts.
#[test]
fn a_panic_escaping_a_destructor_during_a_panic_aborts_the_process() {
    child_aborts(
        "child_panic_in_drop_during_a_panic",
        "drop panics while a panic unwinds",
        "starting",
        "after create",
    );
}

#[test]
#[ignore = "run in a child process"]
fn child_panic_in_drop_during_the_kernels_drop() {
    if !in_child() {
        return;
    }
    let mut k = kernel();
    k.run(|| {
        let t = thread::create(|| {
            let _p = PanicOnDrop("drop panics while the kernel's drop unwinds");
            event::pull(None, "never");
        });
        t.detach().unwrap();
    })
    .unwrap();
    println!("dropping the kernel");
    drop(k);
    println!("dropped");
}

/// The same when dropping the kernel unwinds the thread: the process aborts.
#[test]
fn a_panic_escaping_a_destructor_during_the_kernels_drop_aborts_the_process() {
    child_aborts(
        "child_panic_in_drop_during_the_kernels_drop",
        "drop panics while the kernel's drop unwinds",
        "dropping the kernel",
        "dropped",
    );
}

/// A destructor may panic during an unwind if it catches its own panic: the
/// kill completes as usual and the kernel goes on.
#[test]
fn a_destructor_that_catches_its_own_panic_during_a_kill_is_unwound_as_usual() {
    struct CatchesItsPanic(Out);
    impl Drop for CatchesItsPanic {
        fn drop(&mut self) {
            let caught = catch_unwind(|| panic!("caught inside the destructor"));
            self.0.print(format!("destructor caught its panic: {}", caught.is_err()));
        }
    }
    let out = Out::new();
    let o = out.clone();
    let result = kernel()
        .run(move || {
            let o1 = o.clone();
            let t = thread::create(move || {
                let _c = CatchesItsPanic(o1);
                event::pull(None, "never");
            });
            t.kill();
            o.print(format!("after kill: {}", t.status()));
            t.wait()
        })
        .unwrap();
    assert_eq!(result, Err(Error::Killed));
    assert_eq!(out.lines(), ["destructor caught its panic: true", "after kill: dead"]);
    assert!(!std::thread::panicking());
}

/// A destructor that panics when no unwind is under way (a local going out
/// of scope at the end of a thread's function) is that thread's panic.
#[test]
fn a_panic_in_a_destructor_outside_an_unwind_is_the_threads_panic() {
    let errors = Out::new();
    let sink = errors.clone();
    let mut k = kernel();
    k.on_error(move |msg| sink.print(msg));
    let result = k
        .run(|| {
            let t = thread::create(|| {
                let _p = PanicOnDrop("drop panics at the end of the thread");
                os::sleep(Duration::ZERO);
            });
            let sibling = thread::create(|| {
                os::sleep(secs(1));
                "sibling done"
            });
            (t.wait(), sibling.wait())
        })
        .unwrap();
    assert_eq!(
        result,
        (Err(Error::Panicked("drop panics at the end of the thread".into())), Ok("sibling done"))
    );
    assert_eq!(errors.lines(), ["[thread] drop panics at the end of the thread"]);
}

/// A destructor run by a panic's unwind does not park: its blocking calls
/// return at once, as in a killed thread. Parked mid-unwind, it would hold a
/// part of std's count of unwinds under way, which is the OS thread's: every
/// other green thread would see `panicking()` (poisoning the mutexes it
/// drops guards of), and a kill reaching the parked destructor would start a
/// second unwind there, which aborts the process. So nothing is parked
/// mid-unwind, the kill finds the thread ended, and the rest of the program
/// runs with `panicking()` false.
#[test]
fn a_destructor_run_by_a_panic_does_not_park() {
    let log = Out::new();
    let l = log.clone();
    let result = kernel()
        .run(move || {
            struct Goodbye(Out);
            impl Drop for Goodbye {
                fn drop(&mut self) {
                    let answer = event::pull(secs(10), "ack");
                    self.0.print(format!("answer {answer:?} at {:?}", os::uptime()));
                }
            }
            let l2 = l.clone();
            let t = thread::create(move || {
                let _goodbye = Goodbye(l2);
                os::sleep(secs(1));
                panic!("worker failed");
            });
            let l3 = l.clone();
            let other = thread::create(move || {
                os::sleep(secs(1));
                l3.print(format!("other sees panicking: {}", std::thread::panicking()));
            });
            os::sleep(secs(2));
            t.kill();
            l.print("after kill");
            other.wait().unwrap();
            t.wait()
        })
        .unwrap();
    assert_eq!(result, Err(Error::Panicked("worker failed".into())));
    assert_eq!(log.lines(), ["answer None at 1s", "other sees panicking: false", "after kill"]);
}

/// A wait blocks in one kernel. A wait that would have to block for threads
/// of two kernels is refused, with a message that says so (the others were
/// silently left out: the wait returned while one still ran); threads found
/// done, a dropped kernel's among them, need no wait, wherever they come
/// from. A green thread finds a thread of another kernel done if it is, but
/// cannot wait in that kernel for it (it used to be parked there, on the
/// wrong stack): it panics saying why.
#[test]
fn a_wait_covers_the_threads_of_one_kernel() {
    let mut other = kernel();
    let sleeper = other.spawn(|| os::sleep(secs(5))).thread().clone();
    let ended = other.spawn(|| ()).thread().clone();
    assert_eq!((sleeper.status(), ended.status()), (Status::Running, Status::Dead));
    let message = |payload: Box<dyn std::any::Any + Send>| match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    };
    let mut k = kernel();
    let (s, e) = (sleeper.clone(), ended.clone());
    let outcome = k.run(move || {
        assert_eq!(e.join(None), Ok(()), "found done");
        let mine = thread::create(|| os::sleep(secs(1)));
        let mixed = catch_unwind(AssertUnwindSafe(|| thread::wait_for_all([&*mine, &s], None)));
        let waited = catch_unwind(AssertUnwindSafe(|| s.join(None)));
        (mixed.map_err(message), waited.map_err(message))
    });
    let (mixed, waited) = outcome.expect("the program returns");
    assert!(mixed.unwrap_err().contains("threads of two kernels"));
    assert!(waited.unwrap_err().contains("that thread's own kernel"));
    assert_eq!(sleeper.status(), Status::Running, "untouched");

    // Done, from two kernels (one of them dropped): no wait, no panic.
    let mine = k.spawn(|| ()).thread().clone();
    assert_eq!(thread::wait_for_all([&mine, &ended], None), Ok(()));
    assert_eq!(thread::wait_for_any([&sleeper, &ended], None), Ok(()));
    drop(other);
    assert_eq!(thread::wait_for_all([&sleeper, &ended, &mine], None), Ok(()));
    let waiter = k.spawn(move || {
        let own = thread::create(|| os::sleep(secs(1)));
        thread::wait_for_all([&*own, &sleeper], None)
    });
    k.advance(secs(2));
    assert_eq!(waiter.wait(), Ok(Ok(())));
}

/// What `Kernel::run` gives when the panic of a user value's destructor, run
/// by the kernel itself, does not escape it: `Ok`, a clean thread table, and
/// the panic's message sent to the error reporter.
fn assert_destructor_panic_contained(message: &str, program: impl FnOnce() + 'static) {
    let errors = Out::new();
    let sink = errors.clone();
    let mut k = kernel();
    k.on_error(move |msg| sink.print(msg));
    let outcome = catch_unwind(AssertUnwindSafe(|| k.run(program)));
    let escaped = outcome.as_ref().err().map(|p| {
        p.downcast_ref::<String>().cloned().unwrap_or_else(|| "(not a string)".to_string())
    });
    assert_eq!(escaped, None, "a panic escaped Kernel::run");
    assert_eq!(outcome.unwrap(), Ok(()));
    assert!(k.threads().is_empty(), "left in the thread table: {:?}", k.threads());
    assert!(
        errors.lines().iter().any(|line| line.contains(message)),
        "not reported: {:?}",
        errors.lines()
    );
}

/// A listener's closure is dropped by the kernel, on its own stack, when the
/// listener is removed (here: it returned `false`). A panic in the
/// destructor of a value it captured must not escape `Kernel::run`.
#[test]
fn a_panicking_destructor_of_a_removed_listener_is_contained() {
    assert_destructor_panic_contained("listener's value dropped", || {
        let value = PanicOnDrop("listener's value dropped");
        event::listen("x", move |_| {
            let _ = &value;
            false
        });
        event::push(Signal::new("x"));
        os::sleep(Duration::ZERO);
    });
}

/// A thread's value is dropped by the kernel, on the thread's stack but after
/// the thread's panics are caught, when nobody holds its `JoinHandle`. A
/// panic in its destructor must not escape `Kernel::run`.
#[test]
fn a_panicking_destructor_of_an_unclaimed_thread_value_is_contained() {
    assert_destructor_panic_contained("unclaimed value dropped", || {
        drop(thread::create(|| {
            os::sleep(Duration::ZERO);
            PanicOnDrop("unclaimed value dropped")
        }));
        os::sleep(secs(1));
    });
}

/// A panic's payload is a user value too: `std::panic::panic_any` can throw
/// one whose destructor panics. The kernel drops the payloads it catches (a
/// thread's, in its first stretch or after a block; a listener's; a timer's;
/// an `on_error` handler's) with that second panic contained: each first
/// panic is reported as usual, nothing escapes `run` or `drop`, and every
/// thread ends.
#[test]
fn a_panic_payload_whose_destructor_panics_is_contained() {
    // It used to hang: the payload's panic escaped into the thread's creator.
    within(secs(60), || {
        let errors = Out::new();
        let sink = errors.clone();
        let mut k = kernel();
        k.on_error(move |msg| {
            sink.print(msg);
            if msg.contains("listener") {
                std::panic::panic_any(PanicOnDrop("on_error payload dropped"));
            }
        });
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            k.run(|| {
                let first = thread::create(|| -> () {
                    std::panic::panic_any(PanicOnDrop("first stretch payload dropped"))
                });
                let later = thread::create(|| -> () {
                    os::sleep(secs(1));
                    std::panic::panic_any(PanicOnDrop("later payload dropped"))
                });
                event::listen("x", |_: &Signal| -> () {
                    std::panic::panic_any(PanicOnDrop("listener payload dropped"))
                });
                event::timer(secs(2), 1, || {
                    std::panic::panic_any(PanicOnDrop("timer payload dropped"))
                });
                event::push(Signal::new("x"));
                let ends = (first.wait(), later.wait());
                os::sleep(secs(3));
                ends
            })
        }));
        let outcome = outcome.unwrap_or_else(|_| panic!("a panic escaped Kernel::run"));
        let panicked = Err(Error::Panicked("Box<dyn Any>".into()));
        assert_eq!(outcome, Ok((panicked.clone(), panicked)));
        assert!(k.threads().is_empty(), "left in the thread table: {:?}", k.threads());
        let lines = errors.lines();
        for what in ["[thread] Box<dyn Any>", "[listener] Box<dyn Any>", "[timer] Box<dyn Any>"] {
            assert!(lines.iter().any(|line| line.contains(what)), "{what} not in {lines:?}");
        }
        assert!(
            catch_unwind(AssertUnwindSafe(move || drop(k))).is_ok(),
            "a panic escaped the drop"
        );
    });
}

/// The callbacks of listeners and timers removed by `ignore` and `cancel`,
/// and those the kernel still holds when it is dropped (the trace hook
/// too), are dropped by the kernel: a panic in their destructors is
/// reported with their kind, not thrown at the caller, and the other
/// callbacks are dropped all the same.
#[test]
fn panicking_destructors_of_ignored_cancelled_and_last_callbacks_are_contained() {
    let drops = Drops::new();
    let errors = Out::new();
    let sink = errors.clone();
    let mut k = kernel();
    k.on_error(move |msg| sink.print(msg));
    let (g1, g2) = (drops.guard(), drops.guard());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        k.run(move || {
            let value = PanicOnDrop("ignored listener's value");
            let listener = event::listen("x", move |_: &Signal| {
                let _ = &value;
            });
            let value = PanicOnDrop("cancelled timer's value");
            let timer = event::timer(secs(1), Times::Forever, move || {
                let _ = &value;
            });
            (event::ignore(listener), event::cancel(timer))
        })
    }));
    let outcome = outcome.unwrap_or_else(|_| panic!("a panic escaped Kernel::run"));
    assert_eq!(outcome, Ok((true, true)));
    let (v1, v2) =
        (PanicOnDrop("kernel-wide listener's value"), PanicOnDrop("kernel-wide timer's value"));
    k.listen("y", move |_: &Signal| {
        let _ = (&v1, &g1);
    });
    k.timer(secs(1), Times::Forever, move || {
        let _ = (&v2, &g2);
    });
    let hook_value = PanicOnDrop("trace hook's value");
    k.on_trace(move |_, _| {
        let _ = &hook_value;
    });
    // A destructor run by the drop registers a listener: it dies at once.
    struct ListenOnDrop;
    impl Drop for ListenOnDrop {
        fn drop(&mut self) {
            let value = PanicOnDrop("registered during the drop");
            event::listen("z", move |_: &Signal| {
                let _ = &value;
            });
        }
    }
    let listens = ListenOnDrop;
    k.listen("z", move |_: &Signal| {
        let _ = &listens;
    });
    assert!(catch_unwind(AssertUnwindSafe(move || drop(k))).is_ok(), "a panic escaped the drop");
    assert_eq!(drops.count(), 2, "both kernel-wide callbacks dropped");
    let lines = errors.lines();
    for what in [
        "[listener] ignored listener's value",
        "[timer] cancelled timer's value",
        "[listener] kernel-wide listener's value",
        "[timer] kernel-wide timer's value",
        "[listener] registered during the drop",
        "[hook] trace hook's value",
    ] {
        assert!(lines.iter().any(|line| line == what), "{what} not in {lines:?}");
    }
}

/// A thread that returned, killed while it waits for its children to end:
/// its value is not published, and the kernel drops it on the thread's
/// behalf, containing a panic in its destructor (it used to surface in the
/// killer).
#[test]
fn a_value_dropped_because_its_thread_was_killed_while_closing_is_contained() {
    assert_destructor_panic_contained("value of a closing thread", || {
        let closing = thread::create(|| {
            thread::create(|| event::pull(None, "never"));
            PanicOnDrop("value of a closing thread")
        });
        os::sleep(Duration::ZERO);
        assert_eq!(closing.status(), Status::Running, "it waits for its child");
        closing.kill();
        assert!(matches!(closing.wait(), Err(Error::Killed)));
    });
}

// ---------------------------------------------------------------------------
// Signal senders that outlive their kernel
// ---------------------------------------------------------------------------

/// A sender of a dropped kernel, and its clones made after the drop, get
/// `Error::KernelGone` and can be dropped, from any OS thread.
#[test]
fn a_sender_cloned_or_dropped_after_the_kernel_is_gone_is_harmless() {
    let k = kernel();
    let tx = k.signal_sender();
    drop(k);
    let late_clone = tx.clone();
    assert_eq!(late_clone.push(Signal::new("late")), Err(Error::KernelGone));
    let elsewhere = std::thread::spawn(move || {
        let again = late_clone.clone();
        let pushed = again.push(Signal::new("late"));
        drop(again);
        drop(late_clone);
        pushed
    });
    assert_eq!(elsewhere.join().unwrap(), Err(Error::KernelGone));
    assert_eq!(tx.push(Signal::new("late")), Err(Error::KernelGone));
}

/// An OS thread that keeps pushing while the kernel runs and is then
/// dropped: every push before the drop succeeds, every push after it gets
/// `Error::KernelGone`, and nothing panics on either side.
#[test]
fn a_sender_racing_the_kernels_drop_sees_ok_then_kernel_gone() {
    let mut k = kernel();
    let tx = k.signal_sender();
    let pusher = std::thread::spawn(move || {
        let mut pushed = 0u64;
        let error = loop {
            match tx.push(Signal::new("tick").with(pushed as i64)) {
                Ok(()) => pushed += 1,
                Err(e) => break e,
            }
        };
        let after: Vec<_> = (0..100).map(|_| tx.push(Signal::new("tick"))).collect();
        (pushed, error, after)
    });
    let received = k
        .run(|| {
            let mut next = 0;
            for _ in 0..1000 {
                let s = event::pull(None, "tick").unwrap();
                assert_eq!(s.arg(0).as_int(), Some(next));
                next += 1;
            }
            next
        })
        .unwrap();
    drop(k);
    let (pushed, error, after) = pusher.join().unwrap();
    assert_eq!(received, 1000);
    assert!(pushed >= 1000);
    assert_eq!(error, Error::KernelGone);
    assert!(after.iter().all(|r| *r == Err(Error::KernelGone)));
}

/// A sender held by a green thread goes when the kernel's drop unwinds that
/// thread; the host's clone then gets `Error::KernelGone`.
#[test]
fn a_sender_held_by_a_green_thread_goes_with_the_kernel() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let tx = k.signal_sender();
    let inside = tx.clone();
    k.run(move || {
        let t = thread::create(move || {
            let _g = d.guard();
            let _sender = inside;
            event::pull(None, "never");
        });
        t.detach().unwrap();
    })
    .unwrap();
    assert_eq!(tx.push(Signal::new("still here")), Ok(()));
    drop(k);
    assert_eq!(drops.count(), 1);
    assert_eq!(tx.push(Signal::new("gone")), Err(Error::KernelGone));
}

// ---------------------------------------------------------------------------
// Running out of stacks
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_runs_out_of_stacks() {
    if !in_child() {
        return;
    }
    if std::env::var_os(AS_LIMIT).is_some() {
        // 1 GiB of address space beyond what the process holds now.
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
        let limit = pages * 4096 + (1 << 30);
        let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: `setrlimit` reads the `rlimit` it is given.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
    }
    // The program keeps the default stack (a backtrace needs more than 16 KiB);
    // its threads take small ones of their own (not pooled, but counted).
    let mut k = cothread::Kernel::builder().virtual_time(true).stack_pool(0).build();
    k.run(|| {
        let mut threads = Vec::new();
        let err = loop {
            match thread::Builder::new().stack_size(16 * 1024).spawn(|| {
                event::pull(None, "never");
            }) {
                Ok(t) => threads.push(t),
                Err(err) => break err,
            }
        };
        println!("stopped at {} threads: {err}", threads.len());
        // The process still has mappings to spare: the allocator can map
        // large blocks (each one a mapping of its own), a backtrace can be
        // taken, and a panic raised, printed and caught.
        let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 1 << 20]).collect();
        println!("allocated {} bytes", blocks.iter().map(Vec::len).sum::<usize>());
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        println!("backtrace taken: {}", !trace.is_empty());
        let caught = catch_unwind(|| panic!("a panic after running out of stacks"));
        println!("panic caught: {}", caught.is_err());
        // A thread that ends gives its stack's place back, to a stack of its size.
        threads.pop().expect("threads were created").kill();
        let again = thread::Builder::new().stack_size(16 * 1024).spawn(|| ());
        println!("spawned again: {}", again.is_ok());
        for t in threads {
            t.kill();
        }
    })
    .unwrap();
    println!("child finished");
}

/// Set for `child_runs_out_of_stacks`: the child limits its address space.
const AS_LIMIT: &str = "COTHREAD_TEST_AS_LIMIT";

/// Runs `child_runs_out_of_stacks` with `env`; checks that it ran out with
/// an error whose text has `limit` in it, and could still allocate, panic
/// and go on.
fn runs_out_of_stacks_and_goes_on(env: &[(&str, &str)], limit: &str) {
    let output = common::run_child_with("child_runs_out_of_stacks", secs(120), env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail = |s: &str| {
        s.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect::<String>()
    };
    let context =
        format!("{:?}\nstdout:\n{}\nstderr:\n{}", output.status, tail(&stdout), tail(&stderr));
    assert!(output.status.success(), "{context}");
    assert!(stdout.contains("stopped at"), "{context}");
    assert!(stdout.contains(limit), "the error names the limit: {context}");
    assert!(stdout.contains(&format!("allocated {} bytes", 64 << 20)), "{context}");
    assert!(stdout.contains("backtrace taken: true"), "{context}");
    assert!(stdout.contains("panic caught: true"), "{context}");
    assert!(stdout.contains("spawned again: true"), "{context}");
    assert!(stdout.contains("child finished"), "{context}");
}

/// Where the kernel has no guard regions (forced here), each stack is two
/// memory mappings, and the OS lets a process hold `vm.max_map_count` of
/// them. cothread refuses a stack while a reserve remains for the rest of
/// the process: `thread::Builder::spawn` returns `Error::StackAlloc` naming
/// the limit, and the program can still allocate, panic and go on. (Had the
/// last mapping gone to a stack, the allocator's next `mmap` would fail and
/// the process abort.) Skipped when the limit is raised far above Linux's
/// default: it would take a million threads to reach.
#[test]
fn running_out_of_mappings_is_an_error_that_leaves_the_process_room() {
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if limit == 0 || limit > 262_144 {
        eprintln!("skipped: vm.max_map_count is {limit} (unreadable, or raised past 262 144)");
        return;
    }
    runs_out_of_stacks_and_goes_on(&[("COTHREAD_STACK_GUARDS", "mprotect")], "vm.max_map_count");
}

/// Stacks that cost no mapping each (guard regions) run out of address
/// space instead, here a limit of 1 GiB more than the process holds
/// (`RLIMIT_AS`): the same error, naming that limit, with room left for the
/// program to allocate, panic and go on.
#[test]
fn running_out_of_address_space_is_an_error_that_leaves_the_process_room() {
    runs_out_of_stacks_and_goes_on(&[(AS_LIMIT, "1")], "RLIMIT_AS");
}

/// A value the kernel drops after its thread has ended (nobody claimed it),
/// whose destructor blocks: the call returns at once, as in a killed thread,
/// and the thread ends as usual; it is not taken for a thread that caught
/// its kill (nothing is parked for ever or reported).
#[test]
fn a_blocking_destructor_of_an_unclaimed_value_returns_at_once() {
    struct Slow(Out);
    impl Drop for Slow {
        fn drop(&mut self) {
            let got = event::pull(secs(5), "never");
            self.0.print(format!("drop pulled {got:?} at {:?}", os::uptime()));
        }
    }
    let log = Out::new();
    let errors = Out::new();
    let sink = errors.clone();
    let mut k = kernel();
    k.on_error(move |msg| sink.print(msg));
    let l = log.clone();
    let out = k.run(move || {
        // The handle goes first: the value is dropped by the kernel, on the
        // ended thread's stack.
        drop(thread::create(move || {
            os::sleep(Duration::ZERO);
            Slow(l)
        }));
        os::sleep(secs(1));
        os::uptime()
    });
    assert_eq!(out, Ok(secs(1)));
    assert_eq!(log.lines(), ["drop pulled None at 0ns"]);
    assert_eq!(errors.lines(), Vec::<String>::new());
    assert_eq!((k.quarantined_stacks(), k.threads().len()), (0, 0));
}

/// The host panics and its kernel is dropped as it unwinds, while a thread's
/// destructor blocks: the kill's unwind of that thread is told apart from
/// code that caught a kill, though the count of unwinds under way is the
/// host's too. The destructor's wait returns at once and the thread is
/// unwound to its end (nothing parked for ever, nothing left stuck: once the
/// host's panic is caught, `panicking()` is false again).
#[test]
fn a_kernel_dropped_by_a_panicking_host_unwinds_a_thread_whose_destructor_blocks() {
    struct BlocksOnDrop(Option<common::DropGuard>);
    impl Drop for BlocksOnDrop {
        fn drop(&mut self) {
            event::pull(secs(5), "never");
            self.0.take();
        }
    }
    let drops = Drops::new();
    let d = drops.clone();
    let outcome = catch_unwind(AssertUnwindSafe(move || {
        let mut k = kernel();
        k.spawn(move || {
            let _blocks = BlocksOnDrop(Some(d.guard()));
            event::pull(None, "never");
        });
        if std::hint::black_box(true) {
            panic!("the host fails");
        }
        drop(k);
    }));
    assert!(outcome.is_err());
    assert_eq!(drops.count(), 1, "the thread was unwound through its destructor");
    assert!(!std::thread::panicking());
}

/// Sleeps in its destructor, and says how it went.
struct SleepsOnDrop(Out, &'static str);

impl Drop for SleepsOnDrop {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        os::sleep(secs(1));
        self.0.print(format!("{} slept (during an unwind: {panicking})", self.1));
    }
}

/// A listener's closure holding two values whose destructors block, dropped
/// by the kernel on the host's stack: the first one's sleep panics there
/// (nothing can block on the host's stack), the kernel catches and reports
/// it, and the second one, run by that panic's unwind, returns at once
/// instead of panicking again, which aborted the process.
#[test]
fn blocking_destructors_of_a_closure_the_kernel_drops_do_not_abort() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let errors = Out::new();
    let e = errors.clone();
    k.on_error(move |m| e.print(m));
    let result = k.run(move || {
        let pair = (SleepsOnDrop(o.clone(), "first"), SleepsOnDrop(o.clone(), "second"));
        event::listen("go", move |_: &Signal| {
            let _keep = &pair;
            false // dropped by the kernel after this call
        });
        event::push(Signal::new("go"));
        os::sleep(secs(2));
        o.print("the program goes on");
    });
    assert_eq!(result, Ok(()));
    assert_eq!(out.lines(), ["second slept (during an unwind: true)", "the program goes on"]);
    let errors = errors.lines();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("only a program or thread running in a kernel can block"),
        "{errors:?}"
    );
}
