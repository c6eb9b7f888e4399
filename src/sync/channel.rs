//! Channels: a buffered queue of values between green threads, kernels and
//! OS threads, many senders and many receivers.
//!
//! The channel's state is behind a lock (`parking_lot`'s: it has no
//! poisoning to test, and nothing here panics while holding it), so that its
//! handles can be sent to other OS threads when the values can. A wait is
//! filed under the lock of the look that found it must wait: the guard goes
//! into the park's registration, so nothing comes between the two (the
//! kernel drops a registration it does not call before anything else runs).
//! A waiter of another kernel or OS thread is woken once the lock is let go
//! ([`Locked`]): that kernel's async host's waker is a user's code, which
//! may use the channel. A waiter queues itself and
//! keeps its place for the whole of its wait: a receiver that finds the
//! channel empty waits in `receiving`, and a sender hands its value straight
//! into the first receiver's slot (`handed`); a sender that finds it full
//! waits in `sending` with its value, and a receiver moves the first such
//! value into the buffer (or, with capacity 0, takes it). So values keep the
//! order of their sends, waiters are served first come first served, and a
//! value is owned by exactly one place at every moment: the buffer, a parked
//! sender's entry, a receiver's slot, or a thread. A wait that ends
//! otherwise (a timeout, a kill, a disconnect) takes its entry out, and with
//! it its value (a sender's) or its slot (a receiver's, whose value goes back
//! to the front of the channel for the next receiver). So a value in a slot
//! may still come back: the channel is disconnected only once every sender
//! is gone and no value is buffered or handed.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use super::block::{self, Deadline, Ended, Waker};
use super::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use super::queue::{Place, Queue};

const SEND: &str = "sync::Sender::send";
const RECV: &str = "sync::Receiver::recv";

/// Makes a bounded channel: a send waits while `capacity` values are
/// waiting to be received.
///
/// A channel of capacity 0 is a *rendezvous*: a send waits until a receiver
/// takes the value (it completes when a waiting receiver is handed it), and
/// [`Sender::try_send`] succeeds only if a receiver is waiting. A select
/// waiting with a receive case on the channel counts as a waiting receiver
/// (see [`Select::recv`](super::Select::recv)).
///
/// The handles are [`Clone`] (many senders, many receivers) and [`Send`] when
/// the values are: a send from another OS thread, or from a green thread of
/// another kernel, wakes the receiver's kernel; on a plain OS thread (one
/// that runs no kernel) a send or a receive that must wait blocks that OS
/// thread.
///
/// # Examples
///
/// ```
/// use cothread::{sync, thread, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let got = kernel.run(|| {
///     let (tx, rx) = sync::channel(2);
///     let producer = thread::create(move || {
///         for i in 1..=5 {
///             tx.send(i).unwrap(); // waits while two are unread
///         }
///     }); // `tx` is dropped here: the channel disconnects once drained
///     let got: Vec<i32> = rx.iter().collect();
///     producer.join(None).unwrap();
///     got
/// });
/// assert_eq!(got.unwrap(), [1, 2, 3, 4, 5]);
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    make(Some(capacity))
}

/// Makes an unbounded channel: a send never waits.
///
/// # Examples
///
/// ```
/// use cothread::sync;
///
/// let (tx, rx) = sync::unbounded();
/// for word in ["a", "b", "c"] {
///     tx.send(word).unwrap();
/// }
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(None)
}

fn make<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            buffer: VecDeque::new(),
            capacity,
            senders: 1,
            receivers: 1,
            sending: Queue::default(),
            receiving: Queue::default(),
            handed: Vec::new(),
            offers: Vec::new(),
            watchers: Vec::new(),
            next_watcher: 0,
            deferred: Vec::new(),
        }),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

struct Chan<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    buffer: VecDeque<T>,
    /// `None`: unbounded.
    capacity: Option<usize>,
    senders: usize,
    receivers: usize,
    /// Senders waiting for room, each with its value.
    sending: Queue<Parked<T>>,
    /// Receivers waiting for a value (with the waker of their latest park).
    receiving: Queue<Option<Waker>>,
    /// Values handed to a waiting receiver that has not yet run to take it.
    handed: Vec<(Place, T)>,
    /// The places in `receiving` that are selects' offers to receive (see
    /// [`Watch::offer`]), not receivers in `recv`.
    offers: Vec<Place>,
    /// Selects waiting for the channel to change (see [`Watch`]), by
    /// ticket: all woken, and dropped, at its next change; a select whose
    /// wait ended otherwise takes its own out. With each, whether it
    /// watches the send side.
    watchers: Vec<(u64, Waker, bool)>,
    /// The ticket of the next watcher.
    next_watcher: u64,
    /// Waiters woken under the lock that must be told once it is let go
    /// (see [`Waker::wake_or_defer`]); emptied by [`Locked`]'s drop.
    deferred: Vec<Waker>,
}

struct Parked<T> {
    value: T,
    waker: Option<Waker>,
}

impl<T> Chan<T> {
    fn lock(&self) -> Locked<'_, T> {
        // The state is changed only by this file's code, which does not panic
        // while it holds the lock (values are dropped after it is released).
        Locked(self.state.lock())
    }
}

/// The channel's state, locked. Letting go of it tells the waiters that
/// could not be told under the lock ([`State::wake`]).
struct Locked<'a, T>(MutexGuard<'a, State<T>>);

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = State<T>;

    fn deref(&self) -> &State<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.0
    }
}

impl<T> Drop for Locked<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if !self.0.deferred.is_empty() {
            self.wake_deferred();
        }
    }
}

impl<T> Locked<'_, T> {
    #[cold]
    fn wake_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.0.deferred);
        MutexGuard::unlocked(&mut self.0, || {
            crate::park::each_then_panic(&deferred, Waker::wake);
        });
    }
}

impl<T> State<T> {
    /// Something a select may wait for happened (a value came or went, a
    /// waiter queued, a side disconnected): the selects watching look again.
    #[inline]
    fn changed(&mut self) {
        if !self.watchers.is_empty() {
            self.wake_watchers();
        }
    }

    #[cold]
    fn wake_watchers(&mut self) {
        for (_, waker, _) in self.watchers.drain(..) {
            wake(&mut self.deferred, Some(waker));
        }
    }

    /// Wakes `waker`'s waiter: see [`wake`].
    #[inline]
    fn wake(&mut self, waker: Option<Waker>) {
        wake(&mut self.deferred, waker);
    }

    /// A receiver began to wait in a way only a send can use (a select's
    /// offer): the selects watching the send side look again; those
    /// watching the receive side have nothing new to see (waking them
    /// would make two receiving selects wake each other for ever).
    fn senders_may_go(&mut self) {
        for (ticket, waker, send) in std::mem::take(&mut self.watchers) {
            if send {
                self.wake(Some(waker));
            } else {
                self.watchers.push((ticket, waker, send));
            }
        }
    }

    /// Whether a receive would not wait: a value is there, or a sender waits
    /// with one, or the channel is disconnected.
    fn can_recv(&self) -> bool {
        !self.buffer.is_empty() || !self.sending.is_empty() || self.disconnected()
    }

    /// Whether a receive finds the channel over: every sender is gone and
    /// no value is left, neither buffered nor handed to a receiver that has
    /// not taken it yet (that value comes back to the channel if its
    /// receiver never takes it). The caller has found nothing to take.
    fn disconnected(&self) -> bool {
        self.senders == 0 && self.handed.is_empty()
    }

    /// Whether a send would not wait: there is room, or a receiver waits, or
    /// every receiver is gone.
    /// [`can_send`](State::can_send) for `send`, else
    /// [`can_recv`](State::can_recv).
    fn can(&self, send: bool) -> bool {
        if send {
            self.can_send()
        } else {
            self.can_recv()
        }
    }

    fn can_send(&self) -> bool {
        self.has_room() || !self.receiving.is_empty() || self.receivers == 0
    }

    fn has_room(&self) -> bool {
        self.capacity.map_or(true, |c| self.buffer.len() < c)
    }

    /// Takes the next value, if one can be taken now: the buffer's first (the
    /// first waiting sender's value takes its place), else a waiting sender's.
    fn take(&mut self) -> Option<T> {
        if let Some(value) = self.buffer.pop_front() {
            if self.has_room() {
                if let Some((_, parked)) = self.sending.pop_front() {
                    self.wake(parked.waker);
                    self.buffer.push_back(parked.value);
                }
            }
            self.changed();
            return Some(value);
        }
        let (_, parked) = self.sending.pop_front()?;
        self.wake(parked.waker);
        self.changed();
        Some(parked.value)
    }

    /// Puts `value` in the channel if it fits now: into the first waiting
    /// receiver's slot, else into the buffer.
    fn put(&mut self, value: T) -> Result<(), T> {
        if let Some((place, waker)) = self.receiving.pop_front() {
            self.wake(waker);
            self.handed.push((place, value));
            return Ok(());
        }
        if self.has_room() {
            self.buffer.push_back(value);
            self.changed();
            return Ok(());
        }
        Err(value)
    }

    /// A handed value whose receiver will not take it: to the next receiver
    /// waiting in `recv`, or back to the front of the channel (over its
    /// capacity if need be: it was sent, and is not lost), where the selects
    /// see it. Never to a select's offer: two selects would pass it to and
    /// fro for ever.
    fn give_back(&mut self, value: T) {
        let offers = &self.offers;
        if let Some((place, waker)) = self.receiving.remove_first(|p| !offers.contains(&p)) {
            self.wake(waker);
            self.handed.push((place, value));
        } else {
            self.buffer.push_front(value);
            self.changed();
        }
    }

    fn take_handed(&mut self, place: Place) -> Option<T> {
        let at = self.handed.iter().position(|&(p, _)| p == place)?;
        let value = self.handed.swap_remove(at).1;
        if self.handed.is_empty() && self.senders == 0 {
            // The last value that could have come back is taken: the
            // receivers that wait for it, and the selects, look again (and
            // find the channel disconnected once it is drained).
            self.dismiss_receivers();
        }
        Some(value)
    }

    /// Takes every waiting receiver out of its queue and wakes it, to look
    /// again; and wakes the selects.
    fn dismiss_receivers(&mut self) {
        for (_, waker) in self.receiving.drain() {
            wake(&mut self.deferred, waker);
        }
        self.offers.clear();
        self.changed();
    }
}

/// Wakes `waker`'s waiter now, or (a waiter of another kernel or OS
/// thread) keeps it in `deferred`, to be woken once the lock is let go: see
/// [`Waker::wake_or_defer`].
#[inline]
fn wake(deferred: &mut Vec<Waker>, waker: Option<Waker>) {
    if let Some(later) = waker.and_then(Waker::wake_or_defer) {
        deferred.push(later);
    }
}

/// The sending half of a channel; clone it for more senders.
///
/// # Examples
///
/// ```
/// use cothread::sync;
///
/// let (tx, rx) = sync::unbounded();
/// let tx2 = tx.clone();
/// tx.send(1).unwrap();
/// tx2.send(2).unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel; clone it for more receivers (each value
/// goes to one of them).
///
/// # Examples
///
/// ```
/// use cothread::sync;
///
/// let (tx, rx) = sync::unbounded();
/// let rx2 = rx.clone();
/// tx.send("a").unwrap();
/// tx.send("b").unwrap();
/// assert_eq!((rx.recv(), rx2.recv()), (Ok("a"), Ok("b")));
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full (with capacity 0:
    /// until a receiver takes it). Senders that wait are served in the order
    /// they began waiting.
    ///
    /// In a green thread the wait parks the thread (`Kernel::threads` shows
    /// `sync::Sender::send`); a kill, a hard interrupt or the kernel's drop
    /// ends it, and the value is dropped with the wait. On a plain OS thread
    /// it blocks that thread.
    ///
    /// # Errors
    ///
    /// [`SendError`], with the value, if every receiver is gone (also when
    /// they go while it waits), or if the calling thread is being unwound
    /// and cannot wait.
    ///
    /// # Panics
    ///
    /// If it must wait where nothing can wait: in a listener or timer
    /// callback, or on the host's stack during a kernel call.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{sync, thread, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let (tx, rx) = sync::channel(0); // a rendezvous
    ///     let reader = thread::create(move || rx.recv().unwrap());
    ///     tx.send("hello").unwrap();
    ///     assert_eq!(reader.wait().unwrap(), "hello");
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_until(value, None).map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `value` if it fits now, without waiting: it never overtakes a
    /// waiting sender. Works anywhere, in a callback or on the host too.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the channel is full (capacity 0: no
    /// receiver waits), [`TrySendError::Disconnected`] if every receiver is
    /// gone; each with the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, TrySendError};
    ///
    /// let (tx, rx) = sync::channel(1);
    /// assert_eq!(tx.try_send('a'), Ok(()));
    /// assert_eq!(tx.try_send('b'), Err(TrySendError::Full('b')));
    /// assert_eq!(rx.try_recv(), Ok('a'));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.chan.lock();
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        state.put(value).map_err(TrySendError::Full)
    }

    /// Sends `value`, waiting at most `timeout` while the channel is full
    /// (on the kernel's clock in a green thread, the OS's on a plain OS
    /// thread).
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] if the timeout passed (the value was not
    /// sent, and the wait withdrawn), [`SendTimeoutError::Disconnected`] as
    /// [`send`](Sender::send) fails; each with the value.
    ///
    /// # Panics
    ///
    /// As [`send`](Sender::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, SendTimeoutError};
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let (tx, _rx) = sync::channel(1);
    ///     tx.send(1).unwrap();
    ///     let late = tx.send_timeout(2, Duration::from_millis(300));
    ///     assert_eq!(late, Err(SendTimeoutError::Timeout(2)));
    ///     assert_eq!(os::uptime(), Duration::from_millis(300));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Some(timeout))
    }

    #[track_caller]
    fn send_until(&self, value: T, timeout: Option<Duration>) -> Result<(), SendTimeoutError<T>> {
        let chan = &*self.chan;
        // Read before the lock: nothing that can unwind (a stack check) runs
        // between the entry's push and its `Withdraw`.
        let deadline = timeout.map(Deadline::after);
        let mut state = chan.lock();
        if state.receivers == 0 {
            return Err(SendTimeoutError::Disconnected(value));
        }
        let value = match state.put(value) {
            Ok(()) => return Ok(()),
            Err(value) => value,
        };
        if timeout == Some(Duration::ZERO) {
            return Err(SendTimeoutError::Timeout(value));
        }
        let place = state.sending.push(0, Parked { value, waker: None });
        // A rendezvous's receive can be made now.
        state.changed();
        // Takes the entry out, value and all, however the wait ends: a kill
        // unwinds through here.
        let withdraw = Withdraw { chan, place: Cell::new(Some(place)), sending: true };
        loop {
            // The lock is held from the look to the filing of the wait, so
            // nothing (a receive from another OS thread) comes between them
            // unseen.
            let ended = block::wait(SEND, deadline, move |waker| {
                let receivers = state.receivers;
                match state.sending.get_mut(place) {
                    Some(parked) if receivers > 0 => parked.waker = Some(waker),
                    _ => {
                        drop(state);
                        waker.wake();
                    }
                }
            });
            state = chan.lock();
            if !state.sending.contains(place) {
                drop(state);
                std::mem::forget(withdraw);
                return Ok(());
            }
            let gone = state.receivers == 0;
            if gone || ended != Ended::Woken {
                let parked = state.sending.remove(place).expect("the entry was just found");
                drop(state);
                std::mem::forget(withdraw);
                return Err(match ended {
                    Ended::TimedOut if !gone => SendTimeoutError::Timeout(parked.value),
                    _ => SendTimeoutError::Disconnected(parked.value),
                });
            }
        }
    }

    /// Whether every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = cothread::sync::unbounded::<()>();
    /// assert!(!tx.is_disconnected());
    /// drop(rx);
    /// assert!(tx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        self.chan.lock().receivers == 0
    }

    /// How many values wait in the channel to be received (not counting
    /// those of senders waiting for room).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = cothread::sync::unbounded();
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.lock().buffer.len()
    }

    /// Whether no value waits in the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = cothread::sync::unbounded::<u8>();
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel's capacity; `None` for an unbounded one.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync;
    /// assert_eq!(sync::channel::<u8>(4).0.capacity(), Some(4));
    /// assert_eq!(sync::unbounded::<u8>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.lock().capacity
    }
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting while the channel is empty.
    /// Receivers that wait are served in the order they began waiting.
    ///
    /// In a green thread the wait parks the thread (`Kernel::threads` shows
    /// `sync::Receiver::recv`); on a plain OS thread it blocks that thread.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is empty and every sender is gone
    /// (values sent before are received first, also one handed to another
    /// waiting receiver that never takes it: while it is handed, this
    /// waits), or if the calling thread is
    /// being unwound and cannot wait.
    ///
    /// # Panics
    ///
    /// If it must wait where nothing can wait: in a listener or timer
    /// callback, or on the host's stack during a kernel call.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, sync, thread, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let (tx, rx) = sync::unbounded();
    ///     thread::create(move || {
    ///         os::sleep(Duration::from_secs(1));
    ///         tx.send("late").unwrap();
    ///     });
    ///     assert_eq!(rx.recv(), Ok("late"));
    ///     assert_eq!(os::uptime(), Duration::from_secs(1));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Receives a value if one is there now, without waiting. Works
    /// anywhere, in a callback or on the host too.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if there is none, and
    /// [`TryRecvError::Disconnected`] if moreover every sender is gone and
    /// no value is handed to a receiver yet to take it (it would come back
    /// if that receiver never took it).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, TryRecvError};
    ///
    /// let (tx, rx) = sync::unbounded();
    /// tx.send(3).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(3));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.chan.lock();
        match state.take() {
            Some(value) => Ok(value),
            None if state.disconnected() => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Receives the next value, waiting at most `timeout` (on the kernel's
    /// clock in a green thread, the OS's on a plain OS thread).
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if the timeout passed (the wait is
    /// withdrawn), [`RecvTimeoutError::Disconnected`] as
    /// [`recv`](Receiver::recv) fails.
    ///
    /// # Panics
    ///
    /// As [`recv`](Receiver::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, RecvTimeoutError};
    /// use cothread::{os, thread, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let (tx, rx) = sync::unbounded();
    ///     thread::create(move || {
    ///         os::sleep(Duration::from_secs(5));
    ///         let _ = tx.send(1);
    ///     });
    ///     let quick = rx.recv_timeout(Duration::from_secs(1));
    ///     assert_eq!(quick, Err(RecvTimeoutError::Timeout));
    ///     assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
    ///     assert_eq!(os::uptime(), Duration::from_secs(5));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(timeout))
    }

    #[track_caller]
    fn recv_until(&self, timeout: Option<Duration>) -> Result<T, RecvTimeoutError> {
        let chan = &*self.chan;
        let mut deadline = None;
        let mut ended = Ended::Woken;
        // Takes the entry out, or passes on a value handed to it, however the
        // wait ends: a kill unwinds through here.
        let withdraw = Withdraw { chan, place: Cell::new(None), sending: false };
        let place = &withdraw.place;
        loop {
            let mut state = chan.lock();
            if let Some(at) = place.get() {
                if let Some(value) = state.take_handed(at) {
                    place.set(None);
                    return Ok(value);
                }
                if !state.receiving.contains(at) {
                    // Dismissed (the channel may be over): look again.
                    place.set(None);
                }
            }
            if place.get().is_none() {
                if let Some(value) = state.take() {
                    return Ok(value);
                }
                if state.disconnected() {
                    return Err(RecvTimeoutError::Disconnected);
                }
            }
            if ended != Ended::Woken || timeout == Some(Duration::ZERO) {
                if let Some(at) = place.take() {
                    state.receiving.remove(at);
                }
                return Err(match ended {
                    Ended::Shutdown => RecvTimeoutError::Disconnected,
                    _ => RecvTimeoutError::Timeout,
                });
            }
            if deadline.is_none() {
                deadline = timeout.map(Deadline::after);
            }
            // The lock is held from the look to the filing of the wait, so
            // nothing (a send from another OS thread) comes between them
            // unseen.
            ended = block::wait(RECV, deadline, move |waker| {
                let filed = state.receiving.file_waker(place, waker);
                // A rendezvous's send can be made now.
                state.changed();
                drop(state);
                if let Err(waker) = filed {
                    // Not met while the lock is held from the look (which
                    // found the entry queued); should it be, look again.
                    waker.wake();
                }
            });
        }
    }

    /// An iterator that receives values with [`recv`](Receiver::recv) until
    /// the channel is empty and disconnected.
    ///
    /// # Panics
    ///
    /// As [`recv`](Receiver::recv), as it is advanced.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = cothread::sync::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().sum::<i32>(), 3);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// An iterator over the values there now, that never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = cothread::sync::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// assert_eq!(rx.try_iter().count(), 0); // tx lives: empty, not disconnected
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Whether every sender is gone (values may still wait to be received).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = cothread::sync::unbounded::<()>();
    /// drop(tx);
    /// assert!(rx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        self.chan.lock().senders == 0
    }

    /// How many values wait in the channel to be received (not counting
    /// those of senders waiting for room).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = cothread::sync::channel(3);
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.lock().buffer.len()
    }

    /// Whether no value waits in the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = cothread::sync::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Takes a waiter's entry out of its queue when its wait ends by unwinding
/// (a kill, a hard interrupt, the kernel's drop): a sender's value is
/// dropped with it, exactly once; a value already handed to a receiver goes
/// on to the next one. Emptied (or forgotten) when the wait ends normally.
struct Withdraw<'a, T> {
    chan: &'a Chan<T>,
    /// Its place in its queue, once filed; cleared when the wait is over.
    place: Cell<Option<Place>>,
    sending: bool,
}

impl<T> Drop for Withdraw<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(place) = self.place.get() {
            self.withdraw(place);
        }
    }
}

impl<T> Withdraw<'_, T> {
    #[cold]
    fn withdraw(&self, place: Place) {
        let mut state = self.chan.lock();
        let value = if self.sending {
            state.sending.remove(place).map(|parked| parked.value)
        } else {
            state.receiving.remove(place);
            if let Some(value) = state.take_handed(place) {
                state.give_back(value);
            }
            None
        };
        // The value's destructor runs without the channel's lock: it may use
        // the channel.
        drop(state);
        drop(value);
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Receiver { chan: self.chan.clone() }
    }
}

/// The last sender going away wakes every waiting receiver: the channel
/// disconnects once it is drained.
impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.senders -= 1;
        if state.senders == 0 {
            state.dismiss_receivers();
        }
    }
}

/// The last receiver going away wakes every waiting sender (each takes its
/// value back in its error) and drops the values nobody can receive.
impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receivers -= 1;
        if state.receivers > 0 {
            return;
        }
        // Each waiting sender is woken; its entry stays, for it to take its
        // value back in its error.
        let State { sending, deferred, .. } = &mut *state;
        for parked in sending.iter_mut() {
            wake(deferred, parked.waker.take());
        }
        state.changed();
        let unread = std::mem::take(&mut state.buffer);
        drop(state);
        drop(unread);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// The iterator of [`Receiver::iter`]: receives until the channel is empty
/// and disconnected.
///
/// # Examples
///
/// ```
/// let (tx, rx) = cothread::sync::unbounded();
/// tx.send('x').unwrap();
/// drop(tx);
/// let mut it = rx.iter();
/// assert_eq!((it.next(), it.next()), (Some('x'), None));
/// ```
#[derive(Debug)]
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

/// The iterator of [`Receiver::try_iter`]: the values there now.
///
/// # Examples
///
/// ```
/// let (tx, rx) = cothread::sync::unbounded();
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_iter().next(), Some(1));
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

/// The iterator of a `Receiver` taken by value: receives until the channel
/// is empty and disconnected.
///
/// # Examples
///
/// ```
/// let (tx, rx) = cothread::sync::unbounded();
/// tx.send(5).unwrap();
/// drop(tx);
/// assert_eq!(rx.into_iter().collect::<Vec<_>>(), [5]);
/// ```
#[derive(Debug)]
pub struct IntoIter<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}

/// A channel as a select sees it: whether one side's operation would go
/// through now, and a waker to call at the channel's next change.
pub(crate) trait Watch {
    /// Whether a receive (`send == false`) or a send would not wait.
    fn ready(&self, send: bool) -> bool;
    /// Files `waker` to be woken at the channel's next change and returns
    /// its ticket; files nothing, and returns `None`, if the side is ready
    /// already.
    fn watch(&self, send: bool, waker: Waker) -> Option<u64>;
    /// Takes out the watcher of `ticket`, if the channel has not woken it.
    fn unwatch(&self, ticket: u64);
    /// On a rendezvous (capacity 0) whose receive would wait: queues a
    /// select's offer to receive, as a receiver waiting in `recv` is
    /// queued, so that a send (a select's send case too) sees a receiver
    /// waiting and hands it a value, waking `waker`; returns its place.
    /// `None` on any other channel, or if a receive would not wait.
    fn offer(&self, waker: Waker) -> Option<Place>;
    /// Takes out the offer at `place` as the select's wait ends, however it
    /// ends. A value handed to it goes back as a receiver's would: to the
    /// next receiver waiting in `recv`, or to the front of the channel, where
    /// the select (or the next receive) takes it.
    fn withdraw(&self, place: Place);
}

impl<T> Watch for Chan<T> {
    fn ready(&self, send: bool) -> bool {
        self.lock().can(send)
    }

    fn watch(&self, send: bool, waker: Waker) -> Option<u64> {
        let mut state = self.lock();
        if state.can(send) {
            return None;
        }
        let ticket = state.next_watcher;
        state.next_watcher += 1;
        state.watchers.push((ticket, waker, send));
        Some(ticket)
    }

    fn unwatch(&self, ticket: u64) {
        let mut state = self.lock();
        if let Some(at) = state.watchers.iter().position(|&(t, _, _)| t == ticket) {
            let (_, waker, _) = state.watchers.remove(at);
            drop(state);
            drop(waker);
        }
    }

    fn offer(&self, waker: Waker) -> Option<Place> {
        let mut state = self.lock();
        if state.capacity != Some(0) || state.can_recv() {
            return None;
        }
        let place = state.receiving.push(0, Some(waker));
        state.offers.push(place);
        state.senders_may_go();
        Some(place)
    }

    fn withdraw(&self, place: Place) {
        let mut state = self.lock();
        state.receiving.remove(place);
        state.offers.retain(|&p| p != place);
        if let Some(value) = state.take_handed(place) {
            state.give_back(value);
        }
    }
}

impl<T> Sender<T> {
    /// This channel, for a select's send case.
    pub(crate) fn watch(&self) -> &dyn Watch {
        &*self.chan
    }
}

impl<T> Receiver<T> {
    /// This channel, for a select's receive case.
    pub(crate) fn watch(&self) -> &dyn Watch {
        &*self.chan
    }
}
