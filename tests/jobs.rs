//! Jobs (issue 5): Solara's `use_thread` on the kernel. One section per part
//! of the issue: the seed's state diagram, transition by transition, for the
//! green and the blocking flavour; incremental values; the previous value and
//! error kept during a rerun; retry; cancel (intrusive and cooperative) and
//! the rule that runs never overlap; panics; dependencies; dropping a job and
//! dropping the kernel; `Job::join`; and what each flavour does to the kernel
//! when its work does not yield.
//!
//! The seed's diagram:
//!
//! ```text
//! INITIAL --Thread.start()--> STARTING --previous thread running--> WAITING --thread.join()--> RUNNING
//!                             STARTING --no previous thread------------------------------> RUNNING
//! RUNNING --on exception--> ERROR    RUNNING --work finished--> FINISHED    RUNNING --cancel()--> CANCELLED
//! ```
//!
//! The host sees a job's state only after its call returns, so `Starting` (and
//! sometimes `Waiting`) is visible only in the `"job_state"` signal stream: the
//! tests record that stream with a kernel-wide listener, or pull it from a
//! script, and assert its exact sequence.
//!
//! Green tests run on the virtual clock. Blocking tests run their work on the
//! kernel's OS workers and hold it at points the test chooses with a [`Gate`]
//! and channels: no test sleeps or asserts wall time. The host waits for a
//! worker with [`run_until`] (a program that pulls the job's signals, so the
//! kernel blocks in the OS) or `run_forever`; the few loops that poll (work
//! waiting for its token, a frame loop stepping until the last report) end as
//! soon as what they wait for happens. Every blocking test runs under
//! [`within`], which only turns a hang into a failure.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{kernel, secs, within, Drops, Out};
use cothread::job::{self, Job, JobContext, JobState};
use cothread::{event, os, thread, Error, Filter, Kernel, Signal};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Records every `"job_state"` signal the kernel delivers, as `"<id> <state>"`.
fn record_states(k: &mut Kernel) -> Out {
    let out = Out::new();
    let o = out.clone();
    k.listen("job_state", move |s: &Signal| o.print(format!("{} {}", s.arg(0), s.arg(1))));
    out
}

/// The states recorded for job `id`, in delivery order.
fn states(record: &Out, id: u64) -> Vec<String> {
    let prefix = format!("{id} ");
    record.lines().iter().filter_map(|l| l.strip_prefix(&prefix).map(str::to_string)).collect()
}

/// Counts the `"job_value"` signals the kernel delivers for any job.
fn count_values(k: &mut Kernel) -> Rc<RefCell<usize>> {
    let count = Rc::new(RefCell::new(0));
    let c = count.clone();
    k.listen("job_value", move |_: &Signal| *c.borrow_mut() += 1);
    count
}

/// Runs the kernel until `done(&j)` holds, checked at each of the job's
/// signals: a program that pulls them, so that while a worker holds the job
/// the kernel waits in the OS for its report instead of spinning. Hands the
/// job back.
fn run_until<T: 'static>(
    k: &mut Kernel,
    j: Job<T>,
    done: impl Fn(&Job<T>) -> bool + 'static,
) -> Job<T> {
    k.run(move || {
        let filter = Filter::names(&["job_state", "job_value"]).arg(0, j.id());
        while !done(&j) {
            event::pull(None, filter.clone());
        }
        j
    })
    .expect("the program that waits for the job")
}

/// Holds work on a worker thread until the test lets it through: each
/// [`open`](Gate::open) lets one [`pass`](Gate::pass) return.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<usize>, Condvar)>);

impl Gate {
    fn open(&self) {
        let (permits, wakeup) = &*self.0;
        *permits.lock().unwrap() += 1;
        wakeup.notify_all();
    }

    fn pass(&self) {
        let (permits, wakeup) = &*self.0;
        let mut permits = wakeup.wait_while(permits.lock().unwrap(), |p| *p == 0).unwrap();
        *permits -= 1;
    }
}

/// A blocking kernel's worker says where it is: the test waits for it with
/// `recv`, with no sleep and no timeout.
fn reached<T>() -> (Sender<T>, Receiver<T>) {
    mpsc::channel()
}

// ---------------------------------------------------------------------------
// The state diagram, green flavour
// ---------------------------------------------------------------------------

// INITIAL -> STARTING -> RUNNING: the first run has no previous run to wait
// for. The run starts at once, up to its first yield point, so the host sees
// `Running` when `job` returns; `Starting` is in the signal stream.
#[test]
fn green_initial_starting_running() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let j = k.job(|_: &JobContext<u32>| {
        os::sleep(secs(1));
        Ok::<_, String>(1)
    });
    assert_eq!(j.state(), JobState::Running);
    assert_eq!((j.value(), j.error()), (None, None));
    assert!(record.lines().is_empty(), "the signals are delivered in the next round");
    k.step();
    assert_eq!(states(&record, j.id()), ["starting", "running"]);
    assert_eq!(j.state(), JobState::Running);
}

// RUNNING -> FINISHED when the work returns its value.
#[test]
fn green_running_finished() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let j = k.job(|_: &JobContext<&str>| {
        os::sleep(secs(1));
        Ok::<_, String>("done")
    });
    k.advance(secs(1));
    assert_eq!((j.state(), j.value(), j.error()), (JobState::Finished, Some("done"), None));
    k.step();
    assert_eq!(states(&record, j.id()), ["starting", "running", "finished"]);
}

// RUNNING -> ERROR when the work returns an error: its `Display` text.
#[test]
fn green_running_error() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let j = k.job(|_: &JobContext<u32>| {
        os::sleep(secs(1));
        Err::<u32, _>(std::io::Error::other("disk full"))
    });
    k.advance(secs(1));
    assert_eq!(j.state(), JobState::Error);
    assert_eq!((j.value(), j.error().as_deref()), (None, Some("disk full")));
    k.step();
    assert_eq!(states(&record, j.id()), ["starting", "running", "error"]);
}

// RUNNING -> CANCELLED: `Cancelled` at once, the run's later results dropped.
#[test]
fn green_running_cancelled() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let j = k.job(|ctx: &JobContext<u32>| {
        ctx.emit(1);
        os::sleep(secs(1));
        ctx.emit(2);
        Ok::<_, String>(3)
    });
    j.cancel();
    assert_eq!(j.state(), JobState::Cancelled);
    k.advance(secs(5));
    assert_eq!((j.state(), j.value(), j.error()), (JobState::Cancelled, Some(1), None));
    assert_eq!(states(&record, j.id()), ["starting", "running", "cancelled"]);
    j.cancel(); // a cancel of an ended run does nothing
    k.step();
    assert_eq!(states(&record, j.id()), ["starting", "running", "cancelled"]);
}

// After an intrusive cancel the old run is already unwound: a retry goes
// from STARTING straight to RUNNING, with no WAITING.
#[test]
fn green_retry_after_an_intrusive_cancel_does_not_wait() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let j = k.job(|_: &JobContext<()>| {
        event::pull(None, "never");
        Ok::<_, String>(())
    });
    j.retry().unwrap();
    assert_eq!(j.state(), JobState::Running);
    k.step();
    assert_eq!(
        states(&record, j.id()),
        ["starting", "running", "cancelled", "starting", "running"]
    );
}

// STARTING -> WAITING -> RUNNING: a retry of a cooperative job whose run has
// not yet seen its token waits for that run to end. The host sees `Waiting`
// after `retry` returns; the new run is `Running` once the old one has ended.
#[test]
fn green_starting_waiting_running() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let runs = Rc::new(RefCell::new(0));
    let r = runs.clone();
    let j = job::Builder::new().cooperative().spawn_on(&mut k, move |ctx: &JobContext<u32>| {
        *r.borrow_mut() += 1;
        let run = *r.borrow();
        while !ctx.is_cancelled() {
            os::sleep(secs(1));
            if run == 2 {
                break;
            }
        }
        Ok::<_, String>(run)
    });
    k.advance(Duration::from_millis(500));
    j.retry().unwrap();
    assert_eq!(j.state(), JobState::Waiting);
    assert_eq!(*runs.borrow(), 1, "the new run has not started");
    k.step();
    assert_eq!(
        states(&record, j.id()),
        ["starting", "running", "cancelled", "starting", "waiting"]
    );

    // The old run sees its token at its next check (t = 1 s) and returns.
    k.advance(Duration::from_millis(500));
    assert_eq!(j.state(), JobState::Running);
    assert_eq!(*runs.borrow(), 2);
    assert_eq!(j.value(), None, "the cancelled run's value is dropped");
    k.advance(secs(1));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(2)));
    assert_eq!(
        states(&record, j.id()),
        ["starting", "running", "cancelled", "starting", "waiting", "running", "finished"]
    );
}

// A script can follow a job by pulling its signals: `"job_state"` with the
// job's id and the state's name, `"job_value"` with the job's id.
#[test]
fn a_script_pulls_the_job_signals() {
    let mut k = kernel();
    let seen = k
        .run(|| {
            let j = job::spawn(|ctx: &JobContext<u32>| {
                os::sleep(secs(1));
                ctx.emit(50);
                os::sleep(secs(1));
                Ok::<_, String>(100)
            });
            let filter = Filter::names(&["job_state", "job_value"]).arg(0, j.id());
            let mut seen = Vec::new();
            loop {
                let s = event::pull(None, filter.clone()).expect("no timeout");
                let rest: Vec<String> = s.args()[1..].iter().map(|a| a.to_string()).collect();
                seen.push(format!("{} {}", s.name(), rest.join(" ")).trim_end().to_string());
                if s.arg(1).as_str() == Some("finished") {
                    return seen;
                }
            }
        })
        .unwrap();
    assert_eq!(
        seen,
        ["job_state starting", "job_state running", "job_value", "job_state finished"]
    );
}

// The same stream through a retry that has to wait, pulled by the script
// that retries.
#[test]
fn a_script_pulls_starting_and_waiting_of_a_retry() {
    let mut k = kernel();
    let seen = k
        .run(|| {
            let j = job::Builder::new().cooperative().spawn(|ctx: &JobContext<()>| {
                while !ctx.is_cancelled() {
                    os::sleep(secs(1));
                }
                Ok::<_, String>(())
            });
            j.retry().unwrap();
            let mut seen = Vec::new();
            while seen.len() < 6 {
                let s = event::pull(None, Filter::name("job_state").arg(0, j.id()));
                seen.push(s.expect("no timeout").arg(1).to_string());
            }
            seen
        })
        .unwrap();
    assert_eq!(seen, ["starting", "running", "cancelled", "starting", "waiting", "running"]);
}

// A job's run belongs to no script: a program that starts a job and hands
// it to the host ends without waiting for it, and the run goes on.
#[test]
fn a_job_outlives_the_script_that_started_it() {
    let mut k = kernel();
    let j = k
        .run(|| {
            job::spawn(|_: &JobContext<u32>| {
                os::sleep(secs(5));
                Ok::<_, String>(5)
            })
        })
        .unwrap();
    assert_eq!((k.uptime(), j.state()), (Duration::ZERO, JobState::Running));
    k.advance(secs(5));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(5)));
}

// ---------------------------------------------------------------------------
// The state diagram, blocking flavour
// ---------------------------------------------------------------------------

// INITIAL -> STARTING -> RUNNING: the run is handed to a worker at once; the
// host has control back while the worker holds the work.
#[test]
fn blocking_initial_starting_running() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let gate = Gate::default();
        let g = gate.clone();
        let (started, start) = reached();
        let j = k.blocking_job(move |_: &JobContext<u32>| {
            started.send(()).unwrap();
            g.pass();
            Ok::<_, String>(1)
        });
        assert_eq!(j.state(), JobState::Running);
        start.recv().unwrap();
        k.step();
        assert_eq!(states(&record, j.id()), ["starting", "running"]);
        assert_eq!(j.state(), JobState::Running);

        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!(j.state(), JobState::Finished);
    });
}

// RUNNING -> FINISHED with the value computed on the worker.
#[test]
fn blocking_running_finished() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let j = k.blocking_job(|_: &JobContext<u64>| Ok::<_, String>((1..=100u64).sum()));
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value(), j.error()), (JobState::Finished, Some(5050), None));
        k.step();
        assert_eq!(states(&record, j.id()), ["starting", "running", "finished"]);
    });
}

// RUNNING -> ERROR with the work's error text.
#[test]
fn blocking_running_error() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let j = k.blocking_job(|_: &JobContext<u64>| Err::<u64, _>("connection refused"));
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!(j.state(), JobState::Error);
        assert_eq!((j.value(), j.error().as_deref()), (None, Some("connection refused")));
        k.step();
        assert_eq!(states(&record, j.id()), ["starting", "running", "error"]);
    });
}

// RUNNING -> CANCELLED: `Cancelled` at once; the worker sees the token; what
// the run reports afterwards is dropped.
#[test]
fn blocking_running_cancelled() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let gate = Gate::default();
        let g = gate.clone();
        let (saw, seen) = reached();
        let j = k.blocking_job(move |ctx: &JobContext<u32>| {
            ctx.emit(1);
            g.pass();
            saw.send(ctx.is_cancelled()).unwrap();
            ctx.emit(2);
            Ok::<_, String>(3)
        });
        let j = run_until(&mut k, j, |j| j.value().is_some());
        j.cancel();
        assert_eq!(j.state(), JobState::Cancelled);
        gate.open();
        assert!(seen.recv().unwrap(), "the worker sees the token");
        k.run_forever().unwrap(); // until the run's driver has ended
        assert!(k.threads().is_empty());
        assert_eq!((j.state(), j.value(), j.error()), (JobState::Cancelled, Some(1), None));
        assert_eq!(states(&record, j.id()), ["starting", "running", "cancelled"]);
    });
}

// STARTING -> WAITING -> RUNNING: a cancelled blocking run whose work never
// checks its token goes on until the work returns; a retry stays `Waiting`
// until then, and the two runs never overlap.
#[test]
fn blocking_retry_waits_for_work_that_ignores_its_token() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let gate = Gate::default();
        let g = gate.clone();
        let (started, start) = reached();
        let runs = Arc::new(AtomicUsize::new(0));
        let (active, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, m) = (active.clone(), most.clone());
        let j = k.blocking_job(move |_: &JobContext<usize>| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(a.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            started.send(run).unwrap();
            g.pass(); // never looks at the token
            a.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(run)
        });
        assert_eq!(start.recv().unwrap(), 1);
        j.cancel();
        j.retry().unwrap();
        assert_eq!(j.state(), JobState::Waiting);
        for _ in 0..3 {
            k.step(); // the old work is held at the gate: nothing can change
            assert_eq!(j.state(), JobState::Waiting);
        }
        assert_eq!(
            states(&record, j.id()),
            ["starting", "running", "cancelled", "starting", "waiting"]
        );

        gate.open(); // the old work returns
        let j = run_until(&mut k, j, |j| j.state() != JobState::Waiting);
        assert_eq!(j.state(), JobState::Running);
        assert_eq!(start.recv().unwrap(), 2, "the new run starts after the old one ended");
        assert_eq!(j.value(), None, "the cancelled run's value is dropped");

        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(2)));
        assert_eq!(most.load(Ordering::SeqCst), 1, "two runs overlapped");
        k.step();
        assert_eq!(
            states(&record, j.id()),
            ["starting", "running", "cancelled", "starting", "waiting", "running", "finished"]
        );
    });
}

// ---------------------------------------------------------------------------
// Incremental values
// ---------------------------------------------------------------------------

// Each emitted value is visible while the job is still `Running`, with a
// `"job_value"` signal; `Finished` only after the last one.
#[test]
fn green_incremental_values_while_running() {
    let mut k = kernel();
    let values = count_values(&mut k);
    let j = k.job(|ctx: &JobContext<u32>| {
        for percent in [25, 50, 75] {
            os::sleep(secs(1));
            ctx.emit(percent);
        }
        os::sleep(secs(1));
        Ok::<_, String>(100)
    });
    assert_eq!((j.state(), j.value()), (JobState::Running, None));
    for percent in [25, 50, 75] {
        k.advance(secs(1));
        assert_eq!((j.state(), j.value()), (JobState::Running, Some(percent)));
    }
    k.advance(secs(1));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(100)));
    assert_eq!(j.with_value(|v| v.copied()), Some(100));
    k.step();
    assert_eq!(*values.borrow(), 3, "one job_value per emit, none for the result");
}

#[test]
fn blocking_incremental_values_while_running() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let values = count_values(&mut k);
        let gate = Gate::default();
        let g = gate.clone();
        let j = k.blocking_job(move |ctx: &JobContext<u32>| {
            for percent in [25, 50, 75] {
                g.pass();
                ctx.emit(percent);
            }
            g.pass();
            Ok::<_, String>(100)
        });
        let mut j = j;
        for percent in [25, 50, 75] {
            gate.open();
            j = run_until(&mut k, j, move |j| j.value() == Some(percent));
            assert_eq!(j.state(), JobState::Running);
        }
        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(100)));
        k.step();
        assert_eq!(*values.borrow(), 3);
    });
}

// The frame-loop pattern: the host polls a blocking job once a frame with
// `step`. A value the worker has posted before the step is visible after it.
#[test]
fn blocking_values_reach_a_frame_loop_that_steps() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let gate = Gate::default();
        let g = gate.clone();
        let (posted, post) = reached();
        let j = k.blocking_job(move |ctx: &JobContext<u32>| {
            for percent in [25, 50, 75] {
                g.pass();
                ctx.emit(percent);
                posted.send(percent).unwrap();
            }
            g.pass();
            Ok::<_, String>(100)
        });
        let mut shown = None;
        for percent in [25, 50, 75] {
            k.step(); // a frame while the worker is held: nothing new
            assert_eq!((j.state(), j.value()), (JobState::Running, shown));
            gate.open();
            assert_eq!(post.recv().unwrap(), percent);
            k.step(); // the next frame shows the posted value
            assert_eq!((j.state(), j.value()), (JobState::Running, Some(percent)));
            shown = Some(percent);
        }
        gate.open();
        while !j.state().is_done() {
            k.step(); // frames go on until the worker's last report arrives
            std::thread::yield_now();
        }
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(100)));
    });
}

// A UI renders from `with_value` without cloning the value, and reads the
// state and the error in the same closure.
#[test]
fn with_value_lets_the_closure_read_the_state_and_error() {
    let mut k = kernel();
    let j = k.job(|ctx: &JobContext<Vec<u32>>| {
        ctx.emit(vec![1, 2]);
        os::sleep(secs(1));
        Ok::<_, String>(vec![1, 2, 3])
    });
    let frame = |j: &Job<Vec<u32>>| {
        j.with_value(|v| format!("{} {:?} {:?}", j.state(), v.map(Vec::len), j.error()))
    };
    assert_eq!(frame(&j), "running Some(2) None");
    k.advance(secs(1));
    assert_eq!(frame(&j), "finished Some(3) None");
}

// ---------------------------------------------------------------------------
// The previous result during a rerun; retry after error
// ---------------------------------------------------------------------------

// `value()` and `error()` change only when a new value or error arrives: a
// rerun shows the previous result until it reports its own.
#[test]
fn green_previous_value_and_error_kept_during_a_retry() {
    let mut k = kernel();
    let attempt = Rc::new(RefCell::new(0));
    let a = attempt.clone();
    let j = k.job(move |ctx: &JobContext<u32>| {
        *a.borrow_mut() += 1;
        let n = *a.borrow();
        os::sleep(secs(1));
        match n {
            1 => Ok(10),
            2 => Err(format!("attempt {n} failed")),
            _ => {
                ctx.emit(n * 10);
                os::sleep(secs(1));
                Ok(n * 10 + 1)
            }
        }
    });
    k.advance(secs(1));
    assert_eq!((j.state(), j.value(), j.error()), (JobState::Finished, Some(10), None));

    // Attempt 2 runs: the value of attempt 1 stays, then attempt 2 fails.
    j.retry().unwrap();
    assert_eq!((j.state(), j.value(), j.error()), (JobState::Running, Some(10), None));
    k.advance(secs(1));
    assert_eq!(j.state(), JobState::Error);
    assert_eq!((j.value(), j.error().as_deref()), (Some(10), Some("attempt 2 failed")));

    // Attempt 3: both stay until it emits; its value replaces the value only.
    j.retry().unwrap();
    assert_eq!(j.state(), JobState::Running);
    assert_eq!((j.value(), j.error().as_deref()), (Some(10), Some("attempt 2 failed")));
    k.advance(secs(1));
    assert_eq!((j.state(), j.value()), (JobState::Running, Some(30)));
    k.advance(secs(1));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(31)));
    assert_eq!(j.error().as_deref(), Some("attempt 2 failed"), "no new error arrived");
}

#[test]
fn blocking_previous_value_kept_during_a_retry() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let gate = Gate::default();
        let g = gate.clone();
        let runs = Arc::new(AtomicUsize::new(0));
        let (started, start) = reached();
        let j = k.blocking_job(move |ctx: &JobContext<usize>| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            started.send(run).unwrap();
            g.pass();
            ctx.emit(run * 10);
            g.pass();
            Ok::<_, String>(run * 10 + 1)
        });
        assert_eq!(start.recv().unwrap(), 1);
        gate.open();
        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(11)));

        j.retry().unwrap();
        assert_eq!(start.recv().unwrap(), 2); // held before its first emit
        k.step();
        assert_eq!((j.state(), j.value()), (JobState::Running, Some(11)));
        gate.open();
        let j = run_until(&mut k, j, |j| j.value() != Some(11));
        assert_eq!((j.state(), j.value()), (JobState::Running, Some(20)));
        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value(), j.error()), (JobState::Finished, Some(21), None));
    });
}

// ERROR -> (retry) STARTING -> RUNNING -> FINISHED: the failed run has ended,
// so the retry does not wait and there is nothing to cancel.
#[test]
fn green_retry_after_error() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let attempt = Rc::new(RefCell::new(0));
    let a = attempt.clone();
    let j = k.job(move |_: &JobContext<u32>| {
        *a.borrow_mut() += 1;
        os::sleep(secs(1));
        match *a.borrow() {
            1 => Err("flaky".to_string()),
            n => Ok(n),
        }
    });
    k.advance(secs(1));
    assert_eq!(j.state(), JobState::Error);
    j.retry().unwrap();
    assert_eq!(j.state(), JobState::Running);
    k.advance(secs(1));
    assert_eq!(
        (j.state(), j.value(), j.error().as_deref()),
        (JobState::Finished, Some(2), Some("flaky"))
    );
    k.step();
    assert_eq!(
        states(&record, j.id()),
        ["starting", "running", "error", "starting", "running", "finished"]
    );
}

#[test]
fn blocking_retry_after_error() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let runs = Arc::new(AtomicUsize::new(0));
        let j = k.blocking_job(move |_: &JobContext<usize>| {
            match runs.fetch_add(1, Ordering::SeqCst) + 1 {
                1 => Err("flaky".to_string()),
                n => Ok(n),
            }
        });
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.error().as_deref()), (JobState::Error, Some("flaky")));
        j.retry().unwrap();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(2)));
        k.step();
        assert_eq!(
            states(&record, j.id()),
            ["starting", "running", "error", "starting", "running", "finished"]
        );
    });
}

// ---------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------

// A panic in the work ends the run in `Error` with the panic's message; the
// kernel and its other threads go on.
#[test]
fn green_panic_ends_in_error_with_its_message() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let j = k.job(|_: &JobContext<u32>| -> Result<u32, String> {
        os::sleep(secs(1));
        panic!("index out of range: {}", 7)
    });
    let other = k.spawn(|| {
        os::sleep(secs(2));
        "still here"
    });
    k.advance(secs(2));
    assert_eq!(j.state(), JobState::Error);
    assert_eq!(j.error().as_deref(), Some("index out of range: 7"));
    assert_eq!(other.wait(), Ok("still here"));
    k.step();
    assert_eq!(states(&record, j.id()), ["starting", "running", "error"]);
}

#[test]
fn blocking_panic_ends_in_error_with_its_message() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let record = record_states(&mut k);
        let j = k.blocking_job(|_: &JobContext<u32>| -> Result<u32, String> {
            panic!("worker {} exploded", 3)
        });
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!(j.state(), JobState::Error);
        assert_eq!(j.error().as_deref(), Some("worker 3 exploded"));
        k.step();
        assert_eq!(states(&record, j.id()), ["starting", "running", "error"]);

        // The worker survived its task's panic: the pool still runs jobs.
        let again = k.blocking_job(|_: &JobContext<u32>| Ok::<_, String>(5));
        let again = run_until(&mut k, again, |j| j.state().is_done());
        assert_eq!(again.value(), Some(5));
    });
}

// ---------------------------------------------------------------------------
// Intrusive and cooperative cancel
// ---------------------------------------------------------------------------

// Intrusive cancel (the green default) unwinds the run's stack where it
// yields: its destructors run during `cancel`, the code after the yield point
// never runs.
#[test]
fn intrusive_cancel_unwinds_the_green_stack_at_its_yield_point() {
    let mut k = kernel();
    let out = Out::new();
    let drops = Drops::new();
    let (o, d) = (out.clone(), drops.clone());
    let j = k.job(move |_: &JobContext<()>| {
        let _guard = d.guard();
        o.print("before the pull");
        event::pull(None, "never");
        o.print("after the pull");
        Ok::<_, String>(())
    });
    assert_eq!(drops.count(), 0);
    j.cancel();
    assert_eq!(drops.count(), 1, "unwound by cancel itself");
    assert_eq!(j.state(), JobState::Cancelled);
    k.push_signal(Signal::new("never"));
    k.advance(secs(10));
    assert_eq!(out.lines(), ["before the pull"]);
    assert_eq!(drops.count(), 1);
    assert!(k.threads().is_empty(), "no driver thread left");
}

// The same from a script: a program cancels a job it started.
#[test]
fn intrusive_cancel_from_a_script() {
    let mut k = kernel();
    let drops = Drops::new();
    let d = drops.clone();
    let (count, state) = k
        .run(move || {
            let d2 = d.clone();
            let j = job::spawn(move |_: &JobContext<()>| {
                let _guard = d2.guard();
                os::sleep(secs(60));
                Ok::<_, String>(())
            });
            os::sleep(secs(1));
            j.cancel();
            (d.count(), j.state())
        })
        .unwrap();
    assert_eq!((count, state), (1, JobState::Cancelled));
    assert_eq!(k.uptime(), secs(1), "the program did not wait for the job's sleep");
}

// Cooperative cancel only sets the token: the run goes on to its next check
// (here, after its current slice of work), and a retry waits for it.
#[test]
fn cooperative_cancel_lets_the_run_reach_its_check_and_a_retry_waits() {
    let mut k = kernel();
    let out = Out::new();
    let o = out.clone();
    let runs = Rc::new(RefCell::new(0));
    let r = runs.clone();
    let j = job::Builder::new().cooperative().spawn_on(&mut k, move |ctx: &JobContext<u32>| {
        *r.borrow_mut() += 1;
        let run = *r.borrow();
        for slice in 1..=3 {
            if ctx.is_cancelled() {
                o.print(format!("run {run}: saw the token before slice {slice}"));
                return Err("cancelled".to_string());
            }
            os::sleep(secs(1));
            o.print(format!("run {run}: slice {slice} done"));
            ctx.emit(slice);
        }
        Ok(run)
    });
    k.advance(Duration::from_millis(1500));
    j.cancel();
    assert_eq!(j.state(), JobState::Cancelled);
    j.retry().unwrap();
    assert_eq!(j.state(), JobState::Waiting);
    k.advance(Duration::from_millis(500));
    assert_eq!(j.state(), JobState::Running);
    assert_eq!(j.value(), Some(1), "slice 2's value, emitted after the cancel, is dropped");
    assert_eq!(j.error(), None, "the cancelled run's error is dropped");
    k.advance(secs(3));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(2)));
    assert_eq!(
        out.lines(),
        [
            "run 1: slice 1 done",
            "run 1: slice 2 done",
            "run 1: saw the token before slice 3",
            "run 2: slice 1 done",
            "run 2: slice 2 done",
            "run 2: slice 3 done",
        ]
    );
}

// Cancel from `Waiting`: the waiting run never starts.
#[test]
fn cancel_while_waiting_never_starts_the_run() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let runs = Rc::new(RefCell::new(0));
    let r = runs.clone();
    let j = job::Builder::new().cooperative().spawn_on(&mut k, move |ctx: &JobContext<()>| {
        *r.borrow_mut() += 1;
        while !ctx.is_cancelled() {
            os::sleep(secs(1));
        }
        Ok::<_, String>(())
    });
    j.retry().unwrap();
    assert_eq!(j.state(), JobState::Waiting);
    j.cancel();
    assert_eq!(j.state(), JobState::Cancelled);
    k.advance(secs(5));
    assert_eq!((j.state(), *runs.borrow()), (JobState::Cancelled, 1));
    assert!(k.threads().is_empty());
    assert_eq!(
        states(&record, j.id()),
        ["starting", "running", "cancelled", "starting", "waiting", "cancelled"]
    );
}

// ---------------------------------------------------------------------------
// Dependencies
// ---------------------------------------------------------------------------

// An equal key (by hash) does not restart the job; a new key restarts it as
// a retry does.
#[test]
fn set_dependencies_restarts_only_on_a_new_key() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let runs = Rc::new(RefCell::new(0));
    let r = runs.clone();
    let j = job::Builder::new().dependencies(&("user", 42)).spawn_on(
        &mut k,
        move |_: &JobContext<u32>| {
            *r.borrow_mut() += 1;
            let run = *r.borrow();
            os::sleep(secs(1));
            Ok::<_, String>(run)
        },
    );
    j.set_dependencies(&("user", 42)).unwrap();
    j.set_dependencies(&(String::from("user"), 42)).unwrap(); // hash-equal
    assert_eq!((*runs.borrow(), j.state()), (1, JobState::Running));
    k.advance(secs(1));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(1)));
    j.set_dependencies(&("user", 42)).unwrap();
    assert_eq!((*runs.borrow(), j.state()), (1, JobState::Finished));

    j.set_dependencies(&("user", 43)).unwrap();
    assert_eq!((*runs.borrow(), j.state(), j.value()), (2, JobState::Running, Some(1)));
    j.set_dependencies(&("user", 44)).unwrap(); // while running: cancel, restart
    assert_eq!((*runs.borrow(), j.state()), (3, JobState::Running));
    k.advance(secs(1));
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(3)));
    assert_eq!(
        states(&record, j.id()),
        [
            "starting",
            "running",
            "finished", // ("user", 42)
            "starting",
            "running",
            "cancelled", // ("user", 43)
            "starting",
            "running",
            "finished", // ("user", 44)
        ]
    );
}

// A job that had no key records its first one without a restart.
#[test]
fn the_first_dependency_key_does_not_restart() {
    let mut k = kernel();
    let runs = Rc::new(RefCell::new(0));
    let r = runs.clone();
    let j = k.job(move |_: &JobContext<()>| {
        *r.borrow_mut() += 1;
        os::sleep(secs(1));
        Ok::<_, String>(())
    });
    j.set_dependencies(&"page 1").unwrap();
    assert_eq!((*runs.borrow(), j.state()), (1, JobState::Running));
    j.set_dependencies(&"page 2").unwrap();
    assert_eq!((*runs.borrow(), j.state()), (2, JobState::Running));
}

#[test]
fn blocking_set_dependencies_restarts_only_on_a_new_key() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let gate = Gate::default();
        let g = gate.clone();
        let j = job::Builder::new().dependencies(&1).spawn_blocking_on(
            &mut k,
            move |_: &JobContext<usize>| {
                g.pass();
                Ok::<_, String>(r.fetch_add(1, Ordering::SeqCst) + 1)
            },
        );
        j.set_dependencies(&1).unwrap();
        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(1)));
        j.set_dependencies(&1).unwrap();
        assert_eq!(j.state(), JobState::Finished);
        j.set_dependencies(&2).unwrap();
        assert_eq!(j.state(), JobState::Running); // held at the gate
        gate.open();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.value(), runs.load(Ordering::SeqCst)), (Some(2), 2));
    });
}

// ---------------------------------------------------------------------------
// Dropping a job, dropping the kernel
// ---------------------------------------------------------------------------

#[test]
fn dropping_a_green_job_unwinds_its_run() {
    let mut k = kernel();
    let record = record_states(&mut k);
    let drops = Drops::new();
    let d = drops.clone();
    let j = k.job(move |_: &JobContext<()>| {
        let _guard = d.guard();
        event::pull(None, "never");
        Ok::<_, String>(())
    });
    let id = j.id();
    drop(j);
    assert_eq!(drops.count(), 1);
    k.step();
    assert_eq!(states(&record, id), ["starting", "running", "cancelled"]);
    assert!(k.threads().is_empty());
}

// A blocking run cannot be unwound: dropping its job sets the token, which
// the worker sees.
#[test]
fn dropping_a_blocking_job_sets_its_token() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let (started, start) = reached();
        let (saw, seen) = reached();
        let j = k.blocking_job(move |ctx: &JobContext<()>| {
            started.send(()).unwrap();
            while !ctx.is_cancelled() {
                std::thread::yield_now();
            }
            saw.send(()).unwrap();
            Ok::<_, String>(())
        });
        start.recv().unwrap();
        drop(j);
        seen.recv().unwrap();
        k.run_forever().unwrap(); // the driver relays the end of the run, then ends
        assert!(k.threads().is_empty());
    });
}

thread_local! {
    /// Set by work on a worker thread: its drop, when that OS thread exits,
    /// releases one strong count of the test's marker.
    static HELD_BY_THIS_THREAD: RefCell<Option<Arc<()>>> = const { RefCell::new(None) };
}

// Dropping the kernel cancels every job (green runs unwound, blocking runs'
// tokens set) and joins its worker threads: when `drop` returns, each worker
// has exited, since its thread-local destructors have run.
#[test]
fn dropping_the_kernel_cancels_every_job_and_joins_the_workers() {
    within(Duration::from_secs(60), || {
        let mut k = Kernel::builder().virtual_time(true).workers(2).build();
        let marker = Arc::new(());
        let (hand, handed) = mpsc::channel::<Arc<()>>();
        let handed = Arc::new(Mutex::new(handed));
        let (started, start) = reached();
        let saw_token = Arc::new(AtomicUsize::new(0));
        let blocking: Vec<Job<()>> = (0..2)
            .map(|_| {
                hand.send(marker.clone()).unwrap();
                let (handed, started, saw_token) =
                    (handed.clone(), started.clone(), saw_token.clone());
                k.blocking_job(move |ctx: &JobContext<()>| {
                    let mine = handed.lock().unwrap().recv().expect("a marker for each run");
                    HELD_BY_THIS_THREAD.with(|held| *held.borrow_mut() = Some(mine));
                    started.send(()).unwrap();
                    while !ctx.is_cancelled() {
                        std::thread::yield_now();
                    }
                    saw_token.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(())
                })
            })
            .collect();
        let drops = Drops::new();
        let d = drops.clone();
        let green = k.job(move |_: &JobContext<()>| {
            let _guard = d.guard();
            event::pull(None, "never");
            Ok::<_, String>(())
        });
        start.recv().unwrap();
        start.recv().unwrap(); // both workers run, each holding a marker
        assert_eq!(Arc::strong_count(&marker), 3);

        drop(k);
        assert_eq!(drops.count(), 1, "the green run was unwound");
        assert_eq!(saw_token.load(Ordering::SeqCst), 2, "both workers saw their token");
        assert_eq!(Arc::strong_count(&marker), 1, "a worker thread outlived the kernel");
        assert_eq!(green.state(), JobState::Cancelled);
        assert!(blocking.iter().all(|j| j.state() == JobState::Cancelled));
        assert_eq!(green.retry(), Err(Error::KernelGone));
    });
}

// ---------------------------------------------------------------------------
// Joining a job from a green thread
// ---------------------------------------------------------------------------

#[test]
fn join_with_a_timeout_from_a_green_thread() {
    let mut k = kernel();
    let waited = k
        .run(|| {
            let j = job::spawn(|_: &JobContext<u32>| {
                os::sleep(secs(10));
                Ok::<_, String>(7)
            });
            let first = j.join(secs(1));
            let (at, state) = (os::uptime(), j.state());
            let second = j.join(None);
            (first, at, state, second, os::uptime(), j.value())
        })
        .unwrap();
    assert_eq!(
        waited,
        (Err(Error::Timeout), secs(1), JobState::Running, Ok(()), secs(10), Some(7))
    );
}

// A join returns at once for an ended run, and ends when another thread
// cancels the run it waits for.
#[test]
fn join_returns_for_an_ended_or_cancelled_run() {
    let mut k = kernel();
    let out = k
        .run(|| {
            let done = job::spawn(|_: &JobContext<()>| Ok::<_, String>(()));
            let first = done.join(secs(1));
            let stuck = Rc::new(job::Builder::new().cooperative().spawn(|ctx: &JobContext<()>| {
                while !ctx.is_cancelled() {
                    os::sleep(secs(1));
                }
                Ok::<_, String>(())
            }));
            let s = stuck.clone();
            thread::create(move || {
                os::sleep(secs(3));
                s.cancel();
            });
            let second = stuck.join(secs(60));
            (first, second, os::uptime(), stuck.state())
        })
        .unwrap();
    assert_eq!(out, (Ok(()), Ok(()), secs(3), JobState::Cancelled));
}

// A joiner parks on the job itself (no signal filter): `Kernel::threads`
// shows it waiting on `Job::join` until the run ends, and the end of the run
// wakes it even when nothing is pushed meanwhile.
#[test]
fn a_joiner_is_shown_waiting_on_the_job_until_the_run_ends() {
    let mut k = kernel();
    let j = Rc::new(k.job(|_: &JobContext<u8>| {
        os::sleep(secs(5));
        Ok::<_, String>(3)
    }));
    let joined = Rc::new(RefCell::new(None));
    let (jj, out) = (j.clone(), joined.clone());
    k.spawn(move || *out.borrow_mut() = Some((jj.join(None), os::uptime())));
    k.step();
    let joiner = k.threads().into_iter().find(|t| t.waiting.to_string() == "Job::join");
    assert!(joiner.is_some(), "{:?}", k.threads());
    k.run_forever().unwrap();
    assert_eq!(*joined.borrow(), Some((Ok(()), secs(5))));
    assert_eq!(j.value(), Some(3));
}

/// A join is placed at the script's call, not inside the job layer.
#[test]
fn a_joiner_waits_at_its_own_line() {
    let mut k = kernel();
    let j = Rc::new(k.job(|_: &JobContext<u8>| {
        os::sleep(secs(5));
        Ok::<_, String>(3)
    }));
    let jj = j.clone();
    let line = line!() + 1;
    k.spawn(move || jj.join(None));
    k.step();
    let joiner = k.threads().into_iter().find(|t| t.waiting.to_string() == "Job::join");
    let at = joiner.and_then(|t| t.waiting_at).expect("a joiner with its wait site");
    assert_eq!((at.file(), at.line()), ("tests/jobs.rs", line));
    k.run_forever().unwrap();
}

// Only a program or thread can wait; the host polls instead.
#[test]
#[should_panic(expected = "`Job::join` called outside a kernel")]
fn join_from_the_host_panics() {
    let mut k = kernel();
    let j = k.job(|_: &JobContext<()>| Ok::<_, String>(()));
    let _ = j.join(None);
}

// A script starts a blocking job and joins it: the kernel waits in the OS
// for the worker's report.
#[test]
fn join_from_a_green_thread_waits_for_a_blocking_job() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let gate = Gate::default();
        let g = gate.clone();
        let (state, value) = k
            .run(move || {
                let j = job::spawn_blocking(move |_: &JobContext<u32>| {
                    g.pass();
                    Ok::<_, String>(9)
                });
                assert_eq!(j.join(Duration::ZERO), Err(Error::Timeout));
                gate.open();
                j.join(None).unwrap();
                (j.state(), j.value())
            })
            .unwrap();
        assert_eq!((state, value), (JobState::Finished, Some(9)));
    });
}

// ---------------------------------------------------------------------------
// Work that does not yield: the green flavour holds the kernel, the blocking
// flavour does not
// ---------------------------------------------------------------------------

// Green work that never yields runs to its end inside the call that started
// it, like any green thread: the kernel (and the host's frame) waits for it.
// Work like this belongs in a blocking job.
#[test]
fn green_work_that_never_yields_blocks_its_kernel() {
    let mut k = kernel();
    let out = Out::new();
    let ticks = out.clone();
    k.spawn(move || loop {
        ticks.print("tick");
        os::sleep(Duration::ZERO);
    });
    let o = out.clone();
    let j = k.job(move |ctx: &JobContext<u32>| {
        let mut sum = 0;
        for unit in 1..=3 {
            sum += unit;
            o.print(format!("unit {unit}"));
            ctx.emit(sum);
        }
        Ok::<_, String>(sum)
    });
    // Every unit ran before `job` returned, and nothing else ran in between.
    assert_eq!(out.lines(), ["tick", "unit 1", "unit 2", "unit 3"]);
    assert_eq!((j.state(), j.value()), (JobState::Finished, Some(6)));
    k.step();
    assert_eq!(out.lines().last().map(String::as_str), Some("tick"));
}

// Blocking work that never yields runs on a worker: the host gets control
// back at once and the kernel's scripts go on while the worker is blocked on
// a channel the test holds.
#[test]
fn blocking_work_does_not_block_its_kernel() {
    within(Duration::from_secs(60), || {
        let mut k = kernel();
        let (release, released) = mpsc::channel::<u32>();
        let released = Mutex::new(released);
        let (started, start) = reached();
        let j = k.blocking_job(move |_: &JobContext<u32>| {
            started.send(()).unwrap();
            Ok::<_, String>(released.lock().unwrap().recv().unwrap())
        });
        start.recv().unwrap();
        assert_eq!(j.state(), JobState::Running);

        let out = Out::new();
        let o = out.clone();
        k.spawn(move || {
            for frame in 1..=3 {
                os::sleep(secs(1));
                o.print(format!("frame {frame}"));
            }
        });
        k.advance(secs(3)); // the worker is still blocked meanwhile
        assert_eq!(out.lines(), ["frame 1", "frame 2", "frame 3"]);
        assert_eq!((j.state(), j.value()), (JobState::Running, None));

        release.send(42).unwrap();
        let j = run_until(&mut k, j, |j| j.state().is_done());
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(42)));
    });
}

/// `with_value`'s callback sees the value as it was when called, and may
/// block and use the job meanwhile: the job goes on reporting values (its
/// next report used to fail with "RefCell already borrowed", ending it in
/// `Error`), and a cancel from inside takes effect.
#[test]
fn with_value_may_block_and_use_the_job_while_it_goes_on() {
    let mut k = kernel();
    let out = k.run(|| {
        let j = job::spawn(|ctx: &JobContext<u32>| {
            os::sleep(secs(1));
            ctx.emit(1);
            os::sleep(secs(1));
            Ok::<_, String>(2)
        });
        os::sleep(Duration::from_millis(1500));
        let seen = j.with_value(|v| {
            let then = v.copied();
            os::sleep(secs(3));
            (then, v.copied(), j.value())
        });
        (seen, j.state(), j.error())
    });
    assert_eq!(out, Ok(((Some(1), Some(1), Some(2)), JobState::Finished, None)));

    let j = k.job(|ctx: &JobContext<u32>| {
        ctx.emit(1);
        os::sleep(secs(5));
        Ok::<_, String>(2)
    });
    assert_eq!(j.with_value(|v| (j.cancel(), v.copied())), ((), Some(1)));
    assert_eq!((j.state(), j.value()), (JobState::Cancelled, Some(1)));
}

// A retry called by the run it stops (the job's own work, or a thread that
// work started) unwinds its caller with the old run, and the new run still
// starts: retry "stops the current thread, and starts all over" from any
// caller. Both callers' stacks are unwound (their guards drop).
#[test]
fn a_retry_from_inside_the_run_it_stops_starts_the_next_run() {
    for from_a_thread in [false, true] {
        let mut k = kernel();
        let record = record_states(&mut k);
        let errors = Out::new();
        let sink = errors.clone();
        k.on_error(move |msg| sink.print(msg));
        let drops = Drops::new();
        let runs = Rc::new(RefCell::new(0));
        let me: Rc<RefCell<Option<Job<u32>>>> = Rc::default();
        let (r, m, d) = (runs.clone(), me.clone(), drops.clone());
        let j = k.job(move |_: &JobContext<u32>| {
            *r.borrow_mut() += 1;
            let run = *r.borrow();
            if run == 1 {
                let _guard = d.guard();
                os::sleep(secs(1));
                let retry = {
                    let m = m.clone();
                    move || m.borrow().as_ref().expect("the handle is set").retry().unwrap()
                };
                if from_a_thread {
                    let guard = d.guard();
                    thread::create(move || {
                        let _guard = guard;
                        retry();
                        // Its run's driver is dead (killed while this
                        // thread ran on its stack): the thread dies with it
                        // once it blocks.
                        event::pull(None, "never");
                        unreachable!("the retry's kill unwinds the thread with its run");
                    });
                } else {
                    retry();
                }
                unreachable!("the retry unwinds the run that called it");
            }
            Ok::<_, String>(run)
        });
        *me.borrow_mut() = Some(j);
        k.advance(secs(2));
        k.step();
        let j = me.borrow_mut().take().unwrap();
        assert_eq!((j.state(), j.value()), (JobState::Finished, Some(2)), "{from_a_thread}");
        assert_eq!(*runs.borrow(), 2);
        assert_eq!(drops.count(), if from_a_thread { 2 } else { 1 });
        assert_eq!(errors.lines(), Vec::<String>::new(), "nothing panicked");
        assert_eq!(
            states(&record, j.id()),
            ["starting", "running", "cancelled", "starting", "waiting", "running", "finished"],
        );
    }
}

/// A destructor run by a kill that joins a job cannot wait (the thread is
/// being unwound): the join returns `Err(Killed)` at once, with or without a
/// timeout, instead of looping for ever on a clock that does not move.
#[test]
fn a_job_joined_from_a_destructor_of_a_killed_thread_returns_killed() {
    let results = within(secs(60), || {
        struct JoinOnDrop(Rc<RefCell<Vec<Result<(), Error>>>>, Rc<Job<()>>);
        impl Drop for JoinOnDrop {
            fn drop(&mut self) {
                self.0.borrow_mut().push(self.1.join(None));
                self.0.borrow_mut().push(self.1.join(secs(5)));
            }
        }
        let results = Rc::new(RefCell::new(Vec::new()));
        let seen = results.clone();
        let mut kernel = kernel();
        kernel
            .run(move || {
                let job = Rc::new(job::spawn(|_: &JobContext<()>| {
                    event::pull(None, "never");
                    Ok::<_, String>(())
                }));
                let guard = JoinOnDrop(seen, job.clone());
                let t = thread::create(move || {
                    let _guard = guard;
                    event::pull(None, "never");
                });
                t.kill();
                assert_eq!(job.state(), JobState::Running, "the run goes on");
            })
            .unwrap();
        let got = results.borrow().clone();
        got
    });
    assert_eq!(results, [Err(Error::Killed), Err(Error::Killed)]);
}
