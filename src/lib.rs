//! A cooperative, single-threaded green-thread runtime in the style of OpenOS, the
//! operating system of the OpenComputers mod.
//!
//! Scripts are plain sequential Rust: they call [`event::pull`], [`os::sleep`] and
//! [`thread::create`], and a [`Kernel`] interleaves thousands of them on one OS
//! thread, deterministically, without `async`.
//!
//! # A green thread
//!
//! Every program and thread runs on its own stack (a [corosensei] coroutine, with a
//! guard page below it). Calling a blocking function — `event::pull`, `os::sleep`,
//! `join` — switches back to the kernel, which runs something else and switches
//! back when the wait is over. A thread starts at once: `thread::create` runs it up
//! to its first blocking call before returning.
//!
//! ```
//! use cothread::{os, thread, Kernel};
//! use std::time::Duration;
//!
//! let mut kernel = Kernel::builder().virtual_time(true).build();
//! let total = kernel.run(|| {
//!     let workers: Vec<_> = (1..=3u64)
//!         .map(|i| thread::create(move || { os::sleep(Duration::from_secs(i)); i * 10 }))
//!         .collect();
//!     workers.into_iter().map(|w| w.wait().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total.unwrap(), 60);
//! ```
//!
//! # The kernel's rounds
//!
//! Nothing switches threads but a blocking call: pushing a signal or resuming a
//! thread only queues work. When the running code blocks, the kernel runs a
//! *round*: it delivers the signals queued before the round (in push order; each
//! wakes every thread whose filter accepts it, in the order they began waiting),
//! then wakes the threads whose deadlines are due (in deadline order), then the
//! joins whose threads ended in the previous round. Each woken thread runs until it
//! blocks again. When nothing is ready, the clock moves to the nearest deadline: a
//! virtual clock jumps there at once, a real one sleeps in the OS.
//!
//! ```
//! use cothread::{event, os, thread, Kernel, Signal};
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let l = log.clone();
//! let mut kernel = Kernel::builder().virtual_time(true).build();
//! kernel.run(move || {
//!     let l2 = l.clone();
//!     thread::create(move || {
//!         let s = event::pull(None, "ping").unwrap();
//!         l2.borrow_mut().push(format!("got {s}"));
//!     });
//!     event::push(Signal::new("ping").with(1));
//!     l.borrow_mut().push("pushed".to_string()); // the receiver has not run yet
//!     os::sleep(Duration::ZERO);                  // now it has
//!     l.borrow_mut().push("slept".to_string());
//! }).unwrap();
//! assert_eq!(*log.borrow(), ["pushed", "got ping 1", "slept"]);
//! ```
//!
//! # Signals and listeners
//!
//! A [`Signal`] is a name and a list of [`Value`]s. [`event::pull`] takes a
//! [`Filter`]: an exact name, several names, an OpenOS pattern, argument tests or a
//! predicate. [`event::listen`] and [`event::timer`] register callbacks that belong
//! to the thread that made them and die with it.
//!
//! Signals are not buffered. A pushed signal waits in the kernel's queue only
//! until the next round delivers it; it then goes to the listeners of its name
//! and the threads waiting for it *at that moment*, and one that nothing takes
//! is dropped. A thread that is sleeping, waiting for something else or
//! suspended when a signal is delivered misses it for good; a listener sees
//! every one.
//!
//! ```
//! use cothread::{event, os, Kernel, Signal};
//! use std::time::Duration;
//!
//! let mut kernel = Kernel::builder().virtual_time(true).build();
//! let got = kernel.run(|| {
//!     event::push(Signal::new("a"));
//!     let a = event::pull(Duration::from_secs(1), "a"); // waiting when "a" is delivered
//!     event::push(Signal::new("b"));
//!     os::sleep(Duration::ZERO);                        // "b" is delivered to nobody
//!     let b = event::pull(Duration::from_secs(1), "b"); // so this times out
//!     (a.is_some(), b.is_some())
//! });
//! assert_eq!(got.unwrap(), (true, false));
//! ```
//!
//! # Processes
//!
//! Every program and thread is a process. A thread belongs to the process that
//! created it; when that process's body returns, it *closes*: it joins its threads,
//! newest first. When a process panics, calls [`os::exit`] or is killed, its threads
//! are killed, and killing unwinds their stacks so destructors run. A panic in a
//! thread ends that thread only; it is reported through [`event::on_error`] and
//! returned by [`thread::JoinHandle::wait`].
//!
//! ```
//! use cothread::{thread, Error, Kernel};
//!
//! let mut kernel = Kernel::new();
//! let out = kernel.run(|| {
//!     let t = thread::create(|| -> () { panic!("thread abort") });
//!     t.wait()
//! });
//! assert_eq!(out.unwrap(), Err(Error::Panicked("thread abort".into())));
//! ```
//!
//! # The host
//!
//! The program that owns the kernel is its *host*. [`Kernel::run`] runs one
//! program to its end; a host with a loop of its own (a game's frames, a
//! simulation's steps) starts programs with [`Kernel::spawn`], which runs each
//! up to its first blocking call and returns its handle, and then drives the
//! kernel a slice at a time: [`Kernel::step_for`] runs what is ready now, within
//! a [`Budget`], and [`Kernel::advance`] moves a virtual clock by `dt`, running
//! what falls due on the way. Between calls the host pushes input with
//! [`Kernel::push_signal`]; other OS threads push through a [`SignalSender`], and
//! a host with nothing else to do blocks in [`Kernel::run_forever`]. A kernel
//! and its handles stay on the OS thread that built it (see
//! [`Kernel`](Kernel#one-kernel-per-os-thread)). On the virtual clock a run
//! repeats exactly, except for what the wall clock decides: pushes from other
//! OS threads, blocking jobs' reports, and steps cut by a [`Budget::Time`].
//!
//! ```
//! use cothread::{event, os, Budget, Kernel, Signal};
//! use std::time::Duration;
//!
//! fn main() {
//!     let mut kernel = Kernel::builder().virtual_time(true).build();
//!     let door = kernel.spawn(|| {
//!         let key = event::pull(None, "key").expect("no timeout was given");
//!         os::sleep(Duration::from_millis(500)); // the door takes half a second
//!         format!("opened with {} at {:?}", key.arg(0), os::uptime())
//!     });
//!     kernel.push_signal(Signal::new("key").with("E")); // a frame's input
//!     kernel.step_for(Budget::Resumes(16)); // the door takes the key, then sleeps
//!     while kernel.advance(Duration::from_millis(100)).alive {} // fixed steps
//!     assert_eq!(door.wait().unwrap(), "opened with E at 500ms");
//! }
//! ```
//!
//! # Seeing what scripts do, and stopping runaways
//!
//! [`Kernel::dump`] prints the process tree with where each thread was
//! spawned and where it waits (with [`KernelBuilder::backtraces`], the
//! backtrace of each wait). Errors reach the host as [`ErrorReport`]s
//! ([`Kernel::on_error_report`]) that name the thread, beside OpenOS's
//! `"[thread] <message>"` ([`Kernel::on_error`]); std's panic message is
//! preceded by a line naming the green thread that panicked. The kernel is
//! cooperative, so a script that never blocks holds it: the watchdog
//! ([`KernelBuilder::watchdog`]) reports such a script from another OS
//! thread while it runs ([`WatchdogReport`]) and has it ended at its next
//! [`os::checkpoint`] or blocking call ([`Error::TooLongWithoutYielding`]).
//!
//! ```
//! use cothread::{os, Error, Kernel};
//! use std::time::{Duration, Instant};
//!
//! let mut kernel = Kernel::builder().watchdog(Duration::from_millis(20)).build();
//! kernel.on_error(|_| {});
//! let spinner = kernel.spawn(|| {
//!     let start = Instant::now();
//!     while start.elapsed() < Duration::from_secs(10) {
//!         let stretch = Instant::now();
//!         while stretch.elapsed() < Duration::from_millis(100) {} // no yield
//!         os::checkpoint(); // ended here once marked
//!     }
//! });
//! assert_eq!(spinner.wait(), Err(Error::TooLongWithoutYielding));
//! ```
//!
//! # Jobs
//!
//! The [`job`] module is Solara's `use_thread` on the kernel: a [`job::Job`]
//! runs long work in the background, as a green thread ([`Kernel::job`],
//! [`job::spawn`]) or on an OS worker thread ([`Kernel::blocking_job`],
//! [`job::spawn_blocking`]), and shows its progress as a state, a latest value
//! and a latest error that a frame loop reads without blocking. It can be
//! cancelled, retried and restarted when its dependencies change.
//!
//! ```
//! use cothread::job::{JobContext, JobState};
//! use cothread::{os, Kernel};
//! use std::time::Duration;
//!
//! fn main() {
//!     let mut kernel = Kernel::builder().virtual_time(true).build();
//!     let load = kernel.job(|ctx: &JobContext<u32>| {
//!         for percent in [25, 50, 75] {
//!             ctx.emit(percent);
//!             os::sleep(Duration::from_secs(1));
//!         }
//!         Ok::<_, String>(100)
//!     });
//!     let mut shown = Vec::new();
//!     while !load.state().is_done() {
//!         shown.push(load.value().unwrap_or(0)); // a frame draws the progress
//!         kernel.advance(Duration::from_secs(1));
//!     }
//!     assert_eq!((load.state(), load.value()), (JobState::Finished, Some(100)));
//!     assert_eq!(shown, [25, 50, 75]);
//! }
//! ```
//!
//! # Channels and locks
//!
//! The [`sync`] module gives green threads ways to talk that keep what they
//! are given until it is taken, unlike a signal: channels ([`sync::channel`],
//! [`sync::unbounded`]; their handles also link kernels on other OS threads),
//! and kernel-local locks and counters ([`sync::Mutex`], [`sync::Semaphore`],
//! [`sync::Barrier`], [`sync::Notify`]). Each is a wait source on the
//! kernel's park and wake: its waits show in [`Kernel::threads`] and end
//! cleanly when their thread is killed.
//!
//! ```
//! use cothread::{os, sync, thread, Kernel};
//! use std::time::Duration;
//!
//! let mut kernel = Kernel::builder().virtual_time(true).build();
//! let got = kernel.run(|| {
//!     let (tx, rx) = sync::channel(1);
//!     thread::create(move || {
//!         for word in ["to", "be", "kept"] {
//!             tx.send(word).unwrap(); // waits while one is unread
//!         }
//!     });
//!     os::sleep(Duration::from_secs(1)); // nothing is lost meanwhile
//!     rx.iter().collect::<Vec<_>>()
//! });
//! assert_eq!(got.unwrap(), ["to", "be", "kept"]);
//! ```
//!
//! # Futures
//!
//! The [`future`] module bridges async code both ways, with `std::task`
//! only. A green thread waits for a future with [`future::block_on`]: it
//! parks until the future's waker fires (from any OS thread), while the
//! other threads run. Async code awaits a [`thread::JoinHandle`] (or
//! [`job::Job::done`]), and an async host runs the kernel with
//! `loop { kernel.ready().await; kernel.step_for(budget); }`
//! ([`Kernel::ready`]); `docs/async.md` shows it on tokio.
//!
//! ```
//! use cothread::{future, os, thread, Kernel};
//! use std::time::Duration;
//!
//! let mut kernel = Kernel::builder().virtual_time(true).build();
//! let out = kernel.run(|| {
//!     let slow = thread::create(|| { os::sleep(Duration::from_secs(1)); 2 });
//!     future::block_on(async move { slow.await.unwrap() * 21 })
//! });
//! assert_eq!(out.unwrap(), 42);
//! ```
//!
//! # Thread-locals
//!
//! Every green thread of a kernel runs on the kernel's OS thread, so std's
//! `thread_local!` gives them all the same slot: a value one green thread sets
//! there, the others read. State of one green thread belongs in its closure.
//!
//! ```
//! use cothread::{thread, Kernel};
//! use std::cell::Cell;
//!
//! thread_local! {
//!     static LEVEL: Cell<u32> = const { Cell::new(0) };
//! }
//!
//! let mut kernel = Kernel::new();
//! kernel.run(|| {
//!     LEVEL.with(|l| l.set(7));
//!     let other = thread::create(|| LEVEL.with(Cell::get));
//!     assert_eq!(other.wait().unwrap(), 7); // the program's value: one slot
//! }).unwrap();
//! ```
//!
//! # The guide
//!
//! The repository's `docs/` directory has a page per concept, with OpenOS's
//! Lua and cothread's Rust side by side; every snippet runs as a doc test:
//!
//! - docs/README.md: the index, the reading order, and the examples.
//! - docs/threads.md: `thread::create`, rounds, status, join, suspend, kill, panics.
//! - docs/processes.md: programs and the host, closing, `os::exit`, attach and detach.
//! - docs/signals.md: `Signal` and `Value`, pushing, the delivery rules, interrupts.
//! - docs/events.md: `event::pull` and filters, listeners, timers, `on_error`.
//! - docs/embedding.md: frame loops, fixed-step simulations, blocking hosts, tracing,
//!   finding stuck and runaway scripts (dumps, backtraces, the watchdog).
//! - docs/jobs.md: jobs, green and blocking; cancel, retry, dependencies.
//! - docs/sync.md: channels, `Mutex`, `Semaphore`, `Barrier`, `Notify`; signal or channel.
//! - docs/async.md: futures in green threads, green threads and jobs as futures, async hosts.
//! - docs/reliability.md: what a script cannot break: panics, kills, stack overflows.
//! - docs/semantics.md: the OpenOS rules the kernel follows, rule by rule.
//! - docs/performance.md: the benchmarks, the latest figures, how to rerun them.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::missing_errors_doc)]
#![warn(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![doc(test(attr(deny(warnings))))]

mod error;
pub mod event;
pub mod future;
mod host;
mod id;
mod inspect;
pub mod job;
mod join;
mod kernel;
pub mod os;
mod overflow;
mod park;
mod process;
mod report;
mod round;
mod stack;
pub mod sync;
mod task;
#[cfg(test)]
mod testing;
pub mod thread;
mod time;
mod unwind;
mod watchdog;

pub use error::Error;
pub use event::{Filter, Signal, Value, MAX_PATTERN_LEN, MAX_PATTERN_STEPS};
pub use host::{Kernel, KernelBuilder, DEFAULT_STACK_POOL, DEFAULT_WORKERS};
pub use id::{Status, ThreadId};
pub use inspect::{ThreadInfo, Trace, Waiting};
pub use kernel::{SignalSender, StepReport, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
pub use report::{ErrorOrigin, ErrorReport, WatchdogReport};
pub use round::Budget;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guide's examples (`docs/*.md`), compiled and run as doc tests.
#[cfg(doctest)]
mod guide {
    macro_rules! guide_page {
        ($($name:ident => $file:literal),* $(,)?) => {
            $(
                #[doc = include_str!(concat!("../docs/", $file))]
                pub struct $name;
            )*
        };
    }

    guide_page! {
        GuideReadme => "README.md",
        GuideThreads => "threads.md",
        GuideProcesses => "processes.md",
        GuideSignals => "signals.md",
        GuideEvents => "events.md",
        GuideEmbedding => "embedding.md",
        GuideJobs => "jobs.md",
        GuideSync => "sync.md",
        GuideAsync => "async.md",
        GuideSemantics => "semantics.md",
        GuideReliability => "reliability.md",
        GuidePerformance => "performance.md",
        GuideInternals => "internals.md",
    }
}
