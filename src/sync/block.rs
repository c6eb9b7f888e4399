//! How a channel's caller waits: a green thread parks on its kernel (and is
//! woken through the remote wake path, from any OS thread), a plain OS
//! thread blocks in the OS (and is woken with `Thread::unpark`). Either way
//! a wake-up only says "look again": the caller re-checks its condition.

use std::time::{Duration, Instant};

use crate::os;
use crate::park::{in_kernel, park_remote, RemoteWaker, Woke};

/// What a queued waiter of a channel is woken with.
#[derive(Debug)]
pub(crate) enum Waker {
    /// A green thread of some kernel, parked.
    Green(RemoteWaker),
    /// A plain OS thread, blocked.
    Os(std::thread::Thread),
}

impl Waker {
    pub(crate) fn wake(&self) {
        match self {
            Waker::Green(waker) => waker.wake(),
            Waker::Os(thread) => thread.unpark(),
        }
    }

    /// Wakes the waiter now if that runs none but this crate's code (a
    /// green thread of the caller's own kernel, a plain OS thread); else
    /// gives the waker back, to be woken once the caller holds no lock: a
    /// kernel woken from elsewhere may call its async host's waker, a
    /// user's code, which may take that lock again.
    #[inline]
    pub(crate) fn wake_or_defer(self) -> Option<Waker> {
        match self {
            Waker::Green(waker) => waker.wake_at_home().err().map(Waker::Green),
            Waker::Os(thread) => {
                thread.unpark();
                None
            }
        }
    }
}

/// When a wait gives up, on the clock of whoever waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    /// On the kernel's clock (virtual or real), for a green thread.
    Kernel(Duration),
    /// On the OS's clock, for a plain OS thread.
    Os(Instant),
}

impl Deadline {
    /// `timeout` from now, on the caller's clock.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        if in_kernel() {
            Deadline::Kernel(os::uptime().saturating_add(timeout))
        } else {
            // A timeout too long for `Instant` is a wait for ever, nearly.
            let now = Instant::now();
            Deadline::Os(now.checked_add(timeout).unwrap_or(now + Duration::from_secs(1 << 40)))
        }
    }

    pub(crate) fn passed(self) -> bool {
        match self {
            Deadline::Kernel(at) => os::uptime() >= at,
            Deadline::Os(at) => Instant::now() >= at,
        }
    }
}

/// How one wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Woken, or for no reason: re-check.
    Woken,
    /// The deadline has passed.
    TimedOut,
    /// The caller is being unwound (killed) and cannot wait.
    Shutdown,
}

/// Waits once: `register` gets the caller's [`Waker`], to store where the
/// wake-up will come from (or to wake at once, if what the caller waits for
/// has come meanwhile). `what` names the wait in `Kernel::threads`.
///
/// # Panics
///
/// In a kernel, where nothing can park (a listener or timer callback, the
/// host's stack during a kernel call).
#[track_caller]
pub(crate) fn wait(
    what: &'static str,
    deadline: Option<Deadline>,
    register: impl FnOnce(Waker),
) -> Ended {
    if in_kernel() {
        let at = match deadline {
            Some(Deadline::Kernel(at)) => Some(at),
            // A deadline taken on a plain OS thread, used in a kernel: not
            // made by this crate's callers, which take it where they wait.
            Some(Deadline::Os(at)) => {
                Some(os::uptime() + at.saturating_duration_since(Instant::now()))
            }
            None => None,
        };
        match park_remote(what, at, |waker| register(Waker::Green(waker))) {
            Woke::Shutdown => Ended::Shutdown,
            _ if deadline.is_some_and(Deadline::passed) => Ended::TimedOut,
            _ => Ended::Woken,
        }
    } else {
        register(Waker::Os(std::thread::current()));
        match deadline {
            None => std::thread::park(),
            Some(Deadline::Os(at)) => {
                std::thread::park_timeout(at.saturating_duration_since(Instant::now()))
            }
            Some(Deadline::Kernel(_)) => unreachable!("a kernel's deadline on a plain OS thread"),
        }
        match deadline {
            Some(at) if at.passed() => Ended::TimedOut,
            _ => Ended::Woken,
        }
    }
}
