//! The run machinery: a job's shared state ([`JobCore`]), the driver thread
//! that runs each run's work or hands it to a worker, and how a run's end is
//! noticed, waited for and announced.

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::event::Signal;
use crate::host::{KernelRef, WorkerSettings};
use crate::os;
use crate::park::{park_on, LocalWaker, Registration, WaitQueue, Woke};
use crate::thread::{JoinHandle, Status, Thread};
use crate::unwind::{is_kernel_unwind, take_message};

use super::mailbox::{Mailbox, Outcome, Sink};
use super::workers::JobLayer;
use super::{JobContext, JobState, JOB_STATE, JOB_VALUE};

pub(super) type GreenWork<T> = Rc<dyn Fn(&JobContext<T>) -> Result<T, String>>;
/// Makes, for one run of a blocking job, the task a worker runs. Built where
/// `T: Send` is known, so that the rest of the job code needs no such bound.
type Launch<T> = Rc<dyn Fn(Arc<AtomicBool>, Arc<Mailbox<T>>) -> Box<dyn FnOnce() + Send>>;

pub(super) fn launcher<T: Send + 'static, E: fmt::Display>(
    work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
) -> Launch<T> {
    let work = Arc::new(work);
    Rc::new(move |token, mail| {
        let work = work.clone();
        Box::new(move || {
            let ctx = JobContext { token, sink: Sink::Blocking { mail } };
            // Cancelled while it waited for a free worker: nobody wants its result.
            let outcome = if ctx.is_cancelled() {
                Err("cancelled before it started".to_string())
            } else {
                run_caught(|| work(&ctx).map_err(|e| e.to_string()))
            };
            if let Sink::Blocking { mail } = &ctx.sink {
                mail.post(Outcome::Done(outcome));
            }
        })
    })
}

pub(super) enum Work<T> {
    Green(GreenWork<T>),
    Blocking(Launch<T>),
}

impl<T> Clone for Work<T> {
    fn clone(&self) -> Work<T> {
        match self {
            Work::Green(work) => Work::Green(work.clone()),
            Work::Blocking(work) => Work::Blocking(work.clone()),
        }
    }
}

/// A run's driver thread, and its handle for how it ended (taken once).
pub(super) struct Driver {
    pub(super) thread: Thread,
    pub(super) end: RefCell<Option<JoinHandle<()>>>,
}

pub(super) struct JobCore<T> {
    pub(super) id: u64,
    pub(super) state: JobState,
    /// Shared with the readers of `Job::with_value`, so that a new value
    /// never waits for them.
    pub(super) value: Option<Rc<T>>,
    pub(super) error: Option<String>,
    /// The number of the current run; older runs' reports are ignored.
    pub(super) run: u64,
    pub(super) token: Arc<AtomicBool>,
    /// The green thread that drives the current run.
    pub(super) driver: Option<Driver>,
    pub(super) dependencies: Option<u64>,
    pub(super) intrusive: bool,
    pub(super) work: Work<T>,
    pub(super) kernel: KernelRef,
    /// The threads in `Job::join`, woken when a run ends.
    pub(super) joiners: WaitQueue<LocalWaker>,
}

impl<T: 'static> JobCore<T> {
    /// Moves the job to `state`; the end of a run wakes its joiners.
    pub(super) fn set(&mut self, state: JobState) {
        self.state = state;
        if state.is_done() {
            self.joiners.wake_all_local();
        }
    }

    /// Records what run `run` reports, unless a newer run or a cancel has
    /// superseded it, and tells the scripts.
    pub(super) fn apply(job: &Rc<RefCell<JobCore<T>>>, run: u64, outcome: Outcome<T>) {
        let (id, state, kernel) = {
            let mut core = job.borrow_mut();
            if core.run != run || core.state == JobState::Cancelled {
                return;
            }
            let state = match outcome {
                Outcome::Value(value) => {
                    core.value = Some(Rc::new(value));
                    None
                }
                Outcome::Done(Ok(value)) => {
                    core.value = Some(Rc::new(value));
                    Some(JobState::Finished)
                }
                Outcome::Done(Err(error)) => {
                    core.error = Some(error);
                    Some(JobState::Error)
                }
            };
            if let Some(state) = state {
                core.set(state);
            }
            (core.id, state, core.kernel.clone())
        };
        announce(&kernel, || match state {
            Some(state) => state_signal(id, state),
            None => Signal::new(JOB_VALUE).with(id),
        });
    }

    /// Moves run `run` to `state` if it is still current and active.
    fn set_state(job: &Rc<RefCell<JobCore<T>>>, run: u64, state: JobState) -> bool {
        let (id, kernel) = {
            let mut core = job.borrow_mut();
            if core.run != run || core.state.is_done() {
                return false;
            }
            core.set(state);
            (core.id, core.kernel.clone())
        };
        announce(&kernel, || state_signal(id, state));
        true
    }
}

pub(super) fn state_signal(id: u64, state: JobState) -> Signal {
    Signal::new(JOB_STATE).with(id).with(state.name())
}

/// Queues a job signal in `kernel`, if it still exists (built only then).
pub(super) fn announce(kernel: &KernelRef, signal: impl FnOnce() -> Signal) {
    kernel.push(signal);
}

/// [`Job::refresh`](super::Job::refresh), on the job's shared state.
pub(super) fn refresh<T: 'static>(job: &Rc<RefCell<JobCore<T>>>) {
    let (kernel_gone, ended) = {
        let core = job.borrow();
        if core.state.is_done() {
            return;
        }
        let kernel_gone = core.kernel.is_gone();
        let ended = match &core.driver {
            Some(d) if !kernel_gone && d.thread.status() == Status::Dead => {
                match d.end.borrow_mut().take().map(JoinHandle::wait) {
                    Some(Err(error)) => error.to_string(),
                    _ => "the job's thread ended without a result".to_string(),
                }
            }
            _ if kernel_gone => String::new(),
            _ => return,
        };
        (kernel_gone, ended)
    };
    if kernel_gone {
        job.borrow_mut().set(JobState::Cancelled);
        return;
    }
    let run = job.borrow().run;
    JobCore::apply(job, run, Outcome::Done(Err(ended)));
}

/// Whether the job's run has ended, noticing one whose driver died.
fn is_done<T: 'static>(job: &Rc<RefCell<JobCore<T>>>) -> bool {
    refresh(job);
    job.borrow().state.is_done()
}

/// Wakes the wait `r` registers when `job`'s current run ends: its state
/// becomes done, or its driver thread dies without reporting (see
/// `Job::refresh`).
pub(super) fn wake_at_end<T: 'static>(job: &RefCell<JobCore<T>>, r: &mut Registration<'_>) {
    let mut core = job.borrow_mut();
    r.queue_local(&mut core.joiners);
    if let Some(driver) = &core.driver {
        driver.thread.wake_at_end(r);
    }
}

/// [`Job::join`](super::Job::join)'s wait, on the job's shared state, until
/// `deadline` on the kernel's clock.
#[track_caller]
pub(super) fn join<T: 'static>(
    job: &Rc<RefCell<JobCore<T>>>,
    deadline: Option<Duration>,
) -> Result<(), Error> {
    // A run ends when its state is done (the job wakes its joiners), or
    // when its driver thread dies without reporting (see `refresh`).
    while !is_done(job) {
        if deadline.is_some_and(|d| os::uptime() >= d) {
            return Err(Error::Timeout);
        }
        let woke = park_on("Job::join", deadline, |r| wake_at_end(job, r));
        if let Woke::Shutdown = woke {
            // The caller is being unwound (a destructor run by a kill,
            // a panic or an exit), and cannot wait.
            return Err(Error::Killed);
        }
    }
    Ok(())
}

/// Sets the token when the driver ends, however it ends (a kill unwinds
/// through here), so that a worker still running sees the cancel.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The body of a run's driver thread.
pub(super) fn drive<T: 'static>(
    job: Weak<RefCell<JobCore<T>>>,
    run: u64,
    token: Arc<AtomicBool>,
    previous: Option<Thread>,
    work: Work<T>,
) {
    let _cancel = CancelOnDrop(token.clone());
    let current = |job: &Weak<RefCell<JobCore<T>>>| {
        job.upgrade().filter(|j| j.borrow().run == run && !j.borrow().state.is_done())
    };
    if let Some(previous) = previous.filter(|p| p.status() != Status::Dead) {
        let Some(j) = current(&job) else { return };
        JobCore::set_state(&j, run, JobState::Waiting);
        drop(j);
        let _ = previous.join(None);
    }
    let Some(j) = current(&job) else { return };
    JobCore::set_state(&j, run, JobState::Running);
    drop(j);
    let outcome = match work {
        Work::Green(work) => {
            let ctx = JobContext { token, sink: Sink::Green { job: job.clone(), run } };
            Some(run_caught(|| work(&ctx)))
        }
        Work::Blocking(launch) => {
            let kernel = KernelRef::current("job driver");
            if job.upgrade().is_none() {
                return;
            }
            let mail = Arc::new(Mailbox::new());
            let mut task = Some(launch(token, mail.clone()));
            let settings =
                kernel.with_layer(|s: &mut WorkerSettings| s.clone()).unwrap_or_default();
            let submitted = kernel
                .with_layer(|layer: &mut JobLayer| {
                    let workers = layer.workers(&settings)?;
                    workers.submit(task.take().expect("submitted once"));
                    Ok(())
                })
                .unwrap_or(Err(Error::KernelGone));
            // A refused run ends with the error; its work, never run, is
            // dropped here, with the kernel's state no longer borrowed.
            drop(task);
            match submitted {
                Ok(()) => wait_for_worker(&job, run, &mail),
                Err(error) => Some(Err(error.to_string())),
            }
        }
    };
    if let (Some(j), Some(outcome)) = (job.upgrade(), outcome) {
        JobCore::apply(&j, run, Outcome::Done(outcome));
    }
}

/// Relays a worker's messages to the job until the work is done; `None` if the
/// job was dropped meanwhile.
fn wait_for_worker<T: 'static>(
    job: &Weak<RefCell<JobCore<T>>>,
    run: u64,
    mail: &Mailbox<T>,
) -> Option<Result<T, String>> {
    loop {
        for message in mail.take() {
            match message {
                Outcome::Done(outcome) => return Some(outcome),
                value => {
                    if let Some(j) = job.upgrade() {
                        JobCore::apply(&j, run, value);
                    }
                }
            }
        }
        if !mail.wait() {
            return None;
        }
    }
}

/// Runs the work, turning a panic into an error message. The kernel's own
/// unwinds (kill, exit, interrupt) pass through.
fn run_caught<T>(work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(outcome) => outcome,
        Err(payload) if is_kernel_unwind(&*payload) => resume_unwind(payload),
        Err(payload) => Err(take_message(payload)),
    }
}

#[cfg(test)]
mod tests {
    use crate::job::{spawn, JobContext};
    use crate::Kernel;

    /// Joins that time out leave no entry behind for long: the joiners'
    /// queue, pushed to only under the kernel's borrow, is swept with the
    /// kernel's own task table (it grew by one entry a join before).
    #[test]
    fn timed_out_joins_and_selects_leave_the_joiners_queue_bounded() {
        let mut kernel = Kernel::builder().virtual_time(true).build();
        let most = kernel
            .run(|| {
                let j = spawn(|_: &JobContext<u8>| {
                    crate::event::pull(None, "never");
                    Ok::<_, String>(1)
                });
                let mut most = 0;
                for i in 0..2_000 {
                    if i % 2 == 0 {
                        let _ = j.join(std::time::Duration::from_millis(1));
                    } else {
                        let mut sel = crate::sync::Select::new();
                        sel.job(&j);
                        sel.timeout(std::time::Duration::from_millis(1));
                        sel.wait();
                    }
                    most = most.max(j.core.borrow().joiners.len());
                }
                j.cancel();
                most
            })
            .unwrap();
        assert!(most <= 16, "the joiners' queue held {most} entries");
    }
}
