//! The host's face of the kernel: [`Kernel`] and [`KernelBuilder`], a thin
//! layer over the core's mechanism (`kernel`). A layer above the runtime adds
//! its own host methods from its own file (`Kernel::job` is in `job`).
//!
//! This file holds the `Kernel` type; `run` has the calls that run it and
//! feed it, `builder` configures a kernel, `view` holds what the host sees
//! of it and the hooks it installs, and `kernel_ref` the handle a layer on
//! the runtime holds.

use std::fmt;
use std::rc::Rc;

use crate::kernel::*;

mod builder;
mod kernel_ref;
mod run;
mod view;

pub(crate) use builder::WorkerSettings;
pub use builder::{KernelBuilder, DEFAULT_STACK_POOL, DEFAULT_WORKERS};
pub(crate) use kernel_ref::KernelRef;

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
    /// The kernel's state, for the crate's unit tests.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
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
