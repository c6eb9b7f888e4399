//! The host's face of the kernel: [`Kernel`] and [`KernelBuilder`], a thin
//! layer over the core's mechanism (`kernel`). A layer above the runtime adds
//! its own host methods from its own file (`Kernel::job` is in `job`).

use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::error::Error;
use crate::event::{Signal, Value};
use crate::id::Status;
use crate::inspect::{ThreadInfo, Trace};
use crate::kernel::*;
use crate::process::SpawnOptions;
use crate::report::ErrorReport;
use crate::round::{Budget, Meter};
use crate::stack::{Guards, StackPool};
use crate::task::Kind;
use crate::watchdog::WatchdogSettings;

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
    expected_threads: usize,
    /// The guards of this kernel's stacks: `None`, the best the OS offers
    /// (set otherwise only by tests, to try the fallback).
    guards: Option<Guards>,
    backtraces: bool,
    watchdog: WatchdogSettings,
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

    /// How many threads the host expects to have alive at once (default 0:
    /// no guess). The kernel sizes its task table and its index of the
    /// threads waiting in [`event::pull`](crate::event::pull) for that many
    /// up front, so that creating them never stops to grow a table: a hint,
    /// not a limit (more may be created; each table then grows as it
    /// would have). It costs about 400 bytes a thread of memory at once,
    /// most of it untouched until used.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::builder().expected_threads(100_000).build();
    /// assert_eq!(kernel.run(|| 1 + 1).unwrap(), 2);
    /// ```
    pub fn expected_threads(mut self, threads: usize) -> Self {
        self.expected_threads = threads;
        self
    }

    /// Gives this kernel's stacks `guards` instead of the best the OS offers.
    #[cfg(test)]
    pub(crate) fn guards(mut self, guards: Guards) -> Self {
        self.guards = Some(guards);
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

    /// With `true`, every blocking call (`event::pull`, `os::sleep`, a join,
    /// a channel's `recv`, ...) captures a backtrace of the thread as it
    /// blocks ([`std::backtrace::Backtrace::force_capture`], whatever
    /// `RUST_BACKTRACE` says), and [`Kernel::dump`] prints it under the
    /// thread's line; [`ThreadInfo::backtrace`] holds it. A capture walks
    /// the stack and costs microseconds a blocking call: for finding a stuck
    /// script, not for production. Off by default, when it costs the
    /// blocking call one test.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).backtraces(true).build();
    /// kernel.spawn(|| event::pull(None, "quit"));
    /// assert!(kernel.threads()[0].backtrace.is_some());
    /// assert!(kernel.dump().lines().count() > 2, "the line, then the backtrace's");
    /// ```
    pub fn backtraces(mut self, on: bool) -> Self {
        self.backtraces = on;
        self
    }

    /// Starts a watchdog with the kernel: a monitor OS thread that notices
    /// a program or thread that has run longer than `limit` since it was
    /// resumed, without yielding. While it still runs, the watchdog reports
    /// it (its id, name, spawn site, and the blocking call it came back
    /// from) as a [`WatchdogReport`](crate::WatchdogReport), on the monitor
    /// thread, to the hook of [`on_watchdog`](KernelBuilder::on_watchdog)
    /// (default: `log::warn!`), and marks it: it is ended at its next
    /// [`os::checkpoint`](crate::os::checkpoint) or blocking call, its stack
    /// unwound, with [`Error::TooLongWithoutYielding`], as CC:Tweaked and
    /// OpenComputers end such a script. Nothing is done to code that never
    /// calls into the kernel again: Rust code cannot be stopped safely from
    /// outside.
    ///
    /// Half the limit is a thread's slice: past it, `os::checkpoint`
    /// yields, so a long computation that calls it now and then runs on
    /// without being ended. The watchdog uses the wall clock, also with
    /// [`virtual_time`](KernelBuilder::virtual_time), and samples every
    /// eighth of the limit: a report comes between `limit` and `limit` and
    /// a quarter after the resume. It does not time listener and timer
    /// callbacks. A resume costs the kernel two stores while it is on,
    /// nothing while it is off. The monitor is stopped and joined as the
    /// kernel drops; if the OS refuses its thread, the kernel runs
    /// unwatched (logged at `log::error!`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Error, Kernel};
    /// use std::time::{Duration, Instant};
    ///
    /// let mut kernel = Kernel::builder().watchdog(Duration::from_millis(20)).build();
    /// kernel.on_error(|_| {});
    /// let out = kernel.run(|| {
    ///     let start = Instant::now();
    ///     loop {
    ///         // A busy loop that checks in only now and then: ended there.
    ///         while start.elapsed() < Duration::from_millis(100) {}
    ///         os::checkpoint();
    ///         if start.elapsed() > Duration::from_secs(10) { break }
    ///     }
    /// });
    /// assert_eq!(out, Err(Error::TooLongWithoutYielding));
    /// ```
    pub fn watchdog(mut self, limit: Duration) -> Self {
        self.watchdog.limit = Some(limit);
        self
    }

    /// The watchdog's hook (see [`watchdog`](KernelBuilder::watchdog)): it
    /// runs on the monitor OS thread, while the thread it reports on still
    /// runs, so it is `Send + Sync` and cannot reach the kernel; send the
    /// report where the host wants it (a channel, a log). Without
    /// `watchdog`, it is kept for a later call and never runs. A hook that
    /// panics is logged and kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Error, Kernel};
    /// use std::sync::mpsc;
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let mut kernel = Kernel::builder()
    ///     .watchdog(Duration::from_millis(20))
    ///     .on_watchdog(move |report| { let _ = tx.send(report.to_string()); })
    ///     .build();
    /// kernel.on_error(|_| {});
    /// let out = kernel.run(|| {
    ///     let start = Instant::now();
    ///     while start.elapsed() < Duration::from_secs(10) {
    ///         let stretch = Instant::now();
    ///         while stretch.elapsed() < Duration::from_millis(50) {}
    ///         os::checkpoint(); // ended here once reported
    ///     }
    /// });
    /// assert_eq!(out, Err(Error::TooLongWithoutYielding));
    /// let line = rx.recv().unwrap();
    /// assert!(line.starts_with("program #1, spawned at src/"), "{line}");
    /// assert!(line.contains(" without yielding (limit 20 ms)"), "{line}");
    /// ```
    pub fn on_watchdog(
        mut self,
        hook: impl Fn(&crate::WatchdogReport) + Send + Sync + 'static,
    ) -> Self {
        self.watchdog.hook = Some(std::sync::Arc::new(hook));
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
        Kernel {
            shared: Shared::new(
                Options {
                    virtual_time: self.virtual_time,
                    stacks: StackPool::new(
                        self.stack_size,
                        self.stack_pool,
                        self.guards.unwrap_or_else(Guards::detect),
                    ),
                    // The root, and a few programs beside the threads.
                    expected_threads: self.expected_threads.saturating_add(16),
                    backtraces: self.backtraces,
                    watchdog: self.watchdog,
                },
                vec![Box::new(WorkerSettings { workers: self.workers, stack_size: None })],
            ),
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
            expected_threads: 0,
            guards: None,
            backtraces: false,
            watchdog: WatchdogSettings::default(),
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

    /// The process tree as text, as Go's goroutine dump or OpenOS's `ps`
    /// show it: `init`, then each program and thread indented under the one
    /// it is attached to, oldest first, one line each ([`ThreadInfo`]'s
    /// `Display`): its name, status, where it was spawned, what it waits on
    /// and where, its deadline and its counters. With
    /// [`KernelBuilder::backtraces`] on, each blocked thread's line is
    /// followed by the backtrace of its blocking call, indented under it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, thread, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.spawn(|| {
    ///     thread::Builder::new().name("npc42").spawn(|| event::pull(None, "hello")).unwrap();
    ///     event::pull(None, "quit");
    /// });
    /// let dump = kernel.dump();
    /// let lines: Vec<&str> = dump.lines().collect();
    /// assert_eq!(lines[0], "init");
    /// assert!(lines[1].starts_with("  program #1, spawned at "), "{dump}");
    /// assert!(lines[2].starts_with("    thread #2 (npc42), spawned at "), "{dump}");
    /// assert!(lines[2].contains(": pull \"hello\" at "), "{dump}");
    /// ```
    pub fn dump(&self) -> String {
        self.shared.core().dump()
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
        self.shared.set_tracing(true);
        drop(old);
    }

    /// The kernel's state, for the crate's unit tests.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
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

    /// Replaces the kernel's error reporter that gets OpenOS's text (without
    /// it, and without [`on_error_report`](Kernel::on_error_report), reports
    /// go to `log::error!`). Thread panics arrive as `"[thread] <message>"` and `"[program] <message>"`,
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
        self.shared.set_error_hook(Box::new(handler));
    }

    /// Installs a reporter that gets each error as an [`ErrorReport`]: the
    /// thread it was raised for (id, name, where it was spawned, where it
    /// waits or last waited) and the message, replacing any previous one.
    /// It works beside [`on_error`](Kernel::on_error): each error goes to
    /// this reporter first, then OpenOS's text to that one. While neither is
    /// installed, the kernel logs each report's `Display`
    /// (`[thread npc42 spawned at src/npc.rs:40] boom, waiting at
    /// src/npc.rs:88`) at `log::error!`. A reporter that panics is kept, and
    /// the report is logged.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    ///
    /// let lines = Rc::new(RefCell::new(Vec::new()));
    /// let sink = lines.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.on_error_report(move |report| sink.borrow_mut().push(report.to_string()));
    /// kernel.run(|| {
    ///     thread::Builder::new()
    ///         .name("npc42")
    ///         .spawn(|| -> () {
    ///             os::sleep(Duration::from_secs(1));
    ///             panic!("boom")
    ///         })
    ///         .unwrap();
    /// }).unwrap();
    /// let line = &lines.borrow()[0];
    /// assert!(line.starts_with("[thread npc42 spawned at src/"), "{line}");
    /// assert!(line.contains("] boom, waiting at src/"), "{line}");
    /// ```
    pub fn on_error_report(&mut self, handler: impl FnMut(&ErrorReport) + 'static) {
        self.shared.set_report_hook(Box::new(handler));
    }
}

impl Default for Kernel {
    fn default() -> Kernel {
        Kernel::new()
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shared.try_core() {
            Some(core) => f
                .debug_struct("Kernel")
                .field("uptime", &core.now())
                .field("tasks", &(core.tasks.len() - 1))
                .field("queued_signals", &core.queue.len())
                .finish(),
            None => f.write_str("Kernel { <running> }"),
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.shared.shut_down_or_defer();
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

    /// With `mprotect` guards (the fallback, forced), threads run, end and
    /// hand their stacks on through the pool as with guard regions.
    #[test]
    fn a_kernel_with_the_fallback_guards_runs_and_reuses_stacks() {
        let mut kernel = Kernel::builder()
            .virtual_time(true)
            .stack_size(32 * 1024)
            .guards(crate::stack::Guards::Protect)
            .build();
        assert_eq!(kernel.shared().core().stacks.guards(), crate::stack::Guards::Protect);
        let sum = kernel
            .run(|| {
                let mut sum = 0;
                for round in 0..3u64 {
                    let threads: Vec<_> = (0..50u64)
                        .map(|i| {
                            thread::create(move || {
                                os::sleep(Duration::from_secs(1));
                                std::hint::black_box([i; 512])[0] + round
                            })
                        })
                        .collect();
                    sum += threads.into_iter().map(|t| t.wait().unwrap()).sum::<u64>();
                }
                sum
            })
            .unwrap();
        assert_eq!(sum, 3 * (0..50).sum::<u64>() + 50 * (1 + 2));
        assert!(kernel.shared().core().stacks.pooled() >= 50);
    }

    /// `expected_threads` sizes the task table and the waiter index: that
    /// many threads blocked on names of their own grow neither.
    #[test]
    fn expected_threads_sizes_the_tables_up_front() {
        let mut kernel = Kernel::builder().virtual_time(true).expected_threads(3000).build();
        let (tasks, names) = {
            let core = kernel.shared().core();
            (core.tasks.capacity(), core.waiters.capacity())
        };
        assert!(tasks > 3000 && names >= 3000, "{tasks} {names}");
        kernel.spawn(|| {
            for i in 0..3000 {
                let name = format!("n{i}");
                thread::create(move || event::pull(None, name.as_str()));
            }
        });
        let core = kernel.shared().core();
        assert_eq!((core.tasks.capacity(), core.waiters.capacity()), (tasks, names));
    }
}

/// The host's settings for blocking jobs' worker threads
/// ([`KernelBuilder::workers`]), kept in the kernel for the job layer.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerSettings {
    /// How many OS worker threads.
    pub(crate) workers: usize,
    /// Their stack size (`None`: std's default), which a test sets beyond
    /// what the OS can give, to see a pool that cannot start.
    pub(crate) stack_size: Option<usize>,
}

/// What a layer on the runtime (jobs, and the ones to come) may ask of the
/// kernel it runs on, without reaching its internals: a weak handle, since
/// the kernel may be gone by the time the layer uses it.
#[derive(Clone)]
pub(crate) struct KernelRef(Weak<Shared>);

impl fmt::Debug for KernelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelRef").field("gone", &self.is_gone()).finish()
    }
}

impl KernelRef {
    /// The kernel running on this OS thread.
    ///
    /// # Panics
    ///
    /// Outside a kernel; `what` names the call in the message.
    pub(crate) fn current(what: &str) -> KernelRef {
        KernelRef(current(what).weak())
    }

    /// `kernel`'s handle.
    pub(crate) fn of(kernel: &Kernel) -> KernelRef {
        KernelRef(kernel.shared.weak())
    }

    /// Whether the kernel has been dropped.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }

    /// The kernel `thread` belongs to.
    pub(crate) fn of_thread(thread: &crate::thread::Thread) -> KernelRef {
        KernelRef(thread.task().0.clone())
    }

    /// Whether the kernel has work now; if not, `waker` is woken by the next
    /// push or wake-up from another OS thread. `true` if it is gone (there
    /// is nothing left to wait for).
    pub(crate) fn poll_work(&self, waker: &std::task::Waker) -> bool {
        match self.0.upgrade() {
            Some(shared) => shared.poll_work(waker),
            None => true,
        }
    }

    /// When the kernel's nearest deadline falls due, on the OS's clock
    /// (`None`: no deadline, a virtual clock, or the kernel is gone).
    pub(crate) fn next_instant(&self) -> Option<std::time::Instant> {
        self.0.upgrade()?.next_instant()
    }

    /// Queues the signal `signal` makes for the kernel's next round, as
    /// `event::push` does from inside; nothing (and `signal` is not called)
    /// if the kernel is gone.
    pub(crate) fn push(&self, signal: impl FnOnce() -> Signal) {
        if let Some(shared) = self.0.upgrade() {
            shared.core().enqueue(signal());
        }
    }

    /// Runs `f` on the layer value of type `S` in this kernel: a layer's
    /// state, or the host's settings for it ([`WorkerSettings`]), given at
    /// build or made with `Default` on first use, dropped with the kernel;
    /// `None` if the kernel is gone. `f` runs with the kernel's state
    /// borrowed: it must not call into the kernel.
    pub(crate) fn with_layer<S: Default + 'static, R>(
        &self,
        f: impl FnOnce(&mut S) -> R,
    ) -> Option<R> {
        let shared = self.0.upgrade()?;
        let mut core = shared.core();
        let core = &mut *core;
        let at = match core.layers.iter().position(|layer| layer.is::<S>()) {
            Some(at) => at,
            None => {
                core.layers.push(Box::new(S::default()));
                core.layers.len() - 1
            }
        };
        let layer = core.layers[at].downcast_mut::<S>().expect("found by its type");
        Some(f(layer))
    }

    /// Starts a thread named `name`, owned by the root process (so that it
    /// outlives whoever started it), which runs `body` at once up to its
    /// first blocking call, from the host or from inside the kernel. `None`
    /// if the kernel is gone.
    #[track_caller]
    pub(crate) fn spawn_detached(
        &self,
        name: String,
        body: impl FnOnce() + 'static,
    ) -> Option<Result<crate::thread::JoinHandle<()>, Error>> {
        let shared = self.0.upgrade()?;
        let _enter = (!is_current(&shared)).then(|| enter(&shared));
        let root = shared.core().root;
        let site = Some(std::panic::Location::caller());
        let options = SpawnOptions { name: Some(Rc::from(name)), stack_size: None, site };
        let name = options.name.clone();
        let spawned = shared
            .spawn(root, Kind::Thread, options, body)
            .map(|spawned| crate::thread::JoinHandle::spawned(&shared, spawned, name));
        // From a thread: a kill or suspension the new thread made of it.
        shared.check_interrupts();
        Some(spawned)
    }
}
