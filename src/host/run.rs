//! The calls that run a [`Kernel`] from the host (to a program's end, a
//! step, an advance of the virtual clock) and feed it signals and interrupts.

use std::time::Duration;

use super::{Kernel, KernelBuilder};
use crate::error::Error;
use crate::event::{Signal, Value};
use crate::id::Status;
use crate::kernel::*;
use crate::process::SpawnOptions;
use crate::round::{Budget, Meter, Roll};
use crate::task::Kind;

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
    ///   process's stacks hold as much as a limit leaves room for (see
    ///   [`Error::StackAlloc`]).
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
    #[track_caller]
    pub fn run<T: 'static>(&mut self, main: impl FnOnce() -> T + 'static) -> Result<T, Error> {
        if !current_ptr().is_null() {
            return Err(Error::NestedRun);
        }
        let _enter = enter(&self.shared);
        let root = self.shared.core().root;
        let (key, serial, slot) = self.shared.spawn(
            root,
            Kind::Program,
            SpawnOptions { site: Some(std::panic::Location::caller()), ..SpawnOptions::default() },
            main,
        )?;
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
    #[track_caller]
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
        match self.shared.spawn(
            root,
            Kind::Program,
            SpawnOptions { site: Some(std::panic::Location::caller()), ..SpawnOptions::default() },
            main,
        ) {
            Ok(spawned) => crate::thread::JoinHandle::spawned(&self.shared, spawned, None),
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
            shared.round(report, &Meter::Unlimited, Roll::Once);
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
                // Rounds run back to back inside `round`, which also moves
                // the clock on to the next deadline where it can (after a
                // deadline phase); the rest of the moves are made here.
                shared.round(report, meter, Roll::Until(target));
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

    /// Runs `f` on the host's stack with this kernel as the current one, on
    /// behalf of its root process: inside, `event::listen`, `event::timer`,
    /// `event::push`, `os::uptime` and the other calls that do not block act
    /// on this kernel, and what they register belongs to the kernel itself
    /// (it lives until removed, or as long as the kernel). A blocking call
    /// (`event::pull`, `os::sleep`, a join) panics there, as in a listener:
    /// only a program or thread can wait. It may be called from a green
    /// thread of another kernel (a kernel nested in a script).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, os, Kernel, Signal};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let id = kernel.enter(|| {
    ///     event::push(Signal::new("boot"));
    ///     event::timer(Duration::from_secs(1), 1, || event::push(Signal::new("tick")))
    /// });
    /// let ticks = kernel.run(|| event::pull(None, "tick").is_some()).unwrap();
    /// assert!(ticks);
    /// assert!(!kernel.enter(|| event::cancel(id)), "it fired and is gone");
    /// assert_eq!(kernel.enter(os::uptime), Duration::from_secs(1));
    /// ```
    pub fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        /// Puts back whose behalf calls were made on, also if `f` panics.
        struct Context<'a>(&'a Shared, Option<crate::park::TaskKey>);
        impl Drop for Context<'_> {
            fn drop(&mut self) {
                self.0.core().context = self.1;
            }
        }
        let _enter = enter(&self.shared);
        // On behalf of the root, also when one of the kernel's own threads
        // calls this (it holds the kernel in an `Rc<RefCell<..>>`): as in a
        // listener, nothing here can block.
        let previous = {
            let mut core = self.shared.core();
            let previous = core.context;
            // On the host's stack, no context already means the root.
            if core.running.is_some() {
                core.context = Some(core.root);
            }
            previous
        };
        let _context = Context(&self.shared, previous);
        self.shared.assert_unborrowed("the closure of `Kernel::enter`");
        f()
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
    /// use cothread::{event, thread, Error, Kernel, Value};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let program = kernel.spawn(|| {
    ///     thread::create(|| { event::pull(None, "never"); }); // killed with it
    ///     event::pull(None, "key_down");
    /// });
    /// assert!(kernel.hard_interrupt());
    /// while kernel.step().alive {}
    /// assert_eq!(program.wait(), Err(Error::Interrupted(Value::Nil)));
    /// assert!(!kernel.hard_interrupt()); // nothing left to interrupt
    /// ```
    pub fn hard_interrupt(&mut self) -> bool {
        let mut core = self.shared.core();
        let core = &mut *core;
        let foreground = core
            .tasks
            .iter()
            .filter(|(_, t)| t.kind == Kind::Program && t.status != Status::Dead && !t.dying)
            .max_by_key(|(_, t)| t.id)
            .map(|(key, _)| key);
        foreground.is_some_and(|key| core.interrupt(key, Value::Nil))
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
