//! Futures and green threads, both ways.
//!
//! A green thread waits for a future with [`block_on`]: it parks, the other
//! threads run, and it polls the future again only when the future's
//! [`Waker`] fires, from the kernel's own OS thread or from any other. Async
//! code waits for green threads by awaiting a [`JoinHandle`] (on the
//! kernel's OS thread), the future of [`JoinHandle::into_send_future`] (from
//! anywhere, for a `Send` value) or [`Job::done`]. And an async host waits
//! for the kernel itself with [`Kernel::ready`]:
//!
//! ```text
//! loop { kernel.ready().await; kernel.step_for(budget); }
//! ```
//!
//! The crate depends on no async runtime: everything here is `std::task`.
//! `docs/async.md` says which bridge to use when, with a tokio host.
//!
//! # The waker's rules
//!
//! - It is `Send + Sync`, and may be called from any OS thread, any number
//!   of times: the first call after a poll wakes the thread, the others
//!   until the next poll do nothing (one readiness, one wake-up).
//! - From inside the kernel (its green threads and callbacks, during a step
//!   or a run) it queues the wake-up directly, without a lock of the kernel
//!   or a system call; from anywhere else (another OS thread, or the host's
//!   thread between steps, where a runtime's I/O driver runs) it goes
//!   through the kernel's remote wake path, which also wakes a kernel
//!   blocked in the OS (`run`, `run_forever`) and an async host waiting on
//!   [`Kernel::ready`].
//! - Called after the wait has ended (the thread was killed, timed out,
//!   interrupted) or after the kernel is gone, it does nothing.
//! - While a thread waits on a future that kept its waker, its kernel
//!   counts the wait as one that another OS thread may end: `run` waits for
//!   it rather than report a deadlock. A future that kept no waker can never
//!   be woken: that wait is a deadlock, reported as any other.

use std::cell::RefCell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::host::KernelRef;
use crate::job::{Job, JobState};
use crate::park::{in_kernel, keep_waker, park_on, RemoteWaker, Woke};
use crate::thread::{JoinHandle, Thread};
use crate::{os, Kernel, Status};

/// What a waiting green thread's [`Waker`] points at: whether it has been
/// woken since the last poll, and the handle that ends the thread's park.
#[derive(Debug, Default)]
struct Wakeup {
    woken: AtomicBool,
    parked: Mutex<Option<RemoteWaker>>,
}

impl Wakeup {
    fn parked(&self) -> MutexGuard<'_, Option<RemoteWaker>> {
        // A waker that panicked holding the lock left an `Option` behind:
        // nothing half done.
        self.parked.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // One readiness, one wake-up: the first caller since the last poll
        // goes on, the others stop here.
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        let parked = self.parked().take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }
}

/// Takes the park's handle out of a [`Wakeup`] however the wait ends (a
/// kill unwinds through here), so that a `Waker` kept somewhere else does
/// not keep the kernel waiting for it.
struct Unpark<'a>(&'a Wakeup);

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        let parked = self.0.parked().take();
        drop(parked);
    }
}

/// Runs `future` to completion and returns its output.
///
/// **In a green thread** (a program or thread of a kernel) the thread parks
/// while the future is pending, and the other threads run; the future is
/// polled again only when its waker fires (see the [module's
/// rules](self#the-wakers-rules)). A kill, an interrupt or a suspension
/// ends or pauses the wait like any other: a kill or an interrupt unwinds
/// the thread from here, dropping the future on the thread's own stack.
///
/// **Outside a kernel** (a plain OS thread) it is a plain blocking
/// `block_on`: the OS thread sleeps until the waker fires. Do not call it
/// on a kernel's OS thread between steps to wait for that kernel's threads:
/// nothing would run them. Await them from async code instead.
///
/// # Panics
///
/// If the future is pending and the caller cannot park: a listener or timer
/// callback, the host's stack inside a kernel call. A destructor run by an
/// unwind (a kill's, a panic's) can neither wait there nor panic (a panic
/// would abort the process): its thread is parked for ever instead,
/// reported, as for a `sync::Mutex` (docs/reliability.md); use
/// [`block_on_timeout`], which returns [`Error::Killed`] there. A panic of
/// the future's own `poll` goes on as a panic of the calling thread.
///
/// A future that keeps no clone of its waker can never be woken: a thread
/// that waits on one (`std::future::pending()`) is a deadlock the kernel
/// reports ([`Error::Deadlock`] from `run`) when nothing else can run.
/// One that keeps its waker somewhere is waited for as long as it does.
///
/// # Examples
///
/// ```
/// use cothread::{future, os, thread, Kernel};
/// use std::sync::{Arc, Mutex};
/// use std::task::{Poll, Waker};
/// use std::time::Duration;
///
/// // A value another OS thread hands over, as a future: the slot and the
/// // waker of whoever waits for it.
/// type Slot = Arc<Mutex<(Option<u32>, Option<Waker>)>>;
/// let slot: Slot = Arc::default();
/// let answer = {
///     let slot = slot.clone();
///     std::future::poll_fn(move |cx| {
///         let mut s = slot.lock().unwrap();
///         match s.0.take() {
///             Some(v) => Poll::Ready(v),
///             None => { s.1 = Some(cx.waker().clone()); Poll::Pending }
///         }
///     })
/// };
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let out = kernel.run(move || {
///     let ticker = thread::create(|| { os::sleep(Duration::from_secs(1)); "ticked" });
///     std::thread::spawn(move || {
///         let mut s = slot.lock().unwrap();
///         s.0 = Some(42);
///         if let Some(waker) = s.1.take() { waker.wake() } // from another OS thread
///     });
///     let v = future::block_on(answer); // parks this thread only
///     (v, ticker.wait().unwrap())
/// });
/// assert_eq!(out.unwrap(), (42, "ticked"));
/// // Outside a kernel: a plain blocking block_on.
/// assert_eq!(future::block_on(async { 6 * 7 }), 42);
/// ```
#[track_caller]
pub fn block_on<F: IntoFuture>(future: F) -> F::Output {
    match wait(future.into_future(), None) {
        Ok(output) => output,
        Err(_) => crate::park::cannot_wait("a future"),
    }
}

/// [`block_on`] that gives up after `timeout`: on the kernel's clock in a
/// green thread (virtual or real), on the OS's clock outside a kernel. A
/// future that timed out is dropped before this returns.
///
/// # Errors
///
/// [`Error::Timeout`] if the future is still pending after `timeout`;
/// [`Error::Killed`] if the caller is a thread being unwound and the future
/// is pending (it cannot wait).
///
/// # Panics
///
/// As [`block_on`]: where nothing can park.
///
/// # Examples
///
/// ```
/// use cothread::{future, os, Error, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let out = kernel.run(|| {
///     let never = future::block_on_timeout(std::future::pending::<()>(), Duration::from_secs(5));
///     (never, os::uptime())
/// });
/// assert_eq!(out.unwrap(), (Err(Error::Timeout), Duration::from_secs(5)));
/// ```
#[track_caller]
pub fn block_on_timeout<F: IntoFuture>(future: F, timeout: Duration) -> Result<F::Output, Error> {
    wait(future.into_future(), Some(timeout))
}

#[track_caller]
fn wait<F: Future>(future: F, timeout: Option<Duration>) -> Result<F::Output, Error> {
    if in_kernel() {
        wait_green(future, timeout)
    } else {
        wait_os(future, timeout)
    }
}

/// The references to a green thread's [`Wakeup`] that its own wait holds:
/// the `Arc` itself and the `Waker` it polls with. More are the future's.
const OWN_REFERENCES: usize = 2;

/// The green thread's wait: park until the waker fires (or the deadline).
#[track_caller]
fn wait_green<F: Future>(future: F, timeout: Option<Duration>) -> Result<F::Output, Error> {
    let mut future = pin!(future);
    let wakeup = Arc::new(Wakeup::default());
    let _unpark = Unpark(&wakeup);
    let waker = Waker::from(wakeup.clone());
    let mut cx = Context::from_waker(&waker);
    let mut deadline = None;
    loop {
        // Cleared before the poll: a wake-up during it is one more.
        wakeup.woken.store(false, Ordering::Release);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        if deadline.is_none() {
            deadline = timeout.map(|t| os::uptime().saturating_add(t));
        }
        // Parks until the waker fires: a re-check (a resume, a deadline)
        // that finds it has not parks again, without polling.
        loop {
            if deadline.is_some_and(|at| os::uptime() >= at) {
                return Err(Error::Timeout);
            }
            let woke = park_on("a future", deadline, |r| {
                let mut parked = wakeup.parked();
                if wakeup.woken.load(Ordering::Acquire) {
                    r.wake_now();
                } else if Arc::strong_count(&wakeup) > OWN_REFERENCES {
                    *parked = Some(r.remote_waker());
                }
                // Otherwise the future kept no waker, and none can be made
                // before the next poll: nothing can wake this wait, and
                // the kernel, told of no handle that could, reports a
                // deadlock instead of waiting for ever.
            });
            if let Woke::Shutdown = woke {
                return Err(Error::Killed);
            }
            if wakeup.woken.load(Ordering::Acquire) {
                break;
            }
        }
    }
}

/// A plain OS thread's wait: sleep in the OS until the waker fires.
#[derive(Debug)]
struct OsWakeup {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for OsWakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

fn wait_os<F: Future>(future: F, timeout: Option<Duration>) -> Result<F::Output, Error> {
    let mut future = pin!(future);
    let wakeup =
        Arc::new(OsWakeup { thread: std::thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(wakeup.clone());
    let mut cx = Context::from_waker(&waker);
    let now = Instant::now();
    let deadline =
        timeout.map(|t| now.checked_add(t).unwrap_or(now + Duration::from_secs(1 << 40)));
    loop {
        wakeup.woken.store(false, Ordering::Release);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        // `park` may return for no reason: the flag says whether it was us.
        while !wakeup.woken.load(Ordering::Acquire) {
            match deadline {
                None => std::thread::park(),
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    std::thread::park_timeout(left);
                }
            }
        }
    }
}

/// A green thread of the kernel that waits for something (`wait`), then
/// wakes the latest waker it was given; killed if its future is dropped
/// first.
struct Watch {
    waker: Rc<RefCell<Option<Waker>>>,
    helper: Thread,
}

/// Starts `body` as a detached thread of `kernel` named `name`, to wait for
/// what a future stands for.
#[track_caller]
fn spawn_helper(
    kernel: &KernelRef,
    name: String,
    body: impl FnOnce() + 'static,
) -> Result<Thread, Error> {
    match kernel.spawn_detached(name, body) {
        Some(spawned) => spawned.map(|handle| handle.thread()),
        None => Err(Error::KernelGone),
    }
}

impl Watch {
    #[track_caller]
    fn start(
        kernel: &KernelRef,
        name: String,
        waker: &Waker,
        wait: impl FnOnce() + 'static,
    ) -> Result<Watch, Error> {
        let slot = Rc::new(RefCell::new(Some(waker.clone())));
        let wake = slot.clone();
        let body = move || {
            wait();
            let waker = wake.borrow_mut().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        };
        let helper = spawn_helper(kernel, name, body)?;
        Ok(Watch { waker: slot, helper })
    }

    /// Keeps `waker` as the one to wake, in place of the last one.
    fn update(&self, waker: &Waker) {
        keep_waker(&mut self.waker.borrow_mut(), waker);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.helper.kill();
    }
}

/// Parks the calling green thread until `target` has ended (not just been
/// suspended: a suspended thread may be resumed).
#[track_caller]
fn wait_for_end(target: &Thread) {
    while target.status() != Status::Dead {
        let woke = park_on("an awaited thread", None, |r| target.wake_at_end(r));
        if let Woke::Shutdown = woke {
            return;
        }
    }
}

/// The future of a [`JoinHandle`]: the thread's value, or why it has none,
/// once it has ended. Made by `.await` on the handle (or
/// [`IntoFuture::into_future`]); polled on the kernel's own OS thread, in
/// async code that shares the thread with the kernel (a tokio `LocalSet`
/// that also drives it) or in a green thread's [`block_on`].
///
/// Unlike [`JoinHandle::wait`], it does not kill a suspended thread: it
/// waits until the thread ends. While it is pending, a helper green thread
/// of the kernel (named `"await thread N"`) waits for the end; dropping the
/// future kills it.
///
/// # Examples
///
/// ```
/// use cothread::{future, os, thread, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let out = kernel.run(|| {
///     let t = thread::create(|| { os::sleep(Duration::from_secs(2)); "done" });
///     future::block_on(async move { t.await })
/// });
/// assert_eq!(out.unwrap(), Ok("done"));
/// ```
pub struct JoinFuture<T> {
    handle: Option<JoinHandle<T>>,
    watch: Option<Watch>,
}

impl<T> fmt::Debug for JoinFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFuture").field("thread", &self.handle).finish_non_exhaustive()
    }
}

// Nothing of it is pinned: the handle is moved out when it completes.
impl<T> Unpin for JoinFuture<T> {}

impl<T: 'static> IntoFuture for JoinHandle<T> {
    type Output = Result<T, Error>;
    type IntoFuture = JoinFuture<T>;

    fn into_future(self) -> JoinFuture<T> {
        JoinFuture { handle: Some(self), watch: None }
    }
}

impl<T: 'static> Future for JoinFuture<T> {
    type Output = Result<T, Error>;

    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = &mut *self;
        let handle =
            this.handle.as_ref().expect("cothread: a JoinFuture polled after it completed");
        if handle.status() == Status::Dead {
            this.watch = None;
            let handle = this.handle.take().expect("checked above");
            return Poll::Ready(handle.wait());
        }
        match &this.watch {
            Some(watch) => watch.update(cx.waker()),
            None => {
                let target = handle.thread();
                let kernel = KernelRef::of_thread(&target);
                let name = format!("await thread {}", target.id().as_u64());
                match Watch::start(&kernel, name, cx.waker(), move || wait_for_end(&target)) {
                    Ok(watch) => this.watch = Some(watch),
                    Err(error) => {
                        this.handle = None;
                        return Poll::Ready(Err(error));
                    }
                }
            }
        }
        Poll::Pending
    }
}

/// What [`SendJoinFuture`] and its helper thread share.
struct SendSlot<T> {
    result: Option<Result<T, Error>>,
    waker: Option<Waker>,
    taken: bool,
}

type SendShared<T> = Arc<Mutex<SendSlot<T>>>;

fn lock<T>(shared: &SendShared<T>) -> MutexGuard<'_, SendSlot<T>> {
    // Each critical section is a few moves: poisoning leaves nothing half done.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fills the slot (with `Error::Killed` if the helper is unwound before the
/// thread ends: a dropped kernel kills both) and wakes the awaiting task.
struct Deliver<T>(SendShared<T>);

impl<T> Deliver<T> {
    fn fill(&self, result: Result<T, Error>) {
        let waker = {
            let mut slot = lock(&self.0);
            if slot.result.is_none() && !slot.taken {
                slot.result = Some(result);
            }
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Deliver<T> {
    fn drop(&mut self) {
        self.fill(Err(Error::Killed));
    }
}

/// A thread's result as a `Send` future, awaitable from any OS thread and
/// any executor: made by [`JoinHandle::into_send_future`]. A helper green
/// thread of the kernel (named `"await thread N"`) waits for the thread to
/// end and hands its value over.
///
/// # Examples
///
/// ```
/// use cothread::{future, os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let t = kernel.spawn(|| { os::sleep(Duration::from_secs(1)); 7 });
/// let value = t.into_send_future();
/// let waiter = std::thread::spawn(move || future::block_on(value)); // another OS thread
/// kernel.run_forever().unwrap();
/// assert_eq!(waiter.join().unwrap(), Ok(7));
/// ```
pub struct SendJoinFuture<T> {
    shared: SendShared<T>,
}

impl<T> fmt::Debug for SendJoinFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendJoinFuture").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> JoinHandle<T> {
    /// The thread's value (or why it has none) as a `Send` future, for async
    /// code on another OS thread or another executor. Like awaiting the
    /// handle, it waits for the thread to end (a suspended thread is not
    /// killed). Called on the kernel's OS thread (the handle lives there);
    /// the future then goes anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{future, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let t = kernel.spawn(|| String::from("sent"));
    /// let f = t.into_send_future();
    /// assert_eq!(future::block_on(f), Ok(String::from("sent"))); // it had ended already
    /// # drop(kernel);
    /// ```
    #[track_caller]
    pub fn into_send_future(self) -> SendJoinFuture<T> {
        let shared = Arc::new(Mutex::new(SendSlot { result: None, waker: None, taken: false }));
        let deliver = Deliver(shared.clone());
        if self.status() == Status::Dead {
            deliver.fill(self.wait());
            return SendJoinFuture { shared };
        }
        let target = self.thread();
        let kernel = KernelRef::of_thread(&target);
        let name = format!("await thread {}", target.id().as_u64());
        let body = move || {
            wait_for_end(&target);
            deliver.fill(self.wait());
        };
        if let Err(error) = spawn_helper(&kernel, name, body) {
            lock(&shared).result = Some(Err(error));
        }
        SendJoinFuture { shared }
    }
}

impl<T> Future for SendJoinFuture<T> {
    type Output = Result<T, Error>;

    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let mut slot = lock(&self.shared);
        assert!(!slot.taken, "cothread: a SendJoinFuture polled after it completed");
        match slot.result.take() {
            Some(result) => {
                slot.taken = true;
                Poll::Ready(result)
            }
            None => {
                keep_waker(&mut slot.waker, cx.waker());
                Poll::Pending
            }
        }
    }
}

/// The future of [`Job::done`]: the job's state once its run under way has
/// ended (`Finished`, `Error` or `Cancelled`).
///
/// # Examples
///
/// ```
/// use cothread::job::{JobContext, JobState};
/// use cothread::{future, os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let out = kernel.run(|| {
///     let j = cothread::job::spawn(|_: &JobContext<u8>| {
///         os::sleep(Duration::from_secs(1));
///         Ok::<_, String>(1)
///     });
///     future::block_on(j.done())
/// });
/// assert_eq!(out.unwrap(), JobState::Finished);
/// ```
pub struct JobDone<'a, T: 'static> {
    job: &'a Job<T>,
    watch: Option<Watch>,
}

impl<T: 'static> fmt::Debug for JobDone<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobDone").field("job", self.job).finish_non_exhaustive()
    }
}

impl<T: 'static> Job<T> {
    /// A future that completes with the job's state once the run under way
    /// has ended, for async code on the kernel's own OS thread (or a green
    /// thread's [`block_on`]). While it is pending, a helper green thread of
    /// the kernel (named `"await job N"`) waits; dropping the future kills it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::job::{JobContext, JobState};
    /// use cothread::{future, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let j = kernel.job(|_: &JobContext<()>| Err::<(), _>("no luck"));
    /// assert_eq!(future::block_on(j.done()), JobState::Error); // done already
    /// ```
    pub fn done(&self) -> JobDone<'_, T> {
        JobDone { job: self, watch: None }
    }
}

impl<T: 'static> Future for JobDone<'_, T> {
    type Output = JobState;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobState> {
        let this = &mut *self;
        let state = this.job.state();
        if state.is_done() {
            this.watch = None;
            return Poll::Ready(state);
        }
        match &this.watch {
            Some(watch) => watch.update(cx.waker()),
            None => {
                let (kernel, wait) = this.job.end_waiter();
                let name = format!("await job {}", this.job.id());
                match Watch::start(&kernel, name, cx.waker(), wait) {
                    Ok(watch) => this.watch = Some(watch),
                    // The kernel is gone, or refuses new threads: the job
                    // cannot end any more than it has.
                    Err(_) => return Poll::Ready(this.job.state()),
                }
            }
        }
        Poll::Pending
    }
}

/// The future of [`Kernel::ready`]: completes when the kernel has work.
///
/// # Examples
///
/// ```
/// use cothread::{future, Kernel, Signal};
///
/// let kernel = Kernel::new();
/// let sender = kernel.signal_sender();
/// std::thread::spawn(move || sender.push(Signal::new("job")).unwrap());
/// future::block_on(kernel.ready()); // returns once the push has come
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Ready {
    kernel: KernelRef,
}

impl Kernel {
    /// A future that completes when a step would find work: a signal or a
    /// wake-up queued from another OS thread (a [`SignalSender`] push, a
    /// future's waker, a channel send, a blocking job's report), one queued
    /// here, a deadline due now, or a round that a budget cut short. It
    /// completes at once if there is work already, and when the kernel is
    /// dropped.
    ///
    /// It is woken by other OS threads, not by the clock: a deadline still
    /// to come needs a timer, which the host's runtime brings
    /// ([`Ready::with_timer`], or [`Kernel::next_deadline_at`] by hand). On
    /// the virtual clock no deadline comes by itself: the host moves the
    /// clock ([`Kernel::advance`]). A host task on the kernel's own OS
    /// thread that wants to wake it pushes through a [`SignalSender`]
    /// ([`Kernel::push_signal`] needs `&mut` and is followed by a step
    /// anyway).
    ///
    /// [`SignalSender`]: crate::SignalSender
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, future, Budget, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let got = kernel.spawn(|| event::pull(None, "line").map(|s| s.arg(0).to_string()));
    /// let sender = kernel.signal_sender();
    /// let feeder = std::thread::spawn(move || {
    ///     sender.push(cothread::Signal::new("line").with("hi")).unwrap();
    /// });
    /// // An async host's loop (here on a plain block_on).
    /// while kernel.step_for(Budget::Resumes(64)).alive {
    ///     future::block_on(kernel.ready());
    /// }
    /// feeder.join().unwrap();
    /// assert_eq!(got.wait().unwrap().as_deref(), Some("hi"));
    /// ```
    pub fn ready(&self) -> Ready {
        Ready { kernel: KernelRef::of(self) }
    }

    /// When the kernel's nearest deadline (a sleep, a timeout, a timer)
    /// falls due, as an instant on the OS's clock: what an async host sets
    /// its timer to. `None` with no deadline, and on the virtual clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel};
    /// use std::time::{Duration, Instant};
    ///
    /// let mut kernel = Kernel::new();
    /// assert_eq!(kernel.next_deadline_at(), None);
    /// kernel.spawn(|| os::sleep(Duration::from_secs(60)));
    /// let at = kernel.next_deadline_at().unwrap();
    /// assert!(at > Instant::now() + Duration::from_secs(50));
    /// ```
    pub fn next_deadline_at(&self) -> Option<Instant> {
        KernelRef::of(self).next_instant()
    }
}

impl Ready {
    /// This future, completing also when the kernel's nearest deadline falls
    /// due on the real clock: `timer(at)` makes a future that completes at
    /// the instant `at` (with tokio, `|at| tokio::time::sleep_until(at.into())`).
    /// It is made again whenever the nearest deadline changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{future, os, Budget, Kernel};
    /// use std::time::{Duration, Instant};
    /// use std::sync::{Arc, Mutex};
    /// use std::task::{Poll, Waker};
    ///
    /// /// A timer on a plain OS thread (an async runtime's own would do).
    /// fn sleep_until(at: Instant) -> impl std::future::Future<Output = ()> {
    ///     let state: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
    ///     let s = state.clone();
    ///     std::thread::spawn(move || {
    ///         std::thread::sleep(at.saturating_duration_since(Instant::now()));
    ///         let mut s = s.lock().unwrap();
    ///         s.0 = true;
    ///         if let Some(waker) = s.1.take() { waker.wake() }
    ///     });
    ///     std::future::poll_fn(move |cx| {
    ///         let mut s = state.lock().unwrap();
    ///         if s.0 { return Poll::Ready(()) }
    ///         s.1 = Some(cx.waker().clone());
    ///         Poll::Pending
    ///     })
    /// }
    ///
    /// let mut kernel = Kernel::new();
    /// let sleeper = kernel.spawn(|| os::sleep(Duration::from_millis(5)));
    /// while kernel.step_for(Budget::Resumes(64)).alive {
    ///     future::block_on(kernel.ready().with_timer(sleep_until));
    /// }
    /// assert!(sleeper.wait().is_ok());
    /// ```
    pub fn with_timer<T, F>(self, timer: F) -> ReadyOrDeadline<T, F>
    where
        T: Future<Output = ()>,
        F: FnMut(Instant) -> T + Unpin,
    {
        ReadyOrDeadline { ready: self, timer, armed: None }
    }
}

impl Future for Ready {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.kernel.poll_work(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// [`Ready`] with a timer for the kernel's deadlines: made by
/// [`Ready::with_timer`].
///
/// # Examples
///
/// ```
/// use cothread::{future, Kernel, Signal};
///
/// let kernel = Kernel::new();
/// kernel.signal_sender().push(Signal::new("work")).unwrap(); // work queued: ready at once
/// future::block_on(kernel.ready().with_timer(|_| async {}));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ReadyOrDeadline<T, F> {
    ready: Ready,
    timer: F,
    /// The timer running, and the deadline it is for.
    armed: Option<(Instant, Pin<Box<T>>)>,
}

impl<T, F> fmt::Debug for ReadyOrDeadline<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyOrDeadline")
            .field("ready", &self.ready)
            .field("deadline", &self.armed.as_ref().map(|(at, _)| at))
            .finish()
    }
}

impl<T, F> Future for ReadyOrDeadline<T, F>
where
    T: Future<Output = ()>,
    F: FnMut(Instant) -> T + Unpin,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.ready.kernel.poll_work(cx.waker()) {
            return Poll::Ready(());
        }
        let Some(at) = this.ready.kernel.next_instant() else {
            this.armed = None;
            return Poll::Pending;
        };
        if this.armed.as_ref().map_or(true, |(armed, _)| *armed != at) {
            this.armed = Some((at, Box::pin((this.timer)(at))));
        }
        let (_, timer) = this.armed.as_mut().expect("armed above");
        timer.as_mut().poll(cx)
    }
}
