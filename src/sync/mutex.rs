//! A lock for the green threads of one kernel, handed from holder to
//! waiter in the order they asked.

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::queue::{Place, Queue};
use crate::park::{cannot_wait, park_local, LocalWaker, Woke};

const LOCK: &str = "sync::Mutex::lock";

/// A lock around a value, for the green threads of one kernel: [`lock`]
/// parks while another thread holds it, and an unlock hands it straight to
/// the thread that has waited longest (no thread that asks later can take
/// it first).
///
/// It is kernel-local: every green thread of a kernel runs on the kernel's OS
/// thread, so the lock needs no atomic operation (an uncontended lock and
/// unlock is a few loads and stores). It is neither `Send` nor `Sync`; share
/// it between threads with an `Rc`, and between kernels or OS threads send
/// messages on a [channel](super::channel) instead.
///
/// A holder that is killed (or interrupted, or unwound by the kernel's
/// drop) releases the lock as its stack unwinds: the guard's drop unlocks.
/// A waiter that is killed leaves the queue; one that was handed the lock
/// but dies before it runs passes it on. There is no poisoning: a holder
/// that panics releases the lock the same way, and the value stays as it
/// left it. A holder that is suspended keeps the lock until it is resumed
/// and unlocks.
///
/// [`lock`]: Mutex::lock
///
/// # Examples
///
/// ```
/// use cothread::sync::Mutex;
/// use cothread::{os, thread, Kernel};
/// use std::{rc::Rc, time::Duration};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let total = kernel.run(|| {
///     let count = Rc::new(Mutex::new(0));
///     let workers: Vec<_> = (0..3)
///         .map(|_| {
///             let count = count.clone();
///             thread::create(move || {
///                 let mut n = count.lock();
///                 let seen = *n;
///                 os::sleep(Duration::from_secs(1)); // still held: the others wait
///                 *n = seen + 1;
///             })
///         })
///         .collect();
///     thread::wait_for_all(&workers, None).unwrap();
///     let total = *count.lock();
///     (total, os::uptime())
/// });
/// assert_eq!(total.unwrap(), (3, Duration::from_secs(3)));
/// ```
pub struct Mutex<T: ?Sized> {
    locked: Cell<bool>,
    /// The waiter the lock was handed to, until it runs and takes it.
    handed: Cell<Option<Place>>,
    /// Waiters, with the waker of their latest park. Empty while unlocked.
    waiters: RefCell<Queue<Option<LocalWaker>>>,
    value: RefCell<T>,
}

/// Holds a [`Mutex`] locked and gives access to its value; dropping it
/// unlocks (handing the lock to the longest waiter, if any).
///
/// # Examples
///
/// ```
/// use cothread::sync::Mutex;
///
/// let names = Mutex::new(vec!["a"]);
/// {
///     let mut guard = names.lock();
///     guard.push("b");
///     assert!(names.try_lock().is_none()); // held
/// }
/// assert_eq!(*names.try_lock().unwrap(), ["a", "b"]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    value: RefMut<'a, T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex around `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = cothread::sync::Mutex::new(5);
    /// assert_eq!(*m.try_lock().unwrap(), 5);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            locked: Cell::new(false),
            handed: Cell::new(None),
            waiters: RefCell::new(Queue::new()),
            value: RefCell::new(value),
        }
    }

    /// The value, taking the mutex apart.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = cothread::sync::Mutex::new(String::from("x"));
    /// m.lock().push('y');
    /// assert_eq!(m.into_inner(), "xy");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling green thread while another one
    /// holds it. Waiters get the lock in the order they asked for it.
    /// `Kernel::threads` shows a waiter as `sync::Mutex::lock`. Locking a
    /// mutex the caller already holds parks it for ever (a deadlock, which
    /// the kernel reports as for any wait nothing can end).
    ///
    /// # Panics
    ///
    /// If it must wait where nothing can wait: outside a green thread, in a
    /// listener or timer callback. A destructor run by an unwind (a kill's,
    /// a panic's) that must wait here can neither wait nor panic: its thread
    /// is parked for ever, reported through `on_error` (see
    /// docs/reliability.md).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Mutex;
    /// use cothread::{thread, Kernel};
    /// use std::rc::Rc;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let order = kernel.run(|| {
    ///     let log = Rc::new(Mutex::new(Vec::new()));
    ///     let first = log.lock(); // held by the program
    ///     let waiters: Vec<_> = ["a", "b", "c"]
    ///         .into_iter()
    ///         .map(|name| {
    ///             let log = log.clone();
    ///             thread::create(move || log.lock().push(name))
    ///         })
    ///         .collect();
    ///     drop(first); // handed to "a", then "b", then "c"
    ///     thread::wait_for_all(&waiters, None).unwrap();
    ///     let order = log.lock().clone();
    ///     order
    /// });
    /// assert_eq!(order.unwrap(), ["a", "b", "c"]);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if !self.locked.get() {
            // Locked once the guard exists: a panic on the way leaves it free.
            let guard = self.guard();
            self.locked.set(true);
            return guard;
        }
        self.lock_slow()
    }

    #[cold]
    #[track_caller]
    fn lock_slow(&self) -> MutexGuard<'_, T> {
        // Leaves the queue, or passes on a lock handed to it, however the
        // wait ends: a kill unwinds through here.
        let withdraw = Withdraw { mutex: self, place: Cell::new(None) };
        loop {
            let woke = park_local(LOCK, None, |waker| {
                let mut waiters = self.waiters.borrow_mut();
                let filed = waiters.file_waker(&withdraw.place, waker);
                filed.is_err()
            });
            if withdraw.place.get().is_some() && self.handed.get() == withdraw.place.get() {
                self.handed.set(None);
                std::mem::forget(withdraw);
                return self.guard();
            }
            if matches!(woke, Woke::Shutdown) {
                drop(withdraw);
                cannot_wait("a `sync::Mutex` another thread holds");
            }
        }
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        let value =
            self.value.try_borrow_mut().expect("a mutex's value is borrowed only by its holder");
        MutexGuard { mutex: self, value }
    }

    /// Locks the mutex if no thread holds it, without waiting. Works
    /// anywhere, in a callback or on the host too.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = cothread::sync::Mutex::new(1);
    /// let held = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(held);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.locked.get() {
            return None;
        }
        let guard = self.guard();
        self.locked.set(true);
        Some(guard)
    }

    /// Whether a thread holds the lock (or it was handed to a waiter that has
    /// not run yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = cothread::sync::Mutex::new(());
    /// let g = m.lock();
    /// assert!(m.is_locked());
    /// drop(g);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.locked.get()
    }

    /// The value, without locking: the `&mut` proves nobody holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = cothread::sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Unlocks: to the longest waiter, if any.
    fn unlock(&self) {
        let next = self.waiters.borrow_mut().pop_front();
        match next {
            None => self.locked.set(false),
            Some((place, waker)) => {
                // Handed even if its wake-up finds the wait ended: a waiter
                // in the queue is in `lock_slow`'s loop, which takes it (or
                // its unwind passes it on).
                self.handed.set(Some(place));
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }
}

/// See `Mutex::lock_slow`.
struct Withdraw<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Its place in the queue, once its first park has filed it.
    place: Cell<Option<Place>>,
}

impl<T: ?Sized> Drop for Withdraw<'_, T> {
    fn drop(&mut self) {
        let mutex = self.mutex;
        let Some(place) = self.place.get() else { return };
        if mutex.handed.get() == Some(place) {
            mutex.handed.set(None);
            mutex.unlock();
        } else {
            mutex.waiters.borrow_mut().remove(place);
        }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // The value's borrow ends as this guard's fields drop, right after:
        // the next holder runs later, at its turn.
        self.mutex.unlock();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        // Locked while it is read: a value whose `Debug` reaches the mutex
        // again finds it locked.
        match self.try_lock() {
            Some(value) => d.field("value", &&*value),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.field("waiters", &self.waiters.borrow().len()).finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.value, f)
    }
}
