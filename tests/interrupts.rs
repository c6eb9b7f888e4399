//! Hard interrupts (`Kernel::hard_interrupt`, OpenOS's `^Alt^C`) and the
//! kernel-wide listeners of the host.

mod common;

use std::time::Duration;

use common::{kernel, Drops, Out};
use cothread::{event, os, thread, Error, Signal};

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
    assert_eq!(program.wait(), Err(Error::Interrupted));
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
    assert_eq!(out.lines(), ["read: Err(Interrupted)", "worker done", "program done"]);
}

#[test]
fn the_interrupt_wakes_a_sleeping_program_without_moving_the_clock() {
    let mut k = kernel();
    let program = k.spawn(|| os::catch_interrupt(|| os::sleep(Duration::from_secs(60))));
    assert!(k.hard_interrupt());
    k.step();
    assert_eq!(program.wait(), Ok(Err(Error::Interrupted)));
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
    assert_eq!(foreground.wait(), Ok(Err(Error::Interrupted)));
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
    assert_eq!(program.wait(), Err(Error::Interrupted));
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
