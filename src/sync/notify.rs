//! A wake-up call between the green threads of one kernel that is not lost
//! when nobody waits for it (unlike a signal).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::Duration;

use super::queue::{Place, Queue};
use crate::os;
use crate::park::{park_local, LocalWaker, Woke};

const WAIT: &str = "sync::Notify::wait";

/// Wakes green threads of one kernel that wait for something to happen:
/// [`notify_one`](Notify::notify_one) wakes the thread that has waited
/// longest, or, if none waits, stores one permit that the next
/// [`wait`](Notify::wait) takes at once (several stored notifications are
/// one: a permit is there or not, as in tokio's `Notify`);
/// [`notify_all`](Notify::notify_all) wakes every waiting thread and stores
/// nothing.
///
/// A thread woken by `notify_one` that dies before it runs passes the
/// notification on. Like [`Mutex`](super::Mutex), it is kernel-local
/// (neither `Send` nor `Sync`).
///
/// # Examples
///
/// ```
/// use cothread::sync::Notify;
/// use cothread::{thread, Kernel};
/// use std::rc::Rc;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let ready = Rc::new(Notify::new());
///     ready.notify_one(); // nobody waits yet: stored
///     let r = ready.clone();
///     let waiter = thread::create(move || r.wait()); // takes it at once
///     assert!(waiter.join(None).is_ok());
/// }).unwrap();
/// ```
pub struct Notify {
    permit: Cell<bool>,
    waiters: RefCell<Queue<Option<LocalWaker>>>,
    /// Waiters notified that have not yet run, and whether by `notify_one`
    /// (a notification to pass on if they die first).
    notified: RefCell<Vec<(Place, bool)>>,
}

impl Notify {
    /// A `Notify` with no permit stored and nobody waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let n = cothread::sync::Notify::new();
    /// assert_eq!(n.waiters(), 0);
    /// ```
    pub const fn new() -> Notify {
        Notify {
            permit: Cell::new(false),
            waiters: RefCell::new(Queue::new()),
            notified: RefCell::new(Vec::new()),
        }
    }

    /// Wakes the thread that has waited longest; if none waits, stores a
    /// permit for the next [`wait`](Notify::wait). Works anywhere, in a
    /// callback or on the host too.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Notify;
    /// use cothread::{thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let order = kernel.run(|| {
    ///     let n = Rc::new(Notify::new());
    ///     let order = Rc::new(RefCell::new(Vec::new()));
    ///     let waiters: Vec<_> = ["first", "second"]
    ///         .into_iter()
    ///         .map(|name| {
    ///             let (n, order) = (n.clone(), order.clone());
    ///             thread::create(move || { n.wait(); order.borrow_mut().push(name) })
    ///         })
    ///         .collect();
    ///     n.notify_one(); // the longest waiter
    ///     n.notify_one();
    ///     thread::wait_for_all(&waiters, None).unwrap();
    ///     let order = order.borrow().clone();
    ///     order
    /// });
    /// assert_eq!(order.unwrap(), ["first", "second"]);
    /// ```
    pub fn notify_one(&self) {
        let next = self.waiters.borrow_mut().pop_front();
        match next {
            Some((place, waker)) => {
                self.notified.borrow_mut().push((place, true));
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            None => self.permit.set(true),
        }
    }

    /// Wakes every thread waiting now, in the order they began waiting;
    /// stores no permit. Works anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Notify;
    /// use cothread::{thread, Kernel};
    /// use std::rc::Rc;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let n = Rc::new(Notify::new());
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| { let n = n.clone(); thread::create(move || n.wait()) })
    ///         .collect();
    ///     assert_eq!(n.waiters(), 3);
    ///     n.notify_all();
    ///     thread::wait_for_all(&waiters, None).unwrap();
    ///     assert!(!n.wait_timeout(std::time::Duration::from_secs(1))); // nothing stored
    /// }).unwrap();
    /// ```
    pub fn notify_all(&self) {
        let woken: Vec<_> = self.waiters.borrow_mut().drain().collect();
        let mut notified = self.notified.borrow_mut();
        notified.extend(woken.iter().map(|&(place, _)| (place, false)));
        drop(notified);
        for (_, waker) in woken {
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Parks the calling green thread until it is notified; returns at once
    /// if a permit is stored (taking it). `Kernel::threads` shows a waiter as
    /// `sync::Notify::wait`. A thread being unwound does not wait: it
    /// returns at once.
    ///
    /// # Panics
    ///
    /// If it must wait where nothing can wait: outside a green thread, in a
    /// listener or timer callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Notify;
    /// use cothread::{os, thread, Kernel};
    /// use std::{rc::Rc, time::Duration};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let n = Rc::new(Notify::new());
    ///     let n2 = n.clone();
    ///     thread::create(move || { os::sleep(Duration::from_secs(1)); n2.notify_one() });
    ///     n.wait();
    ///     assert_eq!(os::uptime(), Duration::from_secs(1));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits as [`wait`](Notify::wait) does, at most `timeout` on the
    /// kernel's clock; `true` if notified, `false` if the timeout passed.
    ///
    /// # Panics
    ///
    /// As [`wait`](Notify::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Notify;
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let n = Notify::new();
    ///     assert!(!n.wait_timeout(Duration::from_millis(250)));
    ///     assert_eq!(os::uptime(), Duration::from_millis(250));
    ///     n.notify_one();
    ///     assert!(n.wait_timeout(Duration::from_millis(250))); // the stored permit
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(os::uptime().saturating_add(timeout)))
    }

    /// How many threads wait now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cothread::sync::Notify::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }

    #[track_caller]
    fn wait_until(&self, deadline: Option<Duration>) -> bool {
        if self.permit.replace(false) {
            return true;
        }
        // Leaves the queue, or passes on a notification, however the wait
        // ends: a kill unwinds through here.
        let withdraw = Withdraw { notify: self, place: Cell::new(None) };
        loop {
            let woke = park_local(WAIT, deadline, |waker| {
                let mut waiters = self.waiters.borrow_mut();
                let filed = waiters.file_waker(&withdraw.place, waker);
                filed.is_err()
            });
            if let Some(place) = withdraw.place.get() {
                if self.take_notified(place).is_some() {
                    withdraw.place.set(None);
                    return true;
                }
            }
            let timed_out = deadline.is_some_and(|at| os::uptime() >= at);
            if matches!(woke, Woke::Shutdown) || (timed_out && matches!(woke, Woke::Timeout)) {
                return false; // `withdraw` takes the entry out
            }
        }
    }

    /// Whether `place` was notified (and by `notify_one`), forgetting it.
    fn take_notified(&self, place: Place) -> Option<bool> {
        let mut notified = self.notified.borrow_mut();
        let at = notified.iter().position(|&(p, _)| p == place)?;
        Some(notified.swap_remove(at).1)
    }
}

/// See `Notify::wait_until`.
struct Withdraw<'a> {
    notify: &'a Notify,
    /// Its place in the queue, once its first park has filed it; cleared
    /// when it takes its notification.
    place: Cell<Option<Place>>,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let notify = self.notify;
        let Some(place) = self.place.get() else { return };
        match notify.take_notified(place) {
            Some(true) => notify.notify_one(),
            Some(false) => {}
            None => {
                notify.waiters.borrow_mut().remove(place);
            }
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.permit.get())
            .field("waiters", &self.waiters())
            .finish()
    }
}
