//! Remote wake-ups: the part of the kernel other OS threads reach, through a
//! [`SignalSender`] (a signal) or a [`RemoteWaker`] (one parked wait).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::event::Signal;
use crate::park::Parker;

/// The part of the kernel that other OS threads reach through a `SignalSender`.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    state: Mutex<RemoteState>,
    wakeup: Condvar,
    /// Set with each push, so that the kernel takes the lock only when there is
    /// something to take.
    pub(super) pending: AtomicBool,
}

#[derive(Debug, Default)]
pub(super) struct RemoteState {
    pub(super) signals: VecDeque<Signal>,
    /// Parked waits woken from other OS threads ([`RemoteWaker`]).
    pub(super) wakes: Vec<Parker>,
    closed: bool,
    /// Live `SignalSender`s and `RemoteWaker`s: what could still wake a
    /// kernel that has nothing else to do. Counted under the lock, so that a
    /// kernel about to wait for a push cannot miss the last one going away.
    pub(super) senders: usize,
}

impl Remote {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, RemoteState> {
        // A sender that panicked while holding the lock left the queue intact:
        // a push is one `push_back`.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, signal: Signal) -> Result<(), Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::KernelGone);
        }
        state.signals.push_back(signal);
        self.pending.store(true, Ordering::Release);
        drop(state);
        self.wakeup.notify_one();
        Ok(())
    }

    /// Queues a wake-up of `parker`'s wait for the kernel's next round.
    fn wake(&self, parker: Parker) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.wakes.push(parker);
        self.pending.store(true, Ordering::Release);
        drop(state);
        self.wakeup.notify_one();
    }

    /// Blocks the kernel's OS thread until a push or a wake-up, or until
    /// `timeout` passes.
    pub(super) fn wait(&self, timeout: Option<Duration>) {
        let state = self.lock();
        let queued = !state.signals.is_empty() || !state.wakes.is_empty();
        if queued || (timeout.is_none() && state.senders == 0) {
            return;
        }
        // Poisoning is harmless here (see `lock`): the guard is dropped at once.
        match timeout {
            Some(t) => drop(self.wakeup.wait_timeout(state, t)),
            None => drop(self.wakeup.wait(state)),
        }
    }

    pub(crate) fn close(&self) {
        self.lock().closed = true;
    }
}

/// A handle that pushes signals into a kernel from any OS thread, like
/// `computer.pushSignal` from outside the machine. A kernel waiting for work
/// wakes up at once.
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel, Signal};
///
/// let mut kernel = Kernel::new();
/// let sender = kernel.signal_sender();
/// let feeder = std::thread::spawn(move || {
///     sender.push(Signal::new("line").with("hello")).unwrap();
/// });
/// let got = kernel.run(|| event::pull(None, "line")).unwrap();
/// feeder.join().unwrap();
/// assert_eq!(got.unwrap().arg(0).as_str(), Some("hello"));
/// ```
#[derive(Debug)]
pub struct SignalSender {
    remote: Arc<Remote>,
}

impl SignalSender {
    pub(crate) fn new(remote: &Arc<Remote>) -> SignalSender {
        remote.lock().senders += 1;
        SignalSender { remote: remote.clone() }
    }
}

impl Clone for SignalSender {
    fn clone(&self) -> SignalSender {
        SignalSender::new(&self.remote)
    }
}

/// The last sender going away may leave a waiting kernel with nothing that can
/// wake it: tell it, so that it can report that instead of sleeping forever.
impl Drop for SignalSender {
    fn drop(&mut self) {
        self.remote.lock().senders -= 1;
        self.remote.wakeup.notify_all();
    }
}

impl SignalSender {
    /// Queues `signal` in the kernel; signals from one sender arrive in order.
    ///
    /// # Errors
    ///
    /// [`Error::KernelGone`] if the kernel has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Error, Kernel, Signal};
    ///
    /// let kernel = Kernel::new();
    /// let sender = kernel.signal_sender();
    /// drop(kernel);
    /// assert_eq!(sender.push(Signal::new("late")), Err(Error::KernelGone));
    /// ```
    pub fn push(&self, signal: Signal) -> Result<(), Error> {
        self.remote.push(signal)
    }
}

/// Wakes one parked wait from any OS thread: the wait source of a thread
/// parked on something another OS thread finishes (a blocking job's worker)
/// keeps one, made by [`Core::remote_waker`](super::Core::remote_waker). A
/// wake-up of a wait that has ended otherwise does nothing; one after the
/// kernel is gone neither. While it lives, a kernel with nothing else to do
/// waits for it (as for a `SignalSender`) instead of reporting a deadlock.
#[derive(Debug)]
pub(crate) struct RemoteWaker {
    remote: Arc<Remote>,
    parker: Parker,
}

impl RemoteWaker {
    pub(crate) fn new(remote: &Arc<Remote>, parker: Parker) -> RemoteWaker {
        remote.lock().senders += 1;
        RemoteWaker { remote: remote.clone(), parker }
    }

    /// Wakes the wait: it runs in the kernel's next round, after its
    /// deadlines (see `Core::wake`).
    pub(crate) fn wake(&self) {
        self.remote.wake(self.parker);
    }
}

impl Drop for RemoteWaker {
    fn drop(&mut self) {
        self.remote.lock().senders -= 1;
        self.remote.wakeup.notify_all();
    }
}
