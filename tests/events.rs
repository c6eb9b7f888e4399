//! Events: listeners, timers, the pull family and its filters, how a signal is
//! delivered (push order, the waiter index, suspended threads), the error
//! reporter and the signals the kernel pushes. Each test is a program and the
//! exact lines or values it must produce (docs/semantics.md "Events", and
//! docs/events.md where OpenOS leaves the choice to cothread). `Signal` and
//! `Value` on their own are in tests/signals.rs.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::{kernel, secs, within, DropGuard, Drops, Out};
use cothread::event::{ListenerId, Times};
use cothread::thread::Thread;
use cothread::{
    event, os, thread, Error, Filter, Signal, Status, Value, MAX_PATTERN_LEN, MAX_PATTERN_STEPS,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The kernel's uptime in whole milliseconds, for lines like "tick at 200ms".
fn now_ms() -> u128 {
    os::uptime().as_millis()
}

/// A pull's result as a line: the signal as it prints, or "none".
fn show(s: Option<Signal>) -> String {
    s.map_or_else(|| "none".to_string(), |s| s.to_string())
}

/// The text of a callback that blocks (docs/events.md: it must not).
const CANNOT_BLOCK: &str = "cothread: a listener or timer callback cannot block (pull, sleep, \
                            join); start a thread from it instead";

/// The panic of a repeating timer with a zero interval.
const ZERO_INTERVAL: &str = "cothread: event::timer with a zero interval must not repeat (it \
                             would fire forever at one instant)";

/// Registers a listener for "x" that prints `<label> heard <signal>` and
/// holds `guard`, so that its drop is counted.
fn listen_printing(label: &'static str, out: Out, guard: DropGuard) {
    event::listen("x", move |s: &Signal| {
        let _keep = &guard;
        out.print(format!("{label} heard {s}"));
    });
}

/// Starts a timer that prints `<label> <uptime ms>` every 100ms forever and
/// holds `guard`, so that its drop is counted.
fn tick_printing(label: &'static str, out: Out, guard: DropGuard) {
    event::timer(ms(100), Times::Forever, move || {
        let _keep = &guard;
        out.print(format!("{label} {}", now_ms()));
    });
}

// ---------------------------------------------------------------------------
// Listeners
// ---------------------------------------------------------------------------

/// Listeners of a name run in registration order, each with the signal; the
/// name is exact (a "key" listener does not hear "key_down").
#[test]
fn listeners_run_in_registration_order_each_with_the_signal() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            for label in ["a", "b", "c"] {
                let o = o.clone();
                event::listen("key_down", move |s: &Signal| o.print(format!("{label}: {s}")));
            }
            let o2 = o.clone();
            event::listen("key", move |s: &Signal| o2.print(format!("key: {s}")));
            event::push(Signal::new("key_down").with(42));
            event::push(Signal::new("key_up").with(42));
            event::push(Signal::new("key_down").with(7));
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "a: key_down 42",
            "b: key_down 42",
            "c: key_down 42",
            "a: key_down 7",
            "b: key_down 7",
            "c: key_down 7"
        ]
    );
}

/// A name built at run time is a `String`: `event::listen`, `Kernel::listen`,
/// `event::pull` and `Filter::pattern` take one as they take a `&str`.
#[test]
fn a_string_names_a_listener_as_it_names_a_pull() {
    let out = Out::new();
    let mut k = kernel();
    let o = out.clone();
    k.listen(format!("sensor_{}", 2), move |s: &Signal| o.print(format!("host heard {s}")));
    let o = out.clone();
    k.run(move || {
        let name = format!("sensor_{}", 2);
        let o1 = o.clone();
        event::listen(name.clone(), move |s: &Signal| o1.print(format!("listener heard {s}")));
        let o2 = o.clone();
        event::listen(&name, move |s: &Signal| o2.print(format!("by reference heard {s}")));
        let o3 = o.clone();
        let pattern = format!("^{}", &name[..6]);
        thread::create(move || {
            o3.print(format!("pattern got {}", show(event::pull(None, Filter::pattern(pattern)))))
        });
        event::push(Signal::new(name.clone()).with(7));
        o.print(format!("pull got {}", show(event::pull(secs(1), name))));
    })
    .unwrap();
    assert_eq!(
        out.lines(),
        [
            "host heard sensor_2 7",
            "listener heard sensor_2 7",
            "by reference heard sensor_2 7",
            "pattern got sensor_2 7",
            "pull got sensor_2 7",
        ]
    );
}

/// A signal's listeners run before the threads waiting for it are woken, even
/// a listener registered after the thread began waiting.
#[test]
fn listeners_run_before_the_threads_waiting_for_the_signal() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            thread::create(move || o1.print(format!("thread: {}", show(event::pull(None, "x")))));
            let o2 = o.clone();
            event::listen("x", move |s: &Signal| o2.print(format!("listener: {s}")));
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(out.lines(), ["listener: x 1", "thread: x 1"]);
}

/// A callback returning `false` is unregistered; `true` and `()` stay.
#[test]
fn a_listener_returning_false_is_removed_and_one_returning_unit_or_true_stays() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            event::listen("n", move |s: &Signal| {
                o1.print(format!("until 2: {s}"));
                s.arg(0).as_int() != Some(2)
            });
            let o2 = o.clone();
            event::listen("n", move |s: &Signal| o2.print(format!("unit: {s}")));
            let o3 = o.clone();
            event::listen("n", move |s: &Signal| {
                o3.print(format!("true: {s}"));
                true
            });
            for n in 1..=3 {
                event::push(Signal::new("n").with(n));
            }
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "until 2: n 1",
            "unit: n 1",
            "true: n 1",
            "until 2: n 2",
            "unit: n 2",
            "true: n 2",
            "unit: n 3",
            "true: n 3"
        ]
    );
}

/// `ignore` returns whether it removed a listener; it reaches only the
/// caller's own listeners: another thread's id gives `false` and the
/// listener keeps running (rustdoc of `event::ignore`).
#[test]
fn ignore_removes_only_the_callers_own_listener_and_says_whether_it_did() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let mine = event::listen("x", |_| {});
            o.print(format!("ignore mine: {}", event::ignore(mine)));
            o.print(format!("ignore mine again: {}", event::ignore(mine)));

            let theirs: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let (o1, slot) = (o.clone(), theirs.clone());
            let t = thread::create(move || {
                let o2 = o1.clone();
                let id = event::listen("x", move |s: &Signal| o2.print(format!("T heard {s}")));
                slot.set(Some(id));
                event::pull(None, "stop");
                o1.print(format!("T ignores its own: {}", event::ignore(id)));
                event::pull(None, "end");
            });
            let id = theirs.get().unwrap();
            o.print(format!("main ignores T's: {}", event::ignore(id)));
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            event::push(Signal::new("stop"));
            os::sleep(Duration::ZERO);
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
            t.kill();
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "ignore mine: true",
            "ignore mine again: false",
            "main ignores T's: false",
            "T heard x 1",
            "T ignores its own: true"
        ]
    );
}

/// A listener may ignore itself from its own callback; it never runs again.
#[test]
fn a_listener_may_ignore_itself_from_its_callback() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let me: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let slot = me.clone();
            let id = event::listen("x", move |s: &Signal| {
                let removed = event::ignore(slot.get().unwrap());
                o.print(format!("{s}, ignored myself: {removed}"));
            });
            me.set(Some(id));
            event::push(Signal::new("x").with(1));
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(out.lines(), ["x 1, ignored myself: true"]);
}

/// A thread's listeners die with it however it ends (killed, returned,
/// panicked): their callbacks are dropped and never run again.
#[test]
fn a_threads_listeners_die_with_it_however_it_ends() {
    let out = Out::new();
    let o = out.clone();
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    k.on_error(|_| {});
    k.run(move || {
        let (o1, g1) = (o.clone(), d.guard());
        let killed = thread::create(move || {
            listen_printing("killed", o1, g1);
            event::pull(None, "never");
        });
        let (o2, g2) = (o.clone(), d.guard());
        thread::create(move || {
            listen_printing("returns", o2, g2);
            event::pull(None, "finish");
        });
        let (o3, g3) = (o.clone(), d.guard());
        thread::create(move || -> () {
            listen_printing("panics", o3, g3);
            event::pull(None, "fail");
            panic!("fail");
        });
        event::push(Signal::new("x").with(1));
        os::sleep(Duration::ZERO);
        killed.kill();
        event::push(Signal::new("finish"));
        event::push(Signal::new("fail"));
        os::sleep(Duration::ZERO);
        o.print(format!("callbacks dropped: {}", d.count()));
        event::push(Signal::new("x").with(2));
        os::sleep(Duration::ZERO);
    })
    .unwrap();
    assert_eq!(
        out.lines(),
        ["killed heard x 1", "returns heard x 1", "panics heard x 1", "callbacks dropped: 3"]
    );
}

/// cothread: a program's listeners die with the program (in OpenOS they
/// outlive it); the host registers kernel-wide ones with `Kernel::listen`.
#[test]
fn a_programs_listeners_die_with_the_program() {
    let out = Out::new();
    let o = out.clone();
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    k.run(move || {
        let guard = d.guard();
        event::listen("x", move |s: &Signal| {
            let _keep = &guard;
            o.print(format!("heard {s}"));
        });
        event::push(Signal::new("x").with(1));
        os::sleep(Duration::ZERO);
    })
    .unwrap();
    assert_eq!(drops.count(), 1);
    k.push_signal(Signal::new("x").with(2));
    k.step();
    k.run(|| {
        event::push(Signal::new("x").with(3));
        os::sleep(Duration::ZERO);
    })
    .unwrap();
    assert_eq!(out.lines(), ["heard x 1"]);
}

/// A listener runs only while its owner is not suspended (nor inside a
/// suspended thread); the signals it missed are not replayed on resume.
#[test]
fn a_suspended_owners_listeners_do_not_run_and_are_not_replayed() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let owner = thread::create(move || {
                let o2 = o1.clone();
                event::listen("x", move |s: &Signal| o2.print(format!("owner heard {s}")));
                thread::create(move || {
                    event::listen("x", move |s: &Signal| o1.print(format!("child heard {s}")));
                    event::pull(None, "never");
                });
                event::pull(None, "never");
            });
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            owner.suspend().unwrap();
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
            owner.resume().unwrap();
            os::sleep(Duration::ZERO);
            o.print("resumed");
            event::push(Signal::new("x").with(3));
            os::sleep(Duration::ZERO);
            owner.kill();
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["owner heard x 1", "child heard x 1", "resumed", "owner heard x 3", "child heard x 3"]
    );
}

/// A panicking listener is reported through `on_error` as
/// `"[listener] <message>"` and removed; the other listeners, the owner and the
/// kernel go on.
#[test]
fn a_panicking_listener_is_reported_and_removed_and_the_rest_go_on() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let r = out.clone();
    k.on_error(move |msg| r.print(format!("error: {msg}")));
    k.run(move || {
        let o1 = o.clone();
        let owner = thread::create(move || -> () {
            let o2 = o1.clone();
            event::listen("x", move |s: &Signal| o2.print(format!("first {s}")));
            event::listen("x", |s: &Signal| -> () { panic!("listener broke on {}", s.arg(0)) });
            let o3 = o1.clone();
            event::listen("x", move |s: &Signal| o3.print(format!("third {s}")));
            loop {
                let s = event::pull(None, "x").unwrap();
                o1.print(format!("owner pulled {s}"));
            }
        });
        event::push(Signal::new("x").with(1));
        event::push(Signal::new("x").with(2));
        os::sleep(Duration::ZERO);
        o.print(format!("owner {}", owner.status()));
        owner.kill();
    })
    .unwrap();
    assert_eq!(
        out.lines(),
        [
            "first x 1",
            "error: [listener] listener broke on 1",
            "third x 1",
            "owner pulled x 1",
            "first x 2",
            "third x 2",
            "owner pulled x 2",
            "owner running"
        ]
    );
}

/// A listener removed while a signal is being delivered does not run for it,
/// and one registered meanwhile runs only for signals of its own name.
#[test]
fn a_listener_removed_during_a_delivery_does_not_run_and_a_new_one_hears_only_its_name() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let b_id: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let (o1, slot) = (o.clone(), b_id.clone());
            event::listen("x", move |s: &Signal| {
                o1.print(format!("A heard {s}"));
                if let Some(b) = slot.take() {
                    o1.print(format!("A ignores B: {}", event::ignore(b)));
                    let o2 = o1.clone();
                    event::listen("y", move |s: &Signal| o2.print(format!("C heard {s}")));
                }
            });
            let o3 = o.clone();
            b_id.set(Some(event::listen("x", move |s: &Signal| o3.print(format!("B heard {s}")))));
            event::push(Signal::new("x").with(1));
            event::push(Signal::new("y").with(2));
            event::push(Signal::new("x").with(3));
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(out.lines(), ["A heard x 1", "A ignores B: true", "C heard y 2", "A heard x 3"]);
}

/// A thread whose function returned is alive while it joins its children
/// (docs/semantics.md: it shows "running"), so its listeners still run; they die
/// when it ends.
#[test]
fn a_thread_closing_on_its_children_keeps_its_listeners_until_it_ends() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let closing = thread::create(move || {
                event::listen("x", move |s: &Signal| o1.print(format!("listener heard {s}")));
                thread::create(|| event::pull(None, "release"));
            });
            o.print(closing.status());
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            event::push(Signal::new("release"));
            closing.join(None).unwrap();
            o.print(closing.status());
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(out.lines(), ["running", "listener heard x 1", "dead"]);
}

/// A callback runs as its owner: `thread::current()` is the owner there, and
/// the threads it starts belong to the owner (and die with it). This is how a
/// listener hands off blocking work.
#[test]
fn a_listener_runs_as_its_owner_and_its_threads_belong_to_the_owner() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let owner = thread::create(move || {
                let me = thread::current().unwrap().id();
                event::listen("request", move |s: &Signal| {
                    let as_owner = thread::current().map(|t| t.id()) == Some(me);
                    o1.print(format!("{s}: runs as its owner: {as_owner}"));
                    let (o2, n) = (o1.clone(), s.arg(0).clone());
                    thread::create(move || {
                        let reply = event::pull(None, Filter::name("reply").arg(0, n));
                        o2.print(format!("worker got {}", show(reply)));
                    });
                });
                event::pull(None, "never");
            });
            event::push(Signal::new("request").with(1));
            os::sleep(Duration::ZERO);
            event::push(Signal::new("reply").with(1));
            os::sleep(Duration::ZERO);
            event::push(Signal::new("request").with(2));
            os::sleep(Duration::ZERO);
            owner.kill(); // takes the second worker with it
            event::push(Signal::new("reply").with(2));
            os::sleep(Duration::ZERO);
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "request 1: runs as its owner: true",
            "worker got reply 1",
            "request 2: runs as its owner: true"
        ]
    );
}

/// A listener or timer callback that blocks panics; it is reported (and
/// removed) like any panicking callback.
#[test]
fn a_callback_that_blocks_is_reported_and_removed() {
    let reports = Out::new();
    let r = reports.clone();
    let mut k = kernel();
    k.on_error(move |msg| r.print(msg));
    k.run(|| {
        event::listen("x", |_| {
            event::pull(None, "y");
        });
        event::timer(ms(10), Times::Forever, || os::sleep(secs(1)));
        event::push(Signal::new("x"));
        os::sleep(ms(25));
        event::push(Signal::new("x"));
        os::sleep(Duration::ZERO);
    })
    .unwrap();
    assert_eq!(
        reports.lines(),
        [format!("[listener] {CANNOT_BLOCK}"), format!("[timer] {CANNOT_BLOCK}")]
    );
}

/// Many one-shot listeners of one name each run once, in registration order,
/// for one signal, and are gone after it (each removal used to scan the
/// name's list: 100 000 took seconds, defect r11).
#[test]
fn a_hundred_thousand_one_shot_listeners_of_one_name_each_run_once_in_order() {
    const N: usize = 100_000;
    let heard = Rc::new(RefCell::new(Vec::with_capacity(N)));
    let mut k = kernel();
    for i in 0..N {
        let heard = heard.clone();
        k.listen("tick", move |_: &Signal| {
            heard.borrow_mut().push(i);
            false
        });
    }
    k.push_signal(Signal::new("tick"));
    k.push_signal(Signal::new("tick"));
    let report = k.step();
    assert_eq!(report.signals, 2);
    let heard = heard.take();
    assert_eq!(heard.len(), N, "each listener runs once, and not for the second signal");
    assert!(heard.iter().copied().eq(0..N), "in registration order");
    let again = Rc::new(Cell::new(false));
    let a = again.clone();
    k.listen("tick", move |_: &Signal| a.set(true));
    k.push_signal(Signal::new("tick"));
    k.step();
    assert!(again.get(), "the name's list is whole after all were removed");
}

#[test]
#[should_panic(expected = "`event::listen` called outside a kernel")]
fn event_listen_outside_a_kernel_panics() {
    event::listen("x", |_| {});
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

#[test]
fn a_timer_fires_its_count_one_interval_apart() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            event::timer(ms(100), 3, move || o.print(format!("tick at {}ms", now_ms())));
            os::sleep(secs(1));
        })
        .unwrap();
    assert_eq!(out.lines(), ["tick at 100ms", "tick at 200ms", "tick at 300ms"]);
}

/// `Times::Forever` fires until cancelled; `cancel` returns whether it removed
/// a timer, and a finished timer is gone.
#[test]
fn a_forever_timer_fires_until_cancelled_and_cancel_says_whether_it_removed_one() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let forever = event::timer(ms(250), Times::Forever, move || {
                o1.print(format!("tick {}", now_ms()))
            });
            let once = event::timer(ms(100), 1, || {});
            os::sleep(ms(1100));
            o.print(format!("cancel: {}", event::cancel(forever)));
            o.print(format!("cancel again: {}", event::cancel(forever)));
            o.print(format!("cancel a finished timer: {}", event::cancel(once)));
            os::sleep(secs(10));
            o.print(format!("end at {}ms", now_ms()));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "tick 250",
            "tick 500",
            "tick 750",
            "tick 1000",
            "cancel: true",
            "cancel again: false",
            "cancel a finished timer: false",
            "end at 11100ms"
        ]
    );
}

/// A timer dies with its thread, killed or finished: it never fires again and
/// its callback is dropped.
#[test]
fn a_timer_dies_with_its_thread_killed_or_finished() {
    let out = Out::new();
    let o = out.clone();
    let drops = Drops::new();
    let d = drops.clone();
    kernel()
        .run(move || {
            let (o1, g1) = (o.clone(), d.guard());
            let killed = thread::create(move || {
                tick_printing("killed", o1, g1);
                event::pull(None, "never");
            });
            let (o2, g2) = (o.clone(), d.guard());
            thread::create(move || {
                tick_printing("finishes", o2, g2);
                os::sleep(ms(250));
            });
            os::sleep(ms(350));
            killed.kill();
            o.print(format!("callbacks dropped: {}", d.count()));
            os::sleep(secs(10));
            o.print(format!("end at {}ms", now_ms()));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "killed 100",
            "finishes 100",
            "killed 200",
            "finishes 200",
            "killed 300",
            "callbacks dropped: 2",
            "end at 10350ms"
        ]
    );
}

/// While its owner is suspended a timer's firings are skipped: none during the
/// suspension, none made up at the resume; it keeps its rhythm.
#[test]
fn a_suspended_threads_timer_skips_its_firings_and_keeps_its_rhythm() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let owner = thread::create(move || {
                event::timer(ms(100), Times::Forever, move || {
                    o1.print(format!("tick {}", now_ms()))
                });
                event::pull(None, "never");
            });
            os::sleep(ms(250));
            owner.suspend().unwrap();
            o.print(format!("suspended at {}", now_ms()));
            os::sleep(ms(300));
            owner.resume().unwrap();
            o.print(format!("resumed at {}", now_ms()));
            os::sleep(ms(200));
            owner.kill();
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["tick 100", "tick 200", "suspended at 250", "resumed at 550", "tick 600", "tick 700"]
    );
}

/// A zero-interval timer that falls due while its owner is suspended has no
/// next instant to wait for: it fires as soon as the owner is resumed, once.
/// Meanwhile the kernel does not spin on it: `run_until_idle`, `step_for`
/// and `advance` return.
#[test]
fn a_suspended_threads_zero_interval_timer_fires_when_it_is_resumed() {
    within(secs(60), || {
        let out = Out::new();
        let (o, o1) = (out.clone(), out.clone());
        let mut k = kernel();
        k.spawn(move || {
            let owner = thread::create(move || {
                event::timer(Duration::ZERO, 1, move || o1.print(format!("fired at {}", now_ms())));
                thread::current().expect("a thread").suspend().expect("it suspends itself");
                o.print(format!("owner resumed at {}", now_ms()));
                event::pull(None, "never");
            });
            event::pull(None, "resume");
            owner.resume().expect("the owner is suspended");
            event::pull(None, "never");
        });
        k.run_until_idle();
        assert_eq!(k.step_for(cothread::Budget::Resumes(3)).resumes, 0);
        k.advance(ms(5));
        assert_eq!(k.uptime(), ms(5));
        assert!(out.lines().is_empty(), "{:?}", out.lines());

        k.push_signal(Signal::new("resume"));
        k.run_until_idle();
        k.advance(ms(5));
        assert_eq!(out.lines(), ["owner resumed at 5", "fired at 5"]);
    });
}

/// The firings skipped during a suspension do not count against `times`.
#[test]
fn skipped_firings_do_not_count_against_times() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let owner = thread::create(move || {
                let o2 = o1.clone();
                let id = event::timer(ms(100), 3, move || o2.print(format!("tick {}", now_ms())));
                event::pull(None, "check");
                o1.print(format!("cancel after its firings: {}", event::cancel(id)));
            });
            os::sleep(ms(150));
            owner.suspend().unwrap();
            os::sleep(ms(100));
            owner.resume().unwrap();
            os::sleep(ms(750));
            event::push(Signal::new("check"));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["tick 100", "tick 300", "tick 400", "cancel after its firings: false"]
    );
}

/// `cancel` reaches only the caller's own timers.
#[test]
fn cancel_reaches_only_the_callers_own_timers() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let theirs: Rc<Cell<Option<event::TimerId>>> = Rc::default();
            let (o1, slot) = (o.clone(), theirs.clone());
            let owner = thread::create(move || {
                let o2 = o1.clone();
                let id = event::timer(ms(100), Times::Forever, move || o2.print(now_ms()));
                slot.set(Some(id));
                event::pull(None, "stop");
                o1.print(format!("owner cancels: {}", event::cancel(id)));
                event::pull(None, "never");
            });
            o.print(format!("main cancels: {}", event::cancel(theirs.get().unwrap())));
            os::sleep(ms(250));
            event::push(Signal::new("stop"));
            os::sleep(secs(1));
            owner.kill();
        })
        .unwrap();
    assert_eq!(out.lines(), ["main cancels: false", "100", "200", "owner cancels: true"]);
}

/// A timer may cancel itself from its own callback; it never fires again.
#[test]
fn a_timer_may_cancel_itself_from_its_callback() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let me: Rc<Cell<Option<event::TimerId>>> = Rc::default();
            let slot = me.clone();
            let mut calls = 0;
            let id = event::timer(ms(100), Times::Forever, move || {
                calls += 1;
                if calls == 2 {
                    o.print(format!("cancelled myself: {}", event::cancel(slot.get().unwrap())));
                }
                o.print(format!("tick {}", now_ms()));
            });
            me.set(Some(id));
            os::sleep(secs(1));
        })
        .unwrap();
    assert_eq!(out.lines(), ["tick 100", "cancelled myself: true", "tick 200"]);
}

/// A panicking timer is reported as `"[timer] <message>"` and cancelled; the
/// kernel, its owner and the other timers go on.
#[test]
fn a_panicking_timer_is_reported_and_cancelled_and_the_kernel_goes_on() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let r = out.clone();
    k.on_error(move |msg| r.print(format!("error: {msg}")));
    let result = k.run(move || {
        let o1 = o.clone();
        let mut calls = 0;
        let bad = event::timer(ms(100), Times::Forever, move || {
            calls += 1;
            o1.print(format!("bad {}", now_ms()));
            if calls == 2 {
                panic!("timer broke at {}ms", now_ms());
            }
        });
        let o2 = o.clone();
        let good =
            event::timer(ms(100), Times::Forever, move || o2.print(format!("good {}", now_ms())));
        os::sleep(ms(450));
        o.print(format!("main at {}ms", now_ms()));
        o.print(format!("cancel bad: {}", event::cancel(bad)));
        o.print(format!("cancel good: {}", event::cancel(good)));
        "program goes on"
    });
    assert_eq!(result, Ok("program goes on"));
    assert_eq!(
        out.lines(),
        [
            "bad 100",
            "good 100",
            "bad 200",
            "error: [timer] timer broke at 200ms",
            "good 200",
            "good 300",
            "good 400",
            "main at 450ms",
            "cancel bad: false",
            "cancel good: true"
        ]
    );
}

/// Many one-shot kernel timers with scattered deadlines each fire once, in
/// deadline order, at their deadline (each firing used to scan the owner's
/// list of timers: 100 000 took seconds, defect r11).
#[test]
fn a_hundred_thousand_one_shot_kernel_timers_each_fire_once_in_deadline_order() {
    const N: u64 = 100_000;
    let fired = Rc::new(RefCell::new(Vec::with_capacity(N as usize)));
    let mut k = kernel();
    // Timer i falls due at 1 + (i * 7919) % N ms: 7919 is prime to N, so each
    // millisecond from 1 to N has one timer, and registration order is not
    // deadline order.
    let due = |i: u64| ms(1 + i * 7919 % N);
    for i in 0..N {
        let fired = fired.clone();
        k.timer(due(i), 1, move || fired.borrow_mut().push((i, os::uptime())));
    }
    k.advance(ms(N + 1000));
    let fired = fired.take();
    let mut expected: Vec<(u64, Duration)> = (0..N).map(|i| (i, due(i))).collect();
    expected.sort_unstable_by_key(|&(_, at)| at);
    assert_eq!(fired.len(), expected.len(), "each fires once");
    assert!(fired == expected, "in deadline order, each at its deadline");
    let late = Rc::new(Cell::new(Duration::ZERO));
    let l = late.clone();
    k.timer(ms(1), 1, move || l.set(os::uptime()));
    k.advance(ms(10));
    assert_eq!(late.get(), ms(N + 1001), "the owner's list is whole after all were removed");
}

/// A zero interval is fine for a timer that fires once: it fires in the next
/// round, without the clock moving.
#[test]
fn a_zero_interval_timer_that_fires_once_fires_in_the_next_round() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            event::timer(Duration::ZERO, 1, move || o1.print(format!("fired at {}ms", now_ms())));
            o.print("registered");
            os::sleep(Duration::ZERO);
            o.print(format!("after a yield at {}ms", now_ms()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["registered", "fired at 0ms", "after a yield at 0ms"]);
}

/// Inside a program the panic of a zero-interval repeating timer ends the
/// program like any panic, with the documented message.
#[test]
fn a_zero_interval_repeating_timer_in_a_program_panics_with_the_documented_message() {
    let reports = Out::new();
    let r = reports.clone();
    let mut k = kernel();
    k.on_error(move |msg| r.print(msg));
    let forever = k.run(|| {
        event::timer(Duration::ZERO, Times::Forever, || {});
    });
    let twice = k.run(|| {
        event::timer(Duration::ZERO, 2, || {});
    });
    assert_eq!(forever, Err(Error::Panicked(ZERO_INTERVAL.to_string())));
    assert_eq!(twice, Err(Error::Panicked(ZERO_INTERVAL.to_string())));
    assert_eq!(
        reports.lines(),
        [format!("[program] {ZERO_INTERVAL}"), format!("[program] {ZERO_INTERVAL}")]
    );
}

#[test]
#[should_panic(expected = "cothread: event::timer with a zero interval must not repeat")]
fn a_zero_interval_forever_timer_panics() {
    kernel().timer(Duration::ZERO, Times::Forever, || {});
}

#[test]
#[should_panic(expected = "cothread: event::timer with a zero interval must not repeat")]
fn a_zero_interval_timer_that_fires_twice_panics() {
    kernel().timer(Duration::ZERO, 2, || {});
}

#[test]
#[should_panic(expected = "`event::timer` called outside a kernel")]
fn event_timer_outside_a_kernel_panics() {
    event::timer(secs(1), 1, || {});
}

// ---------------------------------------------------------------------------
// Pulls and filters
// ---------------------------------------------------------------------------

/// cothread: a `&str` is an exact name ("key" does not accept "key_down");
/// `Filter::pattern` is OpenOS's Lua pattern, matched anywhere in the name.
#[test]
fn a_str_filter_is_an_exact_name_and_filter_pattern_is_a_lua_pattern() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let pull_after = |pushed: &[Signal], filter: Filter| {
                for s in pushed {
                    event::push(s.clone());
                }
                let got = event::pull(secs(1), filter);
                o.print(format!("{} at {}ms", show(got), now_ms()));
            };
            pull_after(&[Signal::new("key_down").with(1)], "key".into());
            pull_after(&[Signal::new("key_down").with(2)], Filter::pattern("key"));
            pull_after(
                &[Signal::new("hotkey_down").with(3), Signal::new("key_up").with(4)],
                Filter::pattern("^key"),
            );
            pull_after(&[Signal::new("key_down").with(5)], "key_down".into());
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["none at 1000ms", "key_down 2 at 1000ms", "key_up 4 at 1000ms", "key_down 5 at 1000ms"]
    );
}

/// OpenOS patterns, with their gotcha: `-` is a lazy repetition, so a name
/// with a `-` needs `%-`. A malformed pattern is an `Err` with Lua's message.
#[test]
fn patterns_follow_lua_and_a_malformed_one_is_an_error() {
    let matches = |p: &str, name: &str| Filter::pattern(p).matches(&Signal::new(name));
    assert!(matches("key%-down", "key-down"));
    assert!(!matches("key%-down", "keydown"));
    assert!(matches("key-down", "keydown")); // "y-": zero or more 'y', lazily
    assert!(!matches("key-down", "key-down"));
    assert!(Filter::from("key-down").matches(&Signal::new("key-down")));
    assert!(matches("^key_%a+$", "key_down"));
    assert!(!matches("^key_%a+$", "key_down2"));
    assert!(matches("down$", "key_down"));
    assert!(!matches("^down", "key_down"));
    assert!(matches("[tm]ouch", "touch"));
    assert!(matches("_%d+$", "slot_42"));
    assert_eq!(Filter::try_pattern("[a").err().as_deref(), Some("malformed pattern (missing ']')"));
    assert_eq!(
        Filter::try_pattern("key%").err().as_deref(),
        Some("malformed pattern (ends with '%')")
    );
}

#[test]
#[should_panic(expected = "cothread: bad pattern \"[a\" for Filter::pattern")]
fn filter_pattern_panics_on_a_malformed_pattern() {
    Filter::pattern("[a");
}

/// Defect r09: one 24 KB pattern took seconds to test against each signal. A
/// pattern longer than `MAX_PATTERN_LEN` bytes is refused, by its length.
#[test]
fn a_pattern_longer_than_the_cap_is_refused_with_its_length() {
    let set = format!("[{}%w_]", "\u{1}".repeat(3000));
    let reproducer = format!("{}\u{2}", format!("{set}*").repeat(8));
    assert_eq!(
        Filter::try_pattern(&reproducer).err(),
        Some(format!("pattern too long ({} bytes; the limit is 256)", reproducer.len()))
    );
    assert_eq!(MAX_PATTERN_LEN, 256);
    let at_cap = format!("^{}$", "%w".repeat((MAX_PATTERN_LEN - 2) / 2));
    assert_eq!(at_cap.len(), MAX_PATTERN_LEN);
    assert!(Filter::try_pattern(&at_cap).is_ok());
    assert!(Filter::pattern(&at_cap).matches(&Signal::new("k".repeat(127).as_str())));
    let over = format!("{at_cap}x");
    assert_eq!(
        Filter::try_pattern(&over).err().as_deref(),
        Some("pattern too long (257 bytes; the limit is 256)")
    );
    // The length is checked first, whatever else is wrong with the pattern.
    assert_eq!(
        Filter::try_pattern(format!("[{}", "a".repeat(300))).err().as_deref(),
        Some("pattern too long (301 bytes; the limit is 256)")
    );
}

#[test]
#[should_panic(expected = "for Filter::pattern: pattern too long (257 bytes; the limit is 256)")]
fn filter_pattern_panics_on_a_pattern_longer_than_the_cap() {
    Filter::pattern("a".repeat(MAX_PATTERN_LEN + 1));
}

/// Matching that would take more than `MAX_PATTERN_STEPS` steps is "no match",
/// even where Lua, given the time, would find one.
#[test]
fn a_pattern_that_backtracks_past_the_step_bound_does_not_match() {
    let long = Signal::new("a".repeat(256).as_str());
    assert!(!Filter::pattern(format!("{}b", "a*".repeat(127))).matches(&long));
    let sets = format!("{}\u{2}", format!("[{}%w_]*", "\u{1}".repeat(25)).repeat(7));
    assert!(!Filter::pattern(&sets).matches(&long));
    // Lua finds this after about 2^20 tries; 2^4 is no trouble.
    let exponential = |n: usize| format!("^{}{}$", "a?".repeat(n), "a".repeat(n));
    assert!(!Filter::pattern(exponential(20)).matches(&Signal::new("a".repeat(20).as_str())));
    assert!(Filter::pattern(exponential(4)).matches(&Signal::new("aaaa")));
    const { assert!(MAX_PATTERN_STEPS < 1 << 20) };
}

/// `.arg(i, v)` requires argument `i` to equal `v` (the extra arguments of
/// OpenOS's `event.pull(name, ...)`); chained, every one must hold; `Nil`
/// accepts a missing argument.
#[test]
fn argument_filters_test_each_position_they_name() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            for (addr, port) in [("b", 21), ("b", 80), ("a", 80)] {
                event::push(Signal::new("modem_message").with(addr).with(port));
            }
            let got = event::pull(secs(1), Filter::name("modem_message").arg(1, 80).arg(0, "a"));
            o.print(show(got));
            event::push(Signal::new("modem_message").with("b").with(21));
            event::push(Signal::new("modem_message").with("b").with(80));
            o.print(show(event::pull(secs(1), Filter::name("modem_message").arg(1, 80))));
            event::push(Signal::new("x").with(1).with(2));
            event::push(Signal::new("x").with(1));
            o.print(show(event::pull(secs(1), Filter::name("x").arg(1, Value::Nil))));
            event::push(Signal::new("key_up").with(30));
            event::push(Signal::new("key_down").with(31));
            event::push(Signal::new("key_down").with(30));
            o.print(show(event::pull(secs(1), Filter::pattern("^key_d").arg(0, 30))));
        })
        .unwrap();
    assert_eq!(out.lines(), ["modem_message a 80", "modem_message b 80", "x 1", "key_down 30"]);
}

/// Numbers in argument filters compare as in Lua: `1 == 1.0`, `1 ~= 1.5`,
/// `1 ~= "1"`.
#[test]
fn numbers_in_argument_filters_compare_as_in_lua() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let pull_after = |pushed: Value, wanted: Value| {
                event::push(Signal::new("n").with(pushed.clone()));
                let got = event::pull(Duration::ZERO, Filter::name("n").arg(0, wanted.clone()));
                o.print(format!("{pushed:?} vs {wanted:?}: {}", show(got)));
            };
            pull_after(Value::Float(1.0), Value::Int(1));
            pull_after(Value::Int(2), Value::Float(2.0));
            pull_after(Value::Float(1.5), Value::Int(1));
            pull_after(Value::from("1"), Value::Int(1));
            pull_after(Value::Bool(false), Value::Nil);
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "Float(1.0) vs Int(1): n 1.0",
            "Int(2) vs Float(2.0): n 2",
            "Float(1.5) vs Int(1): none",
            "Str(\"1\") vs Int(1): none",
            "Bool(false) vs Nil: none"
        ]
    );
}

/// A predicate sees the whole signal: `Filter::new`, a bare closure, and
/// `event::pull_filtered` (OpenOS's `event.pullFiltered`).
#[test]
fn closure_filters_and_pull_filtered_see_the_whole_signal() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            event::push(Signal::new("a").with(1));
            event::push(Signal::new("b").with(1).with(2));
            o.print(show(event::pull(None, Filter::new(|s: &Signal| s.args().len() > 1))));
            event::push(Signal::new("c").with(5));
            event::push(Signal::new("d").with(50));
            o.print(show(event::pull(None, |s: &Signal| s.arg(0).as_int() > Some(10))));
            event::push(Signal::new("e"));
            event::push(Signal::new("f").with("yes"));
            o.print(show(event::pull_filtered(secs(1), |s: &Signal| {
                s.arg(0).as_str() == Some("yes")
            })));
            o.print(show(event::pull_filtered(secs(1), |_: &Signal| false)));
            o.print(format!("at {}ms", now_ms()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["b 1 2", "d 50", "f yes", "none", "at 1000ms"]);
}

/// `event::pull_multiple` (and a `&[&str]` filter) accepts any of its exact names.
#[test]
fn pull_multiple_accepts_any_of_its_exact_names() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            for name in ["scroll", "touch_x", "drag", "touch"] {
                event::push(Signal::new(name));
            }
            o.print(show(event::pull_multiple(secs(1), &["touch", "drag"])));
            o.print(show(event::pull_multiple(secs(1), &["touch", "drag"])));
            event::push(Signal::new("drop"));
            event::push(Signal::new("walk"));
            o.print(show(event::pull(secs(1), &["walk", "drop"])));
            o.print(show(event::pull_multiple(secs(1), &["touch".to_string()])));
        })
        .unwrap();
    assert_eq!(out.lines(), ["drag", "touch", "drop", "none"]);
}

/// Pull timeouts on the virtual clock: `None` exactly at the deadline; a
/// signal before it returns at once, and the old deadline wakes nothing later;
/// a zero timeout polls the signals queued before it.
#[test]
fn pull_timeouts_return_none_at_the_deadline_on_the_virtual_clock() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let line = |s: Option<Signal>| o.print(format!("{} at {}ms", show(s), now_ms()));
            line(event::pull(ms(1500), "never"));
            thread::create(|| {
                os::sleep(ms(500));
                event::push(Signal::new("x").with(1));
            });
            line(event::pull(secs(5), "x"));
            line(event::pull(secs(1), "x"));
            event::push(Signal::new("x").with(2));
            line(event::pull(Duration::ZERO, "x"));
            line(event::pull(Duration::ZERO, "x"));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["none at 1500ms", "x 1 at 2000ms", "none at 3000ms", "x 2 at 3000ms", "none at 3000ms"]
    );
}

/// `thread::yield_now()` is Lua's `coroutine.yield()` in a thread: the next
/// signal, whatever its name.
#[test]
fn yield_now_returns_the_next_signal_whatever_its_name() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            thread::create(move || {
                for _ in 0..3 {
                    o1.print(show(thread::yield_now()));
                }
            });
            event::push(Signal::new("a").with(1));
            os::sleep(Duration::ZERO);
            o.print("main");
            event::push(Signal::new("b"));
            event::push(Signal::new("c").with(2.5));
        })
        .unwrap();
    assert_eq!(out.lines(), ["a 1", "main", "b", "c 2.5"]);
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

/// Every waiting thread observes every signal, in push order, whatever filter
/// accepts it (host pushes first, then the program's).
#[test]
fn every_waiting_thread_observes_every_signal_in_push_order() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.push_signal(Signal::new("s").with(1));
    k.push_signal(Signal::new("t").with(2));
    k.run(move || {
        let filters = [
            ("any", Filter::any()),
            ("pattern", Filter::pattern(".")),
            ("predicate", Filter::new(|_: &Signal| true)),
        ];
        for (label, filter) in filters {
            let o = o.clone();
            thread::create(move || {
                for _ in 0..5 {
                    o.print(format!("{label}: {}", show(event::pull(None, filter.clone()))));
                }
            });
        }
        let o1 = o.clone();
        thread::create(move || {
            for _ in 0..5 {
                o1.print(format!("yield: {}", show(thread::yield_now())));
            }
        });
        event::push(Signal::new("u").with(3));
        event::push(Signal::new("s").with(4));
        event::push(Signal::new("v").with(5));
    })
    .unwrap();
    let expected: Vec<String> = ["s 1", "t 2", "u 3", "s 4", "v 5"]
        .iter()
        .flat_map(|s| ["any", "pattern", "predicate", "yield"].map(|l| format!("{l}: {s}")))
        .collect();
    assert_eq!(out.lines(), expected);
}

/// Signals are not buffered per thread: one that is sleeping (or waiting for
/// another name) when a signal is delivered never receives it.
#[test]
fn a_thread_not_waiting_for_a_signal_when_it_is_delivered_misses_it() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            thread::create(move || {
                os::sleep(secs(1));
                o1.print(format!("sleeper: {}", show(event::pull(secs(1), "x"))));
            });
            let o2 = o.clone();
            thread::create(move || {
                o2.print(format!("other name: {}", show(event::pull(secs(1), "y"))));
                o2.print(format!("then: {}", show(event::pull(secs(1), "x"))));
            });
            event::push(Signal::new("x").with(1));
        })
        .unwrap();
    // Both last pulls time out at 2000ms; the sleeper began waiting first.
    assert_eq!(out.lines(), ["other name: none", "sleeper: none", "then: none"]);
}

/// Listeners and timers may push signals; those are delivered in the next
/// round, like any signal pushed during a round.
#[test]
fn listeners_and_timers_push_signals_that_are_delivered_in_the_next_round() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            event::listen("ping", |s: &Signal| {
                event::push(Signal::new("pong").with(s.arg(0).clone()))
            });
            event::timer(ms(100), 1, || event::push(Signal::new("tick").with(now_ms() as u64)));
            let o1 = o.clone();
            let receiver = thread::create(move || {
                o1.print(format!("got {}", show(event::pull(None, "pong"))));
                let tick = event::pull(None, "tick");
                o1.print(format!("got {} at {}ms", show(tick), now_ms()));
            });
            event::push(Signal::new("ping").with(1));
            os::sleep(Duration::ZERO);
            o.print("yielded once");
            os::sleep(Duration::ZERO);
            o.print("yielded twice");
            receiver.join(None).unwrap();
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["yielded once", "got pong 1", "yielded twice", "got tick 100 at 100ms"]
    );
}

/// cothread: a suspended thread (and the threads it owns) misses every signal
/// pushed while it is suspended; nothing is replayed after `resume` (OpenOS
/// would deliver the first one). Waiters indexed by name and scanned ones alike.
#[test]
fn a_suspended_thread_misses_every_signal_pushed_while_it_is_suspended() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let puller = |label: &'static str, filter: Filter, o: Out| {
                move || -> () {
                    loop {
                        o.print(format!("{label} {}", show(event::pull(None, filter.clone()))));
                    }
                }
            };
            let (o1, o2) = (o.clone(), o.clone());
            let exact = thread::create(move || {
                thread::create(puller("child", "x".into(), o1.clone()));
                puller("exact", "x".into(), o1)();
            });
            let pattern = thread::create(puller("pattern", Filter::pattern("^x$"), o2));
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            exact.suspend().unwrap();
            pattern.suspend().unwrap();
            event::push(Signal::new("x").with(2));
            event::push(Signal::new("x").with(3));
            os::sleep(Duration::ZERO);
            exact.resume().unwrap();
            pattern.resume().unwrap();
            os::sleep(Duration::ZERO);
            o.print("resumed");
            event::push(Signal::new("x").with(4));
            os::sleep(Duration::ZERO);
            exact.kill();
            pattern.kill();
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "child x 1",
            "exact x 1",
            "pattern x 1",
            "resumed",
            "child x 4",
            "exact x 4",
            "pattern x 4"
        ]
    );
}

/// A pull whose timeout passes while its thread is suspended returns `None`
/// once the thread is resumed (and runs); one whose timeout has not passed
/// keeps waiting and receives a later signal.
#[test]
fn a_pull_timeout_that_passes_during_a_suspension_ends_the_pull_at_the_resume() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let expired = thread::create(move || {
                let s = event::pull(secs(1), "x");
                o1.print(format!("expired: {} at {}ms", show(s), now_ms()));
            });
            expired.suspend().unwrap();
            os::sleep(secs(2));
            o.print(format!("resume at {}ms", now_ms()));
            expired.resume().unwrap();
            os::sleep(Duration::ZERO);
            let o2 = o.clone();
            let pending = thread::create(move || {
                let s = event::pull(secs(5), "x");
                o2.print(format!("pending: {} at {}ms", show(s), now_ms()));
            });
            pending.suspend().unwrap();
            os::sleep(secs(1));
            pending.resume().unwrap();
            os::sleep(secs(1));
            event::push(Signal::new("x").with(1));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        ["resume at 2000ms", "expired: none at 2000ms", "pending: x 1 at 4000ms"]
    );
}

/// A thread suspended by an earlier receiver of the same signal misses it too.
#[test]
fn a_thread_suspended_while_a_signal_is_delivered_misses_it() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let b_handle: Rc<RefCell<Option<Thread>>> = Rc::default();
            let (o1, slot) = (o.clone(), b_handle.clone());
            let a = thread::create(move || {
                o1.print(format!("A got {}", show(event::pull(None, "x"))));
                slot.borrow().as_ref().unwrap().suspend().unwrap();
                o1.print("A suspended B");
                event::pull(None, "never");
            });
            let o2 = o.clone();
            let b = thread::create(move || -> () {
                loop {
                    o2.print(format!("B got {}", show(event::pull(None, "x"))));
                }
            });
            *b_handle.borrow_mut() = Some(b.thread());
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            o.print(format!("B {}", b.status()));
            b.resume().unwrap();
            os::sleep(Duration::ZERO);
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
            a.kill();
            b.kill();
        })
        .unwrap();
    assert_eq!(out.lines(), ["A got x 1", "A suspended B", "B suspended", "B got x 2"]);
}

/// A signal reaches the threads waiting when its delivery begins: one that
/// starts waiting during it (a new thread, or a receiver that pulls again)
/// does not receive it, and the next signal wakes everyone in the order they
/// began waiting.
#[test]
fn a_wait_that_begins_during_a_delivery_does_not_receive_that_signal() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let a = thread::create(move || -> () {
                let s = event::pull(None, "x");
                o1.print(format!("A {}", show(s)));
                let o3 = o1.clone();
                thread::create(move || -> () {
                    loop {
                        o3.print(format!("C {}", show(event::pull(None, "x"))));
                    }
                });
                loop {
                    o1.print(format!("A {}", show(event::pull(None, "x"))));
                }
            });
            let o2 = o.clone();
            let b = thread::create(move || -> () {
                loop {
                    o2.print(format!("B {}", show(event::pull(None, "x"))));
                }
            });
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            o.print("--");
            event::push(Signal::new("x").with(2));
            os::sleep(Duration::ZERO);
            a.kill();
            b.kill();
        })
        .unwrap();
    assert_eq!(out.lines(), ["A x 1", "B x 1", "--", "C x 2", "A x 2", "B x 2"]);
}

/// The waiter index: a signal wakes only the threads that wait for its name
/// (one resume, not two hundred), and the others keep waiting for theirs.
#[test]
fn a_signal_wakes_only_its_waiters_among_many_waiting_for_other_names() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let mut threads = Vec::new();
        for i in 0..200 {
            let o = o.clone();
            threads.push(thread::create(move || {
                o.print(format!("{} got name{i}", show(event::pull(None, format!("name{i}")))));
            }));
        }
        for i in 0..100 {
            let o = o.clone();
            threads.push(thread::create(move || {
                let s = event::pull(None, Filter::name("slot").arg(0, i));
                o.print(format!("{} got slot {i}", show(s)));
            }));
        }
        for name in ["a_signal_name_longer_than_twenty_two_bytes", "ключ_нажат"] {
            let o = o.clone();
            threads.push(thread::create(move || {
                o.print(format!("got {}", show(event::pull(None, name))))
            }));
        }
        event::pull(None, "end");
        for t in threads {
            t.kill();
        }
    });
    k.step();
    k.push_signal(Signal::new("name7"));
    let report = k.step();
    assert_eq!((report.signals, report.resumes), (1, 1));
    k.push_signal(Signal::new("slot").with(42));
    let report = k.step();
    assert_eq!(report.resumes, 1);
    k.push_signal(Signal::new("name199"));
    k.push_signal(Signal::new("slot").with(43));
    k.push_signal(Signal::new("slot").with(42));
    k.push_signal(Signal::new("name7"));
    let report = k.step();
    assert_eq!(report.resumes, 2);
    k.push_signal(Signal::new("a_signal_name_longer_than_twenty_two_bytes!"));
    k.push_signal(Signal::new("ключ_нажат"));
    k.push_signal(Signal::new("a_signal_name_longer_than_twenty_two_bytes"));
    let report = k.step();
    assert_eq!(report.resumes, 2);
    k.push_signal(Signal::new("end"));
    while k.step().alive {}
    assert_eq!(program.wait(), Ok(()));
    assert_eq!(
        out.lines(),
        [
            "name7 got name7",
            "slot 42 got slot 42",
            "name199 got name199",
            "slot 43 got slot 43",
            "got ключ_нажат",
            "got a_signal_name_longer_than_twenty_two_bytes"
        ]
    );
}

/// Starts one thread per filter, each printing `<label>: <signal>` when its
/// pull returns, in the order given (so they begin waiting in that order).
fn start_waiters(out: &Out, filters: Vec<(&'static str, Filter)>) -> Vec<Thread> {
    let mut threads = Vec::new();
    for (label, filter) in filters {
        let o = out.clone();
        let t = thread::create(move || {
            o.print(format!("{label}: {}", show(event::pull(None, filter))))
        });
        threads.push(t.thread());
    }
    threads
}

/// The index changes nothing but the cost: waiters indexed by name and waiters
/// scanned for every signal (any, patterns, several names) are woken in the
/// order they began waiting, as a full scan would.
#[test]
fn wakeups_across_indexed_and_scanned_waiters_follow_the_order_they_began_waiting() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let threads = start_waiters(
                &o,
                vec![
                    ("exact", Filter::from("x")),
                    ("any", Filter::any()),
                    ("other name", Filter::from("y")),
                    ("pattern", Filter::pattern("^x$")),
                    ("exact with arg", Filter::name("x").arg(0, 1)),
                    ("other pattern", Filter::pattern("^y")),
                    ("wrong arg", Filter::name("x").arg(0, 2)),
                    ("several names", Filter::names(&["y", "x"])),
                    ("exact again", Filter::from("x")),
                ],
            );
            let o1 = o.clone();
            thread::create(move || o1.print(format!("yield: {}", show(thread::yield_now()))));
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            o.print("--");
            event::push(Signal::new("y"));
            os::sleep(Duration::ZERO);
            threads.iter().for_each(Thread::kill);
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "exact: x 1",
            "any: x 1",
            "pattern: x 1",
            "exact with arg: x 1",
            "several names: x 1",
            "exact again: x 1",
            "yield: x 1",
            "--",
            "other name: y",
            "other pattern: y"
        ]
    );
}

/// The same with predicate waiters among them (their filters run outside the
/// kernel's borrow, apart from the others): still the order they began waiting.
#[test]
fn predicate_waiters_are_woken_in_the_order_they_began_waiting_too() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let threads = start_waiters(
                &o,
                vec![
                    ("predicate", Filter::new(|s: &Signal| s.name() == "x")),
                    ("exact", Filter::from("x")),
                    ("false predicate", Filter::new(|_: &Signal| false)),
                    ("any", Filter::any()),
                    ("predicate on arg", Filter::new(|s: &Signal| s.arg(0) == &Value::Int(1))),
                    ("exact with arg", Filter::name("x").arg(0, 1)),
                    ("pattern", Filter::pattern("x")),
                ],
            );
            event::push(Signal::new("x").with(1));
            os::sleep(Duration::ZERO);
            threads.iter().for_each(Thread::kill);
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "predicate: x 1",
            "exact: x 1",
            "any: x 1",
            "predicate on arg: x 1",
            "exact with arg: x 1",
            "pattern: x 1"
        ]
    );
}

/// A predicate waiter is asked about every signal delivered while it waits,
/// as a full scan would ask it.
#[test]
fn a_predicate_waiter_is_asked_about_every_signal() {
    let seen = Out::new();
    let s = seen.clone();
    kernel()
        .run(move || {
            let waiter = thread::create(move || {
                event::pull(None, move |sig: &Signal| {
                    s.print(sig.name());
                    sig.name() == "stop"
                })
            });
            for name in ["a", "b", "c", "stop", "after"] {
                event::push(Signal::new(name));
            }
            waiter.wait().unwrap()
        })
        .unwrap();
    assert_eq!(seen.lines(), ["a", "b", "c", "stop"]);
}

/// A predicate that panics counts as "no match", is reported as
/// `"[filter] <message>"`, and its thread keeps waiting.
#[test]
fn a_panicking_predicate_is_no_match_and_is_reported() {
    let reports = Out::new();
    let r = reports.clone();
    let mut k = kernel();
    k.on_error(move |msg| r.print(msg));
    let got = k
        .run(|| {
            let waiter = thread::create(|| {
                let s = event::pull(None, |s: &Signal| match s.name() {
                    "bad" => panic!("cannot judge {}", s.arg(0)),
                    name => name == "good",
                });
                show(s)
            });
            event::push(Signal::new("bad").with(1));
            event::push(Signal::new("good").with(2));
            waiter.wait()
        })
        .unwrap();
    assert_eq!(got, Ok("good 2".to_string()));
    assert_eq!(reports.lines(), ["[filter] cannot judge 1"]);
}

/// A wait that ended (a timeout, a kill) leaves nothing behind that a later
/// signal could wake, not even a newer thread in the same slot.
#[test]
fn a_wait_that_ended_is_never_woken_later() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let timed_out = thread::create(move || {
                let first = event::pull(secs(1), "x");
                o1.print(format!("first pull: {} at {}ms", show(first), now_ms()));
                o1.print(format!("second pull: {}", show(event::pull(None, "y"))));
            });
            let o2 = o.clone();
            let killed = thread::create(move || {
                event::pull(None, "z");
                o2.print("killed thread woke");
            });
            killed.kill();
            let o3 = o.clone();
            let newer = thread::create(move || {
                o3.print(format!("newer thread: {}", show(event::pull(None, "w"))));
            });
            os::sleep(secs(2));
            event::push(Signal::new("x").with(1));
            event::push(Signal::new("z").with(1));
            os::sleep(Duration::ZERO);
            o.print(format!("after x and z: {} {}", timed_out.status(), newer.status()));
            event::push(Signal::new("y").with(2));
            event::push(Signal::new("w").with(3));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "first pull: none at 1000ms",
            "after x and z: running running",
            "second pull: y 2",
            "newer thread: w 3"
        ]
    );
}

// ---------------------------------------------------------------------------
// The error reporter
// ---------------------------------------------------------------------------

/// `Kernel::on_error` from the host receives every kind of panic with its
/// message: thread, listener, pull predicate, timer and program.
#[test]
fn on_error_receives_thread_listener_filter_timer_and_program_panics() {
    let reports = Out::new();
    let r = reports.clone();
    let mut k = kernel();
    k.on_error(move |msg| r.print(msg));
    let result = k.run(|| -> () {
        event::listen("x", |_| -> () { panic!("listener boom") });
        event::timer(ms(100), 1, || -> () { panic!("timer boom") });
        thread::create(|| -> () { panic!("thread boom") });
        let judged = thread::create(|| {
            event::pull(
                None,
                |s: &Signal| if s.name() == "y" { panic!("filter boom") } else { false },
            );
        });
        event::push(Signal::new("x"));
        event::push(Signal::new("y"));
        os::sleep(ms(200));
        judged.kill();
        panic!("program boom");
    });
    assert_eq!(result, Err(Error::Panicked("program boom".to_string())));
    assert_eq!(
        reports.lines(),
        [
            "[thread] thread boom",
            "[listener] listener boom",
            "[filter] filter boom",
            "[timer] timer boom",
            "[program] program boom"
        ]
    );
}

/// `event::on_error` replaces the kernel's one reporter, for every thread and
/// later programs, until the host or a program replaces it again.
#[test]
fn event_on_error_replaces_the_reporter() {
    let (host, program, later) = (Out::new(), Out::new(), Out::new());
    let mut k = kernel();
    let h = host.clone();
    k.on_error(move |msg| h.print(msg));
    let p = program.clone();
    k.run(move || {
        thread::create(|| -> () { panic!("first") });
        event::on_error(move |msg| p.print(msg));
        thread::create(|| -> () { panic!("second") });
    })
    .unwrap();
    k.run(|| {
        thread::create(|| -> () { panic!("third") });
    })
    .unwrap();
    let l = later.clone();
    k.on_error(move |msg| l.print(msg));
    k.run(|| {
        thread::create(|| -> () { panic!("fourth") });
    })
    .unwrap();
    assert_eq!(host.lines(), ["[thread] first"]);
    assert_eq!(program.lines(), ["[thread] second", "[thread] third"]);
    assert_eq!(later.lines(), ["[thread] fourth"]);
}

// ---------------------------------------------------------------------------
// Signals the kernel pushes
// ---------------------------------------------------------------------------

/// `Kernel::interrupt` (OpenOS's `^C`) pushes `"interrupted"` with the uptime
/// in seconds as a float.
#[test]
fn interrupt_pushes_interrupted_with_the_uptime_as_a_float() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        for _ in 0..2 {
            let s = event::pull(None, "interrupted").unwrap();
            o.print(format!("{s} {:?}", s.arg(0)));
        }
    });
    k.advance(ms(1500));
    k.interrupt();
    k.step();
    k.advance(ms(1500));
    k.interrupt();
    k.step();
    assert_eq!(program.status(), Status::Dead);
    assert_eq!(out.lines(), ["interrupted 1.5 Float(1.5)", "interrupted 3.0 Float(3.0)"]);
}

/// A thread that ends, however it ends, pushes `"thread_exit"` with its id as
/// an `Int`; a program does not.
#[test]
fn thread_exit_is_pushed_when_a_thread_ends_not_a_program() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.on_error(|_| {});
    k.listen("thread_exit", move |s: &Signal| o.print(format!("{s} {:?}", s.arg(0))));
    let ids = k
        .run(|| {
            let returns = thread::create(|| ());
            let panics = thread::create(|| -> () { panic!("gone") });
            let killed = thread::create(|| {
                event::pull(None, "never");
            });
            killed.kill();
            os::sleep(Duration::ZERO);
            [returns.id(), panics.id(), killed.id()].map(|id| id.as_u64())
        })
        .unwrap();
    k.spawn(|| ());
    k.step();
    let expected: Vec<String> =
        ids.iter().map(|id| format!("thread_exit {id} Int({id})")).collect();
    assert_eq!(out.lines(), expected);
}

/// `"thread_exit"` is built only when something can receive it; every kind of
/// receiver that starts waiting before its turn comes gets it: an exact name,
/// a pattern, any name, a predicate.
#[test]
fn thread_exit_reaches_every_kind_of_filter_that_waits_for_it() {
    let mut k = kernel();
    let got = k
        .run(|| {
            let ended = thread::create(|| ()).id().as_u64() as i64;
            let filters = [
                Filter::name("thread_exit"),
                Filter::pattern("^thread_"),
                Filter::any(),
                Filter::new(|s| s.name() == "thread_exit"),
            ];
            let waiters: Vec<_> = filters
                .into_iter()
                .map(|filter| thread::create(move || event::pull(None, filter)))
                .collect();
            let got: Vec<_> = waiters
                .into_iter()
                .map(|w| w.wait().unwrap().map(|s| (s.name().to_string(), s.arg(0).as_int())))
                .collect();
            (ended, got)
        })
        .unwrap();
    let (ended, got) = got;
    assert_eq!(got, vec![Some(("thread_exit".to_string(), Some(ended))); 4]);
}

/// A timer due past the last exact instant of the clock (`u64::MAX` ns, about
/// 584 years) never fires early: not when the virtual clock is short of it,
/// even when both are beyond that instant.
#[test]
fn a_timer_past_584_years_does_not_fire_early() {
    let mut k = kernel();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    k.timer(Duration::from_secs(20_000_000_000), 1, move || f.set(true));
    k.advance(Duration::from_secs(19_000_000_000));
    k.step(); // a round with the clock past the last exact instant
    k.advance(Duration::from_secs(1));
    assert!(!fired.get(), "fired at {:?}", k.uptime());
}

/// A repeating timer still alive when the virtual clock reaches its end
/// (`Duration::MAX`, where every later instant saturates to that one) fires
/// there and ends, as does one whose owner is suspended then: `advance`
/// returns instead of firing it for ever at one instant.
#[test]
fn a_repeating_timer_ends_at_the_end_of_the_clock() {
    within(secs(60), || {
        let mut k = kernel();
        let fired = Rc::new(Cell::new(0));
        let f = fired.clone();
        let id = k.timer(Duration::MAX / 2, Times::Forever, move || f.set(f.get() + 1));
        // Instants past 584 years fall due only at the very end: once here.
        k.advance(Duration::MAX);
        assert_eq!((k.uptime(), fired.get()), (Duration::MAX, 1));
        assert!(!k.cancel(id), "the timer has ended");

        let ticks = Rc::new(Cell::new(0));
        let t = ticks.clone();
        let program = k.spawn(move || {
            event::timer(secs(1), Times::Forever, move || t.set(t.get() + 1));
            event::pull(None, "never");
        });
        program.thread().suspend().unwrap();
        k.step(); // the skipped firing is held, not re-armed at the same instant
        assert_eq!(ticks.get(), 0);
        program.thread().resume().unwrap();
        k.step();
        k.step();
        assert_eq!(ticks.get(), 1, "fired once when thawed, then ended");
    });
}

/// A killed thread's destructors may register a timer and a listener as its
/// stack unwinds: they die with it as well (their callbacks dropped, never
/// called), and the thread that later takes its place in the kernel's
/// tables is not taken for their owner (the timer would have killed it). So
/// do registrations made for a thread after its end by a callback of its.
#[test]
fn registrations_made_while_a_killed_thread_unwinds_die_with_it() {
    struct RegisterOnDrop {
        drops: Drops,
        calls: Rc<Cell<u32>>,
    }
    impl Drop for RegisterOnDrop {
        fn drop(&mut self) {
            let (guard, calls) = (self.drops.guard(), self.calls.clone());
            event::timer(secs(1), Times::Forever, move || {
                let _ = &guard;
                calls.set(calls.get() + 1);
                if let Some(me) = thread::current() {
                    me.kill();
                }
            });
            let (guard, calls) = (self.drops.guard(), self.calls.clone());
            event::listen("ping", move |_: &Signal| {
                let _ = &guard;
                calls.set(calls.get() + 1);
            });
        }
    }
    /// Ends a thread in `end` (given the registrations' drop counter and
    /// call count); then a new thread, which may take its key, must run its
    /// course untouched, and the registrations must be dropped uncalled.
    fn check(end: impl FnOnce(Drops, Rc<Cell<u32>>) + 'static) {
        let drops = Drops::new();
        let calls = Rc::new(Cell::new(0));
        let (d, c) = (drops.clone(), calls.clone());
        let mut k = kernel();
        let out = k.run(move || {
            end(d, c);
            let victim = thread::create(|| {
                os::sleep(secs(3));
                "victim finished"
            });
            event::push(Signal::new("ping"));
            victim.wait()
        });
        assert_eq!(out, Ok(Ok("victim finished")));
        assert_eq!((calls.get(), drops.count()), (0, 2), "(callbacks called, dropped)");
    }
    check(|drops, calls| {
        let t = thread::create(move || {
            let _r = RegisterOnDrop { drops, calls };
            event::pull(None, "never");
        });
        t.kill();
    });
    // The same registrations made after the thread's end, by a listener
    // that killed its own thread.
    check(|drops, calls| {
        let listener_owner = thread::create(move || {
            event::listen("kill me", move |_: &Signal| {
                thread::current().expect("on its thread's behalf").kill();
                drop(RegisterOnDrop { drops: drops.clone(), calls: calls.clone() });
                false
            });
            event::pull(None, "never");
        });
        event::push(Signal::new("kill me"));
        os::sleep(secs(1));
        assert_eq!(listener_owner.status(), Status::Dead);
    });
}

// ---------------------------------------------------------------------------
// Pushing from the host and from other OS threads
// ---------------------------------------------------------------------------

/// `Kernel::push_signal` between steps: delivered in the next step, in push
/// order; the step reports what it delivered and whom it woke.
#[test]
fn push_signal_from_the_host_is_delivered_in_the_next_step() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let program = k.spawn(move || loop {
        let s = event::pull(None, "key_down").unwrap();
        if s.arg(0).as_str() == Some("q") {
            return "quit";
        }
        o.print(s);
    });
    assert_eq!(k.step().signals, 0);
    k.push_signal(Signal::new("key_down").with("a"));
    k.push_signal(Signal::new("key_up").with("a"));
    k.push_signal(Signal::new("key_down").with("b"));
    assert!(out.lines().is_empty());
    let report = k.step();
    assert_eq!((report.signals, report.resumes, report.alive), (3, 2, true));
    assert_eq!(out.lines(), ["key_down a", "key_down b"]);
    k.push_signal(Signal::new("key_down").with("q"));
    let report = k.step();
    assert!(!report.alive);
    assert_eq!(program.wait(), Ok("quit"));
}

/// A `SignalSender` on another OS thread: its signals arrive in push order.
#[test]
fn a_signal_sender_on_another_os_thread_pushes_in_order() {
    let mut k = kernel();
    let sender = k.signal_sender();
    std::thread::spawn(move || {
        for n in 0..5 {
            sender.push(Signal::new("line").with(n)).unwrap();
        }
    })
    .join()
    .unwrap();
    let got = k
        .run(|| {
            (0..5)
                .map(|_| event::pull(None, "line").unwrap().arg(0).as_int().unwrap())
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(got, [0, 1, 2, 3, 4]);
}

/// A kernel whose program waits for a signal that only another OS thread can
/// push blocks in the OS until the push wakes it (no deadlock is reported while
/// a sender lives); the virtual clock does not move.
#[test]
fn a_signal_sender_wakes_a_kernel_waiting_for_it() {
    let (got, uptime) = within(secs(30), || {
        let mut k = kernel();
        let sender = k.signal_sender();
        let (ready, wait_ready) = mpsc::channel::<()>();
        let feeder = std::thread::spawn(move || {
            wait_ready.recv().unwrap();
            for word in ["hello", "world"] {
                sender.push(Signal::new("line").with(word)).unwrap();
            }
        });
        let got = k
            .run(move || {
                ready.send(()).unwrap();
                [event::pull(None, "line"), event::pull(None, "line")].map(show)
            })
            .unwrap();
        feeder.join().unwrap();
        (got, k.uptime())
    });
    assert_eq!(got, ["line hello", "line world"]);
    assert_eq!(uptime, Duration::ZERO);
}

/// A suspended thread's timer skips its firings for ever; when nothing else
/// can run, `run` reports the deadlock instead of jumping the virtual clock
/// from one skipped firing to the next.
#[test]
fn a_frozen_threads_timer_does_not_hide_a_deadlock() {
    let mut k = kernel();
    let out = k.run(|| {
        let ticker = thread::create(|| {
            event::timer(Duration::from_millis(100), Times::Forever, || {});
            event::pull(None, "never");
        });
        ticker.suspend().unwrap();
        event::pull(None, "nobody pushes this");
    });
    let Err(Error::Deadlock(waiting)) = out else { panic!("expected a deadlock, got {out:?}") };
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    assert_eq!(k.uptime(), Duration::ZERO);
}

/// A pull lets go of its filter, and of the user values in it (a predicate's
/// captures, an argument's shared payload), exactly once however the pull
/// ends: a signal, a timeout, a kill. Filters that own nothing (a short
/// exact name) skip their drop; the others must not.
#[test]
fn a_pull_lets_go_of_its_filter_once_however_it_ends() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Payload(Arc<AtomicUsize>);
    impl Drop for Payload {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let long = "a_signal_name_too_long_to_be_stored_inline";
    let mut k = kernel();
    let drops = Drops::new();
    let payloads = Arc::new(AtomicUsize::new(0));
    let filters: Vec<Box<dyn Fn() -> Filter>> = vec![
        Box::new(|| Filter::name("go")),
        Box::new(move || Filter::name(long)),
        Box::new({
            let drops = drops.clone();
            move || {
                let guard = drops.guard();
                Filter::new(move |s: &Signal| {
                    let _ = &guard;
                    s.name() == "go"
                })
            }
        }),
        Box::new({
            let payloads = payloads.clone();
            move || Filter::name("go").arg(0, Value::shared(Payload(payloads.clone())))
        }),
    ];
    let filters = Rc::new(filters);
    let ends = Rc::new(RefCell::new(Vec::new()));
    let mut stuck = Vec::new();
    for i in 0..filters.len() {
        for how in ["signal", "timeout", "kill"] {
            let (f, e) = (filters.clone(), ends.clone());
            let t = k.spawn(move || {
                let timeout = (how == "timeout").then(|| ms(5));
                let got = event::pull(timeout, f[i]()).is_some();
                e.borrow_mut().push(format!("{i} {how} {got}"));
            });
            k.step();
            match how {
                "kill" => t.kill(),
                // Its argument test matches no signal.
                "signal" if i == 3 => stuck.push(t),
                _ => {}
            }
        }
    }
    k.advance(ms(10));
    k.push_signal(Signal::new("go"));
    k.push_signal(Signal::new(long));
    k.run_until_idle();
    stuck.iter().for_each(|t| t.kill());
    k.run_until_idle();
    let mut ends = ends.borrow().clone();
    ends.sort();
    assert_eq!(
        ends,
        [
            "0 signal true",
            "0 timeout false",
            "1 signal true",
            "1 timeout false",
            "2 signal true",
            "2 timeout false",
            "3 timeout false",
        ]
        .map(String::from)
    );
    // Every filter was built once per pull and is gone: one drop each.
    assert_eq!(drops.count(), 3, "the predicate's captures");
    assert_eq!(payloads.load(Ordering::SeqCst), 3, "the argument's payloads");
    assert!(k.threads().is_empty(), "{:?}", k.threads());
}
