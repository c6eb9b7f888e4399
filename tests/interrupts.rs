//! Hard interrupts (`Kernel::hard_interrupt`, OpenOS's `^Alt^C`) and the
//! kernel-wide listeners of the host.

mod common;

use std::time::Duration;

use common::{kernel, secs, Drops, Out};
use cothread::{event, os, thread, Error, Signal, Status, Value};

#[test]
fn uncaught_hard_interrupt_ends_the_program_and_unwinds_its_threads() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let _mine = d.guard();
        let d2 = d.clone();
        thread::create(move || {
            let _theirs = d2.guard();
            event::pull(None, "never");
        });
        event::pull(None, "key_down");
        unreachable!("the interrupt unwinds the pull");
    });
    assert_eq!(drops.count(), 0);
    assert!(k.hard_interrupt());
    while k.step().alive {}
    assert_eq!(program.wait(), Err(Error::Interrupted(Value::Nil)));
    assert_eq!(drops.count(), 2);
}

#[test]
fn a_caught_interrupt_lets_the_program_go_on() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let o2 = o.clone();
        let worker = thread::create(move || {
            event::pull(None, "go");
            o2.print("worker done");
        });
        let read = os::catch_interrupt(|| event::pull(None, "key_down"));
        o.print(format!("read: {read:?}"));
        worker.join(None).unwrap();
        o.print("program done");
        7
    });
    k.step();
    assert!(k.hard_interrupt());
    k.step();
    k.push_signal(Signal::new("go"));
    while k.step().alive {}
    assert_eq!(program.wait(), Ok(7));
    assert_eq!(out.lines(), ["read: Err(Interrupted(Nil))", "worker done", "program done"]);
}

#[test]
fn the_interrupt_wakes_a_sleeping_program_without_moving_the_clock() {
    let mut k = kernel();
    let program = k.spawn(|| os::catch_interrupt(|| os::sleep(Duration::from_secs(60))));
    assert!(k.hard_interrupt());
    k.step();
    assert_eq!(program.wait(), Ok(Err(Error::Interrupted(Value::Nil))));
    assert_eq!(k.uptime(), Duration::ZERO);
}

#[test]
fn the_foreground_program_is_the_newest_one() {
    let mut k = kernel();
    let background =
        k.spawn(|| os::catch_interrupt(|| event::pull(None, "go")).map(|_| "background"));
    let foreground =
        k.spawn(|| os::catch_interrupt(|| event::pull(None, "go")).map(|_| "foreground"));
    assert!(k.hard_interrupt());
    k.step();
    assert_eq!(foreground.wait(), Ok(Err(Error::Interrupted(Value::Nil))));
    assert_eq!(background.status(), cothread::Status::Running);
    k.push_signal(Signal::new("go"));
    k.step();
    assert_eq!(background.wait(), Ok(Ok("background")));
}

#[test]
fn with_no_program_there_is_nothing_to_interrupt() {
    let mut k = kernel();
    assert!(!k.hard_interrupt());
    k.run(|| ()).unwrap();
    assert!(!k.hard_interrupt());
}

#[test]
fn an_interrupt_while_the_program_joins_its_threads_kills_them() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let d2 = d.clone();
        // The body returns at once; the close then joins this thread.
        thread::create(move || {
            let _theirs = d2.guard();
            event::pull(None, "never");
        });
    });
    k.step();
    assert_eq!(program.status(), cothread::Status::Running);
    assert!(k.hard_interrupt());
    while k.step().alive {}
    assert_eq!(program.wait(), Err(Error::Interrupted(Value::Nil)));
    assert_eq!(drops.count(), 1);
}

#[test]
fn other_unwinds_pass_through_catch_interrupt() {
    let mut k = kernel();
    let out = k.run(|| {
        let _ = os::catch_interrupt(|| os::exit());
        unreachable!("exit is not an interrupt");
    });
    assert_eq!(out, Err(Error::Exited));
}

#[test]
fn kernel_listeners_outlive_programs_and_can_be_ignored() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let id = k.listen("score", move |s: &Signal| o.print(s));
    k.run(|| event::push(Signal::new("score").with(1))).unwrap();
    k.run(|| {
        event::push(Signal::new("score").with(2));
        os::sleep(Duration::ZERO);
    })
    .unwrap();
    assert!(k.ignore(id));
    assert!(!k.ignore(id));
    k.push_signal(Signal::new("score").with(3));
    k.step();
    assert_eq!(out.lines(), ["score 1", "score 2"]);
}

#[test]
fn a_thread_cannot_ignore_a_kernel_listener() {
    let mut k = kernel();
    let id = k.listen("x", |_| {});
    assert!(!k.run(move || event::ignore(id)).unwrap());
    assert!(k.ignore(id));
}

// ---------------------------------------------------------------------------
// Interrupts with a cause (`Thread::interrupt`, SimPy's `process.interrupt`)
// ---------------------------------------------------------------------------

// The blocking call the thread is in ends in the next round; the unwind stops
// at `catch_interrupt`, which hands the cause back, and the thread goes on.
#[test]
fn an_interrupt_ends_the_current_wait_with_its_cause() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let out = k
        .run(move || {
            let t = thread::create(move || {
                let caught = os::catch_interrupt(|| {
                    let _held = d.guard();
                    os::sleep(secs(60));
                });
                (caught, os::uptime())
            });
            os::sleep(secs(2));
            let delivered = t.interrupt(Value::from("reroute"));
            (delivered, t.wait())
        })
        .unwrap();
    assert_eq!(out, (true, Ok((Err(Error::Interrupted(Value::from("reroute"))), secs(2)))));
    assert_eq!(drops.count(), 1, "the sleep's frames were unwound");
}

// Every kind of wait ends the same way: a pull, a join, a wait_for_any.
#[test]
fn an_interrupt_ends_a_pull_a_join_and_a_wait_for_any() {
    let mut k = kernel();
    let out = k
        .run(|| {
            let long = thread::create(|| os::sleep(secs(100)));
            let l1 = long.clone();
            let l2 = long.clone();
            let waits: Vec<thread::JoinHandle<Result<(), Error>>> = vec![
                thread::create(|| os::catch_interrupt(|| drop(event::pull(None, "never")))),
                thread::create(move || os::catch_interrupt(|| drop(l1.join(None)))),
                thread::create(move || {
                    os::catch_interrupt(|| {
                        drop(thread::wait_for_any(std::slice::from_ref(&l2), None))
                    })
                }),
            ];
            os::sleep(secs(1));
            for (i, w) in waits.iter().enumerate() {
                assert!(w.interrupt(i as i64));
            }
            let ended: Vec<_> = waits.into_iter().map(|w| w.wait()).collect();
            (ended, os::uptime(), long.status())
        })
        .unwrap();
    let expected: Vec<Result<Result<(), Error>, Error>> =
        (0..3).map(|i| Ok(Err(Error::Interrupted(Value::from(i as i64))))).collect();
    assert_eq!(out, (expected, secs(1), Status::Running));
}

// Uncaught, the interrupt ends the thread with its cause, and the threads it
// owns are killed (their stacks unwound).
#[test]
fn an_uncaught_interrupt_ends_the_thread_and_kills_what_it_owns() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let out = k
        .run(move || {
            let t = thread::create(move || {
                let d2 = d.clone();
                thread::create(move || {
                    let _child = d2.guard();
                    os::sleep(secs(100));
                });
                let _mine = d.guard();
                event::pull(None, "never");
            });
            assert!(t.interrupt(Value::from(7)));
            t.wait()
        })
        .unwrap();
    assert_eq!(out, Err(Error::Interrupted(Value::from(7))));
    assert_eq!(drops.count(), 2);
}

// A thread that is not blocked (here it interrupts itself) gets it at its
// next blocking call, which ends at once; a second interrupt before it is
// raised replaces the cause.
#[test]
fn an_interrupt_of_a_thread_not_blocked_ends_its_next_wait_at_once() {
    let mut k = kernel();
    let out = k
        .run(|| {
            thread::create(|| {
                let me = thread::current().unwrap();
                assert!(me.interrupt("first"));
                assert!(me.interrupt("second"));
                let caught = os::catch_interrupt(|| os::sleep(secs(5)));
                let after = os::uptime();
                os::sleep(secs(1)); // the interrupt was raised once
                (caught, after, os::uptime())
            })
            .wait()
        })
        .unwrap();
    assert_eq!(out, Ok((Err(Error::Interrupted(Value::from("second"))), secs(0), secs(1))));
}

// A suspended thread gets the interrupt when it is resumed; a dead one does
// not get it.
#[test]
fn a_suspended_thread_gets_the_interrupt_at_its_resume_and_a_dead_one_never() {
    let mut k = kernel();
    let out = k
        .run(|| {
            let t = thread::create(|| {
                let caught = os::catch_interrupt(|| os::sleep(secs(100)));
                (caught, os::uptime())
            });
            t.suspend().unwrap();
            assert!(t.interrupt("wake"));
            os::sleep(secs(3));
            let still = t.status();
            t.resume().unwrap();
            let ended = t.clone();
            let result = t.wait();
            (still, result, ended.interrupt("late"))
        })
        .unwrap();
    assert_eq!(
        out,
        (Status::Suspended, Ok((Err(Error::Interrupted(Value::from("wake"))), secs(3))), false)
    );
}

// The interrupt's error reads as its cause.
#[test]
fn an_interrupt_error_shows_its_cause() {
    assert_eq!(Error::Interrupted(Value::Nil).to_string(), "interrupted");
    assert_eq!(Error::Interrupted(Value::from("reroute")).to_string(), "interrupted: reroute");
}
