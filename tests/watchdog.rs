//! Seeing and stopping runaway scripts: panic messages that name the green
//! thread, the structured error report, backtraces in the dump, the
//! watchdog and `os::checkpoint`.

use std::cell::RefCell;
use std::panic::Location;
use std::process::Command;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cothread::{event, os, thread, ErrorOrigin, ErrorReport, Kernel, WatchdogReport};

/// Runs this test binary again, for the one test `name`, with
/// `COTHREAD_CHILD` set (the child does its work only then), and returns
/// what it printed on stderr.
fn child_stderr(name: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("COTHREAD_CHILD", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "the child failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn in_child() -> bool {
    std::env::var_os("COTHREAD_CHILD").is_some()
}

/// The child of `a_panic_message_names_the_green_thread`: a host hook
/// installed before the kernel, then a named thread that panics after one
/// wait, and one in a listener of a thread, and one on the host's stack.
#[test]
fn panic_child() {
    if !in_child() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("host hook: {}", info.payload().downcast_ref::<&str>().unwrap_or(&"?"));
        previous(info);
    }));
    let mut kernel = Kernel::builder().virtual_time(true).build();
    kernel.on_error(|_| {});
    kernel
        .run(|| {
            let t = thread::Builder::new()
                .name("npc42")
                .spawn(|| -> () {
                    os::sleep(Duration::from_secs(1));
                    panic!("boom")
                })
                .unwrap();
            let _ = t.join(None);
            let listener = thread::Builder::new()
                .name("ears")
                .spawn(|| {
                    event::listen("hear", |_: &cothread::Signal| -> () { panic!("deaf") });
                    event::pull(None, "never");
                })
                .unwrap();
            event::push(cothread::Signal::new("hear"));
            os::sleep(Duration::ZERO);
            listener.kill();
        })
        .unwrap();
    // A kernel entered from a thread of another: its thread is named; a
    // panic in its host code (`enter`, no thread of its own running) names
    // the outer kernel's thread it runs on.
    let mut outer = Kernel::builder().virtual_time(true).build();
    outer.on_error(|_| {});
    outer
        .run(|| {
            let host = thread::Builder::new()
                .name("host-of-inner")
                .spawn(|| {
                    let mut inner = Kernel::builder().virtual_time(true).build();
                    inner.on_error(|_| {});
                    // Its first stretch runs at once, on this thread's stack.
                    inner.enter(|| {
                        thread::Builder::new()
                            .name("inner")
                            .spawn(|| -> () { panic!("nested") })
                            .unwrap();
                    });
                    let entered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        inner.enter(|| -> () { panic!("in enter") })
                    }));
                    assert!(entered.is_err());
                })
                .unwrap();
            let _ = host.join(None);
        })
        .unwrap();
    let host = std::panic::catch_unwind(|| -> () { panic!("on the host") });
    assert!(host.is_err());
}

/// std's panic message printed while a green thread runs is preceded by a
/// line naming it (id, name, spawn site, last wait site); the host's own
/// hook, installed before the kernel, still runs; a panic on the host's
/// stack is not named.
#[test]
fn a_panic_message_names_the_green_thread() {
    let stderr = child_stderr("panic_child");
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.starts_with("cothread: in thread #2 (npc42), spawned at tests/watchdog.rs:")
        })
        .unwrap_or_else(|| panic!("no line names npc42:\n{stderr}"));
    assert!(lines[at].contains(", last waiting at tests/watchdog.rs:"), "{stderr}");
    assert_eq!(lines[at + 1], "host hook: boom", "{stderr}");
    assert!(
        lines[at + 2..at + 4].iter().any(|l| l.contains("panicked at tests/watchdog.rs:")),
        "{stderr}"
    );
    assert!(
        stderr.contains("cothread: in thread #3 (ears)'s callback, spawned at tests/watchdog.rs:"),
        "{stderr}"
    );
    let nested = lines.iter().position(|l| *l == "host hook: nested").expect("nested panic");
    assert!(
        lines[nested - 1].starts_with("cothread: in thread #1 (inner), spawned at "),
        "{stderr}"
    );
    let entered = lines.iter().position(|l| *l == "host hook: in enter").expect("enter panic");
    assert!(
        lines[entered - 1].starts_with("cothread: in thread #2 (host-of-inner), spawned at "),
        "{stderr}"
    );
    let host = lines.iter().position(|l| *l == "host hook: on the host").expect("host panic");
    assert!(!lines[host - 1].starts_with("cothread:"), "{stderr}");
}

/// The structured report of a named thread that panicked after waiting:
/// its exact text, and OpenOS's text beside it for `on_error`.
#[test]
fn the_error_report_of_a_thread_panic_reads_exactly() {
    let reports: Rc<RefCell<Vec<ErrorReport>>> = Rc::default();
    let texts: Rc<RefCell<Vec<String>>> = Rc::default();
    let (r, t) = (reports.clone(), texts.clone());
    let mut kernel = Kernel::builder().virtual_time(true).build();
    kernel.on_error_report(move |report| r.borrow_mut().push(report.clone()));
    kernel.on_error(move |text| t.borrow_mut().push(text.to_string()));
    let sites: Rc<RefCell<Vec<&'static Location<'static>>>> = Rc::default();
    let s = sites.clone();
    kernel
        .run(move || {
            let t = thread::Builder::new()
                .name("npc42")
                .spawn(move || -> () {
                    s.borrow_mut().push(Location::caller());
                    os::sleep(Duration::from_secs(1));
                    panic!("boom")
                })
                .unwrap();
            t.join(None).unwrap();
        })
        .unwrap();
    let sites = sites.borrow();
    // `.spawn(` is the line above the closure's first, `os::sleep` the one below.
    let (spawn_line, wait_line) = (sites[0].line() - 1, sites[0].line() + 1);
    let report = &reports.borrow()[0];
    assert_eq!(report.origin, ErrorOrigin::Thread);
    assert_eq!(report.thread.map(|id| id.as_u64()), Some(2));
    assert_eq!(
        report.to_string(),
        format!(
            "[thread npc42 spawned at tests/watchdog.rs:{spawn_line}] boom, \
             waiting at tests/watchdog.rs:{wait_line}"
        )
    );
    assert_eq!(*texts.borrow(), ["[thread] boom"]);
}

/// A deadline for the tests that use the real clock: long enough never to
/// be reached on a loaded machine unless something hangs.
fn bound() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

/// With backtraces on, the dump prints under each blocked thread the
/// backtrace of its blocking call, which passes through the function that
/// blocked; with them off, one line a thread.
#[test]
fn the_dump_shows_each_blocked_threads_backtrace_when_enabled() {
    #[inline(never)]
    fn waits_for_orders() {
        event::pull(None, "orders");
    }
    for on in [true, false] {
        let mut kernel = Kernel::builder().virtual_time(true).backtraces(on).build();
        kernel.spawn(|| {
            thread::Builder::new().name("courier").spawn(waits_for_orders).unwrap();
            event::pull(None, "quit");
        });
        let dump = kernel.dump();
        let lines: Vec<&str> = dump.lines().collect();
        let courier = lines.iter().position(|l| l.contains("(courier)")).expect("listed");
        if on {
            let below: Vec<&&str> =
                lines[courier + 1..].iter().take_while(|l| l.starts_with("        ")).collect();
            assert!(
                below.iter().any(|l| l.contains("waits_for_orders")),
                "no frame of the blocking function under the thread:\n{dump}"
            );
            assert!(kernel.threads()[1].backtrace.is_some());
        } else {
            assert_eq!(lines.len(), 3, "{dump}");
            assert!(kernel.threads()[1].backtrace.is_none());
        }
    }
}

/// What the watchdog's hook saw: the report and the instant it came.
type Seen = Arc<Mutex<Vec<(WatchdogReport, Instant)>>>;

fn watched(limit: Duration) -> (Kernel, Seen) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let mut kernel = Kernel::builder()
        .watchdog(limit)
        .on_watchdog(move |report| sink.lock().unwrap().push((report.clone(), Instant::now())))
        .build();
    kernel.on_error(|_| {});
    (kernel, seen)
}

/// A thread that spins without yielding is reported by the watchdog within
/// twice its limit, while it still runs, with its id, name, spawn site and
/// the wait it came back from; it is ended at its next checkpoint, which
/// does not return.
#[test]
fn the_watchdog_reports_a_spinning_thread_and_ends_it_at_its_checkpoint() {
    const LIMIT: Duration = Duration::from_millis(100);
    let (mut kernel, seen) = watched(LIMIT);
    let spin = seen.clone();
    let after: Rc<RefCell<bool>> = Rc::default();
    let a = after.clone();
    let out = kernel.run(move || {
        let t = thread::Builder::new()
            .name("npc42")
            .spawn(move || {
                os::sleep(Duration::from_millis(1));
                let start = Instant::now();
                let end = bound();
                while spin.lock().unwrap().is_empty() && Instant::now() < end {}
                let reported_after = spin.lock().unwrap().first().map(|(_, at)| *at - start);
                os::checkpoint();
                *a.borrow_mut() = true;
                reported_after
            })
            .unwrap();
        (t.id(), t.wait())
    });
    let (id, outcome) = out.unwrap();
    assert_eq!(outcome, Err(cothread::Error::TooLongWithoutYielding));
    assert!(!*after.borrow(), "the checkpoint returned");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "one report: {seen:?}");
    let report = &seen[0].0;
    assert_eq!(report.thread, id);
    assert_eq!(report.name.as_deref(), Some("npc42"));
    assert!(!report.program);
    assert_eq!(report.spawned_at.map(|at| at.file()), Some("tests/watchdog.rs"));
    assert_eq!(report.waiting_at.map(|at| at.file()), Some("tests/watchdog.rs"));
    assert_eq!(
        report.waiting_at.unwrap().line(),
        report.spawned_at.unwrap().line() + 1,
        "the wait it came back from is the sleep"
    );
    assert!(report.running_for >= LIMIT && report.limit == LIMIT, "{report:?}");
}

/// The report comes within twice the limit of the resume it times.
#[test]
fn the_watchdog_reports_within_twice_its_limit() {
    const LIMIT: Duration = Duration::from_millis(100);
    let (mut kernel, seen) = watched(LIMIT);
    let spin = seen.clone();
    let started: Rc<std::cell::Cell<Option<Instant>>> = Rc::default();
    let s = started.clone();
    let out = kernel.run(move || {
        s.set(Some(Instant::now()));
        let end = bound();
        while spin.lock().unwrap().is_empty() && Instant::now() < end {}
        os::checkpoint();
    });
    assert_eq!(out, Err(cothread::Error::TooLongWithoutYielding));
    let seen = seen.lock().unwrap();
    let (report, reported) = &seen[0];
    assert!(report.program && report.waiting_at.is_none(), "a first stretch: {report:?}");
    // By the spinning program's own clock: never before the limit, and
    // within twice it.
    let after = *reported - started.get().expect("it ran");
    assert!(after >= LIMIT && after < 2 * LIMIT, "reported after {after:?}");
    assert!(report.running_for >= LIMIT && report.running_for <= after, "{report:?}");
}

/// A marked thread that blocks instead of checking in is ended at that
/// blocking call: the call never returns.
#[test]
fn a_marked_thread_is_ended_at_its_next_blocking_call() {
    let (mut kernel, seen) = watched(Duration::from_millis(50));
    let spin = seen.clone();
    let out = kernel.run(move || {
        let t = thread::create(move || {
            let end = bound();
            while spin.lock().unwrap().is_empty() && Instant::now() < end {}
            os::sleep(Duration::from_millis(1));
            "returned from the sleep"
        });
        t.wait()
    });
    assert_eq!(out, Ok(Err(cothread::Error::TooLongWithoutYielding)));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// A computation that checks in runs on past the limit: each checkpoint
/// past the slice yields, so no resume reaches the limit, nothing is
/// reported and nothing ended; short of the slice, checkpoints do not
/// yield at all (the cheap path).
#[test]
fn checkpoints_yield_past_the_slice_and_not_before() {
    // The thread must see its slice's end and yield within half the limit:
    // a margin for a loaded machine.
    const LIMIT: Duration = Duration::from_millis(200);
    let (mut kernel, seen) = watched(LIMIT);
    let out = kernel.run(|| {
        let me = thread::create(|| {
            let start = Instant::now();
            let mut checks = 0u64;
            while start.elapsed() < 4 * LIMIT {
                os::checkpoint();
                checks += 1;
            }
            checks
        });
        me.wait()
    });
    let checks = out.unwrap();
    assert!(checks.as_ref().is_ok_and(|&n| n > 0), "{checks:?}: {:?}", seen.lock().unwrap());
    assert!(seen.lock().unwrap().is_empty(), "{:?}", seen.lock().unwrap());
    // Short of the slice: 100 000 checkpoints, no yield (one resume, the
    // thread's first stretch, which ends at its pull).
    let (mut calm, _) = watched(Duration::from_secs(3600));
    calm.spawn(|| {
        for _ in 0..100_000 {
            os::checkpoint();
        }
        event::pull(None, "never");
    });
    let ps = calm.threads();
    assert_eq!(ps[0].resumes, 1, "{}", calm.dump());
}

/// Dropping a kernel stops its watchdog's thread and joins it (no hang, no
/// leak): the thread has let go of the hook by the time the drop returns.
#[test]
fn the_watchdog_thread_ends_with_its_kernel() {
    let start = Instant::now();
    let (mut kernel, seen) = watched(Duration::from_millis(10));
    kernel.spawn(|| event::pull(None, "never"));
    assert_eq!(Arc::strong_count(&seen), 2, "the hook is held by the monitor");
    drop(kernel);
    assert_eq!(Arc::strong_count(&seen), 1, "the monitor has ended");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// A program that starts a thread (which runs its first stretch on the
/// program's stack and yields back to it) and then spins is reported as the
/// program, not as the thread that ran last: the resume the watchdog times
/// is the program's, which never left for the kernel; the thread lives on.
#[test]
fn a_spin_after_a_spawn_is_the_spawners() {
    let (mut kernel, seen) = watched(Duration::from_millis(50));
    let spin = seen.clone();
    let out = kernel.run(move || {
        let helper = thread::create(|| event::pull(None, "never"));
        let end = bound();
        while spin.lock().unwrap().is_empty() && Instant::now() < end {}
        let alive = helper.status();
        helper.kill();
        os::checkpoint();
        alive
    });
    assert_eq!(out, Err(cothread::Error::TooLongWithoutYielding));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].0.program, "{:?}", seen[0].0);
    assert_eq!(seen[0].0.thread.as_u64(), 1);
}

/// A listener's panic is reported for the thread that owns it (origin
/// `listener`, its name and sites); a kernel-wide listener's names no thread
/// and reads as OpenOS's text.
#[test]
fn a_listeners_report_names_its_owner() {
    let reports: Rc<RefCell<Vec<ErrorReport>>> = Rc::default();
    let r = reports.clone();
    let mut kernel = Kernel::builder().virtual_time(true).build();
    kernel.on_error_report(move |report| r.borrow_mut().push(report.clone()));
    kernel.listen("hear", |_: &cothread::Signal| -> () { panic!("kernel-wide") });
    kernel
        .run(|| {
            let ears = thread::Builder::new()
                .name("ears")
                .spawn(|| {
                    event::listen("hear", |_: &cothread::Signal| -> () { panic!("deaf") });
                    event::pull(None, "never");
                })
                .unwrap();
            event::push(cothread::Signal::new("hear"));
            os::sleep(Duration::ZERO);
            ears.kill();
        })
        .unwrap();
    let reports = reports.borrow();
    let texts: Vec<String> = reports.iter().map(ErrorReport::openos_text).collect();
    assert_eq!(texts, ["[listener] kernel-wide", "[listener] deaf"]);
    assert_eq!(reports[0].to_string(), "[listener] kernel-wide");
    assert_eq!(reports[1].origin, ErrorOrigin::Listener);
    let line = reports[1].to_string();
    assert!(line.starts_with("[listener ears spawned at tests/watchdog.rs:"), "{line}");
    assert!(line.contains("] deaf, waiting at tests/watchdog.rs:"), "{line}");
}

/// A watchdog hook that panics is contained on the monitor thread: the
/// thread is still marked and ended at its checkpoint, and the next
/// overrun is reported to the same hook. The second program takes the
/// first one's place in the task table with the same count of resumes: the
/// watchdog tells their resumes apart by their ids.
#[test]
fn a_panicking_watchdog_hook_is_contained() {
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let mut kernel = Kernel::builder()
        .watchdog(Duration::from_millis(30))
        .on_watchdog(move |_| {
            *c.lock().unwrap() += 1;
            panic!("the hook fails")
        })
        .build();
    kernel.on_error(|_| {});
    for round in 1..=2 {
        let spin = calls.clone();
        let out = kernel.run(move || {
            let end = bound();
            while *spin.lock().unwrap() < round && Instant::now() < end {}
            os::checkpoint();
        });
        assert_eq!(out, Err(cothread::Error::TooLongWithoutYielding));
    }
    assert_eq!(*calls.lock().unwrap(), 2);
}
