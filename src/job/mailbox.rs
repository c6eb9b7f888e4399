//! What the work of a run talks to: the [`JobContext`] it receives, and the
//! mailbox through which a blocking run's worker reports back to its driver.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::park::{park_remote, RemoteWaker, Woke};

use super::run::JobCore;

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
    pub(super) token: Arc<AtomicBool>,
    pub(super) sink: Sink<T>,
}

pub(super) enum Sink<T> {
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

    /// Reports an incremental value: [`Job::value`](super::Job::value) becomes
    /// it while the state stays `Running`. Values of a cancelled run are
    /// dropped.
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
pub(super) enum Outcome<T> {
    Value(T),
    Done(Result<T, String>),
}

/// The messages a worker leaves for its blocking run, and the wake-up of
/// the run's driver while it is parked waiting for them.
pub(super) struct Mailbox<T> {
    mail: Mutex<Mail<T>>,
}

struct Mail<T> {
    messages: VecDeque<Outcome<T>>,
    /// Set by the driver while it is parked. While it lives, the kernel waits
    /// for the worker instead of reporting a deadlock.
    waker: Option<RemoteWaker>,
}

impl<T> Mailbox<T> {
    pub(super) fn new() -> Mailbox<T> {
        Mailbox { mail: Mutex::new(Mail { messages: VecDeque::new(), waker: None }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mail<T>> {
        // A poisoned lock left the queue intact: a post is one `push_back`.
        self.mail.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn post(&self, outcome: Outcome<T>) {
        let waker = {
            let mut mail = self.lock();
            mail.messages.push_back(outcome);
            // Woken once: its next park files a new one.
            mail.waker.take()
        };
        // Without the lock: the wake-up may call an async host's waker, a
        // user's code. A dropped kernel has nobody left to tell: it does
        // nothing.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn take(&self) -> VecDeque<Outcome<T>> {
        std::mem::take(&mut self.lock().messages)
    }

    /// Parks the driver until a message is posted (at once if one is there);
    /// `false` if it is being unwound instead.
    pub(super) fn wait(&self) -> bool {
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
