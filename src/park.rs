//! Park and wake: the one way a green thread waits.
//!
//! A thread that must wait for something parks ([`Shared::park`]): it says
//! what it waits on (for `Kernel::threads` and deadlock reports), gives an
//! optional deadline, and registers the [`Parker`] it is handed wherever its
//! wake-up will come from: the signal waiter index, a joined thread's
//! [`WaitQueue`], a channel's queue. Whoever wakes it calls [`Core::wake`]
//! with that parker; the thread runs in the next round's wake phase. Each
//! wait has a fresh [`WaitToken`], so a parker left behind by a wait that
//! ended otherwise (a timeout, a kill, a signal) matches nothing: a stale
//! wake-up is ignored, and a queue drops such parkers as it goes.
//!
//! Kill, suspension, interrupts and timeouts end a park the same way for
//! every kind of wait, since none of them looks at what the task waits on:
//! a wake-up or a deadline ends it through [`Core::ready`], whose
//! bookkeeping is [`Core::end_wait`]; a kill ends it in `process` (the task
//! dies, and its token with it); a suspension keeps it, and a wake-up that
//! comes meanwhile is delivered at the resume as `Woke::Timeout`, the
//! "re-check" every waiter handles (a hard interrupt is delivered the same
//! way). So a waiter never trusts the reason alone: it re-checks its
//! condition (and its deadline) and parks again if it does not hold.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Weak;
use std::time::Duration;

use crate::event::{Filter, Signal, Value};
use crate::id::{Status, ThreadId};
pub(crate) use crate::kernel::RemoteWaker;
use crate::kernel::{Core, Due, Shared};
use crate::overflow::OverflowUnwind;
use crate::stack;
use crate::task::{Tasks, Wake};
use crate::unwind::{drop_payload, InterruptUnwind, KillUnwind};

/// What a blocked task waits for.
pub(crate) enum Wait {
    /// Not blocked: running, or about to run.
    None,
    /// `event::pull`: a matching signal (or the deadline, if one was given).
    Signal(Filter),
    /// `os::sleep`: only the deadline.
    Sleep,
    /// `join`/`wait_for_*`: a target ending or being suspended (or the deadline).
    Join(Vec<TaskKey>),
    /// Suspended itself: only `resume` wakes it.
    Coma,
    /// A wait source outside the core, described for `Kernel::threads`.
    On(&'static str),
    /// `sync::Select`: one wait over several sources, signals matching any of
    /// these filters among them.
    Select(Vec<Filter>),
}

impl Wait {
    /// Drops the wait, with a test instead of a call to the drop glue for
    /// the kinds that hold nothing (the common ones: no wait, a sleep).
    #[inline(always)]
    pub(crate) fn drop_cheaply(self) {
        match self {
            Wait::Signal(filter) => filter.drop_cheaply(),
            wait if wait.holds_nothing() => std::mem::forget(wait),
            wait => drop(wait),
        }
    }

    /// Replaces the wait with `new`: when the old one
    /// [holds nothing](Wait::holds_nothing), by a store alone, with nothing
    /// moved out or dropped.
    #[inline(always)]
    pub(crate) fn set(&mut self, new: Wait) {
        if self.holds_nothing() {
            std::mem::forget(std::mem::replace(self, new));
        } else {
            drop(std::mem::replace(self, new));
        }
    }

    /// Whether the wait owns nothing to drop and is filed nowhere the kernel
    /// must undo (the common kinds: no wait, a sleep).
    #[inline(always)]
    pub(crate) fn holds_nothing(&self) -> bool {
        matches!(self, Wait::None | Wait::Sleep | Wait::Coma | Wait::On(_))
    }

    /// The filters a signal must match to end this wait (none: signals do
    /// not end it).
    pub(crate) fn filters(&self) -> &[Filter] {
        match self {
            Wait::Signal(filter) => std::slice::from_ref(filter),
            Wait::Select(filters) => filters,
            _ => &[],
        }
    }
}

/// Why a blocked task was woken.
#[derive(Debug, Default)]
pub(crate) enum Woke {
    #[default]
    Nothing,
    /// A signal its filter accepted.
    Signal(Signal),
    /// Its deadline passed (or it was resumed after missing one).
    Timeout,
    /// Its wait source woke it ([`Core::wake`](crate::kernel::Core::wake)):
    /// a joined thread ended or was suspended, say. It re-checks what it
    /// waits for.
    Woken,
    /// It is being unwound: blocking calls return at once.
    Shutdown,
}

/// Names one wait of one task: every park takes the next token, so a token
/// never names two waits. `WaitToken::NONE` is a task that is not parked.
/// Tokens grow with time, so they also order waits by when they began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct WaitToken(pub(crate) u64);

impl WaitToken {
    /// The token of a task that is not parked.
    pub(crate) const NONE: WaitToken = WaitToken(0);
}

/// A task's place in the kernel's task table. Reused once the task is gone:
/// a handle that outlives its task checks the task's serial (its
/// [`ThreadId`](crate::ThreadId)) as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TaskKey(pub(crate) usize);

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a wait source keeps to wake one parked task: its key in the task
/// table and the token of the wait. Ordered by token (when the wait began).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Parker {
    pub(crate) token: WaitToken,
    pub(crate) key: TaskKey,
}

impl Parker {
    /// Whether the wait this parker names is still on.
    pub(crate) fn is_parked(self, tasks: &Tasks) -> bool {
        tasks.get(self.key).is_some_and(|t| t.token == self.token)
    }
}

/// Parked tasks in the order they parked (or by priority, then that order),
/// for any wait source to own: the threads joining one thread, a channel's
/// receivers, a lock's waiters. It holds [`Parker`]s in the core and
/// [`LocalWaker`]s in a layer on the runtime. Waits that have ended
/// otherwise are skipped when woken, and swept when a push finds the queue
/// twice as long as after the last sweep: pushes stay amortised O(1), and
/// the stale entries a queue holds are bounded by the waits pushed since its
/// last sweep.
#[derive(Debug)]
pub(crate) struct WaitQueue<W = Parker> {
    parked: VecDeque<(i32, W)>,
    /// The length after the last sweep of stale entries: the next sweep
    /// comes when the queue has doubled since.
    swept: usize,
}

impl<W> Default for WaitQueue<W> {
    fn default() -> Self {
        WaitQueue { parked: VecDeque::new(), swept: 0 }
    }
}

impl<W> WaitQueue<W> {
    /// The entries held, ended waits included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.parked.len()
    }

    /// Queues `waiter` behind those of a `priority` as high or higher, and
    /// ahead of the lower ones; `live` tells a wait still on.
    fn insert(&mut self, priority: i32, waiter: W, live: impl Fn(&W) -> bool) {
        if self.parked.len() >= 8 && self.parked.len() >= 2 * self.swept {
            self.parked.retain(|(_, w)| live(w));
            self.swept = self.parked.len();
        }
        let at = match self.parked.back() {
            // The common case: FIFO, or the priority of the last one.
            Some(&(last, _)) if last >= priority => self.parked.len(),
            None => 0,
            Some(_) => self.parked.partition_point(|&(p, _)| p >= priority),
        };
        self.parked.insert(at, (priority, waiter));
    }

    /// Wakes the first wait still on, with `wake` (which says whether it
    /// was); returns whether there was one.
    fn wake_first(&mut self, mut wake: impl FnMut(W) -> bool) -> bool {
        while let Some((_, waiter)) = self.parked.pop_front() {
            if wake(waiter) {
                return true;
            }
        }
        false
    }

    /// Wakes every wait, in queue order; returns how many were still on.
    fn wake_every(&mut self, mut wake: impl FnMut(W) -> bool) -> usize {
        let mut woken = 0;
        for (_, waiter) in self.parked.drain(..) {
            woken += usize::from(wake(waiter));
        }
        self.swept = 0;
        woken
    }

    /// Whether nothing is queued (stale entries count until they are dropped).
    pub(crate) fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }
}

impl WaitQueue<Parker> {
    /// Queues `parker` behind every other.
    pub(crate) fn push(&mut self, parker: Parker, tasks: &Tasks) {
        self.push_by(0, parker, tasks);
    }

    /// Queues `parker` behind those of a `priority` as high or higher, and
    /// ahead of the lower ones.
    pub(crate) fn push_by(&mut self, priority: i32, parker: Parker, tasks: &Tasks) {
        self.insert(priority, parker, |p| p.is_parked(tasks));
    }

    /// Wakes the first task still parked here; returns whether there was one.
    // For the wait sources to come (a lock's hand-off, a channel's receiver).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn wake_one(&mut self, core: &mut Core) -> bool {
        self.wake_first(|parker| core.wake(parker))
    }

    /// Wakes every task parked here, in queue order; returns how many.
    pub(crate) fn wake_all(&mut self, core: &mut Core) -> usize {
        self.wake_every(|parker| core.wake(parker))
    }
}

/// What a layer on the runtime keeps to wake one parked wait from the
/// kernel's own OS thread (see [`park_local`]). Not `Send`: from another OS
/// thread, use a [`RemoteWaker`].
#[derive(Debug, Clone)]
pub(crate) struct LocalWaker {
    kernel: Weak<Shared>,
    parker: Parker,
}

impl LocalWaker {
    /// Wakes the wait: it runs in the kernel's next round, after its
    /// deadlines. Returns whether the wait was still on (not if it ended
    /// otherwise, or the kernel is gone). Not under the kernel's borrow:
    /// inside a [`park_local`] registration, return `true` instead.
    #[inline]
    pub(crate) fn wake(&self) -> bool {
        self.kernel.upgrade().is_some_and(|shared| shared.core().wake(self.parker))
    }

    /// Whether the wait may still be on: `true` where the kernel's state is
    /// borrowed (a queue pushed to inside a registration keeps its entries
    /// until the next sweep).
    fn may_be_parked(&self) -> bool {
        self.kernel.upgrade().is_some_and(|shared| match shared.try_core() {
            Some(core) => self.parker.is_parked(&core.tasks),
            None => true,
        })
    }
}

// The layers' queue: its wake-ups borrow the kernel's state briefly, so
// they must not run under that borrow; a push may (inside a registration).
#[cfg_attr(not(test), allow(dead_code))]
impl WaitQueue<LocalWaker> {
    /// Queues `waker` behind every other.
    pub(crate) fn push_local(&mut self, waker: LocalWaker) {
        self.push_local_by(0, waker);
    }

    /// Queues `waker` behind those of a `priority` as high or higher.
    pub(crate) fn push_local_by(&mut self, priority: i32, waker: LocalWaker) {
        self.insert(priority, waker, LocalWaker::may_be_parked);
    }

    /// Wakes the first wait still on; returns whether there was one.
    pub(crate) fn wake_one_local(&mut self) -> bool {
        self.wake_first(|waker| waker.wake())
    }

    /// Wakes every wait, in queue order; returns how many were still on.
    pub(crate) fn wake_all_local(&mut self) -> usize {
        self.wake_every(|waker| waker.wake())
    }
}

impl Core {
    /// A fresh token for a wait about to begin.
    pub(crate) fn token(&mut self) -> WaitToken {
        self.next_token += 1;
        WaitToken(self.next_token)
    }

    /// A handle that wakes `parker`'s wait from any OS thread.
    pub(crate) fn remote_waker(&self, parker: Parker) -> RemoteWaker {
        RemoteWaker::new(&self.remote, parker)
    }

    /// Raises an interrupt with `cause` in the task `key`: a wait it is in
    /// ends (it runs in the next round's deadline phase, as a timeout would),
    /// and the interrupt unwinds it from there; one it begins later ends at
    /// once. A suspended task gets it when it is resumed. Returns `false`,
    /// and does nothing, for a task that has ended or is being unwound.
    pub(crate) fn interrupt(&mut self, key: TaskKey, cause: Value) -> bool {
        let now = self.now();
        let task = &mut self.tasks[key];
        if task.status == Status::Dead || task.dying {
            return false;
        }
        task.interrupt = Some(cause);
        if !matches!(task.wait, Wait::None) {
            let parker = Parker { token: task.token, key };
            self.deadlines.push_due(now, Due::Task(parker));
        }
        true
    }

    /// Queues `parker` to be woken when the task `target` ends or is
    /// suspended (with its joiners).
    pub(crate) fn wake_at_end(&mut self, target: TaskKey, parker: Parker) {
        let mut joiners = std::mem::take(&mut self.tasks[target].joiners);
        joiners.push(parker, &self.tasks);
        self.tasks[target].joiners = joiners;
    }

    /// Wakes the task that `parker` names, if that wait is still on: it runs
    /// in the next round's wake phase, after the round's signals and
    /// deadlines (the OpenOS order for joins, which every source follows).
    /// Returns whether the wait was still on; a stale parker does nothing.
    pub(crate) fn wake(&mut self, parker: Parker) -> bool {
        let live = parker.is_parked(&self.tasks);
        if live {
            self.wakes.push_back(parker);
        }
        live
    }
}

impl Shared {
    /// Parks the running task until it is woken; returns why. `wait` says
    /// what it waits on (introspection only: the kernel never looks inside);
    /// `register` gets the [`Parker`] of this wait, to put wherever the
    /// wake-up will come from ([`Core::wake`]); `deadline` ends the wait with
    /// `Woke::Timeout`. A task that is being unwound does not park
    /// (`Woke::Shutdown`, and `register` is not called). Wherever `register`
    /// is not called, it is dropped before anything else runs (a hook, an
    /// unwind): a source may move a guard of its own lock into it, held from
    /// its look at its state until the wait is filed.
    ///
    /// # Panics
    ///
    /// On the host's stack: outside any thread, or inside a listener or timer
    /// callback.
    #[track_caller]
    pub(crate) fn park(
        &self,
        wait: Wait,
        deadline: Option<Duration>,
        register: impl FnOnce(&mut Core, Parker),
    ) -> Woke {
        self.park_until(wait, |core| deadline.map(|at| (at, core.clock.reached(at))), register)
    }

    /// Yields: parks the running task in a sleep that is due at once (a zero
    /// sleep), to run again in the next round, after what is due before it.
    /// Returns as [`park`](Shared::park) does.
    #[track_caller]
    #[inline]
    pub(crate) fn yield_now(&self) -> Woke {
        self.park_until(Wait::Sleep, |core| Some((core.now(), true)), |_, _| {})
    }

    /// [`park`](Shared::park) with the deadline read under the park's own
    /// borrow: `deadline` gives it and whether it has come already.
    #[track_caller]
    #[inline(always)]
    fn park_until(
        &self,
        wait: Wait,
        deadline: impl FnOnce(&Core) -> Option<(Duration, bool)>,
        register: impl FnOnce(&mut Core, Parker),
    ) -> Woke {
        // No stack check here: the kernel calls that block made it as they
        // were entered (`kernel::current`, `Thread::with_live`).
        // Read once: whether a panic is under way cannot change before the
        // thread parks.
        let panicking = std::thread::panicking();
        let (me, yielder) = {
            let mut guard = self.core();
            let core = &mut *guard;
            let me = match (core.running, core.context) {
                (Some(me), Some(ctx)) if me == ctx => me,
                // A destructor run by an unwind there (of a closure the
                // kernel drops, say): a panic would abort the process, so
                // the call returns at once, as in a thread being unwound.
                _ if panicking => return Woke::Shutdown,
                (running, context) => {
                    // What `register` holds (a wait source's lock, say) is
                    // let go before the panic's hook runs, outside the borrow.
                    drop(guard);
                    drop(register);
                    cannot_block(running.is_none() && context.is_some())
                }
            };
            let token = core.token();
            let deadline = deadline(core);
            let backtraces = self.backtraces;
            let task = &mut core.tasks[me];
            if task.dying
                || task.tripped
                || task.interrupt.is_some()
                || self.unwinding_if(panicking)
            {
                drop(guard);
                // Uncalled: what it holds is let go before the interrupt or
                // kill is raised.
                drop(register);
                return self.cannot_park(me);
            }
            // The wait is on before `register` runs, so that a source whose
            // condition already holds can wake it at once (`Core::wake`: it
            // runs in the next round), and `register` may read what the task
            // waits on. `register` is the kernel's own code, never a user's,
            // and does not panic.
            task.token = token;
            // The last wait's `end_wait` left `Wait::None`, which has nothing
            // to drop: a test and a store.
            task.wait.set(wait);
            task.deadline = deadline.map(|(at, _)| at);
            task.waiting_at = Some(std::panic::Location::caller());
            if backtraces {
                capture_backtrace(task);
            }
            task.frames.low = stack::below_here();
            let yielder = task.yielder;
            let parker = Parker { token, key: me };
            register(core, parker);
            if let Some((at, due)) = deadline {
                // Every wait with a deadline checks for stale entries (a few
                // loads): cancelled timers must not pile up in a program that
                // only ever yields.
                core.compact_deadlines();
                if due {
                    core.deadlines.push_due(at, Due::Task(parker));
                } else {
                    core.deadlines.push(at, Due::Task(parker));
                }
            }
            (me, yielder)
        };
        // Other kernels that `register` woke are told now, with nothing
        // borrowed: telling one may call its async host's waker.
        self.tell_woken();
        // Only where the panic count is not known to be ours (see
        // `Shared::unwinding`) can a thread park while it is raised.
        let parked_panicking = panicking;
        self.assert_unborrowed("a switch back to the kernel");
        // SAFETY: `yielder` was stored by this task's coroutine body when it started;
        // it points into that body's frame on this task's stack, which lives until
        // the body returns. We are running on that stack (`running == me`), so the
        // body has not returned.
        let wake = unsafe { &*yielder }.suspend(());
        if parked_panicking && std::thread::panicking() {
            // It may be in a destructor, where a second unwind aborts: the
            // wait ends, and a kill or interrupt stays recorded.
            return std::mem::take(&mut self.core().tasks[me].woke);
        }
        if wake == Wake::Kill {
            self.raise(me, Box::new(KillUnwind));
        }
        // What happened while it was parked: `check_interrupts`, inlined.
        let (woke, interrupted) = {
            let mut core = self.core();
            let task = &mut core.tasks[me];
            let interrupted =
                task.interrupt.is_some() || task.kill_pending || task.status == Status::Suspended;
            (std::mem::take(&mut task.woke), interrupted)
        };
        if interrupted {
            self.interrupted(me);
        }
        woke
    }

    /// A blocking call of a task that is dying or unwinding: it does not park.
    #[cold]
    fn cannot_park(&self, me: TaskKey) -> Woke {
        let (unwound, kill, end) = {
            let mut core = self.core();
            let task = &mut core.tasks[me];
            if task.tripped && !task.dying && !std::thread::panicking() {
                // Dying from here on: see `Shared::stack_tripped`.
                task.dying = true;
                drop(core);
                self.raise(me, Box::new(OverflowUnwind));
            }
            if !task.dying {
                if std::thread::panicking() {
                    // A destructor run by a panic's unwind: a thread never
                    // parks mid-unwind, or every other would see
                    // `panicking()` (std counts unwinds for the whole OS
                    // thread). An interrupt waits for its next wait.
                    return Woke::Shutdown;
                }
                if task.overrun {
                    // The watchdog's mark, which came in as an interrupt.
                    drop(core);
                    self.end_overrun(me);
                }
                // An interrupt made before this wait began (by the thread
                // itself, or while it ran): the wait ends with it at once.
                let cause = task.interrupt.take().unwrap_or_default();
                drop(core);
                self.raise(me, Box::new(InterruptUnwind(cause)));
            }
            (task.unwound, std::mem::take(&mut task.kill_pending), task.caught_end())
        };
        // A destructor run as it unwinds, or the kernel's cleanup after it.
        // While the count of unwinds is not known to be its own (the host
        // unwinds, say, dropping the kernel), it is taken for one too: it
        // must not be parked for ever mid-unwind.
        if unwound || std::thread::panicking() {
            return Woke::Shutdown;
        }
        if kill {
            self.raise(me, Box::new(KillUnwind));
        }
        self.park_for_ever(me, end, "caught the unwind that was to end it and went on")
    }

    /// A task back from a block finds it was killed, interrupted or suspended
    /// meanwhile: the kill or the interrupt unwinds it, the suspension parks it.
    #[cold]
    fn interrupted(&self, me: TaskKey) {
        let (interrupt, kill, suspended, overrun) = {
            let mut core = self.core();
            let task = &mut core.tasks[me];
            (
                std::mem::take(&mut task.interrupt),
                std::mem::take(&mut task.kill_pending),
                task.status == Status::Suspended,
                task.overrun,
            )
        };
        if kill {
            self.raise(me, Box::new(KillUnwind));
        }
        if overrun {
            self.end_overrun(me);
        }
        if let Some(cause) = interrupt {
            self.raise(me, Box::new(InterruptUnwind(cause)));
        }
        if suspended {
            self.park(Wait::Coma, None, |_, _| {});
        }
    }
}

/// Records where `task` blocks as a backtrace (`KernelBuilder::backtraces`).
#[cold]
#[inline(never)]
fn capture_backtrace(task: &mut crate::task::Task) {
    task.backtrace = Some(std::sync::Arc::new(std::backtrace::Backtrace::force_capture()));
}

/// The panic of a blocking call made where nothing can block: in a listener
/// or timer callback (`in_callback`), or on the host's stack.
#[cold]
fn cannot_block(in_callback: bool) -> ! {
    if in_callback {
        panic!(
            "cothread: a listener or timer callback cannot block (pull, sleep, join); \
             start a thread from it instead"
        )
    }
    panic!("cothread: only a program or thread running in a kernel can block (pull, sleep, join)")
}

/// One wait of a source outside the core, as it begins (see [`park_on`]):
/// the handles that wake it, and the core's own sources it can also be
/// woken by. It runs under the kernel's borrow: whatever registers here
/// stores handles and runs no user code.
pub(crate) struct Registration<'a> {
    core: &'a mut Core,
    /// The parking thread's kernel, whose state `core` is.
    shared: &'a Shared,
    parker: Parker,
}

#[cfg_attr(not(test), allow(dead_code))]
impl Registration<'_> {
    /// A handle that wakes this wait from the kernel's own OS thread.
    pub(crate) fn local_waker(&self) -> LocalWaker {
        LocalWaker { kernel: self.shared.weak(), parker: self.parker }
    }

    /// Queues this wait's [`LocalWaker`] in `queue`, as
    /// [`push_local`](WaitQueue::push_local) does, but sweeping the queue's
    /// ended waits with the kernel's own task table: under the kernel's
    /// borrow `push_local` cannot tell them, and a queue only ever pushed to
    /// here (a job's joiners, waited on with timeouts) would grow without
    /// bound.
    pub(crate) fn queue_local(&self, queue: &mut WaitQueue<LocalWaker>) {
        let (tasks, shared) = (&self.core.tasks, self.shared);
        queue.insert(0, self.local_waker(), |waker| {
            if std::ptr::eq(waker.kernel.as_ptr(), shared) {
                waker.parker.is_parked(tasks)
            } else {
                waker.may_be_parked()
            }
        });
    }

    /// A handle that wakes this wait from any OS thread.
    pub(crate) fn remote_waker(&self) -> RemoteWaker {
        self.core.remote_waker(self.parker)
    }

    /// What the thread waits for has already come: the wait is woken at
    /// once, to run in the next round.
    pub(crate) fn wake_now(&mut self) {
        self.core.wake(self.parker);
    }

    /// Wakes this wait too when the thread `key` (serial `id`) of `kernel`
    /// ends or is suspended, as a join is woken. Returns `false`, and
    /// registers nothing, if that thread has ended already. Only a thread
    /// of the waiter's own kernel can wake it: for another kernel's, this
    /// registers nothing and returns `true`.
    pub(crate) fn on_end(&mut self, kernel: &Weak<Shared>, key: TaskKey, id: ThreadId) -> bool {
        if !std::ptr::eq(kernel.as_ptr(), self.shared) {
            return kernel.strong_count() > 0;
        }
        let core = &mut *self.core;
        if !core.task(key, id).is_some_and(|t| t.status != Status::Dead) {
            return false;
        }
        core.wake_at_end(key, self.parker);
        true
    }
}

/// A wait that only what it waits for can end (a lock, permits) was asked
/// for by a thread being unwound (`Woke::Shutdown`): it can neither wait
/// nor return. In a destructor run by an unwind, a panic would abort the
/// process, so the thread is parked for ever instead (reported, its death
/// bookkeeping done, its stack kept), as for `os::exit` there. Anywhere
/// else (the kernel's own cleanup after an unwind) it panics with a
/// message naming `what`.
#[cold]
pub(crate) fn cannot_wait(what: &str) -> ! {
    if std::thread::panicking() {
        if let Some(shared) = crate::kernel::try_current() {
            let running = {
                let mut core = shared.core();
                let me = core.running.filter(|&me| core.context == Some(me));
                me.map(|me| (me, core.tasks[me].dying, core.tasks[me].raised.take()))
            };
            if let Some((me, dying, raised)) = running {
                // As the unwind under way would have ended it.
                let end = match raised {
                    _ if dying => crate::task::End::Killed,
                    Some(cause) => crate::task::End::Interrupted(cause),
                    None => {
                        crate::task::End::Panicked(format!("waited for {what} while unwinding"))
                    }
                };
                shared.park_for_ever(me, end, &format!("waited for {what} while unwinding"));
            }
        }
    }
    panic!("cothread: a thread being unwound cannot wait for {what}")
}

/// Parks the running thread for a wait source outside the core: `register`
/// gets this wait's [`Registration`], to store the wakers it needs wherever
/// the wake-up will come from (or to wake it at once if what it waits for
/// has already come). `what` describes the wait for `Kernel::threads`.
/// Returns as [`Shared::park`] does; `Woke::Woken` for a wake-up.
///
/// # Panics
///
/// Where nothing can park (see [`Shared::park`]).
#[track_caller]
pub(crate) fn park_on(
    what: &'static str,
    deadline: Option<Duration>,
    register: impl FnOnce(&mut Registration<'_>),
) -> Woke {
    park_registered(what, Wait::On(what), deadline, register)
}

/// [`park_on`] with `wait` as what the task waits on: `what` names the
/// call for the panic where nothing can park.
#[track_caller]
fn park_registered(
    what: &'static str,
    wait: Wait,
    deadline: Option<Duration>,
    register: impl FnOnce(&mut Registration<'_>),
) -> Woke {
    let shared = crate::kernel::current(what);
    shared.park(wait, deadline, |core, parker| register(&mut Registration { core, shared, parker }))
}

/// Parks the running thread in a select: as [`park_on`], and a signal that
/// matches one of `filters` ends the wait too (with `Woke::Signal`; the
/// waiter index files the wait under each filter).
///
/// # Panics
///
/// Where nothing can park (see [`Shared::park`]).
#[track_caller]
pub(crate) fn park_select(
    filters: Vec<Filter>,
    deadline: Option<Duration>,
    register: impl FnOnce(&mut Registration<'_>),
) -> Woke {
    park_registered("sync::Select::wait", Wait::Select(filters), deadline, |r| {
        // The filters are the task's wait by now (see `Shared::park`): filed
        // from there, not from a copy.
        let core = &mut *r.core;
        for filter in core.tasks[r.parker.key].wait.filters() {
            core.waiters.add(filter, r.parker);
        }
        register(r)
    })
}

/// Parks the running thread for a wait source outside the core that wakes it
/// from the kernel's own OS thread: `register` gets this wait's
/// [`LocalWaker`] (under the kernel's borrow: it must only store it) and
/// returns whether what the thread waits for has already come (then the
/// wait is woken at once, to run in the next round). `what` describes the
/// wait for `Kernel::threads`. Returns as [`Shared::park`] does.
///
/// # Panics
///
/// Where nothing can park (see [`Shared::park`]).
#[cfg_attr(not(test), allow(dead_code))]
#[track_caller]
pub(crate) fn park_local(
    what: &'static str,
    deadline: Option<Duration>,
    register: impl FnOnce(LocalWaker) -> bool,
) -> Woke {
    park_on(what, deadline, |r| {
        if register(r.local_waker()) {
            r.wake_now();
        }
    })
}

/// Parks the running thread for a wait source outside the core, which wakes
/// it from any OS thread: `register` gets this wait's [`RemoteWaker`] (under
/// the kernel's borrow: it must only store it, or wake it at once if what it
/// waits for has already come). `what` describes the wait for
/// `Kernel::threads`. Returns as [`Shared::park`] does; `Woke::Woken` for a
/// wake-up.
///
/// # Panics
///
/// Where nothing can park (see [`Shared::park`]).
#[track_caller]
pub(crate) fn park_remote(
    what: &'static str,
    deadline: Option<Duration>,
    register: impl FnOnce(RemoteWaker),
) -> Woke {
    park_on(what, deadline, |r| register(r.remote_waker()))
}

/// Whether the code on the CPU is unwinding, as a panic raised there now
/// would find it: on a green thread of the current kernel, as the kernel
/// judges it ([`Shared::unwinding`]: std's count of unwinds is the whole OS
/// thread's, and a host that runs the kernel from a destructor while it
/// panics is counted there); elsewhere (the host, a plain OS thread), as
/// std says.
pub(crate) fn unwinding_here() -> bool {
    if !std::thread::panicking() {
        return false;
    }
    let Some(shared) = crate::kernel::try_current() else { return true };
    let on_green_stack = shared
        .try_core()
        .is_some_and(|core| core.running.is_some() && core.running == core.context);
    !on_green_stack || shared.unwinding()
}

/// Calls `f` on each item in order, on all of them even when one panics
/// (each a waker, say, whose code is a user's: one that fails must not cost
/// the others their wake-up). The first panic goes on once all have been
/// called, a later one's payload is dropped; where the code on the CPU is
/// unwinding already ([`unwinding_here`]), so that a second panic would
/// abort the process, none goes on.
pub(crate) fn each_then_panic<I: IntoIterator>(items: I, mut f: impl FnMut(I::Item)) {
    let mut first = None;
    for item in items {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(item))) {
            match first {
                None => first = Some(payload),
                Some(_) => drop_payload(payload),
            }
        }
    }
    if let Some(payload) = first {
        if unwinding_here() {
            drop_payload(payload);
        } else {
            resume_unwind(payload);
        }
    }
}

/// Keeps `waker` in `slot`, in place of the one there: a future keeps the
/// waker of its last poll (`clone_from` skips the clone when it would wake
/// the same task).
pub(crate) fn keep_waker(slot: &mut Option<std::task::Waker>, waker: &std::task::Waker) {
    match slot {
        Some(kept) => kept.clone_from(waker),
        none => *none = Some(waker.clone()),
    }
}

/// Whether `kernel` is the kernel running on this OS thread: only its own
/// threads' ends can wake a wait ([`Registration::on_end`]).
pub(crate) fn is_this_kernel(kernel: &Weak<Shared>) -> bool {
    crate::kernel::try_current().is_some_and(|here| std::ptr::eq(here, kernel.as_ptr()))
}

/// Whether a kernel runs on this OS thread: a layer's blocking call then
/// parks (and [`park_remote`] panics where nothing can park), while on a
/// plain OS thread it blocks the OS thread instead.
pub(crate) fn in_kernel() -> bool {
    crate::kernel::try_current().is_some()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::id::ThreadId;
    use crate::task::{Kind, Task};

    /// A table of `n` tasks, each parked with the token of its key + 1.
    fn parked(n: usize) -> (Tasks, Vec<Parker>) {
        let mut tasks = Tasks::default();
        let parkers = (0..n)
            .map(|i| {
                let key = tasks.insert(|| Task::new(ThreadId(i as u64), Kind::Thread, None));
                let token = WaitToken(i as u64 + 1);
                tasks[key].token = token;
                Parker { token, key }
            })
            .collect();
        (tasks, parkers)
    }

    fn order(queue: &WaitQueue) -> Vec<usize> {
        queue.parked.iter().map(|&(_, p)| p.key.0).collect()
    }

    #[test]
    fn priorities_go_ahead_of_lower_ones_and_ties_keep_their_order() {
        let (tasks, p) = parked(5);
        let mut q = WaitQueue::default();
        q.push(p[0], &tasks);
        q.push_by(2, p[1], &tasks);
        q.push_by(1, p[2], &tasks);
        q.push_by(2, p[3], &tasks);
        q.push(p[4], &tasks);
        assert_eq!(order(&q), [1, 3, 2, 0, 4]);
    }

    #[test]
    fn wake_one_skips_waits_that_ended_and_wake_all_takes_the_rest() {
        let kernel = crate::Kernel::new();
        let mut core = kernel.shared().core();
        let core = &mut *core;
        let (tasks, p) = parked(4);
        core.tasks = tasks;
        let mut q = WaitQueue::default();
        for &parker in &p {
            q.push(parker, &core.tasks);
        }
        core.tasks[p[0].key].token = WaitToken::NONE; // timed out, say
        assert!(q.wake_one(core));
        assert_eq!(core.wakes, [p[1]]);
        assert_eq!(q.wake_all(core), 2);
        assert_eq!(core.wakes, [p[1], p[2], p[3]]);
        assert!(q.is_empty() && !q.wake_one(core));
        // A wake-up is queued once per wait: a second one for the same wait
        // finds it still on (it runs in the next round) and queues again, and
        // the round's check of the token runs it once.
        assert!(core.wake(p[1]));
        core.tasks[p[1].key].token = WaitToken(99);
        assert!(!core.wake(p[1]), "a stale parker wakes nothing");
    }

    /// A wait woken from another OS thread: the kernel, with nothing else to
    /// do, waits for it instead of reporting a deadlock; the waker of an
    /// ended wait, and one used after the kernel is gone, do nothing.
    #[test]
    fn a_remote_waker_wakes_its_wait_from_another_os_thread() {
        let (to_waker, wakers) = std::sync::mpsc::channel::<RemoteWaker>();
        let helper = std::thread::spawn(move || {
            let waker = wakers.recv().unwrap();
            waker.wake();
            waker
        });
        let mut kernel = crate::Kernel::new();
        let woke = kernel
            .run(move || {
                let woke =
                    park_remote("a test's helper", None, |waker| to_waker.send(waker).unwrap());
                matches!(woke, Woke::Woken)
            })
            .unwrap();
        assert!(woke);
        let stale = helper.join().unwrap();
        stale.wake(); // its wait has ended: nothing to run
        assert_eq!(kernel.step().resumes, 0);
        drop(kernel);
        stale.wake(); // the kernel is gone
    }

    #[test]
    fn a_parked_wait_shows_what_it_waits_for() {
        let mut kernel = crate::Kernel::new();
        let kept = Rc::new(RefCell::new(None));
        let keep = kept.clone();
        kernel
            .spawn(move || park_remote("a test's helper", None, |w| *keep.borrow_mut() = Some(w)));
        let table = kernel.threads();
        assert_eq!(table[0].waiting, crate::Waiting::Other("a test's helper".into()));
        assert_eq!(table[0].waiting.to_string(), "a test's helper");
        kept.borrow().as_ref().unwrap().wake();
        assert_eq!(kernel.step().resumes, 1);
        assert!(!kernel.step().alive);
    }

    /// Kill, suspension and a deadline end a park whatever it waits on: here
    /// a wait only another OS thread's wake-up was to end.
    #[test]
    fn kill_suspension_and_deadlines_end_a_remote_park() {
        use crate::{os, thread, Status};
        use std::time::Duration;
        let mut kernel = crate::Kernel::builder().virtual_time(true).build();
        let wakers = Rc::new(RefCell::new(Vec::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let (w, l) = (wakers.clone(), log.clone());
        kernel
            .run(move || {
                struct Dropped(Rc<RefCell<Vec<String>>>);
                impl Drop for Dropped {
                    fn drop(&mut self) {
                        self.0.borrow_mut().push("unwound".into());
                    }
                }
                // A kill unwinds the parked thread.
                let (w1, l1) = (w.clone(), l.clone());
                let killed = thread::create(move || {
                    let _guard = Dropped(l1);
                    park_remote("a test's helper", None, |waker| w1.borrow_mut().push(waker));
                });
                killed.kill();
                assert_eq!(killed.status(), Status::Dead);
                // A deadline ends it with a timeout.
                let timed = park_remote("a test's helper", Some(Duration::from_secs(2)), |_| {});
                l.borrow_mut().push(format!("{timed:?} at {:?}", os::uptime()));
                // A suspended thread misses its wake-up and re-checks once resumed.
                let (w2, l2) = (w.clone(), l.clone());
                let frozen = thread::create(move || {
                    let woke =
                        park_remote("a test's helper", None, |waker| w2.borrow_mut().push(waker));
                    l2.borrow_mut().push(format!("resumed: {woke:?}"));
                });
                frozen.suspend().unwrap();
                w.borrow()[1].wake();
                // Two rounds: the wake-up is taken in the first one's wake
                // phase, while the thread is still suspended.
                os::sleep(Duration::ZERO);
                os::sleep(Duration::ZERO);
                assert!(l.borrow().iter().all(|line| !line.starts_with("resumed")));
                frozen.resume().unwrap();
                frozen.join(None).unwrap();
                // The killed thread's waker wakes nothing.
                w.borrow()[0].wake();
                os::sleep(Duration::ZERO);
            })
            .unwrap();
        let log = log.borrow().clone();
        assert_eq!(log[0], "unwound");
        assert_eq!(log[1], "Timeout at 2s");
        // The missed wake-up comes back as the re-check a resume gives.
        assert_eq!(log[2], "resumed: Timeout");
        assert_eq!(log.len(), 3);
    }

    /// A source whose condition already holds wakes the wait from inside
    /// `register`: the thread runs again in the next round.
    #[test]
    fn a_wake_up_inside_register_is_not_lost() {
        let mut kernel = crate::Kernel::builder().virtual_time(true).build();
        let woke = kernel
            .run(|| {
                let shared = crate::kernel::current("test");
                let woke = shared.park(Wait::On("a test's source"), None, |core, parker| {
                    assert!(core.wake(parker), "the wait is on as register runs");
                });
                (matches!(woke, Woke::Woken), crate::os::uptime())
            })
            .unwrap();
        assert_eq!(woke, (true, std::time::Duration::ZERO));
    }

    /// A wait source written as a layer would: a gate whose opening wakes
    /// its waiters through `LocalWaker`s in a `WaitQueue`. One is woken, then
    /// the rest in order; a wait that timed out meanwhile is skipped; a wait
    /// whose condition holds as it registers is woken at once.
    #[test]
    fn a_layers_wait_source_parks_and_wakes_through_local_wakers() {
        use crate::{os, thread};
        use std::time::Duration;
        #[derive(Default)]
        struct Gate {
            open: bool,
            queue: WaitQueue<LocalWaker>,
        }
        let gate = Rc::new(RefCell::new(Gate::default()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let pass = |gate: &Rc<RefCell<Gate>>, timeout: Option<Duration>| loop {
            let woke = park_local("a gate", timeout.map(|t| os::uptime() + t), |waker| {
                let mut gate = gate.borrow_mut();
                if !gate.open {
                    gate.queue.push_local(waker);
                }
                gate.open
            });
            if gate.borrow().open || matches!(woke, Woke::Timeout | Woke::Shutdown) {
                return gate.borrow().open;
            }
        };
        let mut kernel = crate::Kernel::builder().virtual_time(true).build();
        let (g, l) = (gate.clone(), log.clone());
        kernel
            .run(move || {
                let mut threads = Vec::new();
                for (name, timeout) in
                    [("a", None), ("b", Some(Duration::from_secs(1))), ("c", None)]
                {
                    let (g, l) = (g.clone(), l.clone());
                    threads.push(thread::create(move || {
                        let passed = pass(&g, timeout);
                        l.borrow_mut().push(format!("{name} {passed} at {:?}", os::uptime()));
                    }));
                }
                os::sleep(Duration::from_secs(2)); // b times out meanwhile
                g.borrow_mut().open = true;
                let first = g.borrow_mut().queue.wake_one_local();
                assert!(first);
                // The wake-up runs in the next round's wake phase, after this
                // thread's zero sleep (a deadline): two rounds.
                os::sleep(Duration::ZERO);
                os::sleep(Duration::ZERO);
                assert_eq!(l.borrow().len(), 2, "a woke, c still waits: {:?}", l.borrow());
                assert_eq!(g.borrow_mut().queue.wake_all_local(), 1, "c; b's wait had ended");
                thread::wait_for_all(&threads, None).unwrap();
                // Open already: it passes at once, woken from its registration.
                let passed = pass(&g, None);
                l.borrow_mut().push(format!("late {passed}"));
            })
            .unwrap();
        assert_eq!(*log.borrow(), ["b false at 1s", "a true at 2s", "c true at 2s", "late true"]);
    }

    #[test]
    fn stale_parkers_are_swept_as_the_queue_grows() {
        let (mut tasks, p) = parked(64);
        let mut q = WaitQueue::default();
        for &parker in &p {
            // Each wait ends (a timeout, say) right after it is queued.
            q.push(parker, &tasks);
            tasks[parker.key].token = WaitToken::NONE;
        }
        assert!(q.parked.len() <= 16, "{} parkers kept", q.parked.len());
        // A live one is never swept.
        tasks[p[63].key].token = p[63].token;
        q.push(p[63], &tasks);
        for _ in 0..40 {
            q.push(Parker { token: WaitToken(999), key: p[0].key }, &tasks);
        }
        assert!(q.parked.iter().any(|&(_, x)| x == p[63]));
    }
}
