//! Seeing and stopping runaway scripts: panic messages that name the green
//! thread, the structured error report, backtraces in the dump, the
//! watchdog and `os::checkpoint`.

use std::cell::RefCell;
use std::panic::Location;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use cothread::{event, os, thread, ErrorOrigin, ErrorReport, Kernel};

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
