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
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![doc(test(attr(deny(warnings))))]

mod error;
pub mod event;
mod id;
mod inspect;
pub mod job;
mod kernel;
pub mod os;
mod overflow;
mod park;
mod process;
mod round;
mod stack;
#[cfg(test)]
mod testing;
pub mod thread;
mod time;

pub use error::Error;
pub use event::{Filter, Signal, Value, MAX_PATTERN_LEN, MAX_PATTERN_STEPS};
pub use id::{Status, ThreadId};
pub use inspect::{ThreadInfo, Trace, Waiting};
pub use kernel::{
    Kernel, KernelBuilder, SignalSender, StepReport, DEFAULT_STACK_POOL, DEFAULT_STACK_SIZE,
    DEFAULT_WORKERS, MIN_STACK_SIZE,
};
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
        GuideSemantics => "semantics.md",
        GuideReliability => "reliability.md",
        GuidePerformance => "performance.md",
    }
}
