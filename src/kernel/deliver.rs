//! Signal delivery and the listener and timer tables' mechanism: a
//! signal's listeners run, then the waiters it wakes are listed for the
//! round; timers fire; registrations are made and removed on behalf of
//! their owner. The `event` façade calls these; the round drives them.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use super::{Due, Shared};
use crate::event::ids::{next_firing, ListenerId, ListenerResult, TimerId, Times};
use crate::event::Signal;
use crate::inspect::Trace;
use crate::park::{Parker, TaskKey};
use crate::process::frozen;
use crate::report::ErrorOrigin;
use crate::unwind::take_message;

impl Shared {
    /// Starts delivering `signal`: runs its listeners, then lists in
    /// `receivers` the waiting threads it wakes, in the order they began
    /// waiting. The round wakes them one by one. Returns
    /// how many listeners it ran.
    pub(crate) fn begin_delivery(
        &self,
        signal: &Signal,
        receivers: &mut VecDeque<Parker>,
    ) -> usize {
        let listeners = self.run_listeners(signal);
        let mut woken = std::mem::take(&mut self.core().scratch);
        let mut undecided = Vec::new();
        {
            let mut core = self.core();
            let core = &mut *core;
            core.waiters.collect(signal, &core.tasks, &mut woken, &mut undecided);
        }
        if !undecided.is_empty() {
            for (parker, filter) in undecided {
                self.assert_unborrowed("a filter's predicate");
                match catch_unwind(AssertUnwindSafe(|| filter.matches(signal))) {
                    Ok(true) => woken.push(parker),
                    Ok(false) => {}
                    Err(payload) => {
                        let message = take_message(payload);
                        self.report_for(parker.key, ErrorOrigin::Filter, &message);
                    }
                }
            }
            // A select with several predicates may have been accepted twice.
            woken.sort_unstable();
            woken.dedup();
        }
        log::trace!("deliver {signal} to {} waiting threads", woken.len());
        #[cfg(feature = "tracing")]
        tracing::trace!(
            target: "cothread",
            signal = signal.name(),
            receivers = woken.len(),
            "deliver"
        );
        self.trace(|_| Trace::Deliver { signal: signal.clone(), receivers: woken.len() });
        // One receiver (a push to one waiter) is the common case: a push,
        // not the general extend's set-up.
        match woken.as_slice() {
            &[one] => {
                receivers.push_back(one);
                woken.clear();
            }
            _ => receivers.extend(woken.drain(..)),
        }
        let mut core = self.core();
        if core.scratch.capacity() < woken.capacity() {
            core.scratch = woken;
        }
        listeners
    }

    /// Runs `signal`'s listeners; returns how many ran.
    fn run_listeners(&self, signal: &Signal) -> usize {
        // (key, serial): a listener removed during this delivery may have its
        // slot reused by a new one, which must not run for this signal.
        let listeners: Vec<(usize, u64)> = {
            let core = self.core();
            let mut named = core.listeners.named(signal.name()).peekable();
            // Most signals have no listener: then nothing is collected.
            if named.peek().is_none() {
                return 0;
            }
            named.collect()
        };
        let mut ran = 0;
        for (key, serial) in listeners {
            let taken = {
                let mut core = self.core();
                let core = &mut *core;
                match core.listeners.get_mut(key, serial) {
                    Some(l) if l.callback.is_some() && !frozen(&core.tasks, l.owner) => {
                        let callback = l.callback.take().expect("checked above");
                        Some((callback, l.owner, l.serial))
                    }
                    _ => None,
                }
            };
            let Some((mut callback, owner, serial)) = taken else { continue };
            ran += 1;
            let outcome = self.in_context(owner, || callback(signal));
            let dropped = {
                let mut core = self.core();
                let keep = matches!(outcome, Ok(true));
                match core.listeners.get_mut(key, serial) {
                    Some(l) if keep => {
                        l.callback = Some(callback);
                        None
                    }
                    Some(_) => {
                        let removed = core.listeners.remove(key);
                        Some((callback, removed))
                    }
                    None => Some((callback, None)),
                }
            };
            self.drop_user(owner, ErrorOrigin::Listener, dropped);
            if let Err(msg) = outcome {
                self.report_for(owner, ErrorOrigin::Listener, &msg);
            }
        }
        ran
    }

    /// Fires timer `key` if it is still the one with this `serial`; returns
    /// whether its callback ran.
    pub(crate) fn fire_timer(&self, key: usize, serial: u64) -> bool {
        let taken = {
            let mut core = self.core();
            let core = &mut *core;
            let now = core.now();
            match core.timers.get_mut(key, serial) {
                None => None,
                Some(t) if frozen(&core.tasks, t.owner) => {
                    // Suspended owner: skip this firing. The next falls due an
                    // interval on; with no later instant (a zero interval, or
                    // the clock's end), as soon as the owner thaws.
                    match next_firing(now, t.interval()) {
                        Some(at) => core.deadlines.push(at, Due::Timer { key, serial }),
                        None => t.held = true,
                    }
                    None
                }
                Some(t) => {
                    t.count_firing();
                    t.callback.take().map(|cb| (cb, t.owner))
                }
            }
        };
        let Some((mut callback, owner)) = taken else { return false };
        self.trace(|core| Trace::Timer { owner: core.thread_id(owner) });
        #[cfg(feature = "tracing")]
        tracing::trace!(
            target: "cothread",
            owner = self.core().thread_id(owner).map(crate::id::ThreadId::as_u64),
            "timer"
        );
        let outcome = self.in_context(owner, &mut callback);
        let dropped = {
            let mut core = self.core();
            let core = &mut *core;
            let now = core.now();
            let timer = core.timers.get_mut(key, serial);
            let next = timer.as_ref().and_then(|t| next_firing(now, t.interval()));
            match (timer, next) {
                (Some(t), Some(at)) if outcome.is_ok() && !t.spent() => {
                    t.callback = Some(callback);
                    core.deadlines.push(at, Due::Timer { key, serial });
                    None
                }
                (Some(_), _) => Some((callback, core.timers.remove(key))),
                (None, _) => Some((callback, None)),
            }
        };
        self.drop_user(owner, ErrorOrigin::Timer, dropped);
        if let Err(msg) = outcome {
            self.report_for(owner, ErrorOrigin::Timer, &msg);
        }
        true
    }

    /// The task that owns registrations made now: the running thread or
    /// program, or the root for the host and its kernel-wide listeners.
    pub(crate) fn current_owner(&self) -> TaskKey {
        let core = self.core();
        core.context.unwrap_or(core.root)
    }

    /// Registers a timer owned by `owner` (see [`timer`](crate::event::timer)).
    pub(crate) fn timer_as(
        &self,
        owner: TaskKey,
        interval: Duration,
        times: Times,
        callback: Box<dyn FnMut()>,
    ) -> TimerId {
        let remaining = match times {
            Times::Count(n) => Some(n),
            Times::Forever => None,
        };
        assert!(
            !interval.is_zero() || remaining.is_some_and(|n| n <= 1),
            "cothread: event::timer with a zero interval must not repeat (it would fire forever at one instant)"
        );
        if self.core().has_ended(owner) {
            self.drop_user(owner, ErrorOrigin::Timer, callback);
            return TimerId { key: usize::MAX, serial: 0 };
        }
        let mut core = self.core();
        let core = &mut *core;
        let (key, serial) = core.timers.add(owner, interval, remaining, callback);
        if remaining != Some(0) {
            let at = core.now().saturating_add(interval);
            core.deadlines.push(at, Due::Timer { key, serial });
        }
        TimerId { key, serial }
    }

    /// Cancels `owner`'s timer `id` (see [`cancel`](crate::event::cancel)).
    pub(crate) fn cancel_as(&self, owner: TaskKey, id: TimerId) -> bool {
        let removed = {
            let mut core = self.core();
            match core.timers.get_mut(id.key, id.serial) {
                Some(t) if t.owner == owner => Some(core.timers.remove(id.key)),
                _ => None,
            }
        };
        let cancelled = removed.is_some();
        self.drop_user(owner, ErrorOrigin::Timer, removed);
        cancelled
    }

    /// Registers a listener owned by `owner` (see [`listen`](crate::event::listen())).
    pub(crate) fn listen_as<R: ListenerResult>(
        &self,
        owner: TaskKey,
        name: &str,
        mut callback: impl FnMut(&Signal) -> R + 'static,
    ) -> ListenerId {
        if self.core().has_ended(owner) {
            self.drop_user(owner, ErrorOrigin::Listener, callback);
            return ListenerId { key: usize::MAX, serial: 0 };
        }
        let (key, serial) = self.core().listeners.add(
            owner,
            Arc::from(name),
            Box::new(move |s| callback(s).keep()),
        );
        ListenerId { key, serial }
    }

    /// Removes `owner`'s listener `id` (see [`ignore`](crate::event::ignore)).
    pub(crate) fn ignore_as(&self, owner: TaskKey, id: ListenerId) -> bool {
        let removed = {
            let mut core = self.core();
            match core.listeners.get(id.key, id.serial) {
                Some(l) if l.owner == owner => Some(core.listeners.remove(id.key)),
                _ => None,
            }
        };
        let ignored = removed.is_some();
        self.drop_user(owner, ErrorOrigin::Listener, removed);
        ignored
    }

    /// Runs a callback on the host's stack on behalf of `owner`: registrations
    /// and threads it makes belong to `owner`. A panic becomes its message.
    fn in_context<R>(&self, owner: TaskKey, f: impl FnOnce() -> R) -> Result<R, String> {
        let previous = self.core().context.replace(owner);
        // User code, but no green thread's: the watchdog does not time it.
        self.unwatched();
        self.assert_unborrowed("a listener or timer callback");
        let outcome = catch_unwind(AssertUnwindSafe(f));
        self.core().context = previous;
        outcome.map_err(take_message)
    }
}
