//! A task's life: its spawn, its body's run and close, its end (whatever
//! the cause: the death bookkeeping runs once), kills, and the unwinds the
//! kernel starts in a thread's own frames (a kill, a stack that ran into its
//! emergency zone).

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;

use corosensei::stack::Stack;
use corosensei::Yielder;

use super::{link_child, unlink_child};
use crate::error::Error;
use crate::id::{Site, Status, ThreadId};
use crate::inspect::Trace;
use crate::kernel::{Queued, Shared};
use crate::overflow::{self, Exit, OverflowUnwind};
use crate::park::{TaskKey, Wait};
use crate::report::ErrorOrigin;
use crate::task::{Co, End, Home, Kind, Outcome, Parked, Slot, Task, Wake};
use crate::unwind::{InterruptUnwind, KillUnwind};

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
    /// Most tasks register nothing, and a kernel often holds no
    /// registration at all: then a length test each.
    #[inline]
    pub(crate) fn drop_registrations(&mut self, key: TaskKey) {
        if !self.listeners.table.is_empty() {
            self.listeners.drop_owner(key, &mut self.graveyard);
        }
        if !self.timers.table.is_empty() {
            self.timers.drop_owner(key, &mut self.graveyard);
        }
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
    pub(super) fn finish(&self, me: TaskKey, end: End) {
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
        // A body that returned published its value already.
        if !matches!(end, End::Returned) {
            if let (Some(outcome), Some(error)) = (outcome, end.error()) {
                outcome.fail(error);
            }
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
}
