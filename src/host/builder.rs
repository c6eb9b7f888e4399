//! [`KernelBuilder`], the host's configuration of a kernel, with its
//! defaults, and the worker settings it hands to the job layer.

use std::time::Duration;

use super::Kernel;
use crate::kernel::*;
use crate::stack::{Guards, StackPool};
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
    /// blocking jobs' reports, and steps cut by a [`Budget::Time`](crate::Budget::Time)).
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
    /// [`Error::WorkerThread`](crate::Error::WorkerThread)), and dropping the kernel joins them.
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
    /// thread's line; [`ThreadInfo::backtrace`](crate::ThreadInfo::backtrace) holds it. A capture walks
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
    /// unwound, with [`Error::TooLongWithoutYielding`](crate::Error::TooLongWithoutYielding), as CC:Tweaked and
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{event, os, thread, Kernel};

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
