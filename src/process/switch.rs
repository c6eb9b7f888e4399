//! Switching: a parked task's coroutine taken out of the table, resumed
//! under the overflow trap, and put back (or, once it has finished, its
//! place freed and its stack recycled); user values the kernel let go of
//! meanwhile are dropped outside its borrow.

use std::panic::{catch_unwind, AssertUnwindSafe};

use corosensei::CoroutineResult;

use crate::inspect::Trace;
use crate::kernel::{Shared, LOG, TRACE};
use crate::overflow::{self, Exit};
use crate::park::{TaskKey, Wait, Woke};
use crate::report::ErrorOrigin;
use crate::task::{Co, End, Home, Parked, Task, Wake};
use crate::unwind::take_message;
use crate::watchdog::Watch;

impl crate::kernel::Core {
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

impl Shared {
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
    pub(super) fn put_away(&self, key: TaskKey, mut coroutine: Box<Home>, overflowed: bool) {
        // Its span, closed once nothing is borrowed (a subscriber is user code).
        #[cfg(feature = "tracing")]
        let mut span = None;
        let (user, graveyard) = {
            let mut core = self.core();
            // Usually empty: then nothing to take out and drop.
            let graveyard =
                (!core.graveyard.is_empty()).then(|| std::mem::take(&mut core.graveyard));
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
        if let Some(graveyard) = graveyard {
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
}
