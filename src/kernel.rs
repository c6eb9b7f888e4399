//! The kernel: its state, the thread-local pointer that reaches it, and the loop
//! that runs rounds (queued signals, then due deadlines, then joins).

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::event::listen::{Listeners, Timers};
use crate::event::waiters::Waiters;
use crate::event::{ListenerId, ListenerResult, Signal};
use crate::id::Status;
use crate::inspect::{ThreadInfo, Trace, TraceHook};
use crate::job::{Job, JobContext, Workers};
use crate::park::{Parker, WaitToken};
use crate::process::{Kind, SpawnOptions, Task, Tasks, Wait};
use crate::round::{Budget, Meter, Progress, Round};
use crate::stack::StackPool;
use crate::time::{Clock, DeadlineQueue};

pub use crate::stack::{DEFAULT_STACK_SIZE, MIN_STACK_SIZE};

/// How many finished threads' stacks the kernel keeps for reuse by default.
///
/// # Examples
///
/// ```
/// let kernel = cothread::Kernel::builder().stack_pool(2 * cothread::DEFAULT_STACK_POOL).build();
/// # drop(kernel);
/// ```
pub const DEFAULT_STACK_POOL: usize = 1024;

/// The default number of OS worker threads for blocking jobs.
///
/// # Examples
///
/// ```
/// let kernel = cothread::Kernel::builder().workers(cothread::DEFAULT_WORKERS + 2).build();
/// # drop(kernel);
/// ```
pub const DEFAULT_WORKERS: usize = 2;

/// From how many tasks (the root, programs and threads) on a resume
/// prefetches the next one's stack ([`Core::prefetch`]). Below it the stacks'
/// top frames stay in the caches and prefetching only costs: on the machine
/// of docs/performance.md, waking sleepers took 89 ns without and 93 ns with
/// it among 200 threads, the same 140 ns either way among 3 000, and 336 ns
/// without, 123 ns with among 10 000.
const PREFETCH_FROM: usize = 2048;

/// What a deadline in the queue wakes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Due {
    /// A parked task, if that wait is still on.
    Task(Parker),
    /// A timer, if it is still registered under this serial.
    Timer { key: usize, serial: u64 },
}

/// Whether a deadline entry still names a wait or a timer.
fn is_live(tasks: &Tasks, timers: &Timers, due: &Due) -> bool {
    match *due {
        Due::Task(parker) => parker.is_parked(tasks),
        Due::Timer { key, serial } => timers.table.get(key).is_some_and(|t| t.serial == serial),
    }
}

/// A signal in the kernel's queue. A thread's `"thread_exit"` is queued as the
/// thread's serial and built only if, when its turn comes, something could
/// receive it: one is queued for every thread that ends, and most have no
/// listener or waiter.
pub(crate) enum Queued {
    Signal(Signal),
    ThreadExit(u64),
}

/// The host's handler for errors raised inside the kernel.
pub(crate) type ErrorHook = Box<dyn FnMut(&str)>;

/// Everything the kernel knows, behind one `RefCell`. Borrows are short and never
/// held across a context switch or a call into user code.
pub(crate) struct Core {
    pub(crate) tasks: Tasks,
    pub(crate) root: usize,
    /// The task whose stack is executing (`None`: the host's stack).
    pub(crate) running: Option<usize>,
    /// The task on whose behalf calls are made: the running task, or the owner
    /// of the listener or timer callback being run.
    pub(crate) context: Option<usize>,
    pub(crate) queue: VecDeque<Queued>,
    pub(crate) waiters: Waiters,
    pub(crate) listeners: Listeners,
    pub(crate) timers: Timers,
    pub(crate) deadlines: DeadlineQueue<Due>,
    /// Parked tasks woken by their wait source ([`Core::wake`]): they run in
    /// the next round, after its deadlines.
    pub(crate) wakes: VecDeque<Parker>,
    pub(crate) clock: Clock,
    pub(crate) stacks: StackPool<crate::process::Home>,
    pub(crate) next_token: u64,
    pub(crate) next_serial: u64,
    pub(crate) next_job: u64,
    /// The OS threads of blocking jobs, started on first use.
    pub(crate) workers: Option<Workers>,
    pub(crate) worker_count: usize,
    /// The workers' stack size (`None`: std's default), which a test sets
    /// beyond what the OS can give to see a pool that cannot start.
    pub(crate) worker_stack_size: Option<usize>,
    pub(crate) on_error: Option<ErrorHook>,
    pub(crate) on_trace: Option<TraceHook>,
    /// Reused between deliveries so that a push allocates nothing.
    pub(crate) scratch: Vec<Parker>,
    /// User values (callbacks) removed while the state was borrowed, dropped
    /// once it is not.
    pub(crate) graveyard: crate::event::listen::Graveyard,
    pub(crate) remote: Arc<Remote>,
    /// [`PREFETCH_FROM`], which tests lower to run the prefetching path.
    pub(crate) prefetch_from: usize,
    /// Tasks parked for ever (see `Task::zombie`): dead, but in the table.
    pub(crate) zombies: usize,
    /// Stacks this kernel will never free or reuse: frames on them were
    /// discarded (a stack overflow) or abandoned (a zombie), and memory they
    /// held may still be referred to from elsewhere.
    pub(crate) quarantined: usize,
}

impl Core {
    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// A fresh job id (from 1).
    pub(crate) fn next_job(&mut self) -> u64 {
        self.next_job += 1;
        self.next_job
    }

    /// The worker pool, started on first use.
    ///
    /// # Errors
    ///
    /// [`Error::WorkerThread`] if the OS refuses a worker thread; nothing is
    /// kept, and the next call tries again.
    pub(crate) fn workers(&mut self) -> Result<&Workers, Error> {
        if self.workers.is_none() {
            self.workers = Some(Workers::start(self.worker_count, self.worker_stack_size)?);
        }
        Ok(self.workers.as_ref().expect("started above"))
    }

    pub(crate) fn serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// Drops stale wake-ups from the deadline queue once they outnumber the live
    /// ones, so that waits that end early (a pull answered long before its
    /// timeout) cannot grow it without bound.
    pub(crate) fn compact_deadlines(&mut self) {
        let live = self.tasks.len() + self.timers.table.len();
        if self.deadlines.len() <= 64 + 2 * live {
            return;
        }
        let (tasks, timers) = (&self.tasks, &self.timers);
        self.deadlines.retain(|due| is_live(tasks, timers, due));
    }

    /// The earliest deadline worth waiting for: as [`next_deadline`], but `None`
    /// when every deadline left is a timer of a frozen (suspended) owner. Such
    /// a timer only skips its firings, one interval after another, and nothing
    /// can thaw its owner when nothing else can run: waiting for it would spin
    /// (virtual clock) or sleep for ever (real clock) instead of reporting the
    /// deadlock.
    ///
    /// [`next_deadline`]: Core::next_deadline
    pub(crate) fn next_useful_deadline(&mut self) -> Option<Duration> {
        let next = self.next_deadline()?;
        let frozen_timer = |core: &Core, due: &Due| match *due {
            Due::Timer { key, serial } => core.timers.table.get(key).is_some_and(|t| {
                t.serial == serial && crate::process::frozen(&core.tasks, t.owner)
            }),
            Due::Task { .. } => false,
        };
        let (_, head) = self.deadlines.peek()?;
        // Checked in full only when the head is such a timer, which is rare.
        if frozen_timer(self, head)
            && self
                .deadlines
                .items()
                .all(|due| !is_live(&self.tasks, &self.timers, due) || frozen_timer(self, due))
        {
            return None;
        }
        Some(next)
    }

    /// The earliest deadline that can still wake something: stale entries (a
    /// wait that ended another way, a cancelled timer) at the head are dropped.
    pub(crate) fn next_deadline(&mut self) -> Option<Duration> {
        loop {
            let (at, due) = self.deadlines.peek()?;
            if is_live(&self.tasks, &self.timers, due) {
                return Some(at);
            }
            self.deadlines.pop();
        }
    }

    /// The task `key` if it is still the one with this serial.
    pub(crate) fn task(&self, key: usize, serial: u64) -> Option<&Task> {
        self.tasks.get(key).filter(|t| t.serial == serial)
    }

    /// Whether any program or thread is alive (zombies are not).
    pub(crate) fn any_alive(&self) -> bool {
        self.tasks.len() > 1 + self.zombies
    }

    /// Whether there are tasks enough for their stacks to have left the
    /// caches, so that prefetching pays ([`PREFETCH_FROM`]).
    #[inline]
    fn many_tasks(&self) -> bool {
        cfg!(target_arch = "x86_64") && self.tasks.len() >= self.prefetch_from
    }

    /// Warms the top of `key`'s stack for a resume soon, once there are more
    /// threads than the caches hold the stacks of (with a few, prefetching
    /// would only cost).
    #[inline]
    pub(crate) fn prefetch(&self, key: usize) {
        if self.many_tasks() {
            if let Some(task) = self.tasks.get(key) {
                task.frames.prefetch();
            }
        }
    }

    /// [`prefetch`](Core::prefetch) for the next deadline, if it wakes a
    /// task: called as a task is woken by its deadline, so that the next
    /// one's stack is fetched while this one runs.
    #[inline]
    pub(crate) fn prefetch_next_due(&self) {
        if self.many_tasks() {
            if let Some((_, &Due::Task(Parker { key, .. }))) = self.deadlines.peek() {
                self.prefetch(key);
            }
        }
    }

    /// The same for timers, called as a timer falls due: a firing's first
    /// miss, among many timers, is the next one's entry in the table.
    #[inline]
    pub(crate) fn prefetch_next_timer(&self) {
        if self.timers.table.len() >= self.prefetch_from {
            if let Some((_, &Due::Timer { key, .. })) = self.deadlines.peek() {
                if let Some(timer) = self.timers.table.get(key) {
                    crate::stack::prefetch_line(timer as *const _ as usize);
                }
            }
        }
    }

    /// Ends `key`'s current wait (it is about to run, or it died). `delivered`:
    /// the waiter index has already dropped its entry.
    pub(crate) fn end_wait(&mut self, key: usize, delivered: bool) {
        let task = &mut self.tasks[key];
        task.token = WaitToken::NONE;
        task.deadline = None;
        // A sleep, the most common wait by far, has nothing to undo or drop.
        if let Wait::Sleep = task.wait {
            task.wait = Wait::None;
            return;
        }
        let wait = std::mem::replace(&mut task.wait, Wait::None);
        if let Wait::Signal(filter) = wait {
            if !delivered {
                self.waiters.forget(&filter, &self.tasks);
            }
        }
    }

    /// Whether a signal or a joiner's nudge waits for the next round.
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.queue.is_empty() || !self.wakes.is_empty()
    }

    /// Whether a round started now would find nothing queued for it: no
    /// signal (here or from another OS thread), no joiner to wake.
    pub(crate) fn nothing_queued(&self) -> bool {
        !self.has_queued_work() && !self.remote.pending.load(Ordering::Relaxed)
    }

    /// Whether a round started now would have something to do (or might: the
    /// deadline at the head may be stale).
    pub(crate) fn has_work_now(&self) -> bool {
        self.has_queued_work()
            || self.remote.pending.load(Ordering::Relaxed)
            || self.deadlines.peek().is_some_and(|(at, _)| self.clock.reached(at))
    }

    /// Queues a signal for the next round.
    pub(crate) fn enqueue(&mut self, signal: Signal) {
        self.queue.push_back(Queued::Signal(signal));
    }

    /// The signal that `queued` stands for, or `None` for a `"thread_exit"`
    /// that nothing can receive (no listener, no waiter for it, no trace hook).
    pub(crate) fn unqueue(&self, queued: Queued, traced: bool) -> Option<Signal> {
        match queued {
            Queued::Signal(signal) => Some(signal),
            Queued::ThreadExit(serial) => {
                let name = crate::process::thread_exit_name();
                let wanted =
                    traced || self.listeners.has_name(&name) || self.waiters.may_want(&name);
                wanted.then(|| Signal::new(name).with(serial))
            }
        }
    }

    #[inline]
    pub(crate) fn drain_remote(&mut self) {
        // A plain load first: the swap, a locked instruction, only when set.
        if self.remote.pending.load(Ordering::Relaxed) {
            self.drain_remote_now();
        }
    }

    #[cold]
    fn drain_remote_now(&mut self) {
        if self.remote.pending.swap(false, Ordering::Acquire) {
            let mut shared = self.remote.lock();
            self.queue.extend(shared.signals.drain(..).map(Queued::Signal));
        }
    }

    /// One line per blocked task, for deadlock reports.
    pub(crate) fn describe_waits(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, task) in self.tasks.iter() {
            let what = match &task.wait {
                Wait::None => continue,
                Wait::Signal(filter) => format!("waits for {}", filter.describe()),
                Wait::Sleep => "sleeps".to_string(),
                Wait::Join(targets) => {
                    let names: Vec<String> = targets
                        .iter()
                        .filter_map(|&k| self.tasks.get(k))
                        .map(|t| t.label())
                        .collect();
                    format!("joins {}", names.join(", "))
                }
                Wait::Coma => "is suspended".to_string(),
            };
            let frozen = if task.status == Status::Suspended { " (suspended)" } else { "" };
            out.push(format!("{}{frozen} {what}", task.label()));
        }
        out
    }
}

/// The part of the kernel that other OS threads reach through a `SignalSender`.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    state: Mutex<RemoteState>,
    wakeup: Condvar,
    /// Set with each push, so that the kernel takes the lock only when there is
    /// something to take.
    pending: AtomicBool,
}

#[derive(Debug, Default)]
struct RemoteState {
    signals: VecDeque<Signal>,
    closed: bool,
    /// Live `SignalSender`s. Counted under the lock, so that a kernel about to
    /// wait for a push cannot miss the last sender going away.
    senders: usize,
}

impl Remote {
    fn lock(&self) -> std::sync::MutexGuard<'_, RemoteState> {
        // A sender that panicked while holding the lock left the queue intact:
        // a push is one `push_back`.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, signal: Signal) -> Result<(), Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::KernelGone);
        }
        state.signals.push_back(signal);
        self.pending.store(true, Ordering::Release);
        drop(state);
        self.wakeup.notify_one();
        Ok(())
    }

    /// Blocks the kernel's OS thread until a push, or until `timeout` passes.
    fn wait(&self, timeout: Option<Duration>) {
        let state = self.lock();
        if !state.signals.is_empty() || (timeout.is_none() && state.senders == 0) {
            return;
        }
        // Poisoning is harmless here (see `lock`): the guard is dropped at once.
        match timeout {
            Some(t) => drop(self.wakeup.wait_timeout(state, t)),
            None => drop(self.wakeup.wait(state)),
        }
    }

    fn close(&self) {
        self.lock().closed = true;
    }
}

/// A handle that pushes signals into a kernel from any OS thread, like
/// `computer.pushSignal` from outside the machine. A kernel waiting for work
/// wakes up at once.
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel, Signal};
///
/// let mut kernel = Kernel::new();
/// let sender = kernel.signal_sender();
/// let feeder = std::thread::spawn(move || {
///     sender.push(Signal::new("line").with("hello")).unwrap();
/// });
/// let got = kernel.run(|| event::pull(None, "line")).unwrap();
/// feeder.join().unwrap();
/// assert_eq!(got.unwrap().arg(0).as_str(), Some("hello"));
/// ```
#[derive(Debug)]
pub struct SignalSender {
    remote: Arc<Remote>,
}

impl SignalSender {
    pub(crate) fn new(remote: &Arc<Remote>) -> SignalSender {
        remote.lock().senders += 1;
        SignalSender { remote: remote.clone() }
    }
}

impl Clone for SignalSender {
    fn clone(&self) -> SignalSender {
        SignalSender::new(&self.remote)
    }
}

/// The last sender going away may leave a waiting kernel with nothing that can
/// wake it: tell it, so that it can report that instead of sleeping forever.
impl Drop for SignalSender {
    fn drop(&mut self) {
        self.remote.lock().senders -= 1;
        self.remote.wakeup.notify_all();
    }
}

impl SignalSender {
    /// Queues `signal` in the kernel; signals from one sender arrive in order.
    ///
    /// # Errors
    ///
    /// [`Error::KernelGone`] if the kernel has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Error, Kernel, Signal};
    ///
    /// let kernel = Kernel::new();
    /// let sender = kernel.signal_sender();
    /// drop(kernel);
    /// assert_eq!(sender.push(Signal::new("late")), Err(Error::KernelGone));
    /// ```
    pub fn push(&self, signal: Signal) -> Result<(), Error> {
        self.remote.push(signal)
    }
}

/// The kernel's state and the pointer green threads use to reach it.
pub(crate) struct Shared {
    core: RefCell<Core>,
    /// The round under way, kept apart from `core` because it is held while
    /// user code runs (filters, listeners) and only the host drives it.
    pub(crate) round: RefCell<Round>,
    /// Whether a trace hook is installed, read without borrowing `core` on
    /// every switch.
    pub(crate) tracing: Cell<bool>,
    /// Whether whoever entered the kernel from outside (the host, or a green
    /// thread of another kernel) was unwinding: then the OS thread's panic
    /// count is not the green threads' own (see [`Shared::unwinding`]).
    host_panicking: Cell<bool>,
    /// Itself, for the handles it gives out.
    me: Weak<Shared>,
}

impl Shared {
    pub(crate) fn weak(&self) -> Weak<Shared> {
        self.me.clone()
    }

    /// Whether the code on the CPU, a green thread's, is unwinding: running
    /// destructors for a panic, a kill, an exit or an interrupt. std keeps one
    /// count of unwinds under way for the whole OS thread, so it is this
    /// thread's own only while no other holds a part of it. Green threads
    /// never park mid-unwind (a blocking call made then returns at once), so
    /// only the host (seen as it enters) and threads left stuck mid-unwind
    /// for ever ([`stuck_unwinds`]) can; while either does, this answers
    /// `false`, and blocking calls in destructors block again.
    pub(crate) fn unwinding(&self) -> bool {
        self.unwinding_if(std::thread::panicking())
    }

    /// [`unwinding`](Shared::unwinding), given `std::thread::panicking()`.
    #[inline]
    pub(crate) fn unwinding_if(&self, panicking: bool) -> bool {
        panicking && !self.host_panicking.get() && stuck_unwinds() == 0
    }

    pub(crate) fn core(&self) -> RefMut<'_, Core> {
        self.core.borrow_mut()
    }

    /// The kernel's state, unless it is borrowed: after a stack overflow, by
    /// frames that were discarded and will never release it.
    pub(crate) fn try_core(&self) -> Option<RefMut<'_, Core>> {
        self.core.try_borrow_mut().ok()
    }

    /// Reports an error through the kernel's reporter (default: `log::error!`).
    pub(crate) fn report(&self, message: &str) {
        self.report_as(None, message);
    }

    /// Reports an error raised in task `key` (or one of its callbacks): the
    /// handler gets `message` (OpenOS's text); the default log line also names
    /// the task.
    pub(crate) fn report_for(&self, key: usize, message: &str) {
        let who = self.core().tasks.get(key).filter(|t| t.kind != Kind::Root).map(Task::label);
        self.report_as(who, message);
    }

    fn report_as(&self, who: Option<String>, message: &str) {
        let who = who.map(|w| format!("{w}: ")).unwrap_or_default();
        let handler = self.core().on_error.take();
        match handler {
            Some(mut handler) => {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(message)));
                let mut core = self.core();
                if core.on_error.is_none() {
                    core.on_error = Some(handler);
                }
                drop(core);
                if let Err(payload) = outcome {
                    crate::process::drop_payload(payload);
                    log::error!("{who}{message} (and the on_error handler panicked)");
                }
            }
            None => log::error!("{who}{message}"),
        }
    }

    /// Runs rounds until one finds nothing to do, or `meter` runs out. After a
    /// busy round, the next one starts only if there is work for it: a round
    /// that would find nothing costs more than the look.
    pub(crate) fn settle(&self, report: &mut StepReport, meter: &Meter) {
        while let Progress::Done { busy: true } = self.round(report, meter, true) {
            if !self.core().has_work_now() {
                return;
            }
        }
    }

    /// One turn of a blocking drive: a round, or, when it found nothing to do,
    /// a wait for something. `Err` lists the waiting threads when nothing can
    /// ever wake them.
    fn turn(&self, report: &mut StepReport) -> Result<(), Vec<String>> {
        match self.round(report, &Meter::Unlimited, false) {
            Progress::Done { busy: false } => self.idle(true),
            _ => Ok(()),
        }
    }

    /// Waits for something to do once a round found nothing: moves a virtual
    /// clock to the next deadline, or sleeps in the OS until it or a push.
    /// `Err` lists the waiting threads when nothing can ever wake them.
    fn idle(&self, block: bool) -> Result<(), Vec<String>> {
        let (next, virtual_time, senders, remote) = {
            let mut core = self.core();
            if core.has_queued_work() {
                return Ok(());
            }
            let senders = core.remote.lock().senders > 0;
            (core.next_useful_deadline(), core.clock.is_virtual(), senders, core.remote.clone())
        };
        if remote.pending.load(Ordering::Acquire) {
            return Ok(());
        }
        match next {
            Some(at) if virtual_time => {
                self.core().clock.advance_to(at);
                Ok(())
            }
            Some(at) => {
                if block {
                    let now = self.core().now();
                    remote.wait(Some(at.saturating_sub(now)));
                }
                Ok(())
            }
            None if senders => {
                if block {
                    remote.wait(None);
                }
                Ok(())
            }
            None => Err(self.core().describe_waits()),
        }
    }
}

thread_local! {
    /// The kernel running on this OS thread, if any. Set by `Enter` for the span
    /// of `run`, `step`, a host-side handle call that switches stacks, and `drop`.
    static CURRENT: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };

    /// Green threads on this OS thread (of any kernel) parked for ever in the
    /// middle of an unwind: each holds a part of std's count of unwinds under
    /// way that will never be given back.
    static STUCK_UNWINDS: Cell<usize> = const { Cell::new(0) };
}

/// Whether the current kernel's state is borrowed for writing, read without
/// taking a borrow: for the fault handler, which must not write it.
pub(crate) fn state_borrowed() -> bool {
    let ptr = CURRENT.try_with(Cell::get).unwrap_or(std::ptr::null());
    // SAFETY: CURRENT is non-null only while an `Enter` guard keeps the
    // `Shared` alive (see `try_current`); `try_borrow_unguarded` only reads
    // the borrow flag, and the reference it may return is dropped at once.
    !ptr.is_null() && unsafe { (*ptr).core.try_borrow_unguarded().is_err() }
}

/// See `STUCK_UNWINDS`.
pub(crate) fn stuck_unwinds() -> usize {
    STUCK_UNWINDS.with(Cell::get)
}

/// Counts a green thread parked for ever mid-unwind (see `STUCK_UNWINDS`).
pub(crate) fn add_stuck_unwind() {
    STUCK_UNWINDS.with(|c| c.set(c.get() + 1));
}

/// Makes `shared` the current kernel until dropped, then restores the previous one.
pub(crate) struct Enter {
    _keep: Rc<Shared>,
    prev: *const Shared,
    prev_host_panicking: bool,
}

pub(crate) fn enter(shared: &Rc<Shared>) -> Enter {
    // This OS thread may now run green threads: a stack overflow in one must
    // find the fault handler and an alternate signal stack.
    crate::overflow::prepare_thread();
    let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(shared)));
    let prev_host_panicking = shared.host_panicking.replace(std::thread::panicking());
    Enter { _keep: shared.clone(), prev, prev_host_panicking }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        self._keep.host_panicking.set(self.prev_host_panicking);
        CURRENT.with(|c| c.set(self.prev));
        if !self.prev.is_null() && !std::ptr::eq(self.prev, Rc::as_ptr(&self._keep)) {
            back_in_another_kernel();
        }
    }
}

/// Back in a green thread of another kernel, which the one just left ran on
/// top of: what that kernel's own threads did to it meanwhile (a kill from a
/// nested kernel's thread) takes effect now, in its own frames.
#[cold]
fn back_in_another_kernel() {
    if let Some(outer) = try_current() {
        if !std::thread::panicking() {
            outer.check_interrupts();
        }
    }
}

/// The current kernel, if any (see [`current`]).
pub(crate) fn try_current() -> Option<&'static Shared> {
    let ptr = current_ptr();
    // SAFETY: CURRENT is non-null only while an `Enter` guard lives, and the guard
    // keeps the `Shared` alive (it holds an `Rc`). Green threads and callbacks run
    // only inside such a span, and `Kernel::drop` unwinds every green thread before
    // its guard ends, so no caller can keep using this reference after the `Shared`
    // is freed. The `'static` lifetime never leaves the crate.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

fn current_ptr() -> *const Shared {
    CURRENT.with(|c| c.get())
}

/// The current kernel.
///
/// # Panics
///
/// Outside a kernel, with a message naming `what` was called.
pub(crate) fn current(what: &str) -> &'static Shared {
    match try_current() {
        Some(shared) => {
            shared.check_stack();
            shared
        }
        None => panic!(
            "cothread: `{what}` called outside a kernel; call it from a program or thread run by `Kernel::run`"
        ),
    }
}

/// The current kernel if there is one and it is `shared`.
pub(crate) fn is_current(shared: &Rc<Shared>) -> bool {
    std::ptr::eq(current_ptr(), Rc::as_ptr(shared))
}

/// What one [`Kernel::step`] did.
///
/// # Examples
///
/// ```
/// use cothread::{os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.spawn(|| os::sleep(Duration::from_secs(1)));
/// let report = kernel.step();
/// assert!(report.alive);
/// assert_eq!(report.next_deadline, Some(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepReport {
    /// Thread resumes the step made.
    pub resumes: usize,
    /// Signals it delivered.
    pub signals: usize,
    /// Listener and timer callbacks it ran.
    pub callbacks: usize,
    /// The nearest deadline on the kernel's clock after the step, if any.
    pub next_deadline: Option<Duration>,
    /// Whether any program or thread is still alive.
    pub alive: bool,
    /// [`Kernel::advance_for`] only: the budget ran out before the clock
    /// reached the end of the advance (or with work left at that instant).
    pub behind: bool,
}

/// Configures a [`Kernel`].
///
/// # Examples
///
/// ```
/// let kernel = cothread::Kernel::builder()
///     .virtual_time(true)
///     .stack_size(64 * 1024)
///     .stack_pool(16)
///     .build();
/// assert_eq!(kernel.uptime(), std::time::Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
pub struct KernelBuilder {
    virtual_time: bool,
    stack_size: usize,
    stack_pool: usize,
    workers: usize,
}

impl KernelBuilder {
    /// With `true`, the kernel's clock is virtual: it starts at zero and, when every
    /// thread waits on a deadline, jumps to the nearest one at once. Programs that
    /// sleep for hours finish in microseconds, with the same interleaving every run
    /// (short of what the wall clock decides: pushes from other OS threads,
    /// blocking jobs' reports, and steps cut by a [`Budget::Time`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let t = kernel.run(|| { os::sleep(Duration::from_secs(3600)); os::uptime() });
    /// assert_eq!(t.unwrap(), Duration::from_secs(3600));
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Self {
        self.virtual_time = on;
        self
    }

    /// The usable size of each green thread's stack, in bytes (default
    /// [`DEFAULT_STACK_SIZE`], at least [`MIN_STACK_SIZE`]); an emergency
    /// zone of 64 KiB and a guard page are added below it
    /// (`docs/reliability.md`). Only touched pages take memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().stack_size(128 * 1024).build();
    /// # drop(kernel);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// How many stacks of finished threads to keep for reuse (default
    /// [`DEFAULT_STACK_POOL`]); beyond it they are returned to the OS.
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().stack_pool(0).build();
    /// # drop(kernel);
    /// ```
    pub fn stack_pool(mut self, stacks: usize) -> Self {
        self.stack_pool = stacks;
        self
    }

    /// The number of OS worker threads that run blocking jobs (default
    /// [`DEFAULT_WORKERS`]; at least one). They start with the first blocking
    /// job (one the OS refuses ends that job's run with
    /// [`Error::WorkerThread`]), and dropping the kernel joins them.
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().workers(4).build();
    /// # drop(kernel);
    /// ```
    pub fn workers(mut self, threads: usize) -> Self {
        self.workers = threads.max(1);
        self
    }

    /// Builds the kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().build();
    /// # drop(kernel);
    /// ```
    pub fn build(self) -> Kernel {
        crate::overflow::install(crate::overflow::KernelHooks {
            state_borrowed,
            kernel_frames: crate::process::kernel_frames,
        });
        let mut tasks = Tasks::default();
        let root = tasks.insert(|| Task::new(0, Kind::Root, None));
        let core = Core {
            tasks,
            root,
            running: None,
            context: None,
            queue: VecDeque::new(),
            waiters: Waiters::default(),
            listeners: Listeners::default(),
            timers: Timers::unlisting(root),
            deadlines: DeadlineQueue::new(),
            wakes: VecDeque::new(),
            clock: Clock::new(self.virtual_time),
            stacks: StackPool::new(self.stack_size, self.stack_pool),
            next_token: 0,
            next_serial: 0,
            next_job: 0,
            workers: None,
            worker_count: self.workers,
            worker_stack_size: None,
            on_error: None,
            on_trace: None,
            scratch: Vec::new(),
            graveyard: Vec::new(),
            remote: Arc::new(Remote::default()),
            prefetch_from: PREFETCH_FROM,
            zombies: 0,
            quarantined: 0,
        };
        Kernel {
            shared: Rc::new_cyclic(|me| Shared {
                core: RefCell::new(core),
                round: RefCell::default(),
                tracing: Cell::new(false),
                host_panicking: Cell::new(false),
                me: me.clone(),
            }),
        }
    }
}

impl Default for KernelBuilder {
    fn default() -> Self {
        KernelBuilder {
            virtual_time: false,
            stack_size: DEFAULT_STACK_SIZE,
            stack_pool: DEFAULT_STACK_POOL,
            workers: DEFAULT_WORKERS,
        }
    }
}

/// The kernel: owns every green thread and runs them, one OS thread, one at a time.
///
/// The host calls [`run`](Kernel::run) to run a program to its end, or
/// [`step`](Kernel::step) once a frame. Dropping the kernel unwinds every thread
/// still alive (detached ones included), so their destructors run.
///
/// # Examples
///
/// ```
/// use cothread::{event, os, thread, Kernel, Signal};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let out = kernel.run(|| {
///     let t = thread::create(|| event::pull(None, "ping").map(|s| s.arg(0).clone()));
///     event::push(Signal::new("ping").with(7));
///     os::sleep(Duration::from_millis(10));
///     t.wait()
/// });
/// assert_eq!(out.unwrap().unwrap(), Some(7.into()));
/// ```
///
/// # One kernel per OS thread
///
/// A kernel and the handles that reach into it ([`Thread`](crate::thread::Thread),
/// [`JoinHandle`](crate::thread::JoinHandle), [`Job`](crate::job::Job)) stay
/// on the OS thread that built the kernel: its green threads share its state
/// without locks, so none of them is `Send` or `Sync`. Moving one to another
/// OS thread is refused at compile time, by an error that names a type inside
/// cothread:
///
/// ```text
/// error[E0277]: `Rc<cothread::kernel::Shared>` cannot be sent between threads safely
/// ```
///
/// (`cannot be shared between threads safely` for a `&Kernel`; for a handle,
/// `std::rc::Weak<cothread::kernel::Shared>`, `Rc<cothread::process::Slot<T>>`
/// or `Rc<RefCell<job::JobCore<T>>>`.)
///
/// ```compile_fail,E0277
/// let kernel = cothread::Kernel::new();
/// std::thread::spawn(move || drop(kernel)); // the kernel cannot leave its OS thread
/// ```
///
/// Run one kernel on each OS thread that needs one. To reach a kernel from
/// another OS thread, push signals through a [`SignalSender`] (`Send + Sync +
/// Clone`, from [`signal_sender`](Kernel::signal_sender)); CPU-heavy work goes
/// to a blocking job ([`blocking_job`](Kernel::blocking_job)), which runs on the
/// kernel's worker threads.
///
/// ```
/// use cothread::{event, Kernel, Signal};
///
/// let mut kernel = Kernel::new();
/// let sender = kernel.signal_sender();
/// let producer = std::thread::spawn(move || sender.push(Signal::new("work").with(7)).unwrap());
/// let got = kernel.run(|| event::pull(None, "work")).unwrap();
/// producer.join().unwrap();
/// assert_eq!(got.unwrap().arg(0).as_int(), Some(7));
/// ```
pub struct Kernel {
    shared: Rc<Shared>,
}

impl Kernel {
    /// A kernel on the real clock, with default stacks.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// assert_eq!(kernel.run(|| 1 + 1).unwrap(), 2);
    /// ```
    pub fn new() -> Kernel {
        Kernel::builder().build()
    }

    /// A builder for a kernel with a virtual clock or other stacks.
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().virtual_time(true).build();
    /// # drop(kernel);
    /// ```
    pub fn builder() -> KernelBuilder {
        KernelBuilder::default()
    }

    /// Runs `main` as a program (a process whose main body is not a thread:
    /// `thread::current()` is `None` in it) and drives the kernel until the program
    /// has closed: its body returned and every thread attached to it has ended.
    /// Detached threads keep running in later `run`s and `step`s.
    ///
    /// # Errors
    ///
    /// - [`Error::Panicked`] if `main` panicked (its threads are killed),
    /// - [`Error::Exited`] if it called [`os::exit`](crate::os::exit),
    /// - [`Error::StackOverflow`] if `main` ran off the end of its stack (its
    ///   threads are killed; see [`Error::StackOverflow`] for what is lost),
    /// - [`Error::Deadlock`] if every thread waits and nothing can wake any of
    ///   them (no deadline, no queued signal, no live [`SignalSender`]); the
    ///   program is killed (its stacks unwound) and the error names each waiting
    ///   thread and what it waits for,
    /// - [`Error::NestedRun`] if called while a kernel runs on this OS thread
    ///   (from inside a green thread),
    /// - [`Error::StackAlloc`] if the OS refuses the program's stack, or the
    ///   process holds as many stacks as `vm.max_map_count` leaves room for.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Error, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// assert_eq!(kernel.run(|| "done").unwrap(), "done");
    /// let stuck = kernel.run(|| event::pull(None, "never"));
    /// assert!(matches!(stuck, Err(Error::Deadlock(_))));
    /// ```
    pub fn run<T: 'static>(&mut self, main: impl FnOnce() -> T + 'static) -> Result<T, Error> {
        if !current_ptr().is_null() {
            return Err(Error::NestedRun);
        }
        let _enter = enter(&self.shared);
        let root = self.shared.core().root;
        let (key, serial, slot) =
            self.shared.spawn(root, Kind::Program, SpawnOptions::default(), main)?;
        let mut report = StepReport::default();
        while self.shared.core().task(key, serial).is_some_and(|t| !t.zombie) {
            if let Err(waiting) = self.shared.turn(&mut report) {
                self.shared.kill(key);
                return Err(Error::Deadlock(waiting));
            }
        }
        slot.take().unwrap_or(Err(Error::Killed))
    }

    /// Drives the kernel until nothing can ever happen again, for a host whose
    /// scripts were started with [`spawn`](Kernel::spawn) and whose input comes
    /// from [`SignalSender`]s. When no thread is ready it sleeps in the OS (no
    /// busy waiting) until the nearest deadline or a push from another OS
    /// thread. It returns once no program or thread is alive, no timer is left
    /// to fire and no live `SignalSender` could push anything (kernel-wide
    /// listeners may still be waiting for pushes while a sender lives). A
    /// kernel-wide timer that repeats for ever keeps it running until it is
    /// cancelled (`event::cancel` in a kernel-wide listener or timer).
    ///
    /// # Errors
    ///
    /// - [`Error::Deadlock`] if threads are alive but every one waits and
    ///   nothing can wake any of them; they are left as they are (a later
    ///   [`push_signal`](Kernel::push_signal) may wake them),
    /// - [`Error::NestedRun`] if called from inside a green thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel, Signal};
    ///
    /// let mut kernel = Kernel::new();
    /// let sender = kernel.signal_sender();
    /// let echo = kernel.spawn(|| {
    ///     let mut lines = Vec::new();
    ///     while let Some(s) = event::pull(None, "line") {
    ///         if s.arg(0).as_str() == Some("quit") { break; }
    ///         lines.push(s.arg(0).to_string());
    ///     }
    ///     lines
    /// });
    /// let feeder = std::thread::spawn(move || {
    ///     for line in ["a", "b", "quit"] {
    ///         sender.push(Signal::new("line").with(line)).unwrap();
    ///     }
    /// }); // the sender is dropped when the feeder ends
    /// kernel.run_forever().unwrap();
    /// feeder.join().unwrap();
    /// assert_eq!(echo.wait().unwrap(), ["a", "b"]);
    /// ```
    pub fn run_forever(&mut self) -> Result<(), Error> {
        if !current_ptr().is_null() {
            return Err(Error::NestedRun);
        }
        let _enter = enter(&self.shared);
        let mut report = StepReport::default();
        loop {
            if let Err(waiting) = self.shared.turn(&mut report) {
                return match self.shared.core().any_alive() {
                    false => Ok(()),
                    true => Err(Error::Deadlock(waiting)),
                };
            }
        }
    }

    /// Starts `main` as a program and returns at once, without running anything
    /// but its first stretch (up to its first blocking call); [`step`](Kernel::step)
    /// runs the rest. Returns the program's handle.
    ///
    /// # Panics
    ///
    /// If called while a kernel runs on this OS thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel, Status};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let p = kernel.spawn(|| os::sleep(Duration::ZERO));
    /// assert_eq!(p.status(), Status::Running);
    /// kernel.step();
    /// assert_eq!(p.status(), Status::Dead);
    /// ```
    pub fn spawn<T: 'static>(
        &mut self,
        main: impl FnOnce() -> T + 'static,
    ) -> crate::thread::JoinHandle<T> {
        assert!(
            current_ptr().is_null(),
            "cothread: `Kernel::spawn` called inside a running kernel"
        );
        let _enter = enter(&self.shared);
        let root = self.shared.core().root;
        match self.shared.spawn(root, Kind::Program, SpawnOptions::default(), main) {
            Ok((key, serial, slot)) => crate::thread::JoinHandle::new(
                crate::thread::Thread::new(self.shared.weak(), key, serial, None),
                slot,
            ),
            Err(e) => panic!("cothread: cannot start a program: {e}"),
        }
    }

    /// Runs one round of what is ready now, without waiting: the queued signals,
    /// the deadlines already due, and the joins those ended (or, after a
    /// [`step_for`](Kernel::step_for) ran out of budget, the rest of that round).
    /// A host calls it once a frame. On the virtual clock, time moves only with
    /// [`advance`](Kernel::advance).
    ///
    /// # Panics
    ///
    /// If called while a kernel runs on this OS thread (from inside a green thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel, Signal};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let p = kernel.spawn(|| event::pull(None, "go").is_some());
    /// kernel.push_signal(Signal::new("go"));
    /// let report = kernel.step();
    /// assert_eq!(report.signals, 1);
    /// assert!(!report.alive);
    /// assert_eq!(p.wait(), Ok(true));
    /// ```
    pub fn step(&mut self) -> StepReport {
        assert!(current_ptr().is_null(), "cothread: `Kernel::step` called inside a running kernel");
        self.drive("step", |shared, report| {
            shared.round(report, &Meter::Unlimited, false);
        })
    }

    /// Runs rounds until nothing is ready now or `budget` is spent, whichever
    /// comes first, without waiting. A round cut short by the budget goes on
    /// where it stopped at the next `step`/`step_for`, so the threads that were
    /// ready are run in order before anything that became ready after them: a
    /// thread that yields in a loop cannot starve the others, and with a budget
    /// of at least the number of ready threads, each of them runs in this step.
    ///
    /// # Panics
    ///
    /// If called while a kernel runs on this OS thread (from inside a green thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Budget, Kernel};
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// let turns = Rc::new(Cell::new(0));
    /// let t = turns.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.spawn(move || loop {
    ///     t.set(t.get() + 1);
    ///     os::sleep(Duration::ZERO); // yields: ready again in the next round
    /// });
    /// let report = kernel.step_for(Budget::Resumes(10));
    /// assert_eq!(report.resumes, 10);
    /// assert_eq!(turns.get(), 11); // its first stretch ran in `spawn`
    /// ```
    pub fn step_for(&mut self, budget: impl Into<Budget>) -> StepReport {
        let meter = Meter::new(budget.into());
        self.drive("step_for", |shared, report| shared.settle(report, &meter))
    }

    /// Runs rounds until nothing is ready now, without waiting and without
    /// moving a virtual clock. A thread that yields forever keeps it running
    /// forever: bound the work with [`step_for`](Kernel::step_for) where that
    /// can happen.
    ///
    /// # Panics
    ///
    /// If called while a kernel runs on this OS thread (from inside a green thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, thread, Kernel, Signal};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let relay = kernel.spawn(|| {
    ///     // Each hop is woken by the previous one's push: one round each.
    ///     thread::create(|| { event::pull(None, "a"); event::push(Signal::new("b")); });
    ///     thread::create(|| { event::pull(None, "b"); event::push(Signal::new("c")); });
    ///     event::pull(None, "c").is_some()
    /// });
    /// kernel.push_signal(Signal::new("a"));
    /// let report = kernel.run_until_idle();
    /// assert!(!report.alive);
    /// assert_eq!(relay.wait(), Ok(true));
    /// ```
    pub fn run_until_idle(&mut self) -> StepReport {
        self.drive("run_until_idle", |shared, report| shared.settle(report, &Meter::Unlimited))
    }

    /// Moves a virtual clock forward by `dt`, running everything that falls due
    /// on the way in deadline order, each at its own time: `os::uptime()` in a
    /// thread woken on the way reads its deadline, not the end of the advance.
    /// So sixty `advance(1/60 s)` give the same run as one `advance(1 s)`. What
    /// is ready now runs first, as with [`run_until_idle`](Kernel::run_until_idle).
    ///
    /// The end is included: what falls due at exactly `now + dt` runs in this
    /// advance, not the next one, so a thread that sleeps `dt` has woken by
    /// the time `advance(dt)` returns.
    ///
    /// # Panics
    ///
    /// On a kernel with the real clock, and if called from inside a green thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let ticks = kernel.spawn(|| {
    ///     let mut at = Vec::new();
    ///     for _ in 0..3 {
    ///         os::sleep(Duration::from_millis(400));
    ///         at.push(os::uptime().as_millis());
    ///     }
    ///     at
    /// });
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(kernel.uptime(), Duration::from_secs(1));
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(ticks.wait().unwrap(), [400, 800, 1200]);
    /// ```
    ///
    /// A deadline at the end of the advance:
    ///
    /// ```
    /// use cothread::{os, Kernel, Status};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let sleeper = kernel.spawn(|| os::sleep(Duration::from_secs(1)));
    /// let report = kernel.advance(Duration::from_secs(1)); // due at exactly 0 s + 1 s
    /// assert_eq!(report.resumes, 1);
    /// assert_eq!(sleeper.status(), Status::Dead);
    /// ```
    pub fn advance(&mut self, dt: Duration) -> StepReport {
        self.advance_metered("advance", dt, &Meter::Unlimited)
    }

    /// As [`advance`](Kernel::advance), but stops switching threads once
    /// `budget` is spent (see [`step_for`](Kernel::step_for)): the clock then
    /// stays at the instant it had reached, short of `dt`, and
    /// [`StepReport::behind`] says so. A frame loop on the virtual clock stays
    /// responsive under load: its simulation falls behind instead of the frame
    /// stalling, and a thread that yields forever cannot hold it.
    ///
    /// # Panics
    ///
    /// On a kernel with the real clock, and if called from inside a green thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Budget, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.spawn(|| loop {
    ///     os::sleep(Duration::ZERO); // never lets `advance` finish
    /// });
    /// let report = kernel.advance_for(Duration::from_millis(16), Budget::Resumes(100));
    /// assert_eq!(report.resumes, 100);
    /// assert!(report.behind);
    /// assert_eq!(kernel.uptime(), Duration::ZERO);
    /// ```
    pub fn advance_for(&mut self, dt: Duration, budget: impl Into<Budget>) -> StepReport {
        self.advance_metered("advance_for", dt, &Meter::new(budget.into()))
    }

    fn advance_metered(&mut self, what: &str, dt: Duration, meter: &Meter) -> StepReport {
        assert!(
            self.shared.core().clock.is_virtual(),
            "cothread: `Kernel::{what}` needs the virtual clock (`KernelBuilder::virtual_time`)"
        );
        self.drive(what, |shared, report| {
            let target = shared.core().now().saturating_add(dt);
            loop {
                shared.settle(report, meter);
                let spent = meter.exhausted(report);
                let waiting_work = shared.round_pending() || shared.core().has_queued_work();
                if spent && waiting_work {
                    report.behind = true;
                    break;
                }
                let mut core = shared.core();
                match core.next_deadline() {
                    // Moving the clock costs nothing; running what falls due does.
                    Some(at) if at <= target && spent => {
                        report.behind = true;
                        break;
                    }
                    Some(at) if at <= target => core.clock.advance_to(at),
                    _ => {
                        core.clock.advance_to(target);
                        break;
                    }
                }
            }
        })
    }

    /// Enters the kernel to run `body` from the host, and fills in the report.
    fn drive(&mut self, what: &str, body: impl FnOnce(&Shared, &mut StepReport)) -> StepReport {
        assert!(
            current_ptr().is_null(),
            "cothread: `Kernel::{what}` called inside a running kernel"
        );
        let _enter = enter(&self.shared);
        let mut report = StepReport::default();
        body(&self.shared, &mut report);
        let mut core = self.shared.core();
        report.next_deadline = core.next_deadline();
        report.alive = core.any_alive();
        report
    }

    /// Queues a signal, like `computer.pushSignal`; it is delivered in the next round.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel, Signal};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.push_signal(Signal::new("key_down").with(42));
    /// let s = kernel.run(|| event::pull(None, "key_down")).unwrap().unwrap();
    /// assert_eq!(s.arg(0).as_int(), Some(42));
    /// ```
    pub fn push_signal(&mut self, signal: Signal) {
        self.shared.core().enqueue(signal);
    }

    /// A `Send + Sync + Clone` handle that pushes signals from other OS threads and
    /// wakes the kernel if it is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::new();
    /// let sender = kernel.signal_sender();
    /// std::thread::spawn(move || sender.push("hello".into()).unwrap()).join().unwrap();
    /// ```
    pub fn signal_sender(&self) -> SignalSender {
        SignalSender::new(&self.shared.core().remote)
    }

    /// The soft interrupt (OpenOS's `^C`): pushes `"interrupted"` with the uptime
    /// in seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.interrupt();
    /// let s = kernel.run(|| event::pull(None, "interrupted")).unwrap().unwrap();
    /// assert_eq!(s.arg(0).as_float(), Some(0.0));
    /// ```
    pub fn interrupt(&mut self) {
        let uptime = self.uptime().as_secs_f64();
        self.push_signal(Signal::new("interrupted").with(uptime));
    }

    /// The hard interrupt (OpenOS's `^Alt^C`): raises an interrupt in the
    /// foreground program, the most recently started one still alive. Where it
    /// blocks (it is blocked whenever the host can call this) its stack unwinds,
    /// and unless [`os::catch_interrupt`](crate::os::catch_interrupt) catches
    /// it, the program ends with [`Error::Interrupted`] and its attached
    /// threads are killed. The unwinding happens in the next
    /// [`step`](Kernel::step) or [`run`](Kernel::run) round. Returns whether
    /// there was a program to interrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, thread, Error, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let program = kernel.spawn(|| {
    ///     thread::create(|| { event::pull(None, "never"); }); // killed with it
    ///     event::pull(None, "key_down");
    /// });
    /// assert!(kernel.hard_interrupt());
    /// while kernel.step().alive {}
    /// assert_eq!(program.wait(), Err(Error::Interrupted));
    /// assert!(!kernel.hard_interrupt()); // nothing left to interrupt
    /// ```
    pub fn hard_interrupt(&mut self) -> bool {
        let mut core = self.shared.core();
        let core = &mut *core;
        let foreground = core
            .tasks
            .iter()
            .filter(|(_, t)| t.kind == Kind::Program && t.status != Status::Dead && !t.dying)
            .max_by_key(|(_, t)| t.serial)
            .map(|(key, _)| key);
        let Some(key) = foreground else { return false };
        let now = core.now();
        let task = &mut core.tasks[key];
        task.interrupt = true;
        if !matches!(task.wait, Wait::None) {
            // Wake it now; the wake-up raises the interrupt.
            let token = task.token;
            core.deadlines.push_due(now, Due::Task(Parker { token, key }));
        }
        true
    }

    /// Registers a kernel-wide listener for signals named `name` (a `&str` or
    /// a `String`): it belongs to no thread and lives as long as the kernel
    /// (or until [`ignore`](Kernel::ignore)). It runs like a thread's listener
    /// (see [`event::listen`](crate::event::listen)): in registration order,
    /// before the waiting threads, removed when it returns `false` or panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel, Signal};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let l = log.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.listen("score", move |s: &Signal| l.borrow_mut().push(s.to_string()));
    /// kernel.run(|| event::push(Signal::new("score").with(10))).unwrap();
    /// kernel.step();
    /// assert_eq!(*log.borrow(), ["score 10"]);
    /// ```
    pub fn listen<R: ListenerResult>(
        &mut self,
        name: impl AsRef<str>,
        callback: impl FnMut(&Signal) -> R + 'static,
    ) -> ListenerId {
        let root = self.shared.core().root;
        self.shared.listen_as(root, name.as_ref(), callback)
    }

    /// Removes a kernel-wide listener; returns whether it removed one.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// let id = kernel.listen("x", |_| {});
    /// assert!(kernel.ignore(id));
    /// assert!(!kernel.ignore(id));
    /// ```
    pub fn ignore(&mut self, id: ListenerId) -> bool {
        let root = self.shared.core().root;
        self.shared.ignore_as(root, id)
    }

    /// Every program and thread alive, oldest first, with what each waits for
    /// and its counters: OpenOS's `ps`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel, Waiting};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.spawn(|| os::sleep(Duration::from_secs(3)));
    /// let ps = kernel.threads();
    /// assert!(ps[0].program);
    /// assert_eq!(ps[0].waiting, Waiting::Sleep);
    /// assert_eq!(ps[0].deadline, Some(Duration::from_secs(3)));
    /// ```
    pub fn threads(&self) -> Vec<ThreadInfo> {
        self.shared.core().thread_table()
    }

    /// Installs a hook that sees each thing the kernel does (spawns, switches,
    /// deliveries, timers, ends) with the time on its clock, replacing any
    /// previous one. On the virtual clock the same program fed the same signals
    /// at the same points gives the same trace on every run, so a host can
    /// record runs and compare them. Steps cut by a [`Budget::Time`] end by the
    /// wall clock, so where a host's pushes between them land varies; a
    /// [`Budget::Resumes`] cuts them the same way every run. The hook must not call into the kernel; one that panics is
    /// reported through the error reporter and removed.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel, Trace};
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    ///
    /// let resumes = Rc::new(RefCell::new(Vec::new()));
    /// let r = resumes.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.on_trace(move |at, event| {
    ///     if let Trace::Resume { .. } = event { r.borrow_mut().push(at.as_secs()); }
    /// });
    /// kernel.run(|| os::sleep(Duration::from_secs(2))).unwrap();
    /// assert_eq!(*resumes.borrow(), [0, 2]);
    /// ```
    pub fn on_trace(&mut self, hook: impl FnMut(Duration, &Trace) + 'static) {
        let old = self.shared.core().on_trace.replace(Box::new(hook));
        self.shared.tracing.set(true);
        drop(old);
    }

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

    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    /// Starts a kernel-wide timer (see [`event::timer`](crate::event::timer)):
    /// it belongs to no thread and fires, in the kernel's rounds, until it has
    /// fired `times` times or is [`cancel`](Kernel::cancel)led.
    ///
    /// # Panics
    ///
    /// If `interval` is zero and the timer repeats.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event::Times, Kernel};
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// let frames = Rc::new(Cell::new(0));
    /// let f = frames.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let id = kernel.timer(Duration::from_millis(100), Times::Forever, move || f.set(f.get() + 1));
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(frames.get(), 10);
    /// assert!(kernel.cancel(id));
    /// ```
    pub fn timer(
        &mut self,
        interval: Duration,
        times: impl Into<crate::event::Times>,
        callback: impl FnMut() + 'static,
    ) -> crate::event::TimerId {
        let root = self.shared.core().root;
        self.shared.timer_as(root, interval, times.into(), Box::new(callback))
    }

    /// Cancels a kernel-wide timer; returns whether it removed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut kernel = cothread::Kernel::new();
    /// let id = kernel.timer(Duration::from_secs(1), 1, || {});
    /// assert!(kernel.cancel(id));
    /// assert!(!kernel.cancel(id));
    /// ```
    pub fn cancel(&mut self, id: crate::event::TimerId) -> bool {
        let root = self.shared.core().root;
        self.shared.cancel_as(root, id)
    }

    /// How many stacks this kernel has quarantined: never freed nor reused,
    /// because frames on them were discarded (a thread that ran through its
    /// stack's emergency zone to its guard page) or abandoned (a thread that
    /// caught its kill, see `docs/reliability.md`), and memory they held may
    /// still be referred to. Each keeps its address space and the pages it had
    /// touched for the rest of the process.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel};
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.on_error(|_| {});
    /// let stubborn = kernel.spawn(|| loop {
    ///     // Catches every unwind, its kill's too: it is parked for ever.
    ///     let _ = catch_unwind(AssertUnwindSafe(|| event::pull(None, "job")));
    /// });
    /// stubborn.kill();
    /// assert_eq!(kernel.quarantined_stacks(), 1);
    /// ```
    pub fn quarantined_stacks(&self) -> usize {
        self.shared.core().quarantined
    }

    /// The time on the kernel's clock (zero at its creation).
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().virtual_time(true).build();
    /// assert_eq!(kernel.uptime(), std::time::Duration::ZERO);
    /// ```
    pub fn uptime(&self) -> Duration {
        self.shared.core().now()
    }

    /// Replaces the kernel's error reporter (default: `log::error!`). Thread
    /// panics arrive as `"[thread] <message>"` and `"[program] <message>"`,
    /// stack overflows as `"[thread] stack overflow"` and `"[program] stack overflow"`;
    /// listener, timer and pull-predicate panics as `"[listener] ..."`,
    /// `"[timer] ..."` and `"[filter] ..."`; a panicking trace hook as `"[trace] ..."`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let sink = log.clone();
    /// kernel.on_error(move |msg| sink.borrow_mut().push(msg.to_string()));
    /// kernel.run(|| { thread::create(|| -> () { panic!("boom") }); }).unwrap();
    /// assert_eq!(log.borrow().as_slice(), ["[thread] boom"]);
    /// ```
    pub fn on_error(&mut self, handler: impl FnMut(&str) + 'static) {
        self.shared.core().on_error = Some(Box::new(handler));
    }
}

impl Default for Kernel {
    fn default() -> Kernel {
        Kernel::new()
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shared.core.try_borrow() {
            Ok(core) => f
                .debug_struct("Kernel")
                .field("uptime", &core.now())
                .field("tasks", &(core.tasks.len() - 1))
                .field("queued_signals", &core.queue.len())
                .finish(),
            Err(_) => f.write_str("Kernel { <running> }"),
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let remote = self.shared.core().remote.clone();
        remote.close();
        let _enter = enter(&self.shared);
        // Unwind every program and detached thread, newest first; each takes its
        // own children with it.
        let root = self.shared.core().root;
        self.shared.kill_children(root);
        // The kernel-wide listeners and timers are left: user code, dropped
        // one by one outside the borrow. The root ends with the kernel, so
        // what their destructors register dies at once.
        let (root, graveyard) = {
            let mut core = self.shared.core();
            let root = core.root;
            core.tasks[root].ended = true;
            core.drop_registrations(root);
            (root, std::mem::take(&mut core.graveyard))
        };
        self.shared.bury(root, graveyard);
        // The signals nobody took, each dropped on its own: their payloads'
        // destructors are user code.
        let unsent = {
            let mut round = self.shared.round.borrow_mut();
            let mut core = self.shared.core();
            core.drain_remote();
            let mut unsent = std::mem::take(&mut round.signals);
            unsent.append(&mut core.queue);
            let delivering = round.delivering.take().map(Queued::Signal);
            unsent.extend(delivering);
            unsent
        };
        for signal in unsent {
            self.shared.drop_user(root, "signal", signal);
        }
        // The hooks last, the error reporter after the trace hook: it reports
        // what the drops before it raise.
        let trace = self.shared.core().on_trace.take();
        self.shared.drop_user(root, "hook", trace);
        let report = self.shared.core().on_error.take();
        self.shared.drop_user(root, "hook", report);
        // Every job's driver has been unwound, which set its cancel token; the
        // workers finish what they run and are joined here.
        let workers = self.shared.core().workers.take();
        drop(workers);
        // What is left are zombies: their frames must never run again (a
        // forced unwind would resume code that caught its kill) and never be
        // freed (they may be referred to from elsewhere).
        self.shared.core().quarantine_leftovers();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::current;
    use crate::{event, os, thread, Kernel};

    /// A program that only ever yields still sweeps the deadline entries of
    /// the timers it cancels: they do not pile up until their deadlines.
    #[test]
    fn cancelled_timers_do_not_pile_up_in_the_deadline_queue() {
        let mut kernel = Kernel::builder().virtual_time(true).build();
        kernel
            .run(|| {
                for _ in 0..10_000 {
                    let t = event::timer(Duration::from_secs(3600), 1, || {});
                    event::cancel(t);
                    os::sleep(Duration::ZERO);
                }
            })
            .unwrap();
        let queued = kernel.shared().core().deadlines.len();
        assert!(queued <= 200, "{queued} entries left in the deadline queue");
    }

    /// With prefetching on from the first task, sleepers still wake in
    /// deadline order at their instants, and a signal's receivers in the
    /// order they began waiting: the prefetch is a hint and nothing else.
    #[test]
    fn prefetching_changes_nothing_a_program_sees() {
        let mut kernel = Kernel::builder().virtual_time(true).stack_size(64 * 1024).build();
        kernel.shared().core().prefetch_from = 0;
        let log = Rc::new(RefCell::new(Vec::new()));
        let seen = log.clone();
        kernel.spawn(move || {
            for i in (0..40u64).rev() {
                let seen = seen.clone();
                thread::create(move || {
                    os::sleep(Duration::from_millis(i + 1));
                    seen.borrow_mut().push(("woke", i, os::uptime()));
                    event::pull(None, "go");
                    seen.borrow_mut().push(("got", i, os::uptime()));
                });
            }
        });
        kernel.advance(Duration::from_millis(40));
        kernel.push_signal(event::Signal::new("go"));
        kernel.step();
        let log = log.borrow();
        let woke: Vec<_> = (0..40).map(|i| ("woke", i, Duration::from_millis(i + 1))).collect();
        let got: Vec<_> = (0..40).map(|i| ("got", i, Duration::from_millis(40))).collect();
        assert_eq!(log[..40], woke[..]);
        assert_eq!(log[40..], got[..]);
    }

    /// The frames a blocked thread leaves for prefetching lie in its own
    /// stack, below its body's frame: not in another thread's stack (they are
    /// a whole stack apart), not on the host's.
    #[test]
    fn a_blocked_thread_leaves_its_own_frames_for_prefetching() {
        const STACK: usize = 64 * 1024;
        let mut kernel = Kernel::builder().virtual_time(true).stack_size(STACK).build();
        let bodies = Rc::new(RefCell::new(Vec::new()));
        let seen = bodies.clone();
        kernel.spawn(move || {
            for _ in 0..8 {
                let seen = seen.clone();
                thread::create(move || {
                    let frame = 0u8;
                    let key = current("test").core().running.expect("a thread runs");
                    seen.borrow_mut()
                        .push((key, std::hint::black_box(&frame) as *const u8 as usize));
                    os::sleep(Duration::from_secs(1));
                });
            }
        });
        let core = kernel.shared().core();
        let bodies = bodies.borrow();
        assert_eq!(bodies.len(), 8);
        for &(key, body) in bodies.iter() {
            let frames = core.tasks[key].frames;
            assert!(
                frames.low < body && body < frames.end && frames.end - frames.low <= STACK,
                "frames {frames:x?}, body frame {body:#x}"
            );
        }
    }
}
