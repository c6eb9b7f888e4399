//! The kernel: its state, the thread-local pointer that reaches it, and the loop
//! that runs rounds (queued signals, then due deadlines, then joins).

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::event::listen::{Listeners, Timers};
use crate::event::waiters::Waiters;
use crate::event::Signal;
use crate::id::{Site, Status, ThreadId};
use crate::inspect::TraceHook;
use crate::park::Wait;
use crate::park::{Parker, TaskKey};
use crate::report::{ErrorOrigin, ErrorReport};
use crate::round::{Meter, Progress, Roll, Round};
use crate::stack::StackPool;
use crate::task::{Kind, Task, Tasks};
use crate::time::{Clock, DeadlineQueue};
use crate::watchdog::{Monitor, Watch, WatchdogSettings};

mod current;
mod deliver;
mod panic;
mod remote;

pub(crate) use current::*;
pub use remote::SignalSender;
pub(crate) use remote::{Remote, RemoteWaker};

pub use crate::stack::{DEFAULT_STACK_SIZE, MIN_STACK_SIZE};

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
    ThreadExit(ThreadId),
}

/// The host's handler for errors raised inside the kernel, OpenOS's text.
pub(crate) type ErrorHook = Hook<str>;

/// The host's handler for errors raised inside the kernel, the whole report.
pub(crate) type ReportHook = Hook<ErrorReport>;

/// A reporter the host installed, called with what it reports.
pub(crate) type Hook<A> = Box<dyn FnMut(&A)>;

/// Everything the kernel knows, behind one `RefCell`. Borrows are short and never
/// held across a context switch or a call into user code.
pub(crate) struct Core {
    pub(crate) tasks: Tasks,
    pub(crate) root: TaskKey,
    /// The task whose stack is executing (`None`: the host's stack).
    pub(crate) running: Option<TaskKey>,
    /// The task on whose behalf calls are made: the running task, or the owner
    /// of the listener or timer callback being run.
    pub(crate) context: Option<TaskKey>,
    pub(crate) queue: VecDeque<Queued>,
    pub(crate) waiters: Waiters,
    pub(crate) listeners: Listeners,
    pub(crate) timers: Timers,
    pub(crate) deadlines: DeadlineQueue<Due>,
    /// Parked tasks woken by their wait source ([`Core::wake`]): they run in
    /// the next round, after its deadlines.
    pub(crate) wakes: VecDeque<Parker>,
    pub(crate) clock: Clock,
    pub(crate) stacks: StackPool<crate::task::Home>,
    pub(crate) next_token: u64,
    pub(crate) next_serial: u64,
    /// The state of the layers on the runtime (the job layer's worker pool,
    /// say) and the host's settings for them, one value of each type, given
    /// at build or made on first use (`KernelRef::with_layer`). The core
    /// never looks inside.
    pub(crate) layers: Vec<Box<dyn std::any::Any>>,
    pub(crate) on_error: Option<ErrorHook>,
    pub(crate) on_error_report: Option<ReportHook>,
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

    /// The id of a task about to be created: never reused.
    pub(crate) fn next_id(&mut self) -> ThreadId {
        self.next_serial += 1;
        ThreadId(self.next_serial)
    }

    /// Drops stale wake-ups from the deadline queue once they outnumber the live
    /// ones, so that waits that end early (a pull answered long before its
    /// timeout) cannot grow it without bound.
    #[inline]
    pub(crate) fn compact_deadlines(&mut self) {
        let live = self.tasks.len() + self.timers.table.len();
        if self.deadlines.len() > 64 + 2 * live {
            self.drop_stale_deadlines();
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_stale_deadlines(&mut self) {
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
    #[inline]
    pub(crate) fn next_deadline(&mut self) -> Option<Duration> {
        let (at, due) = self.deadlines.peek()?;
        if is_live(&self.tasks, &self.timers, due) {
            return Some(at);
        }
        self.next_deadline_past_stale()
    }

    /// [`next_deadline`](Core::next_deadline) once the head is stale.
    #[cold]
    #[inline(never)]
    fn next_deadline_past_stale(&mut self) -> Option<Duration> {
        loop {
            self.deadlines.pop();
            let (at, due) = self.deadlines.peek()?;
            if is_live(&self.tasks, &self.timers, due) {
                return Some(at);
            }
        }
    }

    /// The task `key` if it is still the one with this serial.
    pub(crate) fn task(&self, key: TaskKey, id: ThreadId) -> Option<&Task> {
        self.tasks.get(key).filter(|t| t.id == id)
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
    pub(crate) fn prefetch(&self, key: TaskKey) {
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
    pub(crate) fn end_wait(&mut self, key: TaskKey, delivered: bool) {
        let wait = self.tasks[key].end_wait();
        self.forget_wait(wait, delivered);
    }

    /// The second half of [`end_wait`](Core::end_wait): takes the ended
    /// `wait` out of the signal waiter index where it is still filed.
    #[inline(always)]
    pub(crate) fn forget_wait(&mut self, wait: Wait, delivered: bool) {
        match wait {
            Wait::Signal(filter) if !delivered || filter.is_filed_under_several_names() => {
                self.waiters.forget(&filter, &self.tasks);
            }
            // Filed under each filter: whichever delivered, the others keep
            // an entry.
            Wait::Select(filters) => {
                for filter in &filters {
                    self.waiters.forget(filter, &self.tasks);
                }
            }
            // A sleep, the most common wait by far, has nothing to undo or
            // drop.
            other => other.drop_cheaply(),
        }
    }

    /// Whether a signal or a joiner's nudge waits for the next round.
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.queue.is_empty() || !self.wakes.is_empty()
    }

    /// Whether a round started now would find nothing queued for it: no
    /// signal (here or from another OS thread), no joiner to wake.
    pub(crate) fn nothing_queued(&self) -> bool {
        !self.has_queued_work() && !self.remote_pending()
    }

    /// Whether another OS thread has queued a signal or wake-up since the
    /// last drain (a plain load).
    pub(crate) fn remote_pending(&self) -> bool {
        self.remote.pending.load(Ordering::Relaxed)
    }

    /// Whether a round started now would have something to do (or might: the
    /// deadline at the head may be stale).
    pub(crate) fn has_work_now(&self) -> bool {
        self.has_queued_work()
            || self.remote_pending()
            || self.deadlines.first_at().is_some_and(|at| self.clock.reached(at))
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
            Queued::ThreadExit(id) => {
                // The shared name is taken (an atomic count) only for a
                // signal that someone may receive.
                let name = crate::process::THREAD_EXIT;
                let wanted = traced || self.listeners.has_name(name) || self.waiters.may_want(name);
                wanted.then(|| Signal::new(crate::process::thread_exit_name()).with(id.as_u64()))
            }
        }
    }

    #[inline]
    pub(crate) fn drain_remote(&mut self) {
        // A plain load first: the swap, a locked instruction, only when set.
        if self.remote_pending() {
            self.drain_remote_now();
        }
    }

    #[cold]
    fn drain_remote_now(&mut self) {
        if self.remote.pending.swap(false, Ordering::Acquire) {
            let remote = self.remote.clone();
            let mut shared = remote.lock();
            self.queue.extend(shared.signals.drain(..).map(Queued::Signal));
            for parker in shared.wakes.drain(..) {
                self.wake(parker);
            }
            for (key, id) in shared.overruns.drain(..) {
                self.overrun(key, id);
            }
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
                Wait::On(what) => format!("waits for {what}"),
                Wait::Select(_) => "waits for sync::Select::wait".to_string(),
            };
            let frozen = if task.status == Status::Suspended { " (suspended)" } else { "" };
            let mut line = format!("{}{frozen} {what}", task.label());
            if let Some(at) = task.waiting_at {
                line.push_str(&format!(" at {}", site(at)));
            }
            if let Some(at) = task.spawned_at {
                line.push_str(&format!(" (spawned at {})", site(at)));
            }
            out.push(line);
        }
        out
    }
}

/// What the host set with `KernelBuilder` that the core keeps.
pub(crate) struct Options {
    pub(crate) virtual_time: bool,
    pub(crate) stacks: StackPool<crate::task::Home>,
    /// The task table and the waiter index are sized for this many.
    pub(crate) expected_threads: usize,
    pub(crate) backtraces: bool,
    pub(crate) watchdog: WatchdogSettings,
}

/// [`Shared::hooks`]: a trace hook is installed.
pub(crate) const TRACE: u8 = 1;
/// [`Shared::hooks`]: the watchdog is on.
pub(crate) const WATCH: u8 = 2;
/// [`Shared::hooks`]: `log` records at trace level (sampled as the kernel is
/// entered and as it wakes from an idle wait, see `Shared::sample_log`).
pub(crate) const LOG: u8 = 4;

/// The kernel's state and the pointer green threads use to reach it.
pub(crate) struct Shared {
    core: RefCell<Core>,
    /// The round under way, kept apart from `core` because it is held while
    /// user code runs (filters, listeners) and only the host drives it.
    pub(crate) round: RefCell<Round>,
    /// What a resume must do besides switching: [`TRACE`] (a trace hook is
    /// installed), [`WATCH`] (the watchdog is on), [`LOG`] (switches are
    /// logged). Read without borrowing
    /// `core`, in the one test a switch makes for both
    /// ([`Shared::hooked`](crate::kernel::Shared::hooked)).
    pub(crate) hooks: Cell<u8>,
    /// The watchdog's side of the kernel (with the watchdog off, never
    /// published to: its resume word stays 0).
    pub(crate) watch: Arc<Watch>,
    /// Its monitor thread, stopped as the kernel goes.
    monitor: RefCell<Option<Monitor>>,
    /// Whether each park captures a backtrace (`KernelBuilder::backtraces`).
    pub(crate) backtraces: bool,
    /// Whether whoever entered the kernel from outside (the host, or a green
    /// thread of another kernel) was unwinding: then the OS thread's panic
    /// count is not the green threads' own (see [`Shared::unwinding`]).
    host_panicking: Cell<bool>,
    /// The `Kernel` was dropped inside one of its own host calls: the
    /// teardown runs when that call returns to the host.
    pub(crate) orphaned: Cell<bool>,
    /// While the kernel is entered: the kernel that was current on this OS
    /// thread before (null: none, the host's), for the panic hook to look
    /// further out when this one runs no task.
    outer: Outer,
    /// Itself, for the handles it gives out.
    me: Weak<Shared>,
    /// The address of its `Remote` (the one in `core`), compared, never
    /// followed: a [`RemoteWaker`] tells its own kernel without its borrow.
    remote_at: usize,
    /// Other kernels woken from inside this one's bookkeeping (a wait
    /// source's registration), to be told once its state is let go
    /// ([`Shared::tell_woken`]); `telling` is set while there are any.
    told: RefCell<Vec<Arc<Remote>>>,
    telling: Cell<bool>,
}

impl Shared {
    /// What dropping the `Kernel` does: unwinds every program and thread and
    /// drops what the kernel holds. Dropped from inside one of its own host
    /// calls (by one of its green threads, or a callback, holding the kernel
    /// in an `Rc<RefCell<..>>`), it cannot tear itself down under its own
    /// feet: the teardown waits until that call returns to the host (see
    /// `Enter`'s drop).
    pub(crate) fn shut_down_or_defer(self: &Rc<Shared>) {
        if is_current(self) {
            self.orphaned.set(true);
        } else {
            self.shut_down();
        }
    }

    /// The teardown of [`shut_down_or_defer`](Shared::shut_down_or_defer).
    pub(crate) fn shut_down(self: &Rc<Shared>) {
        let remote = self.core().remote.clone();
        remote.close();
        // The monitor first: it reads nothing of what the teardown frees,
        // but it must not report the teardown's own long runs.
        let monitor = self.monitor.borrow_mut().take();
        drop(monitor);
        let _enter = enter(self);
        // Unwind every program and detached thread, newest first; each takes its
        // own children with it.
        let root = self.core().root;
        self.kill_children(root);
        // The kernel-wide listeners and timers are left: user code, dropped
        // one by one outside the borrow. The root ends with the kernel, so
        // what their destructors register dies at once.
        let (root, graveyard) = {
            let mut core = self.core();
            let root = core.root;
            core.tasks[root].ended = true;
            core.drop_registrations(root);
            (root, std::mem::take(&mut core.graveyard))
        };
        self.bury(root, graveyard);
        // The signals nobody took, each dropped on its own: their payloads'
        // destructors are user code.
        let unsent = {
            let mut round = self.round.borrow_mut();
            let mut core = self.core();
            core.drain_remote();
            let mut unsent = std::mem::take(&mut round.signals);
            unsent.append(&mut core.queue);
            let delivering = round.delivering.take().map(Queued::Signal);
            unsent.extend(delivering);
            unsent
        };
        for signal in unsent {
            self.drop_user(root, ErrorOrigin::Signal, signal);
        }
        // The hooks last, the error reporter after the trace hook: it reports
        // what the drops before it raise.
        let trace = self.core().on_trace.take();
        self.drop_user(root, ErrorOrigin::Hook, trace);
        let report = self.core().on_error.take();
        self.drop_user(root, ErrorOrigin::Hook, report);
        let report = self.core().on_error_report.take();
        self.drop_user(root, ErrorOrigin::Hook, report);
        // Every job's driver has been unwound, which set its cancel token; the
        // workers finish what they run and are joined here.
        let layers = std::mem::take(&mut self.core().layers);
        self.drop_user(root, ErrorOrigin::Layer, layers);
        // What is left are zombies: their frames must never run again (a
        // forced unwind would resume code that caught its kill) and never be
        // freed (they may be referred to from elsewhere).
        self.core().quarantine_leftovers();
    }

    /// A kernel's state: the root task alone, nothing queued, the clock at
    /// its start, the task table and the waiter index sized for
    /// `expected_threads` (see `KernelBuilder` for the parameters); `layers`
    /// are the host's settings for the layers on the runtime, kept opaque.
    pub(crate) fn new(options: Options, layers: Vec<Box<dyn std::any::Any>>) -> Rc<Shared> {
        let Options { virtual_time, stacks, expected_threads, backtraces, watchdog } = options;
        let remote = Arc::new(Remote::default());
        let (watch, monitor) = match Monitor::start(watchdog, remote.clone()) {
            Some((watch, monitor)) => (watch, Some(monitor)),
            None => (Arc::new(Watch::default()), None),
        };
        let hooks = if monitor.is_some() { WATCH } else { 0 };
        panic::install_hook();
        crate::overflow::install(crate::overflow::KernelHooks {
            state_borrowed,
            kernel_frames: crate::process::kernel_frames,
        });
        let mut tasks = Tasks::default();
        tasks.reserve(expected_threads);
        let mut waiters = Waiters::default();
        waiters.reserve(expected_threads);
        let root = tasks.insert(|| Task::new(ThreadId(0), Kind::Root, None));
        let core = Core {
            tasks,
            root,
            running: None,
            context: None,
            queue: VecDeque::new(),
            waiters,
            listeners: Listeners::default(),
            timers: Timers::unlisting(root),
            deadlines: DeadlineQueue::new(),
            wakes: VecDeque::new(),
            clock: Clock::new(virtual_time),
            stacks,
            next_token: 0,
            next_serial: 0,
            layers,
            on_error: None,
            on_error_report: None,
            on_trace: None,
            scratch: Vec::new(),
            graveyard: Vec::new(),
            remote,
            prefetch_from: PREFETCH_FROM,
            zombies: 0,
            quarantined: 0,
        };
        let remote_at = Arc::as_ptr(&core.remote) as usize;
        Rc::new_cyclic(|me| Shared {
            remote_at,
            told: RefCell::new(Vec::new()),
            telling: Cell::new(false),
            core: RefCell::new(core),
            round: RefCell::default(),
            hooks: Cell::new(hooks),
            watch,
            monitor: RefCell::new(monitor),
            backtraces,
            host_panicking: Cell::new(false),
            orphaned: Cell::new(false),
            outer: Outer::default(),
            me: me.clone(),
        })
    }
}

impl Shared {
    pub(crate) fn weak(&self) -> Weak<Shared> {
        self.me.clone()
    }

    /// Keeps `remote`'s kernel, woken from inside this one's bookkeeping,
    /// to be told once this kernel's state is let go.
    pub(crate) fn tell_later(&self, remote: Arc<Remote>) {
        self.told.borrow_mut().push(remote);
        self.telling.set(true);
    }

    /// Tells the kernels woken from inside this one's bookkeeping (see
    /// [`tell_later`](Shared::tell_later)); called where its state has just
    /// been let go.
    #[inline]
    pub(crate) fn tell_woken(&self) {
        if self.telling.get() {
            self.tell_woken_now();
        }
    }

    #[cold]
    fn tell_woken_now(&self) {
        self.telling.set(false);
        let told = std::mem::take(&mut *self.told.borrow_mut());
        // Telling one may call its async host's waker, a user's code.
        crate::park::each_then_panic(told, |remote| remote.tell());
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

    /// Checks (in debug builds) that nothing holds the kernel's state
    /// borrowed as control leaves the kernel: at every switch to or from a
    /// green stack and before every user callback. A borrow held there would
    /// be a panic in whatever the other side calls, or a state changed under
    /// the holder.
    #[track_caller]
    #[inline]
    pub(crate) fn assert_unborrowed(&self, at: &str) {
        debug_assert!(
            self.core.try_borrow_mut().is_ok(),
            "the kernel's state is borrowed across {at}"
        );
        let _ = at;
    }

    #[inline]
    pub(crate) fn core(&self) -> RefMut<'_, Core> {
        self.core.borrow_mut()
    }

    /// The kernel's state, unless it is borrowed: after a stack overflow, by
    /// frames that were discarded and will never release it.
    pub(crate) fn try_core(&self) -> Option<RefMut<'_, Core>> {
        self.core.try_borrow_mut().ok()
    }

    /// Reports an error of the kernel itself (no thread's) through the
    /// kernel's reporters (default: `log::error!`).
    pub(crate) fn report(&self, origin: ErrorOrigin, message: &str) {
        self.deliver_report(ErrorReport::new(origin, message));
    }

    /// Reports an error raised in task `key` (or one of its callbacks): the
    /// report names the task, where it was spawned and where it waits (or
    /// last waited); the root's errors name no thread.
    pub(crate) fn report_for(&self, key: TaskKey, origin: ErrorOrigin, message: &str) {
        let mut report = ErrorReport::new(origin, message);
        if let Some(task) = self.core().tasks.get(key).filter(|t| t.kind != Kind::Root) {
            report.thread = Some(task.id);
            report.name = task.name.as_deref().map(str::to_owned);
            report.spawned_at = task.spawned_at;
            report.waiting_at = task.waiting_at;
        }
        self.deliver_report(report);
    }

    /// Installs the error reporter that gets OpenOS's text; the one it
    /// replaces (user code) is dropped with the kernel's state no longer
    /// borrowed.
    pub(crate) fn set_error_hook(&self, hook: ErrorHook) {
        self.set_hook(|core| &mut core.on_error, hook);
    }

    /// Installs the error reporter that gets the whole [`ErrorReport`].
    pub(crate) fn set_report_hook(&self, hook: ReportHook) {
        self.set_hook(|core| &mut core.on_error_report, hook);
    }

    /// Puts `hook` in the place `slot` names, dropping the one it replaces
    /// with the kernel's state no longer borrowed.
    fn set_hook<H>(&self, slot: fn(&mut Core) -> &mut Option<H>, hook: H) {
        let (old, root) = {
            let mut core = self.core();
            (slot(&mut core).replace(hook), core.root)
        };
        self.drop_user(root, ErrorOrigin::Hook, old);
    }

    /// Hands `report` to the structured reporter, then OpenOS's text to the
    /// plain one; with neither installed, logs it at `log::error!`. A
    /// reporter that panics is kept; the report is then logged.
    fn deliver_report(&self, report: ErrorReport) {
        #[cfg(feature = "tracing")]
        tracing::error!(
            target: "cothread",
            origin = report.origin.as_str(),
            thread = report.thread.map(ThreadId::as_u64),
            name = report.name.as_deref(),
            "{report}"
        );
        let (structured, plain) = {
            let mut core = self.core();
            (core.on_error_report.take(), core.on_error.take())
        };
        if structured.is_none() && plain.is_none() {
            log::error!("{report}");
            return;
        }
        self.assert_unborrowed("the error reporter");
        let mut panicked = false;
        if let Some(hook) = structured {
            panicked |= self.call_hook(|core| &mut core.on_error_report, hook, &report);
        }
        if let Some(hook) = plain {
            panicked |= self.call_hook(|core| &mut core.on_error, hook, &*report.openos_text());
        }
        if panicked {
            log::error!("{report} (and the on_error handler panicked)");
        }
    }

    /// Calls a reporter taken out of the place `slot` names (so that it may
    /// install another), with the kernel's state not borrowed, and puts it
    /// back unless it did. Returns whether it panicked.
    fn call_hook<A: ?Sized>(
        &self,
        slot: fn(&mut Core) -> &mut Option<Hook<A>>,
        mut hook: Hook<A>,
        arg: &A,
    ) -> bool {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(arg)));
        let replaced = {
            let mut core = self.core();
            let place = slot(&mut core);
            match place {
                None => place.replace(hook),
                Some(_) => Some(hook),
            }
        };
        // The one it replaced with another, dropped with nothing borrowed.
        drop(replaced);
        match outcome {
            Ok(()) => false,
            Err(payload) => {
                crate::unwind::drop_payload(payload);
                true
            }
        }
    }

    /// Runs rounds until one finds nothing to do, or `meter` runs out. After a
    /// busy round, the next one starts only if there is work for it: a round
    /// that would find nothing costs more than the look. The rounds flow into
    /// each other inside [`round`](Shared::round).
    pub(crate) fn settle(&self, report: &mut StepReport, meter: &Meter) {
        self.round(report, meter, Roll::Ready);
    }

    /// One turn of a blocking drive: a round, or, when it found nothing to do,
    /// a wait for something. `Err` lists the waiting threads when nothing can
    /// ever wake them.
    pub(crate) fn turn(&self, report: &mut StepReport) -> Result<(), Vec<String>> {
        match self.round(report, &Meter::Unlimited, Roll::Once) {
            Progress::Done { busy: false } => self.idle(true),
            _ => Ok(()),
        }
    }

    /// Whether a step now would find work (a queued signal or wake-up, from
    /// this or another OS thread, a due deadline, a round a budget cut
    /// short); if not, `waker` is kept, to be woken by the next push or
    /// wake-up from another OS thread (`Kernel::ready`). Deadlines are the
    /// caller's to time ([`Shared::next_instant`]).
    pub(crate) fn poll_work(&self, waker: &std::task::Waker) -> bool {
        if self.round_pending() {
            return true;
        }
        let remote = {
            let mut core = self.core();
            let due = core.next_deadline().is_some_and(|at| core.clock.reached(at));
            if due || core.has_queued_work() {
                return true;
            }
            core.remote.clone()
        };
        !remote.wake_host_on_next(waker) || remote.pending.load(Ordering::Acquire)
    }

    /// The instant on the OS's clock of the nearest deadline that can still
    /// wake something; `None` without one, or on a virtual clock.
    pub(crate) fn next_instant(&self) -> Option<std::time::Instant> {
        let mut core = self.core();
        let at = core.next_useful_deadline()?;
        core.clock.instant(at)
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
            let senders = core.remote.has_handles();
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
                    self.unwatched();
                    remote.wait(Some(at.saturating_sub(now)));
                    self.sample_log();
                }
                Ok(())
            }
            None if senders => {
                if block {
                    self.unwatched();
                    remote.wait(None);
                    self.sample_log();
                }
                Ok(())
            }
            None => Err(self.core().describe_waits()),
        }
    }
}

/// What one [`Kernel::step`](crate::Kernel::step) did.
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
    /// [`Kernel::advance_for`](crate::Kernel::advance_for) only: the budget ran out before the clock
    /// reached the end of the advance (or with work left at that instant).
    pub behind: bool,
}

/// A source location as reports show it: `file:line`.
pub(crate) fn site(at: Site) -> String {
    format!("{}:{}", at.file(), at.line())
}
