//! A stack overflow in a green thread ends that thread only
//! (docs/reliability.md). Every overflow runs in a child process (this
//! test binary, re-run with one ignored test selected), so that a failure shows
//! as a failed test instead of taking the whole test binary down.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{in_child, kernel, recurse, run_child, secs, Drops, Out};
use cothread::{event, os, thread, Error, Kernel, Status};

/// Runs `name` in a child process and checks that it got to its end.
fn child_succeeds(name: &str) {
    let output = run_child(name);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("child finished"),
        "{name}: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A kernel on the virtual clock with small stacks, so overflows come quickly.
fn small_stacks() -> Kernel {
    Kernel::builder().virtual_time(true).stack_size(64 * 1024).build()
}

// ---------------------------------------------------------------------------
// A program that overflows ends with `Error::StackOverflow`; its threads are
// killed (their stacks unwound) and its own frames are discarded unwound.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_program_overflow() {
    if !in_child() {
        return;
    }
    let (threads, own) = (Drops::new(), Drops::new());
    let (t, o) = (threads.clone(), own.clone());
    let mut kernel = small_stacks();
    let result = kernel.run(move || {
        for _ in 0..3 {
            let guard = t.guard();
            thread::create(move || {
                let _guard = guard;
                event::pull(None, "never");
            });
        }
        let _mine = o.guard();
        os::sleep(Duration::ZERO);
        recurse(0)
    });
    assert_eq!(result, Err(Error::StackOverflow));
    assert_eq!(threads.count(), 3, "the program's threads are killed and unwound");
    assert_eq!(own.count(), 0, "the program's own frames are discarded, not unwound");
    assert_eq!(kernel.threads().len(), 0);
    // The kernel goes on.
    assert_eq!(kernel.run(os::uptime), Ok(Duration::ZERO));
    println!("child finished");
}

#[test]
fn a_program_that_overflows_ends_with_stack_overflow_and_its_threads_die() {
    child_succeeds("child_program_overflow");
}

// ---------------------------------------------------------------------------
// A thread that overflows kills its children; its parent and siblings go on.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_thread_overflow_kills_children() {
    if !in_child() {
        return;
    }
    let drops = Drops::new();
    let d = drops.clone();
    let result = small_stacks().run(move || {
        let (d2, d3) = (d.clone(), d.clone());
        let sibling = thread::create(|| {
            os::sleep(secs(2));
            "sibling done"
        });
        let children = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let c = children.clone();
        let deep = thread::create(move || {
            for d in [d2, d3] {
                let guard = d.guard();
                c.borrow_mut().push(thread::create(move || {
                    let _guard = guard;
                    os::sleep(secs(10));
                }));
            }
            os::sleep(secs(1));
            recurse(0)
        });
        let overflow = deep.wait();
        let statuses: Vec<Status> = children.borrow().iter().map(|c| c.status()).collect();
        (overflow, statuses, d.count(), sibling.wait(), os::uptime())
    });
    assert_eq!(
        result,
        Ok((
            Err(Error::StackOverflow),
            vec![Status::Dead, Status::Dead],
            2,
            Ok("sibling done"),
            secs(2)
        ))
    );
    assert_eq!(drops.count(), 2);
    println!("child finished");
}

#[test]
fn a_thread_that_overflows_kills_its_children() {
    child_succeeds("child_thread_overflow_kills_children");
}

// ---------------------------------------------------------------------------
// The kernel's error reporter names the overflow.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_overflow_reported() {
    if !in_child() {
        return;
    }
    let out = Out::new();
    let mut kernel = small_stacks();
    let sink = out.clone();
    kernel.on_error(move |msg| sink.print(msg));
    let thread_result = kernel.run(|| thread::create(|| recurse(0)).wait());
    let program_result = kernel.run(|| recurse(0));
    assert_eq!(thread_result, Ok(Err(Error::StackOverflow)));
    assert_eq!(program_result, Err(Error::StackOverflow));
    assert_eq!(out.lines(), ["[thread] stack overflow", "[program] stack overflow"]);
    assert_eq!(Error::StackOverflow.to_string(), "stack overflow");
    println!("child finished");
}

#[test]
fn an_overflow_is_reported_through_on_error() {
    child_succeeds("child_overflow_reported");
}

// ---------------------------------------------------------------------------
// Overflows repeat and nest: the handler stays installed, the alternate signal
// stack stays usable, and a thread started (and run at once) by a thread can
// overflow on top of it.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_overflows_repeat_and_nest() {
    if !in_child() {
        return;
    }
    let mut kernel = small_stacks();
    for round in 0..3 {
        let result = kernel.run(move || {
            let outer = thread::create(move || {
                // Runs at once, on top of `outer`'s stack, and overflows there.
                let inner = thread::create(|| recurse(0));
                let inner_result = inner.wait();
                os::sleep(secs(1));
                (inner_result, round)
            });
            let lone = thread::create(|| {
                os::sleep(secs(1));
                recurse(0)
            });
            let last = thread::create(move || -> u64 {
                let first = thread::create(|| recurse(0));
                let _ = first.wait();
                recurse(0)
            });
            (outer.wait(), lone.wait(), last.wait())
        });
        assert_eq!(
            result,
            Ok((
                Ok((Err(Error::StackOverflow), round)),
                Err(Error::StackOverflow),
                Err(Error::StackOverflow)
            )),
            "round {round}"
        );
    }
    // Another kernel, on another OS thread, at the same time as this one lives.
    let other = std::thread::spawn(|| small_stacks().run(|| thread::create(|| recurse(0)).wait()));
    assert_eq!(other.join().unwrap(), Ok(Err(Error::StackOverflow)));
    assert_eq!(kernel.run(|| thread::create(|| recurse(0)).wait()), Ok(Err(Error::StackOverflow)));
    println!("child finished");
}

#[test]
fn overflows_repeat_and_nest() {
    child_succeeds("child_overflows_repeat_and_nest");
}

/// The same where the kernel has no guard regions (forced): the guard pages
/// and emergency zones are `mprotect`ed, and the trap tells them apart the
/// same way.
#[test]
fn overflows_repeat_and_nest_without_guard_regions() {
    let output = common::run_child_with(
        "child_overflows_repeat_and_nest",
        secs(20),
        &[("COTHREAD_STACK_GUARDS", "mprotect")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("child finished"), "{output:?}");
}

// ---------------------------------------------------------------------------
// An OS thread with no alternate signal stack gets one when it enters a kernel.
// ---------------------------------------------------------------------------

fn alternate_stack() -> libc::stack_t {
    // SAFETY: a null new stack only reads the current one into `current`.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        assert_eq!(libc::sigaltstack(std::ptr::null(), &mut current), 0);
        current
    }
}

#[test]
#[ignore = "run in a child process"]
fn child_thread_without_alternate_stack() {
    if !in_child() {
        return;
    }
    let worker = std::thread::spawn(|| {
        let disable =
            libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: disabling the alternate signal stack of this thread, which is
        // not running on it.
        assert_eq!(unsafe { libc::sigaltstack(&disable, std::ptr::null_mut()) }, 0);
        assert_ne!(alternate_stack().ss_flags & libc::SS_DISABLE, 0);
        let first = small_stacks().run(|| thread::create(|| recurse(0)).wait());
        let installed = alternate_stack();
        let second = small_stacks().run(|| recurse(0));
        (first, second, installed.ss_flags & libc::SS_DISABLE == 0, installed.ss_size)
    });
    let (first, second, enabled, size) = worker.join().unwrap();
    assert_eq!(first, Ok(Err(Error::StackOverflow)));
    assert_eq!(second, Err(Error::StackOverflow));
    assert!(enabled && size >= 64 * 1024, "enabled: {enabled}, size: {size}");
    println!("child finished");
}

#[test]
fn a_thread_without_an_alternate_signal_stack_gets_one() {
    child_succeeds("child_thread_without_alternate_stack");
}

// ---------------------------------------------------------------------------
// An overflow while a killed thread unwinds (a destructor that recurses) ends
// the unwinding there; the killer goes on.
// ---------------------------------------------------------------------------

struct RecursesOnDrop;

impl Drop for RecursesOnDrop {
    fn drop(&mut self) {
        recurse(0);
    }
}

#[test]
#[ignore = "run in a child process"]
fn child_overflow_while_unwinding() {
    if !in_child() {
        return;
    }
    let result = small_stacks().run(|| {
        let t = thread::create(|| {
            let _bomb = RecursesOnDrop;
            event::pull(None, "never");
        });
        t.kill();
        (t.status(), t.wait())
    });
    assert_eq!(result, Ok((Status::Dead, Err(Error::StackOverflow))));
    println!("child finished");
}

#[test]
fn an_overflow_while_a_killed_thread_unwinds_ends_it() {
    child_succeeds("child_overflow_while_unwinding");
}

// ---------------------------------------------------------------------------
// Faults that are not a green thread's overflow go to the handler that was
// there before (here Rust's runtime's) or to the default action: untouched.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_null_write_on_the_host() {
    if !in_child() {
        return;
    }
    // The fault handler is installed by entering a kernel.
    assert_eq!(kernel().run(|| 1), Ok(1));
    // SAFETY: none; this is the crash under test, in a child process.
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u8>(), 1) };
    println!("child finished");
}

#[test]
fn a_segfault_on_the_host_is_not_swallowed() {
    let output = run_child("child_null_write_on_the_host");
    assert_eq!(output.status.signal(), Some(libc::SIGSEGV), "{output:?}");
}

#[test]
#[ignore = "run in a child process"]
fn child_null_write_in_a_thread() {
    if !in_child() {
        return;
    }
    let _ = kernel().run(|| {
        thread::create(|| {
            // SAFETY: none; this is the crash under test, in a child process.
            unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u8>(), 1) };
        })
        .wait()
    });
    println!("child finished");
}

#[test]
fn a_segfault_in_a_green_thread_that_is_not_an_overflow_is_not_swallowed() {
    let output = run_child("child_null_write_in_a_thread");
    assert_eq!(output.status.signal(), Some(libc::SIGSEGV), "{output:?}");
}

#[test]
#[ignore = "run in a child process"]
fn child_host_stack_overflow() {
    if !in_child() {
        return;
    }
    assert_eq!(kernel().run(|| 1), Ok(1));
    // This test's own OS thread overflows: Rust's runtime reports it and aborts.
    recurse(0);
    println!("child finished");
}

#[test]
fn an_overflow_of_the_host_stack_still_reaches_rusts_handler() {
    let output = run_child("child_host_stack_overflow");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{output:?}");
    assert!(stderr.contains("has overflowed its stack"), "stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------
// A green job whose work overflows ends in `Error` with the overflow named,
// and a join on it returns.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_job_overflow() {
    use cothread::job::{self, JobContext, JobState};
    if !in_child() {
        return;
    }
    let mut kernel = small_stacks();
    let host_side = kernel.job(|_: &JobContext<u64>| Ok::<_, String>(recurse(0)));
    assert_eq!(host_side.state(), JobState::Error);
    assert_eq!(host_side.error().as_deref(), Some("stack overflow"));
    let joined = kernel.run(|| {
        let j = job::spawn(|_: &JobContext<u64>| {
            os::sleep(Duration::from_secs(1));
            Ok::<_, String>(recurse(0))
        });
        j.join(None).map(|()| (j.state(), j.error()))
    });
    assert_eq!(joined, Ok(Ok((JobState::Error, Some("stack overflow".to_string())))));
    println!("child finished");
}

#[test]
fn a_job_whose_work_overflows_ends_in_error() {
    child_succeeds("child_job_overflow");
}
