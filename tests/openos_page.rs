//! The examples of the OpenOS Thread API page, each asserting the output the real
//! OpenOS code prints (docs/semantics.md); where the page and the code differ, the code
//! wins and the test says so.

mod common;

use std::time::Duration;

use common::{kernel, Out};
use cothread::{event, os, thread, Signal, Status};

#[test]
fn thread_create() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            o.print("Main program start");
            let o2 = o.clone();
            thread::create(move || {
                o2.print("A");
                os::sleep(Duration::ZERO);
                o2.print("B");
            });
            o.print("Main program end");
        })
        .unwrap();
    assert_eq!(out.lines(), ["Main program start", "A", "Main program end", "B"]);
}

#[test]
fn wait_for_all() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            o.print("Main program start");
            let o2 = o.clone();
            let t = thread::create(move || {
                o2.print("A");
                os::sleep(Duration::ZERO);
                o2.print("B");
            });
            thread::wait_for_all([&*t], None).unwrap();
            o.print("Main program end");
        })
        .unwrap();
    assert_eq!(out.lines(), ["Main program start", "A", "B", "Main program end"]);
}

/// The page prints "end" before "D" but allows either order; the real code
/// prints "D" first: the join is woken by t1's "thread_exit" signal, which is
/// delivered only after t2's second `os.sleep()` has run.
#[test]
fn wait_for_any() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            o.print("Main program start");
            let o1 = o.clone();
            let t1 = thread::create(move || {
                o1.print("A");
                os::sleep(Duration::ZERO);
                o1.print("B");
            });
            let o2 = o.clone();
            let t2 = thread::create(move || {
                o2.print("C");
                os::sleep(Duration::ZERO);
                os::sleep(Duration::ZERO);
                o2.print("D");
            });
            thread::wait_for_any([&*t1, &*t2], None).unwrap();
            o.print("Main program end");
        })
        .unwrap();
    assert_eq!(out.lines(), ["Main program start", "A", "C", "B", "D", "Main program end"]);
}

#[test]
fn suspend_self_without_resume() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.run(move || {
        let o2 = o.clone();
        let t = thread::create(move || {
            o2.print("start");
            thread::current().unwrap().suspend().unwrap();
            o2.print("after suspend");
            os::sleep(Duration::ZERO);
            o2.print("after sleep");
        });
        // The program's close joins t; a suspended thread counts as done, so the
        // join kills it.
        let _ = t;
    })
    .unwrap();
    assert_eq!(out.lines(), ["start"]);
}

/// The page prints "after suspend" before "after resume"; the real code resumes
/// the thread only when the program blocks (at its close), so "after resume"
/// comes first.
#[test]
fn suspend_self_then_resume() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            let t = thread::create(move || {
                o2.print("start");
                thread::current().unwrap().suspend().unwrap();
                o2.print("after suspend");
                os::sleep(Duration::ZERO);
                o2.print("after sleep");
            });
            o.print("outside thread create");
            t.resume().unwrap();
            o.print("after resume");
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["start", "outside thread create", "after resume", "after suspend", "after sleep"]
    );
}

#[test]
fn kill() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            let t = thread::create(move || loop {
                o2.print("running");
                o2.print("still running");
                os::sleep(Duration::ZERO);
                o2.print("after sleep");
            });
            o.print("before kill");
            t.kill();
            o.print("after kill");
        })
        .unwrap();
    assert_eq!(out.lines(), ["running", "still running", "before kill", "after kill"]);
}

#[test]
fn status_running() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            let t = thread::create(move || {
                o2.print("before sleep");
                os::sleep(Duration::ZERO);
                o2.print("after sleep");
            });
            o.print(t.status());
        })
        .unwrap();
    assert_eq!(out.lines(), ["before sleep", "running", "after sleep"]);
}

/// The page ends with "dead"; the real code prints "running" (resume only
/// schedules the thread) and then the thread's "after sleep".
#[test]
fn status_suspend_sleep_resume() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            let t = thread::create(move || {
                o2.print("before sleep");
                os::sleep(Duration::ZERO);
                o2.print("after sleep");
            });
            t.suspend().unwrap();
            o.print(t.status());
            os::sleep(Duration::from_secs(10));
            o.print(t.status());
            t.resume().unwrap();
            o.print("after resume");
            o.print(t.status());
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["before sleep", "suspended", "suspended", "after resume", "running", "after sleep"]
    );
}

#[test]
fn exception() {
    let out = Out::new();
    let o = out.clone();
    let reports = Out::new();
    let r = reports.clone();
    let mut k = kernel();
    k.on_error(move |msg| r.print(msg));
    k.run(move || {
        o.print("p start");
        let o2 = o.clone();
        let reader = thread::create(move || -> () {
            o2.print("reader start");
            panic!("thread abort");
        });
        o.print(format!("p end {}", reader.status()));
    })
    .unwrap();
    assert_eq!(out.lines(), ["p start", "reader start", "p end dead"]);
    assert_eq!(reports.lines(), ["[thread] thread abort"]);
}

/// The interrupt-handler example, with the user's ^C as `Kernel::interrupt` and
/// `io.read()` as a pull of "key_down" (no key ever comes).
#[test]
fn interrupt_handler() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let main = k.spawn(move || {
        let o1 = o.clone();
        let cleanup = thread::create(move || {
            event::pull(None, "interrupted");
            o1.print("cleaning up resources");
        });
        let o2 = o.clone();
        let main_thread = thread::create(move || {
            o2.print("main program");
            loop {
                o2.print("input:");
                event::pull(None, "key_down");
            }
        });
        thread::wait_for_any([&*cleanup, &*main_thread], None).unwrap();
        os::exit();
    });
    k.step();
    out.print("^c");
    k.interrupt();
    while k.step().alive {}
    assert_eq!(main.wait(), Err(cothread::Error::Exited));
    assert_eq!(out.lines(), ["main program", "input:", "^c", "cleaning up resources"]);
}

/// The page prints "custom_event_a" before "done"; the real code prints "done"
/// first: pushing does not switch threads.
#[test]
fn yield_and_pull() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            thread::create(move || {
                let a = thread::yield_now().unwrap();
                o2.print(a);
                o2.print(event::pull(None, cothread::Filter::any()).unwrap());
            });
            event::push(Signal::new("custom_event_a"));
            o.print("done");
            event::push(Signal::new("custom_event_b").with(2));
        })
        .unwrap();
    assert_eq!(out.lines(), ["done", "custom_event_a", "custom_event_b 2"]);
}

#[test]
fn status_display_matches_openos() {
    assert_eq!(Status::Running.to_string(), "running");
    assert_eq!(Status::Suspended.to_string(), "suspended");
    assert_eq!(Status::Dead.to_string(), "dead");
}
