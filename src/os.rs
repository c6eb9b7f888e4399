//! OpenOS's `os` calls that concern threads: `sleep`, `uptime`, `exit`,
//! `catch_interrupt`, the `pcall` that catches a hard interrupt, and
//! `checkpoint`, where a long computation lets the kernel in.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::Error;
use crate::kernel;
use crate::park::{Wait, Woke};
use crate::task::End;
use crate::unwind::{ExitUnwind, InterruptUnwind};

/// Blocks the current thread (or program) for `duration` on the kernel's clock.
/// `Duration::ZERO` yields once: the caller runs again in the next round, after
/// the signals queued before it have been delivered.
///
/// # Panics
///
/// Outside a program or thread (on the host, or in a listener or timer callback).
///
/// # Examples
///
/// ```
/// use cothread::{os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let t = kernel.run(|| {
///     os::sleep(Duration::from_millis(1500));
///     os::uptime()
/// });
/// assert_eq!(t.unwrap(), Duration::from_millis(1500));
/// ```
#[track_caller]
pub fn sleep(duration: Duration) {
    let shared = kernel::current("os::sleep");
    if duration.is_zero() {
        // Due at once: it cannot be woken early (the clock never goes back).
        shared.yield_now();
        return;
    }
    let deadline = shared.core().now().saturating_add(duration);
    loop {
        if let Woke::Shutdown = shared.park(Wait::Sleep, Some(deadline), |_, _| {}) {
            return;
        }
        // Woken early only by a `resume` after a suspension.
        if shared.core().now() >= deadline {
            return;
        }
    }
}

/// A place where a long computation lets the kernel in, cheaply: with the
/// watchdog on ([`KernelBuilder::watchdog`](crate::KernelBuilder::watchdog)),
/// it yields (as `sleep(Duration::ZERO)` does) once the thread has run half
/// the watchdog's limit since it was resumed (its slice), and a thread the
/// watchdog found over the limit is ended here with
/// [`Error::TooLongWithoutYielding`]. Otherwise it returns at once, after
/// three loads: call it in the inner loop of a computation that may run
/// long. Outside a program or thread (on the host, in a listener or timer
/// callback, outside any kernel), and with the watchdog off, it does
/// nothing.
///
/// # Examples
///
/// ```
/// use cothread::{os, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().watchdog(Duration::from_secs(5)).build();
/// let sum = kernel.run(|| {
///     let mut sum = 0u64;
///     for i in 0..1_000_000u64 {
///         sum += i;
///         os::checkpoint(); // yields only past 2.5 s
///     }
///     sum
/// });
/// assert_eq!(sum.unwrap(), 499_999_500_000);
/// os::checkpoint(); // on the host: nothing
/// ```
#[track_caller]
#[inline]
pub fn checkpoint() {
    if let Some(shared) = kernel::try_current() {
        shared.check_stack();
        shared.checkpoint();
    }
}

/// The time on the current kernel's clock: since its creation (real clock) or
/// from zero (virtual clock).
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// let mut kernel = cothread::Kernel::builder().virtual_time(true).build();
/// assert_eq!(kernel.run(cothread::os::uptime).unwrap(), std::time::Duration::ZERO);
/// ```
pub fn uptime() -> Duration {
    kernel::current("os::uptime").core().now()
}

/// Ends the current process: the calling thread (or program) unwinds its stack
/// (destructors run) and the threads attached to it are killed. `Kernel::run` of
/// a program that exits returns [`Error::Exited`], as does
/// `wait()` on a thread that exits.
///
/// # Panics
///
/// Outside a program or thread.
///
/// # Examples
///
/// ```
/// use cothread::{event, os, thread, Error, Kernel};
///
/// let mut kernel = Kernel::new();
/// let out = kernel.run(|| {
///     thread::create(|| { event::pull(None, "never"); }); // killed by the exit
///     os::exit();
/// });
/// assert_eq!(out, Err(Error::Exited));
/// ```
pub fn exit() -> ! {
    let shared = kernel::current("os::exit");
    let me = {
        let core = shared.core();
        assert!(
            core.running.is_some() && core.running == core.context,
            "cothread: `os::exit` called outside a program or thread"
        );
        core.running.expect("checked above")
    };
    if std::thread::panicking() {
        // Called by a destructor as the thread unwinds: a second unwind would
        // abort the process, and `exit` cannot return.
        // A thread being killed ends killed, whatever its destructors do.
        let dying = shared.core().tasks[me].dying;
        let end = if dying { End::Killed } else { End::Exited };
        shared.park_for_ever(me, end, "called os::exit while unwinding");
    }
    shared.raise(me, Box::new(ExitUnwind))
}

/// Runs `f`, catching an interrupt raised in it: one with a cause
/// ([`Thread::interrupt`], SimPy's `process.interrupt(cause)`), or the hard
/// interrupt ([`Kernel::hard_interrupt`], OpenOS's `^Alt^C`), as a Lua program
/// catches the `"interrupted"` error with `pcall`. The interrupt is raised
/// where the thread blocks (a pull, a sleep, a join): `f`'s stack unwinds from
/// there (destructors run) and `catch_interrupt` returns
/// [`Error::Interrupted`] with the cause. Every other unwind (a panic, a kill,
/// an exit) passes through untouched.
///
/// [`Kernel::hard_interrupt`]: crate::Kernel::hard_interrupt
/// [`Thread::interrupt`]: crate::thread::Thread::interrupt
///
/// # Errors
///
/// [`Error::Interrupted`] if an interrupt was raised in `f`, with its cause
/// ([`Value::Nil`](crate::Value::Nil) for the hard interrupt, which only a
/// program receives); `f` has been unwound.
///
/// # Examples
///
/// ```
/// use cothread::{event, os, Error, Kernel, Value};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let program = kernel.spawn(|| {
///     let read = os::catch_interrupt(|| event::pull(None, "key_down"));
///     assert_eq!(read, Err(Error::Interrupted(Value::Nil)));
///     "cleaned up"
/// });
/// kernel.step(); // the program now waits for a key
/// assert!(kernel.hard_interrupt());
/// kernel.step();
/// assert_eq!(program.wait(), Ok("cleaned up"));
/// ```
pub fn catch_interrupt<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast::<InterruptUnwind>() {
            Ok(interrupt) => Err(Error::Interrupted(interrupt.0)),
            Err(payload) => resume_unwind(payload),
        },
    }
}
