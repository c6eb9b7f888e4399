//! Remote wake-ups: the part of the kernel other OS threads reach, through a
//! [`SignalSender`] (a signal) or a [`RemoteWaker`] (one parked wait).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::event::Signal;
use crate::id::ThreadId;
use crate::park::{keep_waker, Parker, TaskKey};

/// The part of the kernel that other OS threads reach through a `SignalSender`.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    state: Mutex<RemoteState>,
    wakeup: Condvar,
    /// Set with each push, so that the kernel takes the lock only when there is
    /// something to take.
    pub(super) pending: AtomicBool,
    /// Live `SignalSender`s and `RemoteWaker`s: what could still wake a
    /// kernel that has nothing else to do. Counted without the lock (a wait
    /// of a channel makes and drops a waker); the one change that can end
    /// the kernel's wait for them, the count reaching zero on another OS
    /// thread, takes the lock before it notifies, and the kernel reads the
    /// count under the lock before it waits, so it cannot miss it.
    handles: AtomicUsize,
}

#[derive(Debug, Default)]
pub(super) struct RemoteState {
    pub(super) signals: VecDeque<Signal>,
    /// Parked waits woken from other OS threads ([`RemoteWaker`]).
    pub(super) wakes: Vec<Parker>,
    /// Tasks the watchdog asks to end, from its thread.
    pub(super) overruns: Vec<(TaskKey, ThreadId)>,
    /// An async host waiting for the kernel to have work
    /// (`Kernel::ready`): woken, once, by the next push or wake-up.
    host: Option<std::task::Waker>,
    closed: bool,
    /// Whether the kernel's OS thread waits on `wakeup` (set and cleared
    /// under the lock, around the wait): a push or wake-up notifies it only
    /// then, so a busy kernel costs its senders no system call.
    sleeping: bool,
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
        self.notify(state);
        Ok(())
    }

    /// Tells the kernel (waiting in the OS, or an async host waiting on
    /// `Kernel::ready`) of what `state` has just been given.
    fn notify(&self, mut state: std::sync::MutexGuard<'_, RemoteState>) {
        self.pending.store(true, Ordering::Release);
        let host = state.host.take();
        let sleeping = state.sleeping;
        drop(state);
        if sleeping {
            self.wakeup.notify_one();
        }
        // Outside the lock: a host's waker runs its own code.
        if let Some(host) = host {
            host.wake();
        }
    }

    /// Queues a wake-up of `parker`'s wait for the kernel's next round, and
    /// tells the kernel as `tell` says.
    fn wake(&self, parker: Parker, tell: Tell) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.wakes.push(parker);
        match tell {
            Tell::Now => self.notify(state),
            Tell::NotNow => self.pending.store(true, Ordering::Release),
        }
    }

    /// Tells the kernel (waiting in the OS, or awaited by an async host)
    /// that something was queued for it: a wake-up queued with
    /// [`Tell::NotNow`] from inside another kernel.
    pub(super) fn tell(&self) {
        self.notify(self.lock());
    }

    /// Keeps `waker` to be woken by the next push or wake-up from another
    /// OS thread (replacing the one kept before); returns `false`, keeping
    /// nothing, if one is queued already or the kernel is going.
    pub(super) fn wake_host_on_next(&self, waker: &std::task::Waker) -> bool {
        let mut state = self.lock();
        if state.closed || !state.signals.is_empty() || !state.wakes.is_empty() {
            return false;
        }
        keep_waker(&mut state.host, waker);
        true
    }

    /// Asks for the end of the task `key` (serial `id`), which the watchdog
    /// found running too long, at the kernel's next round.
    pub(crate) fn end_overrun(&self, key: TaskKey, id: ThreadId) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.overruns.push((key, id));
        self.pending.store(true, Ordering::Release);
        let sleeping = state.sleeping;
        drop(state);
        if sleeping {
            self.wakeup.notify_one();
        }
    }

    /// Blocks the kernel's OS thread until a push or a wake-up, or until
    /// `timeout` passes.
    pub(super) fn wait(&self, timeout: Option<Duration>) {
        let mut state = self.lock();
        let queued =
            !state.signals.is_empty() || !state.wakes.is_empty() || !state.overruns.is_empty();
        if queued || (timeout.is_none() && !self.has_handles()) {
            return;
        }
        state.sleeping = true;
        // Poisoning is harmless here (see `lock`).
        let mut state = match timeout {
            Some(t) => match self.wakeup.wait_timeout(state, t) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            },
            None => self.wakeup.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        state.sleeping = false;
    }

    /// Whether a `SignalSender` or a `RemoteWaker` lives.
    pub(super) fn has_handles(&self) -> bool {
        self.handles.load(Ordering::SeqCst) > 0
    }

    fn acquire(&self) {
        self.handles.fetch_add(1, Ordering::SeqCst);
    }

    /// One handle fewer. The last one going away may leave a waiting kernel
    /// with nothing that can wake it: it is told, so that it can report that
    /// instead of sleeping for ever; not from its own OS thread, where it is
    /// not waiting (it runs the caller): `from_home` tells, asked only then.
    fn release(&self, from_home: impl FnOnce() -> bool) {
        // The guard is dropped with the condition: notified after the unlock.
        if self.handles.fetch_sub(1, Ordering::SeqCst) == 1 && !from_home() && self.lock().sleeping
        {
            self.wakeup.notify_all();
        }
    }

    /// Where the caller runs relative to this `Remote`'s kernel.
    fn home(&self) -> Home {
        match super::current::try_current() {
            Some(shared) if shared.remote_at == self as *const Remote as usize => {
                match shared.core.try_borrow_mut() {
                    Ok(core) => Home::Free(core),
                    Err(_) => Home::Busy,
                }
            }
            // Inside another kernel's bookkeeping (a wait source's
            // registration): telling this kernel may call its async host's
            // waker, a user's code, which must not run there.
            Some(shared) if shared.core.try_borrow_mut().is_err() => Home::Inside(shared),
            _ => Home::Away,
        }
    }

    pub(crate) fn close(&self) {
        let host = {
            let mut state = self.lock();
            state.closed = true;
            state.host.take()
        };
        // Outside the lock: a host's waker runs its own code (whose panic,
        // as the kernel is dropped in an unwind, must not abort). A host
        // waiting on `Kernel::ready` finds it gone, and ready.
        crate::park::each_then_panic(host, std::task::Waker::wake);
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
        remote.acquire();
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
        self.remote.release(|| false);
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
        remote.acquire();
        RemoteWaker { remote: remote.clone(), parker }
    }

    /// Wakes the wait: it runs in the kernel's next round, after its
    /// deadlines (see `Core::wake`). From the kernel's own green threads it
    /// goes straight into the kernel's wake-ups, without a lock or a
    /// system call: a channel between two green threads of one kernel pays
    /// for no OS thread it does not use.
    pub(crate) fn wake(&self) {
        match self.remote.home() {
            Home::Inside(shared) => {
                self.remote.wake(self.parker, Tell::NotNow);
                shared.tell_later(self.remote.clone());
            }
            Home::Away => self.remote.wake(self.parker, Tell::Now),
            home => self.wake_home(home),
        }
    }

    /// Wakes the wait if the caller runs in its kernel, where a wake-up is
    /// the kernel's own bookkeeping; else gives the waker back. From
    /// elsewhere a wake-up may call the kernel's async host's waker (a
    /// user's code, see `Kernel::ready`), so a caller holding a lock that
    /// code could take wakes it once the lock is let go.
    pub(crate) fn wake_at_home(self) -> Result<(), RemoteWaker> {
        match self.remote.home() {
            Home::Inside(_) | Home::Away => Err(self),
            home => {
                self.wake_home(home);
                Ok(())
            }
        }
    }

    /// The wake-up from its own kernel (`home` is `Free` or `Busy`).
    #[inline]
    fn wake_home(&self, home: Home) {
        match home {
            Home::Free(mut core) => {
                core.wake(self.parker);
            }
            // Under the kernel's borrow (a wait source's registration):
            // queued for its next round, no one to tell.
            _ => self.remote.wake(self.parker, Tell::NotNow),
        }
    }
}

/// Whom a wake-up from elsewhere tells.
#[derive(Clone, Copy)]
enum Tell {
    /// The kernel's OS thread if it waits, and its async host's waker.
    Now,
    /// Nobody now: the caller runs inside the kernel, which finds the
    /// wake-up at its next round, or tells it later ([`Remote::tell`]).
    NotNow,
}

/// Where a caller runs relative to a `Remote`'s kernel.
enum Home {
    /// In that kernel, its state free to borrow (borrowed here).
    Free(std::cell::RefMut<'static, super::Core>),
    /// In that kernel, its state borrowed further out.
    Busy,
    /// In another kernel, whose state is borrowed further out.
    Inside(&'static super::Shared),
    /// Elsewhere: another kernel, or a plain OS thread.
    Away,
}

impl Drop for RemoteWaker {
    fn drop(&mut self) {
        self.remote.release(|| matches!(self.remote.home(), Home::Free(_) | Home::Busy));
    }
}
