//! Jobs: Solara's `use_thread` on the kernel. A [`Job`] runs long work in the
//! background and exposes its progress as a state that a frame loop or UI
//! polls without ever blocking.
//!
//! ```text
//! INITIAL --start--> STARTING --previous run still going--> WAITING --it ended--> RUNNING
//!                    STARTING --no previous run-----------------------------------> RUNNING
//! RUNNING --error or panic--> ERROR    RUNNING --returned--> FINISHED    (any active) --cancel()--> CANCELLED
//! ```
//!
//! Two flavours:
//! - **green** ([`spawn`], [`Kernel::job`](crate::Kernel::job)): the work runs as
//!   a green thread of the kernel. Cancel is intrusive by default: the work's
//!   stack is unwound at its next yield point (a pull, a sleep, a join). Work
//!   that never yields holds the kernel until it returns, like any green thread.
//! - **blocking** ([`spawn_blocking`], [`Kernel::blocking_job`](crate::Kernel::blocking_job)):
//!   the work runs on an OS worker thread from the kernel's small pool and
//!   reports back as signals, so CPU-heavy or blocking code never stalls the
//!   kernel. An OS thread cannot be unwound from outside, so only cooperative
//!   cancel applies: the work should check [`JobContext::is_cancelled`]. The
//!   pool starts with the first blocking run; if the OS refuses its threads,
//!   that run ends in `Error` with the text of [`Error::WorkerThread`], and
//!   the next run tries again.
//!
//! Each start of the work is a *run*. Runs of one job never overlap: a new run
//! (from [`Job::retry`] or a change of [`Job::set_dependencies`]) stays
//! `Waiting` until the previous one has ended. [`Job::value`] and
//! [`Job::error`] change only when a run produces a new value or error, so the
//! previous result stays visible while a new run is going.
//!
//! Every state change is pushed as a `"job_state"` signal (the job's id, then
//! the state's name) and every value as `"job_value"` (the job's id), so
//! scripts can pull them.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::host::KernelRef;
use crate::os;
use crate::park::Registration;
use crate::thread::Thread;

mod builder;
mod host;
mod mailbox;
mod run;
mod workers;

pub use builder::Builder;
pub use mailbox::JobContext;
use mailbox::Outcome;
use run::{announce, drive, join, refresh, state_signal, wake_at_end, Driver, JobCore, Work};

/// The signal pushed on each state change: `job_state <job id> <state>`.
///
/// # Examples
///
/// ```
/// use cothread::{event, job::{self, JobContext}, Filter, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let j = job::spawn(|_: &JobContext<()>| {
///         event::pull(None, "go");
///         Ok::<_, String>(())
///     });
///     event::push("go".into());
///     let mut states = Vec::new();
///     while states.last().map(String::as_str) != Some("finished") {
///         let s = event::pull(None, Filter::name(job::JOB_STATE).arg(0, j.id())).unwrap();
///         states.push(s.arg(1).to_string());
///     }
///     assert_eq!(states, ["starting", "running", "finished"]);
/// }).unwrap();
/// ```
pub const JOB_STATE: &str = "job_state";
/// The signal pushed on each new value: `job_value <job id>`.
///
/// # Examples
///
/// ```
/// use cothread::{event, job::{self, JobContext}, os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let j = job::spawn(|ctx: &JobContext<u8>| {
///         os::sleep(Duration::from_secs(1));
///         ctx.emit(50);
///         os::sleep(Duration::from_secs(1));
///         Ok::<_, String>(100)
///     });
///     let s = event::pull(None, job::JOB_VALUE).unwrap();
///     assert_eq!(s.arg(0).as_int(), Some(j.id() as i64));
///     assert_eq!(j.value(), Some(50));
/// }).unwrap();
/// ```
pub const JOB_VALUE: &str = "job_value";

/// Where a job is in the state diagram (Solara's `ResultState`).
///
/// # Examples
///
/// ```
/// use cothread::job::JobState;
/// assert_eq!(JobState::Finished.to_string(), "finished");
/// assert!(JobState::Error.is_done());
/// assert!(!JobState::Waiting.is_done());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// A run has been started and has not begun waiting or running yet.
    Starting,
    /// The run waits for the previous run of the same job to end.
    Waiting,
    /// The work is running; incremental values may already be visible.
    Running,
    /// The work returned an error or panicked; [`Job::error`] says what.
    Error,
    /// The work returned its value; [`Job::value`] is it.
    Finished,
    /// The run was cancelled.
    Cancelled,
}

impl JobState {
    /// Whether the run has ended (error, finished or cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cothread::job::JobState::Cancelled.is_done());
    /// ```
    pub fn is_done(self) -> bool {
        matches!(self, JobState::Error | JobState::Finished | JobState::Cancelled)
    }

    fn name(self) -> &'static str {
        match self {
            JobState::Starting => "starting",
            JobState::Waiting => "waiting",
            JobState::Running => "running",
            JobState::Error => "error",
            JobState::Finished => "finished",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A handle to background work and its result (Solara's `Result[T]`).
/// Dropping it cancels the work. It stays on its kernel's OS thread: it is
/// not `Send` (see [`Kernel`](crate::Kernel#one-kernel-per-os-thread)).
///
/// # Examples
///
/// ```
/// use cothread::{job::{JobContext, JobState}, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let j = kernel.blocking_job(|_: &JobContext<u64>| {
///     Ok::<_, String>((1..=1_000u64).sum()) // on a worker thread
/// });
/// while !j.state().is_done() {
///     kernel.run_forever().unwrap(); // a frame loop would `step()` instead
/// }
/// assert_eq!((j.state(), j.value()), (JobState::Finished, Some(500_500)));
/// ```
pub struct Job<T: 'static> {
    core: Rc<RefCell<JobCore<T>>>,
}

impl<T: 'static> fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.core.borrow();
        f.debug_struct("Job").field("id", &core.id).field("state", &core.state).finish()
    }
}

/// Starts `work` as a green job with intrusive cancel, from inside a kernel.
/// The work runs at once, up to its first yield point, before `spawn` returns.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{job, os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let j = job::spawn(|_: &job::JobContext<&str>| {
///         os::sleep(Duration::from_secs(1));
///         Ok::<_, String>("done")
///     });
///     assert_eq!(j.state(), job::JobState::Running);
///     j.join(None).unwrap();
///     assert_eq!(j.value(), Some("done"));
/// }).unwrap();
/// ```
pub fn spawn<T: 'static, E: fmt::Display>(
    work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
) -> Job<T> {
    Builder::new().spawn(work)
}

/// Starts `work` as a blocking job on the kernel's worker pool, from inside a
/// kernel. Only cooperative cancel applies.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{job, Kernel};
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     let j = job::spawn_blocking(|ctx: &job::JobContext<u32>| {
///         ctx.emit(1);
///         Ok::<_, String>(2)
///     });
///     j.join(None).unwrap();
///     assert_eq!(j.value(), Some(2));
/// }).unwrap();
/// ```
pub fn spawn_blocking<T: Send + 'static, E: fmt::Display>(
    work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
) -> Job<T> {
    Builder::new().spawn_blocking(work)
}

impl<T: 'static> Job<T> {
    /// The job's id, as carried by its `"job_state"` and `"job_value"` signals.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    /// let mut kernel = Kernel::new();
    /// let a = kernel.job(|_: &job::JobContext<()>| Ok::<_, String>(()));
    /// let b = kernel.job(|_: &job::JobContext<()>| Ok::<_, String>(()));
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.core.borrow().id
    }

    /// The current state.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::{JobContext, JobState}, Kernel};
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(|_: &JobContext<()>| Ok::<_, String>(()));
    /// assert_eq!(j.state(), JobState::Finished);
    /// ```
    pub fn state(&self) -> JobState {
        self.refresh();
        self.core.borrow().state
    }

    /// Notices a run that ended without reporting: its driver thread died
    /// another way (a stack overflow discards its frames), or the kernel was
    /// dropped (which cancels every job).
    ///
    /// Reads first and writes only when there is something to record, so that
    /// the read-only methods work inside [`with_value`](Job::with_value).
    fn refresh(&self) {
        refresh(&self.core);
    }

    /// The latest value (incremental or final), kept across reruns until a new
    /// one arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::JobContext, Kernel};
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(|_: &JobContext<String>| Ok::<_, String>("hi".to_string()));
    /// assert_eq!(j.value().as_deref(), Some("hi"));
    /// ```
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        self.refresh();
        self.core.borrow().value.as_deref().cloned()
    }

    /// Calls `f` with the latest value, without cloning it. `f` sees the value
    /// as it was when called: it may use the job meanwhile (cancel it, retry
    /// it) and may block, while the job goes on reporting new values.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::JobContext, Kernel};
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(|_: &JobContext<Vec<u8>>| Ok::<_, String>(vec![1, 2, 3]));
    /// assert_eq!(j.with_value(|v| v.map(Vec::len)), Some(3));
    /// ```
    pub fn with_value<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        self.refresh();
        let value = self.core.borrow().value.clone();
        f(value.as_deref())
    }

    /// The latest error (the work's error text, or its panic message), kept
    /// across reruns until a new one arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::JobContext, Kernel};
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(|_: &JobContext<()>| -> Result<(), String> { panic!("boom") });
    /// assert_eq!(j.error().as_deref(), Some("boom"));
    /// ```
    pub fn error(&self) -> Option<String> {
        self.refresh();
        self.core.borrow().error.clone()
    }

    /// Cancels the current run, if it has not ended: the state becomes
    /// `Cancelled` at once, and the run's later values are dropped. A green job
    /// with intrusive cancel is unwound now; any other keeps running until its
    /// work returns (a retry waits for it).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, job::{JobContext, JobState}, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let j = kernel.job(|_: &JobContext<()>| {
    ///     event::pull(None, "never");
    ///     Ok::<_, String>(())
    /// });
    /// j.cancel();
    /// assert_eq!(j.state(), JobState::Cancelled);
    /// ```
    pub fn cancel(&self) {
        if let Some(driver) = self.stop_run() {
            driver.kill();
        }
    }

    /// Marks the current run cancelled (if it has not ended) and sets its
    /// token; returns its driver thread if it is to be unwound (intrusive
    /// cancel of a green job), for the caller to kill.
    fn stop_run(&self) -> Option<Thread> {
        let (driver, kernel) = {
            let mut core = self.core.borrow_mut();
            if core.state.is_done() {
                return None;
            }
            core.set(JobState::Cancelled);
            core.token.store(true, Ordering::Release);
            let intrusive = core.intrusive && matches!(core.work, Work::Green(_));
            let driver =
                if intrusive { core.driver.as_ref().map(|d| d.thread.clone()) } else { None };
            (driver, core.kernel.clone())
        };
        announce(&kernel, || state_signal(self.id(), JobState::Cancelled));
        driver
    }

    /// Stops the current run (as [`cancel`](Job::cancel)) and starts a new one,
    /// which waits for the old one to end. The previous value and error stay
    /// visible until the new run replaces them.
    ///
    /// # Errors
    ///
    /// [`Error::KernelGone`] if the kernel has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::{JobContext, JobState}, Kernel};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let attempts = Rc::new(Cell::new(0));
    /// let a = attempts.clone();
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(move |_: &JobContext<u32>| {
    ///     a.set(a.get() + 1);
    ///     if a.get() == 1 { Err("flaky".to_string()) } else { Ok(a.get()) }
    /// });
    /// assert_eq!(j.state(), JobState::Error);
    /// j.retry().unwrap();
    /// assert_eq!((j.state(), j.value()), (JobState::Finished, Some(2)));
    /// assert_eq!(j.error().as_deref(), Some("flaky")); // kept
    /// ```
    pub fn retry(&self) -> Result<(), Error> {
        if self.core.borrow().kernel.is_gone() {
            return Err(Error::KernelGone);
        }
        match self.stop_run() {
            // The kill unwinds the caller (the old run's work, or a thread it
            // started): the new run, waiting for the old one to end, is
            // started first.
            Some(old) if old.runs_caller() => {
                self.start_run();
                old.kill();
            }
            old => {
                if let Some(old) = old {
                    old.kill();
                }
                self.start_run();
            }
        }
        Ok(())
    }

    /// Sets the job's dependency key: when it differs (by hash) from the
    /// current one, the job restarts as with [`retry`](Job::retry); an equal
    /// key does nothing. The first key given to a job that had none is
    /// recorded without a restart.
    ///
    /// # Errors
    ///
    /// [`Error::KernelGone`] if a restart is due and the kernel has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::JobContext, Kernel};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let runs = Rc::new(Cell::new(0));
    /// let r = runs.clone();
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(move |_: &JobContext<()>| { r.set(r.get() + 1); Ok::<_, String>(()) });
    /// j.set_dependencies(&"page 1").unwrap();
    /// j.set_dependencies(&"page 1").unwrap();
    /// assert_eq!(runs.get(), 1);
    /// j.set_dependencies(&"page 2").unwrap();
    /// assert_eq!(runs.get(), 2);
    /// ```
    pub fn set_dependencies(&self, key: &impl Hash) -> Result<(), Error> {
        let key = hash_of(key);
        let previous = self.core.borrow_mut().dependencies.replace(key);
        match previous {
            Some(previous) if previous != key => self.retry(),
            _ => Ok(()),
        }
    }

    /// Waits, from a program or green thread, until the current run has ended
    /// (error, finished or cancelled), or until `timeout` passes.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the timeout passed first; [`Error::Killed`] at
    /// once, the run still going, if the caller is being unwound (a
    /// destructor run by a kill, a panic or an exit: it cannot wait).
    ///
    /// # Panics
    ///
    /// Outside a program or thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, os, Error, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let j = job::spawn(|_: &job::JobContext<()>| {
    ///         os::sleep(Duration::from_secs(10));
    ///         Ok::<_, String>(())
    ///     });
    ///     assert_eq!(j.join(Duration::from_secs(1)), Err(Error::Timeout));
    ///     assert_eq!(j.join(None), Ok(()));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn join(&self, timeout: impl Into<Option<Duration>>) -> Result<(), Error> {
        // Only a program or thread can wait: this panics anywhere else.
        KernelRef::current("Job::join");
        let deadline = timeout.into().map(|t| os::uptime().saturating_add(t));
        join(&self.core, deadline)
    }

    /// For the futures bridge: the job's kernel, and what a green thread of
    /// it calls to wait for the run under way to end, without a handle that
    /// would cancel the job when dropped. That returns at once if the job
    /// is gone.
    pub(crate) fn end_waiter(&self) -> (KernelRef, impl FnOnce() + 'static) {
        let job = Rc::downgrade(&self.core);
        let kernel = self.core.borrow().kernel.clone();
        let wait = move || {
            if let Some(job) = job.upgrade() {
                let _ = join(&job, None);
            }
        };
        (kernel, wait)
    }

    /// Wakes the wait `r` registers when the current run ends: the job's
    /// state becomes done, or its driver thread dies without reporting (see
    /// `refresh`).
    pub(crate) fn wake_at_end(&self, r: &mut Registration<'_>) {
        wake_at_end(&self.core, r);
    }

    /// Starts a new run: a green thread (owned by the root process, so that it
    /// outlives whoever started the job) waits for the previous run, then runs
    /// the work or hands it to a worker.
    fn start_run(&self) {
        let (run, token, previous, work, kernel, id) = {
            let mut core = self.core.borrow_mut();
            core.run += 1;
            core.set(JobState::Starting);
            core.token = Arc::new(AtomicBool::new(false));
            let previous = core.driver.take().map(|d| d.thread);
            (
                core.run,
                core.token.clone(),
                previous,
                core.work.clone(),
                core.kernel.clone(),
                core.id,
            )
        };
        if kernel.is_gone() {
            return;
        }
        kernel.push(|| state_signal(id, JobState::Starting));
        let job = Rc::downgrade(&self.core);
        let body = move || drive(job, run, token, previous, work);
        match kernel.spawn_detached(format!("job {id}"), body) {
            Some(Ok(handle)) => {
                let mut core = self.core.borrow_mut();
                if core.run == run {
                    core.driver =
                        Some(Driver { thread: handle.thread(), end: RefCell::new(Some(handle)) });
                }
            }
            Some(Err(error)) => {
                JobCore::apply(&self.core, run, Outcome::Done(Err(error.to_string())));
            }
            None => {}
        }
    }
}

impl<T: 'static> Drop for Job<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn hash_of(key: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}
