//! OpenOS's `os` calls that concern threads: `sleep`, `uptime`, `exit`.

use std::panic::resume_unwind;
use std::time::Duration;

use crate::kernel;
use crate::process::{ExitUnwind, Wait, Woke};

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
pub fn sleep(duration: Duration) {
    let shared = kernel::current("os::sleep");
    let deadline = shared.core().now().saturating_add(duration);
    loop {
        if let Woke::Shutdown = shared.block(Wait::Sleep, Some(deadline)) {
            return;
        }
        if shared.core().now() >= deadline {
            return;
        }
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
/// a program that exits returns [`Error::Exited`](crate::Error::Exited), as does
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
    {
        let core = shared.core();
        assert!(
            core.running.is_some() && core.running == core.context,
            "cothread: `os::exit` called outside a program or thread"
        );
    }
    resume_unwind(Box::new(ExitUnwind))
}
