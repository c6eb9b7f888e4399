//! Processes: the task tree. Every program and every thread is a process; each
//! has a parent (the root, "init", at the top) and the children attached to it.
//! A process that returns closes (joins its children, newest first); one that
//! panics, exits or is killed kills them.

use std::any::Any;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use corosensei::stack::Stack;
use corosensei::{CoroutineResult, Yielder};

use crate::error::Error;
use crate::id::{Site, Status};
use crate::overflow::{self, Exit, OverflowUnwind};
use crate::park::{Parker, TaskKey, Wait, Woke};
use crate::report::ErrorOrigin;
use crate::task::{Co, End, Home, Kind, Outcome, Parked, Slot, Task, Tasks, Wake};
use crate::unwind::{take_message, InterruptUnwind, KillUnwind};

impl crate::kernel::Core {
    /// Whether `key` has ended (or is gone): its registrations have been
    /// dropped, and one made for it now (by a destructor that runs as a
    /// kill unwinds it, by a callback that killed it, by a destructor that
    /// the kernel's drop runs, for the root) dies at once.
    pub(crate) fn has_ended(&self, key: TaskKey) -> bool {
        self.tasks.get(key).map_or(true, |t| t.ended)
    }

    /// Drops every listener and timer `key` owns; their callbacks go to the
    /// graveyard, to be dropped with nothing borrowed ([`Shared::bury`]).
    pub(crate) fn drop_registrations(&mut self, key: TaskKey) {
        self.listeners.drop_owner(key, &mut self.graveyard);
        self.timers.drop_owner(key, &mut self.graveyard);
    }

    /// Quarantines the stacks of the tasks left in the table as the kernel
    /// goes (zombies): their coroutines are kept, never resumed or freed.
    pub(crate) fn quarantine_leftovers(&mut self) {
        let keys: Vec<TaskKey> = self.tasks.iter().map(|(key, _)| key).collect();
        for key in keys {
            let task = &mut self.tasks[key];
            if let Some(home) = task.coroutine.take() {
                overflow::forget_stack(task.stack_low, task.frames.end);
                // Counted in `quarantined` as it was parked for ever.
                crate::stack::quarantine(home);
            }
        }
    }

    /// Takes `key`'s coroutine out to resume it and makes it the running task.
    pub(crate) fn unpark(&mut self, key: TaskKey) -> Parked {
        self.unpark_then(key, |_| {})
    }

    /// [`unpark`](crate::kernel::Core::unpark), publishing the resume to the
    /// watchdog.
    #[inline(always)]
    pub(crate) fn unpark_watched(&mut self, key: TaskKey, watch: &Watch) -> Parked {
        self.unpark_then(key, |task| watch.resumed(task, task.resumes))
    }

    /// [`unpark`](crate::kernel::Core::unpark), showing the task, its
    /// resumes counting this one, to `hook` first.
    #[inline(always)]
    fn unpark_then(&mut self, key: TaskKey, hook: impl FnOnce(&Task)) -> Parked {
        let task = &mut self.tasks[key];
        task.resumes += 1;
        hook(task);
        let coroutine = task.coroutine.take().expect("a task is resumed only while parked");
        let running = self.running.replace(key);
        let context = self.context.replace(key);
        Parked { coroutine, running, context }
    }
}

/// Bytes kept free at the top of every green stack, above the thread's own
/// frames: after a stack overflow that discards its frames, corosensei runs
/// the trap's return path from the top of the stack, and it must not
/// overwrite memory of the discarded frames that may still be referred to
/// from elsewhere (the stack is quarantined for that reason).
const CUSHION: usize = 2048;

/// Runs `f` with [`CUSHION`] bytes of this frame between it and the caller.
#[inline(never)]
fn below_a_cushion<R>(f: impl FnOnce() -> R) -> R {
    let cushion = std::mem::MaybeUninit::<[u8; CUSHION]>::uninit();
    std::hint::black_box(&cushion);
    f()
}

/// The kernel's operations of several steps that run on a green thread's
/// stack (a switch's bookkeeping, a kill, a thread's end),
/// by address: the overflow trap does not start an unwind with one of them on
/// the stack, as it would leave the operation half done. Each is kept out of
/// line for that.
pub(crate) fn kernel_frames() -> [usize; 4] {
    [
        Shared::resume_parked as fn(&Shared, TaskKey, Parked, Wake) as usize,
        Shared::put_away as fn(&Shared, TaskKey, Box<Home>, bool) as usize,
        Shared::kill as fn(&Shared, TaskKey) as usize,
        Shared::finish as fn(&Shared, TaskKey, End) as usize,
    ]
}

/// What a spawn may set beyond the body.
#[derive(Default)]
pub(crate) struct SpawnOptions {
    pub(crate) name: Option<Rc<str>>,
    pub(crate) stack_size: Option<usize>,
    /// Where it was spawned.
    pub(crate) site: Option<Site>,
}

/// Whether `key` misses signals and deadlines: it, or a thread it belongs to,
/// is suspended (OpenOS: "a suspended thread's children behave as if suspended").
pub(crate) fn frozen(tasks: &Tasks, key: TaskKey) -> bool {
    if tasks.suspended == 0 {
        return false;
    }
    let mut at = Some(key);
    while let Some(k) = at {
        let task = &tasks[k];
        if task.status == Status::Suspended {
            return true;
        }
        at = task.parent;
    }
    false
}

/// Whether `ancestor` is `key` or one of its ancestors.
pub(crate) fn is_ancestor(tasks: &Tasks, ancestor: TaskKey, key: TaskKey) -> bool {
    let mut at = Some(key);
    while let Some(k) = at {
        if k == ancestor {
            return true;
        }
        at = tasks[k].parent;
    }
    false
}

/// The process `level` steps above `from` (0 = `from` itself).
pub(crate) fn ancestor_at(tasks: &Tasks, from: TaskKey, level: usize) -> Option<TaskKey> {
    let mut at = from;
    for _ in 0..level {
        at = tasks[at].parent?;
    }
    Some(at)
}

/// `"thread_exit"`, allocated once: one is pushed for every thread that ends.
pub(crate) fn thread_exit_name() -> Arc<str> {
    static NAME: OnceLock<Arc<str>> = OnceLock::new();
    NAME.get_or_init(|| Arc::from("thread_exit")).clone()
}

/// The ends of a task's list of children.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Siblings {
    first: Option<TaskKey>,
    last: Option<TaskKey>,
}

impl Siblings {
    /// The newest child.
    pub(crate) fn last(&self) -> Option<TaskKey> {
        self.last
    }
}

/// Appends `key` (not attached anywhere) to `parent`'s children.
pub(crate) fn link_child(tasks: &mut Tasks, parent: TaskKey, key: TaskKey) {
    let last = tasks[parent].children.last.replace(key);
    match last {
        Some(last) => tasks[last].next_sibling = Some(key),
        None => tasks[parent].children.first = Some(key),
    }
    let task = &mut tasks[key];
    task.parent = Some(parent);
    task.prev_sibling = last;
    task.next_sibling = None;
}

/// Detaches `key` from its parent, if it has one.
pub(crate) fn unlink_child(tasks: &mut Tasks, key: TaskKey) {
    let task = &mut tasks[key];
    let Some(parent) = task.parent.take() else { return };
    let (prev, next) = (task.prev_sibling.take(), task.next_sibling.take());
    match prev {
        Some(prev) => tasks[prev].next_sibling = next,
        None => tasks[parent].children.first = next,
    }
    match next {
        Some(next) => tasks[next].prev_sibling = prev,
        None => tasks[parent].children.last = prev,
    }
}

/// `parent`'s children, oldest first.
pub(crate) fn children(tasks: &Tasks, parent: TaskKey) -> impl Iterator<Item = TaskKey> + '_ {
    std::iter::successors(tasks[parent].children.first, |&k| tasks[k].next_sibling)
}

/// Moves `key` under `parent`, newest child last.
pub(crate) fn reparent(tasks: &mut Tasks, key: TaskKey, parent: TaskKey) {
    unlink_child(tasks, key);
    link_child(tasks, parent, key);
}

/// `key` and all its descendants, parents before children.
pub(crate) fn subtree(tasks: &Tasks, key: TaskKey) -> Vec<TaskKey> {
    let mut out = vec![key];
    let mut i = 0;
    while i < out.len() {
        out.extend(children(tasks, out[i]));
        i += 1;
    }
    out
}

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::id::ThreadId;
use crate::inspect::Trace;
use crate::kernel::{Due, Queued, Shared, LOG, TRACE};
use crate::watchdog::Watch;

impl Shared {
    /// Creates a task under `parent` and runs it at once, up to its first blocking
    /// call, as OpenOS's `thread.create` does.
    pub(crate) fn spawn<T: 'static>(
        &self,
        parent: TaskKey,
        kind: Kind,
        options: SpawnOptions,
        body: impl FnOnce() -> T + 'static,
    ) -> Result<(TaskKey, ThreadId, Rc<Slot<T>>), Error> {
        let slot = Rc::new(Slot::new());
        let mut core = self.core();
        if core.tasks.get(parent).map_or(true, |t| t.sealed) {
            // Nothing would ever end it: its parent has killed its children for
            // the last time (or is gone), or the kernel is being dropped.
            drop(core);
            self.drop_user(parent, ErrorOrigin::Thread, body);
            return Err(Error::ProcessEnded);
        }
        let key = {
            let (stack, mut home, pooled_stack) =
                core.stacks.take(options.stack_size).map_err(|err| {
                    let size = options.stack_size.unwrap_or(core.stacks.stack_size());
                    Error::StackAlloc(format!("{size} bytes: {err}"))
                })?;
            let result = slot.clone();
            let (stack_end, stack_low) = (stack.base().get(), stack.limit().get());
            let coroutine =
                Co::with_stack(stack, move |yielder: &Yielder<Wake, ()>, wake: Wake| {
                    // Not `current`: a thread starting has no stack to check.
                    let shared =
                        crate::kernel::try_current().expect("a task body runs in its kernel");
                    let me = {
                        let mut core = shared.core();
                        let me = core.running.expect("a task body runs on its own stack");
                        core.tasks[me].yielder = yielder;
                        me
                    };
                    if wake == Wake::Kill {
                        // Killed before its first stretch (its spawn was cut
                        // short): its body never runs.
                        shared.drop_user(me, ErrorOrigin::Thread, body);
                        shared.finish(me, End::Killed);
                    } else {
                        below_a_cushion(|| shared.task_main(me, body, &result));
                    }
                    // Nobody may hold the value any more: then it is dropped here,
                    // on the task's stack, and a panic in its destructor must not
                    // unwind out of the coroutine.
                    shared.drop_user(me, ErrorOrigin::Thread, result);
                    Exit::Normal
                });
            let id = core.next_id();
            // Made in its place in the table, then filled in.
            let key = core.tasks.insert(|| Task::new(id, kind, None));
            home.co = Some(coroutine);
            let outcome: Rc<dyn Outcome> = slot.clone();
            let task = &mut core.tasks[key];
            task.name = options.name;
            task.spawned_at = options.site;
            task.pooled_stack = pooled_stack;
            task.frames.end = stack_end;
            task.stack_low = stack_low;
            task.coroutine = Some(home);
            task.outcome = Some(outcome);
            link_child(&mut core.tasks, parent, key);
            key
        };
        let id = core.tasks[key].id;
        drop(core);
        if self.watching() {
            self.watch_spawned(&self.watch, key);
        }
        if log::log_enabled!(log::Level::Debug) {
            let core = self.core();
            let parent = core.tasks.get(parent).map_or_else(String::new, Task::label);
            log::debug!("{} started by {parent}", core.tasks[key].label());
        }
        #[cfg(feature = "tracing")]
        {
            let mut core = self.core();
            let parent = core.thread_id(parent).map(ThreadId::as_u64);
            let task = &mut core.tasks[key];
            let span = tracing::info_span!(
                target: "cothread",
                "green_thread",
                id = id.as_u64(),
                name = task.name.as_deref(),
                program = task.kind == Kind::Program,
            );
            if let Some(home) = task.coroutine.as_mut() {
                home.span = span;
            }
            tracing::debug!(
                target: "cothread",
                thread = id.as_u64(),
                name = task.name.as_deref(),
                parent,
                "spawn"
            );
        }
        self.trace(|core| Trace::Spawn { thread: id, parent: core.thread_id(parent) });
        self.switch_to(key, Wake::Run);
        Ok((key, id, slot))
    }

    /// The whole life of a task, on its own stack: the body, then closing (join
    /// the children) or, if it did not return, killing them.
    /// The value is published only once the close is done: a task killed or
    /// interrupted while joining its children has none.
    fn task_main<T>(&self, me: TaskKey, body: impl FnOnce() -> T, slot: &Slot<T>) {
        let end = match catch_unwind(AssertUnwindSafe(body)) {
            Ok(value) => match catch_unwind(AssertUnwindSafe(|| self.close(me))) {
                Ok(true) => {
                    slot.set(value);
                    End::Returned
                }
                // It caught the unwind that was to end it and returned: it
                // is dead all the same.
                Ok(false) => {
                    self.unwound(me);
                    self.drop_user(me, ErrorOrigin::Thread, value);
                    self.core().tasks[me].caught_end()
                }
                Err(payload) => {
                    // Killed or interrupted while joining its children: the
                    // value is not published, and its destructor is user code.
                    self.unwound(me);
                    self.drop_user(me, ErrorOrigin::Thread, value);
                    End::from_panic(payload)
                }
            },
            Err(payload) => {
                self.unwound(me);
                End::from_panic(payload)
            }
        };
        self.finish(me, end);
    }

    /// Records that the kernel's own catch took `me`'s unwind (see
    /// `Task::unwound`).
    fn unwound(&self, me: TaskKey) {
        self.core().tasks[me].unwound = true;
    }

    /// Parks the running task `me` for ever, after the death bookkeeping its
    /// body can no longer reach: it caught its kill and blocked again, or it
    /// called `os::exit` where it cannot unwind (a destructor run by an
    /// unwind). It is never resumed; its frames are never unwound or freed
    /// (see `Core::quarantine_leftovers`).
    #[cold]
    pub(crate) fn park_for_ever(&self, me: TaskKey, end: End, why: &str) -> ! {
        let stuck = self.unwinding();
        if stuck {
            crate::kernel::add_stuck_unwind();
        }
        let (yielder, kind) = {
            let mut core = self.core();
            core.zombies += 1;
            core.quarantined += 1;
            let task = &mut core.tasks[me];
            task.zombie = true;
            task.dying = true;
            // Its blocking calls from here on (in the error reporter, say)
            // return at once.
            task.unwound = true;
            (task.yielder, task.origin())
        };
        self.report_for(me, kind, &format!("{why}: parked for ever, its stack kept"));
        self.finish(me, end);
        loop {
            self.assert_unborrowed("a switch back to the kernel");
            // SAFETY: as in `park`: the yielder lives in this task's body
            // frame, on the stack we are running on.
            unsafe { &*yielder }.suspend(());
        }
    }

    /// Joins the children, newest first, until none is left.
    /// Returns `false`, joining none, if `me` is dying: its body caught the
    /// unwind that was to end it.
    fn close(&self, me: TaskKey) -> bool {
        loop {
            let next = {
                let core = self.core();
                let task = &core.tasks[me];
                if task.dying {
                    return false;
                }
                task.children.last().map(|k| (k, core.tasks[k].id))
            };
            let Some(child) = next else { return true };
            if self.wait_for(me, &[child], true, None).is_err() {
                return true;
            }
        }
    }

    /// The end of a task, whatever the cause: reports a panic, kills the
    /// children left, records the outcome and does the death bookkeeping.
    #[inline(never)]
    fn finish(&self, me: TaskKey, end: End) {
        {
            // What runs on its stack from here on is the kernel's cleanup:
            // blocking calls (in a destructor the kernel runs for it, in the
            // error reporter) return at once.
            let mut core = self.core();
            let task = &mut core.tasks[me];
            task.dying = true;
            task.unwound = true;
        }
        // Formatted only when a log line needs it: `finish` runs for every death.
        let label = || self.core().tasks[me].label();
        let reported = match &end {
            End::Panicked(msg) => Some(("panicked", msg.as_str())),
            End::Overflowed => Some(("ended", "stack overflow")),
            End::Overrun => Some(("ended", "too long without yielding")),
            _ => None,
        };
        if let Some((how, msg)) = reported {
            let kind = self.core().tasks[me].origin();
            log::debug!("{} {how}: {msg}", label());
            self.report_for(me, kind, msg);
        }
        self.kill_children(me);
        let outcome = {
            let mut core = self.core();
            self.mark_dead(&mut core, me);
            core.tasks[me].outcome.take()
        };
        if let (Some(outcome), Some(error)) = (outcome, end.error()) {
            outcome.fail(error);
        }
        if log::log_enabled!(log::Level::Trace) {
            log::trace!("{} ended: {end:?}", label());
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "cothread",
            thread = self.core().tasks[me].id.as_u64(),
            end = ?end,
            "end"
        );
        self.trace(|core| Trace::End { thread: core.tasks[me].id });
    }

    /// Kills `me`'s children until none is left, then seals it: a thread
    /// started on its behalf after this point is refused ([`Error::ProcessEnded`]).
    pub(crate) fn kill_children(&self, me: TaskKey) {
        loop {
            let child = {
                let mut core = self.core();
                let task = &mut core.tasks[me];
                let child = task.children.last();
                task.sealed |= child.is_none();
                child
            };
            match child {
                Some(child) => self.kill(child),
                None => return,
            }
        }
    }

    /// Death bookkeeping, once: dead status, detached from its parent, joiners
    /// nudged, registrations dropped, `"thread_exit"` pushed for a thread.
    pub(crate) fn mark_dead(&self, core: &mut crate::kernel::Core, key: TaskKey) {
        core.tasks.set_status(key, Status::Dead);
        let task = &mut core.tasks[key];
        if task.ended {
            return;
        }
        task.ended = true;
        let id = task.id;
        let is_thread = task.kind == Kind::Thread;
        if !task.joiners.is_empty() {
            let mut joiners = std::mem::take(&mut task.joiners);
            joiners.wake_all(core);
        }
        unlink_child(&mut core.tasks, key);
        if !matches!(core.tasks[key].wait, Wait::None) {
            core.end_wait(key, false);
        }
        core.drop_registrations(key);
        if is_thread {
            core.queue.push_back(Queued::ThreadExit(id));
        }
    }

    /// Resumes `key`'s coroutine from the current stack and, when it comes back,
    /// puts it away or, if it has finished, frees its slot and recycles its stack.
    pub(crate) fn switch_to(&self, key: TaskKey, wake: Wake) {
        if self.hooked() {
            return self.switch_hooked(key, wake);
        }
        let parked = self.core().unpark(key);
        self.resume_parked(key, parked, wake);
    }

    /// [`switch_to`](Shared::switch_to) of a traced or watched resume: the
    /// hooks first, then the switch; back on a green thread's stack (one
    /// that spawned or killed), the watchdog times that thread's resume
    /// again, which it never left for the kernel.
    #[cold]
    #[inline(never)]
    fn switch_hooked(&self, key: TaskKey, wake: Wake) {
        self.trace_resume(key);
        let parked = self.core().unpark(key);
        self.resume_parked(key, parked, wake);
        if self.watching() {
            let core = self.core();
            match core.running.and_then(|k| core.tasks.get(k)) {
                Some(task) => self.watch.resumed(task, task.resumes),
                None => self.watch.paused(),
            }
        }
    }

    /// Whether a resume does more than switch: it is traced (a trace hook,
    /// logging at trace level as last sampled) or watched (the watchdog).
    #[inline]
    pub(crate) fn hooked(&self) -> bool {
        self.hooks.get() != 0
    }

    /// Whether the kernel's events are traced (a trace hook, or logging at
    /// trace level).
    pub(crate) fn trace_on(&self) -> bool {
        self.hooks.get() & (TRACE | LOG) != 0
    }

    /// Reads whether `log` records at trace level, into [`LOG`]: as the
    /// kernel is entered from the host and as it wakes from an idle wait (a
    /// change of `log`'s level shows from then on), so that a switch tests
    /// one byte for all its hooks.
    #[inline]
    pub(crate) fn sample_log(&self) {
        let hooks = self.hooks.get() & !LOG;
        let log = if log::log_enabled!(log::Level::Trace) { LOG } else { 0 };
        self.hooks.set(hooks | log);
    }

    /// The second half of [`switch_to`](Shared::switch_to), for a caller that
    /// already took the task out with [`Core::unpark`](crate::kernel::Core::unpark)
    /// (and found it not [`hooked`](Shared::hooked)).
    #[inline(never)]
    pub(crate) fn resume_parked(&self, key: TaskKey, parked: Parked, wake: Wake) {
        let Parked { mut coroutine, running, context } = parked;
        // Every task body catches its own panics, so nothing unwinds through here.
        let home = &mut *coroutine;
        let co = home.co.as_mut().expect("a parked home holds its coroutine");
        #[cfg(feature = "tracing")]
        let entered = home.span.enter();
        self.assert_unborrowed("a switch to a green thread");
        let exit = overflow::guard(co.trap_handler(), || co.resume(wake));
        #[cfg(feature = "tracing")]
        drop(entered);
        let overflowed = matches!(exit, CoroutineResult::Return(Exit::Overflow));
        if overflowed {
            self.overflowed(key);
        }
        let mut core = self.core();
        core.running = running;
        core.context = context;
        if co.done() || overflowed || !core.graveyard.is_empty() {
            drop(core);
            return self.put_away(key, coroutine, overflowed);
        }
        core.tasks[key].coroutine = Some(coroutine);
    }

    /// A traced or watched resume's hooks, before the switch.
    #[cold]
    fn trace_resume(&self, key: TaskKey) {
        log::trace!("switch to {}", self.core().tasks[key].label());
        self.trace(|core| Trace::Resume { thread: core.tasks[key].id });
        if self.watching() {
            // Published with the count of resumes about to count this one.
            let core = self.core();
            let task = &core.tasks[key];
            self.watch.resumed(task, task.resumes + 1);
        }
    }

    /// The rare end of a switch: `key` finished (its slot is freed and its stack
    /// recycled), or user values were let go of meanwhile. They may run user
    /// destructors, so they are dropped here, with the kernel's state not
    /// borrowed.
    #[cold]
    #[inline(never)]
    fn put_away(&self, key: TaskKey, mut coroutine: Box<Home>, overflowed: bool) {
        // Its span, closed once nothing is borrowed (a subscriber is user code).
        #[cfg(feature = "tracing")]
        let mut span = None;
        let (user, graveyard) = {
            let mut core = self.core();
            let graveyard = std::mem::take(&mut core.graveyard);
            if coroutine.co.as_ref().is_some_and(Co::done) {
                // The fields that may hold user values (a filter's closure, the
                // unclaimed result); the rest is dropped here.
                let task = &mut core.tasks[key];
                // Usually all empty: a finished thread's wait has ended and
                // its outcome is recorded.
                let empty = matches!((&task.wait, &task.woke), (Wait::None, Woke::Nothing))
                    && task.outcome.is_none();
                let user = (!empty).then(|| {
                    (
                        std::mem::replace(&mut task.wait, Wait::None),
                        task.outcome.take(),
                        std::mem::take(&mut task.woke),
                    )
                });
                // A stack whose emergency zone was opened is not pooled: its
                // zone is closed again, and it is freed.
                let tripped =
                    overflow::forget_stack(task.stack_low, task.frames.end) || task.tripped;
                let pooled_stack = task.pooled_stack && !tripped;
                let id = task.id;
                core.tasks.remove(key);
                if self.watching() {
                    self.watch.forget(id);
                }
                let co = coroutine.co.take().expect("checked above");
                #[cfg(feature = "tracing")]
                {
                    span = Some(std::mem::replace(&mut coroutine.span, tracing::Span::none()));
                }
                if overflowed {
                    // Its frames were discarded, not unwound: what they lent
                    // out may still be in use.
                    crate::stack::quarantine_stack(co.into_stack(), coroutine);
                    core.quarantined += 1;
                } else if pooled_stack {
                    core.stacks.give(co.into_stack(), coroutine);
                } else if tripped {
                    crate::stack::free_tripped(co.into_stack());
                }
                (user, graveyard)
            } else {
                core.tasks[key].coroutine = Some(coroutine);
                (None, graveyard)
            }
        };
        #[cfg(feature = "tracing")]
        drop(span);
        if let Some(user) = user {
            self.drop_user(key, ErrorOrigin::Thread, user);
        }
        if !graveyard.is_empty() {
            self.bury(key, graveyard);
        }
    }

    /// Drops the callbacks the kernel let go of, each on its own, as
    /// [`drop_user`](Shared::drop_user) does (labelled with their kind).
    pub(crate) fn bury(&self, owner: TaskKey, graveyard: crate::event::listen::Graveyard) {
        for (what, callback) in graveyard {
            self.drop_user(owner, what, callback);
        }
    }

    /// Drops a user value the kernel let go of (a removed callback, a value
    /// nobody claimed), containing a panic in its destructor: it is reported
    /// for `owner` as `"[what] <message>"` and the kernel goes on.
    pub(crate) fn drop_user<T>(&self, owner: TaskKey, what: ErrorOrigin, value: T) {
        self.assert_unborrowed("a user value's drop");
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
            self.report_for(owner, what, &take_message(payload));
        }
    }

    /// The end of a task whose stack overflowed (see `overflow`): the death
    /// bookkeeping its body's `finish` would have done, run here on the
    /// resumer's stack but on the task's behalf (`running` is still `key`, as
    /// it was when it faulted, so its children on the CPU below are killed
    /// when control comes back to them, as usual). Its frames were discarded
    /// without unwinding; `switch_to` then removes it and drops its stack.
    fn overflowed(&self, key: TaskKey) {
        // A borrow of the kernel's state held by the discarded frames is never
        // released, and a task caught inside a switch leaves `running` naming
        // another: either way the kernel's tables may be half updated.
        let consistent = self.try_core().is_some_and(|core| core.running == Some(key));
        if !consistent {
            overflow::fatal("a green thread overflowed its stack inside the kernel");
        }
        {
            let mut core = self.core();
            core.context = Some(key);
            // Its body is gone: a blocking call made on its behalf now (by
            // the error reporter) must return at once.
            core.tasks[key].unwound = true;
        }
        if std::thread::panicking() {
            // Unless the resumer is itself unwinding, the task overflowed while
            // panicking: std's count of panics under way on this OS thread was
            // never brought back down (docs/reliability.md).
            let label = self.core().tasks[key].label();
            log::warn!(
                "{label}: stack overflow while a panic was under way; if it hit the panic \
                 hook, the next panic on this OS thread aborts the process"
            );
        }
        self.finish(key, End::Overflowed);
    }

    /// Kills `key`: marks it dead at once, then unwinds its stack (destructors
    /// run) and kills its children. Killing a dead task does nothing.
    #[inline(never)]
    pub(crate) fn kill(&self, key: TaskKey) {
        enum How {
            Nothing,
            SelfUnwind,
            WhenBack,
            Resume,
        }
        let how = {
            let mut core = self.core();
            let core = &mut *core;
            match core.tasks.get_mut(key) {
                None => How::Nothing,
                Some(task) if task.status == Status::Dead || task.dying => How::Nothing,
                Some(task) => {
                    task.dying = true;
                    log::debug!("{} killed", task.label());
                    #[cfg(feature = "tracing")]
                    tracing::debug!(target: "cothread", thread = task.id.as_u64(), "kill");
                    let own_frames = task.runs_here();
                    let how = if core.running == Some(key) && own_frames {
                        How::SelfUnwind
                    } else if task.coroutine.is_none() {
                        // Its stack is busy under another task, or under a
                        // green thread of another kernel running on top of
                        // it: the unwind must start in its own frames.
                        task.kill_pending = true;
                        How::WhenBack
                    } else {
                        How::Resume
                    };
                    self.mark_dead(core, key);
                    how
                }
            }
        };
        match how {
            How::Nothing | How::WhenBack => {}
            // A second unwind from a destructor would abort the process: the
            // one under way ends the thread, which is already marked dead.
            How::SelfUnwind if std::thread::panicking() => {}
            How::SelfUnwind => self.raise(key, Box::new(KillUnwind)),
            How::Resume => self.switch_to(key, Wake::Kill),
        }
    }

    /// Starts unwinding the running task `me` with one of the kernel's
    /// payloads. Return addresses that the overflow trap hijacked on its
    /// stack are put back first: the unwinder must find the real ones.
    #[cold]
    pub(crate) fn raise(&self, me: TaskKey, payload: Box<dyn Any + Send>) -> ! {
        if let Some(InterruptUnwind(cause)) = payload.downcast_ref() {
            if let Some(mut core) = self.try_core() {
                if let Some(task) = core.tasks.get_mut(me) {
                    task.raised = Some(cause.clone());
                }
            }
        }
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if overflow::hijack::any() {
            let range = self
                .try_core()
                .and_then(|core| core.tasks.get(me).map(|t| (t.stack_low, t.frames.end)));
            if let Some((low, high)) = range {
                overflow::hijack::restore(low, high);
            }
        }
        resume_unwind(payload)
    }

    /// Ends the running task with an ordinary unwind if it has run into its
    /// stack's emergency zone (see [`overflow::EMERGENCY`]). Called on every
    /// kernel call a green thread makes; one thread-local load when nothing
    /// tripped.
    #[inline]
    pub(crate) fn check_stack(&self) {
        if overflow::tripped() != 0 {
            self.stack_tripped();
        }
    }

    #[cold]
    fn stack_tripped(&self) {
        let raise = {
            let Some(mut core) = self.try_core() else { return };
            let Some(me) = core.running.filter(|&me| core.context == Some(me)) else { return };
            let task = &mut core.tasks[me];
            if overflow::take_tripped(task.stack_low) {
                task.tripped = true;
            }
            // An unwind started in a destructor would abort the process: the
            // thread is ended at a later call.
            let raise = task.tripped && !task.dying && !std::thread::panicking();
            // Dying from here on, as a killed thread is: its destructors'
            // blocking calls return at once, and if it catches the unwind
            // and blocks again it is parked for ever.
            task.dying |= raise;
            raise.then_some(me)
        };
        if let Some(me) = raise {
            self.raise(me, Box::new(OverflowUnwind));
        }
    }

    /// Called in a task's own code whenever control comes back to it after other
    /// tasks ran on top of its stack (`create`, `kill`): a kill or a suspension
    /// that happened meanwhile takes effect now.
    pub(crate) fn check_interrupts(&self) {
        let (me, kill, suspended) = {
            let mut core = self.core();
            let me = match core.running {
                Some(me) if core.context == Some(me) => me,
                _ => return,
            };
            let task = &mut core.tasks[me];
            let suspended = task.status == Status::Suspended;
            // Not while a green thread of a kernel started in its frames
            // runs on top of it: `Enter` checks again on the way back.
            if !(task.kill_pending || suspended) || !task.runs_here() {
                return;
            }
            (me, std::mem::take(&mut task.kill_pending), suspended)
        };
        if kill {
            self.raise(me, Box::new(KillUnwind));
        }
        if suspended {
            self.park(Wait::Coma, None, |_, _| {});
        }
    }

    /// `Thread::suspend`.
    #[track_caller]
    pub(crate) fn suspend(&self, key: TaskKey) -> Result<(), Error> {
        let own = {
            let mut core = self.core();
            let core = &mut *core;
            let task = &mut core.tasks[key];
            if task.status != Status::Running || task.dying {
                return Err(Error::CannotSuspend(task.status));
            }
            // A suspended thread counts as finished for joins.
            let mut joiners = std::mem::take(&mut task.joiners);
            core.tasks.set_status(key, Status::Suspended);
            joiners.wake_all(core);
            core.running == Some(key) && core.context == Some(key)
        };
        if own {
            self.park(Wait::Coma, None, |_, _| {});
        }
        Ok(())
    }

    /// `Thread::resume`: it runs again at the resumer's next blocking call, and
    /// any wake-up it (or a child) missed while frozen is delivered then.
    pub(crate) fn resume(&self, key: TaskKey) -> Result<(), Error> {
        let mut core = self.core();
        let core = &mut *core;
        let task = &mut core.tasks[key];
        if task.status != Status::Suspended {
            return Err(Error::CannotResume(task.status));
        }
        core.tasks.set_status(key, Status::Running);
        self.deliver_missed(core, key);
        Ok(())
    }

    /// Schedules the wake-ups that `key` and its descendants missed while frozen,
    /// now that they may not be, and their held zero-interval timers.
    pub(crate) fn deliver_missed(&self, core: &mut crate::kernel::Core, key: TaskKey) {
        let now = core.now();
        for k in subtree(&core.tasks, key) {
            if frozen(&core.tasks, k) {
                continue;
            }
            let task = &mut core.tasks[k];
            if task.missed || matches!(task.wait, Wait::Coma) {
                task.missed = false;
                let token = task.token;
                core.deadlines.push_due(now, Due::Task(Parker { token, key: k }));
            }
            for (key, serial) in core.timers.release_held(k) {
                core.deadlines.push_due(now, Due::Timer { key, serial });
            }
        }
    }

    /// `Thread::attach`: moves `key` under the process `level` steps above the
    /// current one (the host counts as the root).
    pub(crate) fn attach(&self, key: TaskKey, level: usize) -> Result<(), Error> {
        let mut core = self.core();
        let core = &mut *core;
        if core.tasks[key].status == Status::Dead {
            return Err(Error::DeadThread);
        }
        let from = core.context.unwrap_or(core.root);
        let target = ancestor_at(&core.tasks, from, level).ok_or(Error::ProcessNotFound)?;
        self.move_task(core, key, target)
    }

    /// `Thread::detach`: moves `key` under the root process.
    pub(crate) fn detach(&self, key: TaskKey) -> Result<(), Error> {
        let mut core = self.core();
        let core = &mut *core;
        if core.tasks[key].status == Status::Dead {
            return Err(Error::DeadThread);
        }
        let root = core.root;
        self.move_task(core, key, root)
    }

    fn move_task(
        &self,
        core: &mut crate::kernel::Core,
        key: TaskKey,
        target: TaskKey,
    ) -> Result<(), Error> {
        if core.tasks[key].parent == Some(target) {
            return Ok(());
        }
        if is_ancestor(&core.tasks, key, target) {
            return Err(Error::AttachCycle);
        }
        let was_frozen = frozen(&core.tasks, key);
        reparent(&mut core.tasks, key, target);
        if was_frozen && !frozen(&core.tasks, key) {
            self.deliver_missed(core, key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: usize) -> (Tasks, Vec<TaskKey>) {
        let mut tasks = Tasks::default();
        let keys = (0..n)
            .map(|i| tasks.insert(|| Task::new(ThreadId(i as u64), Kind::Thread, None)))
            .collect();
        (tasks, keys)
    }

    #[test]
    fn the_task_table_reuses_freed_places_newest_first() {
        let (mut tasks, k) = table(3);
        assert_eq!((tasks.len(), k.as_slice()), (3, &[TaskKey(0), TaskKey(1), TaskKey(2)][..]));
        tasks.remove(k[0]);
        tasks.remove(k[2]);
        assert!(tasks.get(k[0]).is_none() && tasks.get_mut(k[2]).is_none());
        assert_eq!(
            tasks.iter().map(|(key, t)| (key, t.id.0)).collect::<Vec<_>>(),
            [(TaskKey(1), 1)]
        );
        let again = [3, 4, 5]
            .map(|serial| tasks.insert(|| Task::new(ThreadId(serial), Kind::Thread, None)));
        assert_eq!(again, [k[2], k[0], TaskKey(3)], "freed places first, the last freed first");
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks[k[0]].id.0, 4);
        assert!(tasks.get(TaskKey(6)).is_none());
    }

    #[test]
    #[should_panic(expected = "no task to remove at key 1")]
    fn removing_a_free_place_is_a_bug() {
        let (mut tasks, k) = table(2);
        tasks.remove(k[1]);
        tasks.remove(k[1]);
    }

    #[test]
    #[should_panic(expected = "no task to remove at key 7")]
    fn removing_past_the_end_is_a_bug() {
        table(2).0.remove(TaskKey(7));
    }

    #[test]
    fn a_suspended_task_removed_leaves_the_count() {
        let (mut tasks, k) = table(2);
        tasks.set_status(k[0], Status::Suspended);
        tasks.remove(k[0]);
        assert_eq!(tasks.suspended, 0);
        assert!(!frozen(&tasks, k[1]));
    }

    /// The table hands out and frees keys as `slab::Slab` does (which it
    /// replaced), and keeps its counts.
    #[test]
    fn the_task_table_agrees_with_a_slab() {
        crate::testing::cases(|rng, steps| {
            let mut tasks = Tasks::default();
            let mut model = slab::Slab::new();
            for n in 0..steps {
                let (op, at) = (rng.below(3), rng.below(40));
                match op {
                    0 => {
                        let key =
                            tasks.insert(|| Task::new(ThreadId(n as u64), Kind::Thread, None));
                        assert_eq!(key, TaskKey(model.insert(n as u64)));
                    }
                    1 if model.contains(at) => {
                        tasks.remove(TaskKey(at));
                        model.remove(at);
                    }
                    _ if model.contains(at) => tasks.set_status(TaskKey(at), Status::Suspended),
                    _ => {}
                }
                assert_eq!(tasks.len(), model.len());
                let keys: Vec<_> = tasks.iter().map(|(k, t)| (k, t.id.0)).collect();
                let expected: Vec<_> =
                    model.iter().map(|(k, &serial)| (TaskKey(k), serial)).collect();
                assert_eq!(keys, expected);
                for key in 0..45 {
                    assert_eq!(tasks.get(TaskKey(key)).map(|t| t.id.0), model.get(key).copied());
                }
                let suspended = tasks.iter().filter(|(_, t)| t.status == Status::Suspended).count();
                assert_eq!(tasks.suspended, suspended);
            }
        });
    }

    #[test]
    fn frozen_follows_suspensions_through_the_count() {
        let mut tasks = Tasks::default();
        let root = tasks.insert(|| Task::new(ThreadId(0), Kind::Root, None));
        let parent = tasks.insert(|| Task::new(ThreadId(1), Kind::Thread, None));
        let child = tasks.insert(|| Task::new(ThreadId(2), Kind::Thread, None));
        link_child(&mut tasks, root, parent);
        link_child(&mut tasks, parent, child);
        assert!(!frozen(&tasks, child));
        tasks.set_status(parent, Status::Suspended);
        assert!(frozen(&tasks, child) && frozen(&tasks, parent) && !frozen(&tasks, root));
        tasks.set_status(parent, Status::Suspended); // twice: counted once
        tasks.set_status(parent, Status::Running);
        assert!(!frozen(&tasks, child));
        tasks.set_status(child, Status::Suspended);
        tasks.set_status(child, Status::Dead); // a suspended thread killed
        assert_eq!(tasks.suspended, 0);
        assert!(!frozen(&tasks, child));
    }

    #[test]
    fn children_keep_their_order_through_links_unlinks_and_moves() {
        let (mut tasks, k) = table(6);
        for &child in &k[1..5] {
            link_child(&mut tasks, k[0], child);
        }
        let list = |tasks: &Tasks, p| children(tasks, p).collect::<Vec<_>>();
        assert_eq!(list(&tasks, k[0]), [k[1], k[2], k[3], k[4]]);
        unlink_child(&mut tasks, k[2]); // middle
        unlink_child(&mut tasks, k[1]); // first
        assert_eq!(list(&tasks, k[0]), [k[3], k[4]]);
        assert_eq!(tasks[k[0]].children.last(), Some(k[4]));
        reparent(&mut tasks, k[4], k[5]); // last, to another parent
        assert_eq!(list(&tasks, k[0]), [k[3]]);
        assert_eq!(list(&tasks, k[5]), [k[4]]);
        assert_eq!(tasks[k[4]].parent, Some(k[5]));
        link_child(&mut tasks, k[0], k[1]);
        assert_eq!(list(&tasks, k[0]), [k[3], k[1]]);
        unlink_child(&mut tasks, k[3]);
        unlink_child(&mut tasks, k[1]);
        assert_eq!(list(&tasks, k[0]), []);
        assert_eq!(tasks[k[0]].children.last(), None);
        unlink_child(&mut tasks, k[1]); // not attached: nothing to do
        assert_eq!(subtree(&tasks, k[5]), [k[5], k[4]]);
    }
}
