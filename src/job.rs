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
use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::event::Signal;
use crate::host::{KernelRef, WorkerSettings};
use crate::os;
use crate::park::{park_on, park_remote, LocalWaker, Registration, RemoteWaker, WaitQueue, Woke};
use crate::thread::{JoinHandle, Status, Thread};
use crate::unwind::{is_kernel_unwind, take_message};

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

/// What the work of a job receives: the cancel token (the seed's
/// `threading.Event`) and a way to report incremental values.
///
/// # Examples
///
/// ```
/// use cothread::{job::{JobContext, JobState}, Kernel};
///
/// let mut kernel = Kernel::new();
/// let j = kernel.job(|ctx: &JobContext<usize>| {
///     let mut done = 0;
///     for _ in 0..3 {
///         if ctx.is_cancelled() { break; }
///         done += 1;
///         ctx.emit(done);
///     }
///     Ok::<_, String>(done)
/// });
/// assert_eq!((j.state(), j.value()), (JobState::Finished, Some(3)));
/// ```
pub struct JobContext<T> {
    token: Arc<AtomicBool>,
    sink: Sink<T>,
}

enum Sink<T> {
    Green { job: Weak<RefCell<JobCore<T>>>, run: u64 },
    Blocking { mail: Arc<Mailbox<T>> },
}

impl<T: 'static> JobContext<T> {
    /// Whether this run has been cancelled (or superseded by a retry). Work
    /// that is cancelled cooperatively should return soon after it sees `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let j = job::Builder::new().cooperative().spawn(|ctx: &job::JobContext<u32>| {
    ///         let mut steps = 0;
    ///         while !ctx.is_cancelled() {
    ///             steps += 1;
    ///             os::sleep(Duration::from_millis(10));
    ///         }
    ///         Ok::<_, String>(steps)
    ///     });
    ///     os::sleep(Duration::from_millis(35));
    ///     j.cancel();
    ///     assert_eq!(j.state(), job::JobState::Cancelled);
    /// }).unwrap();
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.token.load(Ordering::Acquire)
    }

    /// Reports an incremental value: [`Job::value`] becomes it while the state
    /// stays `Running`. Values of a cancelled run are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let j = kernel.job(|ctx: &job::JobContext<u32>| {
    ///     for percent in [25, 50, 75] {
    ///         ctx.emit(percent);
    ///         os::sleep(Duration::from_secs(1));
    ///     }
    ///     Ok::<_, String>(100)
    /// });
    /// assert_eq!((j.state(), j.value()), (job::JobState::Running, Some(25)));
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(j.value(), Some(50));
    /// kernel.advance(Duration::from_secs(2));
    /// assert_eq!((j.state(), j.value()), (job::JobState::Finished, Some(100)));
    /// ```
    pub fn emit(&self, value: T) {
        if self.is_cancelled() {
            return;
        }
        match &self.sink {
            Sink::Green { job, run } => {
                if let Some(job) = job.upgrade() {
                    JobCore::apply(&job, *run, Outcome::Value(value));
                }
            }
            Sink::Blocking { mail } => mail.post(Outcome::Value(value)),
        }
    }
}

impl<T> fmt::Debug for JobContext<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("cancelled", &self.token.load(Ordering::Relaxed))
            .finish()
    }
}

/// What a run reports.
enum Outcome<T> {
    Value(T),
    Done(Result<T, String>),
}

/// The messages a worker leaves for its blocking run, and the wake-up of
/// the run's driver while it is parked waiting for them.
struct Mailbox<T> {
    mail: Mutex<Mail<T>>,
}

struct Mail<T> {
    messages: VecDeque<Outcome<T>>,
    /// Set by the driver while it is parked. While it lives, the kernel waits
    /// for the worker instead of reporting a deadlock.
    waker: Option<RemoteWaker>,
}

impl<T> Mailbox<T> {
    fn new() -> Mailbox<T> {
        Mailbox { mail: Mutex::new(Mail { messages: VecDeque::new(), waker: None }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mail<T>> {
        // A poisoned lock left the queue intact: a post is one `push_back`.
        self.mail.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn post(&self, outcome: Outcome<T>) {
        let mut mail = self.lock();
        mail.messages.push_back(outcome);
        // A dropped kernel has nobody left to tell: the wake-up does nothing.
        if let Some(waker) = &mail.waker {
            waker.wake();
        }
    }

    fn take(&self) -> VecDeque<Outcome<T>> {
        std::mem::take(&mut self.lock().messages)
    }

    /// Parks the driver until a message is posted (at once if one is there);
    /// `false` if it is being unwound instead.
    fn wait(&self) -> bool {
        /// Drops the waker once the wait is over, however it ends (a kill
        /// unwinds through here): a waker left behind would keep the kernel
        /// waiting for this worker instead of reporting a deadlock.
        struct Forget<'a, T>(&'a Mailbox<T>);
        impl<T> Drop for Forget<'_, T> {
            fn drop(&mut self) {
                let waker = self.0.lock().waker.take();
                drop(waker);
            }
        }
        let _forget = Forget(self);
        let woke = park_remote("a blocking job's worker", None, |waker| {
            let mut mail = self.lock();
            if !mail.messages.is_empty() {
                waker.wake();
            }
            mail.waker = Some(waker);
        });
        !matches!(woke, Woke::Shutdown)
    }
}

type GreenWork<T> = Rc<dyn Fn(&JobContext<T>) -> Result<T, String>>;
/// Makes, for one run of a blocking job, the task a worker runs. Built where
/// `T: Send` is known, so that the rest of the job code needs no such bound.
type Launch<T> = Rc<dyn Fn(Arc<AtomicBool>, Arc<Mailbox<T>>) -> Box<dyn FnOnce() + Send>>;

fn launcher<T: Send + 'static, E: fmt::Display>(
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

enum Work<T> {
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
struct Driver {
    thread: Thread,
    end: RefCell<Option<JoinHandle<()>>>,
}

struct JobCore<T> {
    id: u64,
    state: JobState,
    /// Shared with the readers of `Job::with_value`, so that a new value
    /// never waits for them.
    value: Option<Rc<T>>,
    error: Option<String>,
    /// The number of the current run; older runs' reports are ignored.
    run: u64,
    token: Arc<AtomicBool>,
    /// The green thread that drives the current run.
    driver: Option<Driver>,
    dependencies: Option<u64>,
    intrusive: bool,
    work: Work<T>,
    kernel: KernelRef,
    /// The threads in `Job::join`, woken when a run ends.
    joiners: WaitQueue<LocalWaker>,
}

impl<T: 'static> JobCore<T> {
    /// Moves the job to `state`; the end of a run wakes its joiners.
    fn set(&mut self, state: JobState) {
        self.state = state;
        if state.is_done() {
            self.joiners.wake_all_local();
        }
    }

    /// Records what run `run` reports, unless a newer run or a cancel has
    /// superseded it, and tells the scripts.
    fn apply(job: &Rc<RefCell<JobCore<T>>>, run: u64, outcome: Outcome<T>) {
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

fn state_signal(id: u64, state: JobState) -> Signal {
    Signal::new(JOB_STATE).with(id).with(state.name())
}

/// Queues a job signal in `kernel`, if it still exists (built only then).
fn announce(kernel: &KernelRef, signal: impl FnOnce() -> Signal) {
    kernel.push(signal);
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

/// Configures a job before it starts: its cancel mode and dependencies.
///
/// # Examples
///
/// ```
/// use cothread::{job, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let j = job::Builder::new()
///     .dependencies(&("user", 42))
///     .spawn_on(&mut kernel, |_: &job::JobContext<&str>| Ok::<_, String>("loaded"));
/// assert_eq!(j.value(), Some("loaded"));
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    intrusive: bool,
    dependencies: Option<u64>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder { intrusive: true, dependencies: None }
    }
}

impl Builder {
    /// A builder for a job with intrusive cancel and no dependencies.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::job::Builder::new();
    /// # drop(builder);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Cooperative cancel for a green job: `cancel` only sets the token, and
    /// the run goes on (and a retry waits) until the work returns. Blocking
    /// jobs are always cooperative.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::job::Builder::new().cooperative();
    /// # drop(builder);
    /// ```
    pub fn cooperative(mut self) -> Builder {
        self.intrusive = false;
        self
    }

    /// The job's initial dependency key (see [`Job::set_dependencies`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::job::Builder::new().dependencies(&[1, 2, 3]);
    /// # drop(builder);
    /// ```
    pub fn dependencies(mut self, key: &impl Hash) -> Builder {
        self.dependencies = Some(hash_of(key));
        self
    }

    /// Starts a green job from inside a kernel (see [`spawn`]).
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
    ///     let j = job::Builder::new().spawn(|_: &job::JobContext<i32>| Ok::<_, String>(7));
    ///     j.join(None).unwrap();
    ///     assert_eq!(j.value(), Some(7));
    /// }).unwrap();
    /// ```
    pub fn spawn<T: 'static, E: fmt::Display>(
        self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
    ) -> Job<T> {
        let shared = KernelRef::current("job::spawn");
        self.start(shared, Work::Green(Rc::new(move |ctx| work(ctx).map_err(|e| e.to_string()))))
    }

    /// Starts a blocking job from inside a kernel (see [`spawn_blocking`]).
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
    ///     let j = job::Builder::new()
    ///         .spawn_blocking(|_: &job::JobContext<i32>| Ok::<_, String>(6 * 7));
    ///     j.join(None).unwrap();
    ///     assert_eq!(j.value(), Some(42));
    /// }).unwrap();
    /// ```
    pub fn spawn_blocking<T: Send + 'static, E: fmt::Display>(
        self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Job<T> {
        let shared = KernelRef::current("job::spawn_blocking");
        self.start(shared, Work::Blocking(launcher(work)))
    }

    /// Starts a green job from the host.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let j = job::Builder::new().spawn_on(&mut kernel, |_: &job::JobContext<u8>| {
    ///     Err::<u8, _>("no network")
    /// });
    /// assert_eq!(j.state(), job::JobState::Error);
    /// assert_eq!(j.error().as_deref(), Some("no network"));
    /// ```
    pub fn spawn_on<T: 'static, E: fmt::Display>(
        self,
        kernel: &mut crate::Kernel,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
    ) -> Job<T> {
        let work: GreenWork<T> = Rc::new(move |ctx| work(ctx).map_err(|e| e.to_string()));
        self.start(KernelRef::of(kernel), Work::Green(work))
    }

    /// Starts a blocking job from the host.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let j = job::Builder::new()
    ///     .spawn_blocking_on(&mut kernel, |_: &job::JobContext<u8>| Ok::<_, String>(1));
    /// while !j.state().is_done() {
    ///     kernel.run_forever().unwrap();
    /// }
    /// assert_eq!(j.value(), Some(1));
    /// ```
    pub fn spawn_blocking_on<T: Send + 'static, E: fmt::Display>(
        self,
        kernel: &mut crate::Kernel,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Job<T> {
        self.start(KernelRef::of(kernel), Work::Blocking(launcher(work)))
    }

    fn start<T: 'static>(self, kernel: KernelRef, work: Work<T>) -> Job<T> {
        let id = kernel.with_layer(|layer: &mut JobLayer| layer.next_id()).unwrap_or(0);
        let core = JobCore {
            id,
            state: JobState::Starting,
            value: None,
            error: None,
            run: 0,
            token: Arc::new(AtomicBool::new(false)),
            driver: None,
            dependencies: self.dependencies,
            intrusive: self.intrusive,
            work,
            kernel,
            joiners: WaitQueue::default(),
        };
        let job = Job { core: Rc::new(RefCell::new(core)) };
        job.start_run();
        job
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

/// [`Job::refresh`], on the job's shared state.
fn refresh<T: 'static>(job: &Rc<RefCell<JobCore<T>>>) {
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
fn wake_at_end<T: 'static>(job: &RefCell<JobCore<T>>, r: &mut Registration<'_>) {
    let mut core = job.borrow_mut();
    r.queue_local(&mut core.joiners);
    if let Some(driver) = &core.driver {
        driver.thread.wake_at_end(r);
    }
}

/// [`Job::join`]'s wait, on the job's shared state, until `deadline` on the
/// kernel's clock.
#[track_caller]
fn join<T: 'static>(
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
fn drive<T: 'static>(
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

fn hash_of(key: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The job layer's state in one kernel (see `KernelRef::with_layer`): the
/// last job id given, and the worker pool, started on first use.
#[derive(Default)]
struct JobLayer {
    last_id: u64,
    workers: Option<Workers>,
}

impl JobLayer {
    /// A fresh job id (from 1).
    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// The worker pool, started on first use.
    ///
    /// # Errors
    ///
    /// [`Error::WorkerThread`] if the OS refuses a worker thread; nothing is
    /// kept, and the next call tries again.
    fn workers(&mut self, settings: &WorkerSettings) -> Result<&Workers, Error> {
        if self.workers.is_none() {
            self.workers = Some(Workers::start(settings.workers, settings.stack_size)?);
        }
        Ok(self.workers.as_ref().expect("started above"))
    }
}

/// The kernel's pool of OS worker threads for blocking jobs, started on first
/// use. Dropping it closes the queue and joins every worker.
pub(crate) struct Workers {
    queue: Option<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers (at least one), with stacks of `stack_size`
    /// bytes (`None`: std's default).
    ///
    /// # Errors
    ///
    /// [`Error::WorkerThread`] with the OS's text if it refuses a thread; the
    /// workers already started are stopped and joined.
    pub(crate) fn start(count: usize, stack_size: Option<usize>) -> Result<Workers, Error> {
        let (queue, tasks) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let tasks = Arc::new(Mutex::new(tasks));
        // Built as it goes, so that an early return drops (stops and joins)
        // the workers started so far.
        let mut workers = Workers { queue: Some(queue), threads: Vec::new() };
        for n in 0..count.max(1) {
            let tasks = tasks.clone();
            let mut builder = std::thread::Builder::new().name(format!("cothread-worker-{n}"));
            if let Some(bytes) = stack_size {
                builder = builder.stack_size(bytes);
            }
            let thread = builder
                .spawn(move || loop {
                    let task = tasks.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match task {
                        Ok(task) => task(),
                        Err(_) => return, // the kernel is gone
                    }
                })
                .map_err(|e| Error::WorkerThread(e.to_string()))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    fn submit(&self, task: Box<dyn FnOnce() + Send>) {
        if let Some(queue) = &self.queue {
            // The workers outlive the queue's sender, so this cannot fail.
            let _ = queue.send(task);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.queue = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl crate::Kernel {
    /// Starts a green job from the host (see [`job`](crate::job)): `work`
    /// runs as a green thread at once, up to its first yield point. Intrusive
    /// cancel; use [`job::Builder`](crate::job::Builder) for other options.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::{JobContext, JobState}, os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let j = kernel.job(|ctx: &JobContext<u32>| {
    ///     for i in 1..=3 {
    ///         os::sleep(Duration::from_secs(1));
    ///         ctx.emit(i);
    ///     }
    ///     Ok::<_, String>(3)
    /// });
    /// kernel.advance(Duration::from_millis(2500));
    /// assert_eq!((j.state(), j.value()), (JobState::Running, Some(2)));
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(j.state(), JobState::Finished);
    /// ```
    pub fn job<T: 'static, E: fmt::Display>(
        &mut self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
    ) -> Job<T> {
        crate::job::Builder::new().spawn_on(self, work)
    }

    /// Starts a blocking job from the host: `work` runs on one of the kernel's
    /// OS worker threads and reports back as signals (see [`job`](crate::job)).
    /// If the OS refuses to start the workers, the run ends in
    /// [`JobState::Error`](crate::job::JobState::Error) with the text of
    /// [`Error::WorkerThread`], its work unrun.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::JobContext, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let j = kernel.blocking_job(|_: &JobContext<usize>| {
    ///     Ok::<_, String>(std::thread::current().name().unwrap_or("").len())
    /// });
    /// while !j.state().is_done() {
    ///     kernel.run_forever().unwrap();
    /// }
    /// assert_eq!(j.value(), Some("cothread-worker-0".len()));
    /// ```
    pub fn blocking_job<T: Send + 'static, E: fmt::Display>(
        &mut self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Job<T> {
        crate::job::Builder::new().spawn_blocking_on(self, work)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::{JobContext, JobState, KernelRef, WorkerSettings};
    use crate::Kernel;

    /// Joins that time out leave no entry behind for long: the joiners'
    /// queue, pushed to only under the kernel's borrow, is swept with the
    /// kernel's own task table (it grew by one entry a join before).
    #[test]
    fn timed_out_joins_and_selects_leave_the_joiners_queue_bounded() {
        let mut kernel = Kernel::builder().virtual_time(true).build();
        let most = kernel
            .run(|| {
                let j = super::spawn(|_: &JobContext<u8>| {
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

    /// A worker pool the OS refuses to start ends the run that needed it in
    /// `Error`, with the OS's text, and its work unrun; a retry, once the OS
    /// gives the threads, starts the pool and runs the work. The refusal is
    /// forced with a worker stack of 1 EiB, which no 64-bit address space has
    /// room for; the size does not fit a 32-bit `usize`, so there the test is
    /// skipped.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_worker_pool_the_os_refuses_ends_the_run_in_error_and_a_retry_runs_the_work() {
        let mut kernel = Kernel::new();
        KernelRef::of(&kernel).with_layer(|s: &mut WorkerSettings| s.stack_size = Some(1 << 60));
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let job = kernel.blocking_job(move |_: &JobContext<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(42)
        });
        assert_eq!(job.state(), JobState::Error);
        let error = job.error().expect("the run says why it ended");
        assert!(error.starts_with("cannot start a job worker thread: "), "{error}");
        assert_eq!((job.value(), runs.load(Ordering::SeqCst)), (None, 0));

        KernelRef::of(&kernel).with_layer(|s: &mut WorkerSettings| s.stack_size = None);
        job.retry().unwrap();
        while !job.state().is_done() {
            kernel.run_forever().unwrap();
        }
        assert_eq!((job.state(), job.value()), (JobState::Finished, Some(42)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
