//! A counted resource for the green threads of one kernel: permits handed
//! out first come first served (or by priority), returned on drop.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::Duration;

use super::queue::{Place, Queue};
use crate::os;
use crate::park::{cannot_wait, park_local, LocalWaker, Woke};

const ACQUIRE: &str = "sync::Semaphore::acquire";

/// A count of permits for the green threads of one kernel (SimPy's
/// `Resource` and `PriorityResource`, a pool's size, a rate): a thread
/// acquires one or more and gives them back by dropping its [`Permit`].
///
/// Requests are served strictly in order: first by priority
/// ([`acquire_priority`](Semaphore::acquire_priority), smaller first; a
/// plain [`acquire`](Semaphore::acquire) is priority 0), then first come
/// first served. A request at the head of the queue that wants more permits
/// than there are holds back the ones behind it, and
/// [`try_acquire`](Semaphore::try_acquire) never takes permits a waiter is
/// queued for. A waiter that times out or is killed leaves the queue; one
/// that was granted permits but dies before it runs gives them back.
///
/// Like [`Mutex`](super::Mutex), it is kernel-local: neither `Send` nor
/// `Sync`; share it between threads with an `Rc`.
///
/// # Examples
///
/// ```
/// use cothread::sync::Semaphore;
/// use cothread::{os, thread, Kernel};
/// use std::{cell::RefCell, rc::Rc, time::Duration};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let log = kernel.run(|| {
///     let pumps = Rc::new(Semaphore::new(2)); // two pumps at a station
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let cars: Vec<_> = ["a", "b", "c"]
///         .into_iter()
///         .map(|car| {
///             let (pumps, log) = (pumps.clone(), log.clone());
///             thread::create(move || {
///                 let _pump = pumps.acquire();
///                 log.borrow_mut().push(format!("{car} at {:?}", os::uptime()));
///                 os::sleep(Duration::from_secs(5));
///             })
///         })
///         .collect();
///     thread::wait_for_all(&cars, None).unwrap();
///     let log = log.borrow().clone();
///     log
/// });
/// assert_eq!(log.unwrap(), ["a at 0ns", "b at 0ns", "c at 5s"]);
/// ```
pub struct Semaphore {
    permits: Cell<usize>,
    /// The permits that exist: free, granted, or held by a [`Permit`]. A
    /// permit given back always fits.
    total: Cell<usize>,
    waiters: RefCell<Queue<Request>>,
    /// Requests granted whose threads have not yet run to take their permits.
    granted: RefCell<Vec<Place>>,
}

struct Request {
    wants: usize,
    waker: Option<LocalWaker>,
}

/// Permits acquired from a [`Semaphore`]; dropping it gives them back (to
/// the waiters, in order, as far as they go).
///
/// # Examples
///
/// ```
/// use cothread::sync::Semaphore;
///
/// let s = Semaphore::new(3);
/// let two = s.try_acquire_many(2).unwrap();
/// assert_eq!((two.permits(), s.available_permits()), (2, 1));
/// drop(two);
/// assert_eq!(s.available_permits(), 3);
/// ```
#[must_use = "the permits are given back as soon as this is dropped"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
    permits: usize,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(4);
    /// assert_eq!(s.available_permits(), 4);
    /// ```
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Cell::new(permits),
            total: Cell::new(permits),
            waiters: RefCell::new(Queue::new()),
            granted: RefCell::new(Vec::new()),
        }
    }

    /// Acquires one permit, parking the calling green thread until it is its
    /// turn and a permit is free. `Kernel::threads` shows a waiter as
    /// `sync::Semaphore::acquire`.
    ///
    /// # Panics
    ///
    /// If it must wait where nothing can wait: outside a green thread, in a
    /// listener or timer callback. A destructor run by an unwind that must
    /// wait here is parked for ever instead, as for `Mutex::lock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::Kernel;
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let s = Semaphore::new(1);
    ///     let p = s.acquire();
    ///     assert_eq!(s.available_permits(), 0);
    ///     drop(p);
    ///     assert_eq!(s.available_permits(), 1);
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Permit<'_> {
        self.acquire_many(1)
    }

    /// Acquires `n` permits at once, waiting as [`acquire`](Semaphore::acquire)
    /// does. While it waits at the head of the queue, later requests wait
    /// behind it even if they want fewer.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::{thread, Kernel};
    /// use std::rc::Rc;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let s = Rc::new(Semaphore::new(3));
    ///     let one = s.acquire();
    ///     let s2 = s.clone();
    ///     let big = thread::create(move || s2.acquire_many(3).permits());
    ///     drop(one); // now all three are free
    ///     assert_eq!(big.wait().unwrap(), 3);
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_many(&self, n: usize) -> Permit<'_> {
        self.acquire_by(0, n, None).expect("a wait without a deadline ends with the permits")
    }

    /// Acquires one permit, ahead of every waiter of a larger `priority` and
    /// behind those of the same or a smaller one (FIFO among equals; a plain
    /// [`acquire`](Semaphore::acquire) is priority 0). A waiter already
    /// granted its permits keeps them.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::{thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let order = kernel.run(|| {
    ///     let s = Rc::new(Semaphore::new(1));
    ///     let order = Rc::new(RefCell::new(Vec::new()));
    ///     let held = s.acquire();
    ///     let users: Vec<_> = [("low", 5), ("high", 1), ("mid", 3), ("high2", 1)]
    ///         .into_iter()
    ///         .map(|(name, priority)| {
    ///             let (s, order) = (s.clone(), order.clone());
    ///             thread::create(move || {
    ///                 let _p = s.acquire_priority(priority);
    ///                 order.borrow_mut().push(name);
    ///             })
    ///         })
    ///         .collect();
    ///     drop(held);
    ///     thread::wait_for_all(&users, None).unwrap();
    ///     let order = order.borrow().clone();
    ///     order
    /// });
    /// assert_eq!(order.unwrap(), ["high", "high2", "mid", "low"]);
    /// ```
    #[track_caller]
    pub fn acquire_priority(&self, priority: i32) -> Permit<'_> {
        self.acquire_by(i64::from(priority), 1, None)
            .expect("a wait without a deadline ends with the permits")
    }

    /// Acquires `n` permits by priority, as
    /// [`acquire_priority`](Semaphore::acquire_priority) does one: a
    /// request of a smaller `priority` is served first, FIFO among equals.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::{thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let order = kernel.run(|| {
    ///     let s = Rc::new(Semaphore::new(3));
    ///     let order = Rc::new(RefCell::new(Vec::new()));
    ///     let held = s.acquire_many(3);
    ///     let users: Vec<_> = [("two, low", 2, 5), ("three, high", 3, 1)]
    ///         .into_iter()
    ///         .map(|(name, n, priority)| {
    ///             let (s, order) = (s.clone(), order.clone());
    ///             thread::create(move || {
    ///                 let _p = s.acquire_many_priority(n, priority);
    ///                 order.borrow_mut().push(name);
    ///             })
    ///         })
    ///         .collect();
    ///     drop(held);
    ///     thread::wait_for_all(&users, None).unwrap();
    ///     let order = order.borrow().clone();
    ///     order
    /// });
    /// assert_eq!(order.unwrap(), ["three, high", "two, low"]);
    /// ```
    #[track_caller]
    pub fn acquire_many_priority(&self, n: usize, priority: i32) -> Permit<'_> {
        self.acquire_by(i64::from(priority), n, None)
            .expect("a wait without a deadline ends with the permits")
    }

    /// Acquires one permit by priority, waiting at most `timeout` on the
    /// kernel's clock; `None` if it passed, and then the request is
    /// withdrawn (SimPy's `PriorityResource` request raced against a
    /// timeout).
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::{os, thread, Kernel};
    /// use std::{rc::Rc, time::Duration};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let s = Rc::new(Semaphore::new(1));
    ///     let held = s.acquire();
    ///     let s2 = s.clone();
    ///     let late = thread::create(move || s2.acquire_priority_timeout(1, Duration::from_secs(1)).is_some());
    ///     let s3 = s.clone();
    ///     let patient = thread::create(move || s3.acquire_priority_timeout(2, Duration::from_secs(9)).is_some());
    ///     os::sleep(Duration::from_secs(3));
    ///     drop(held);
    ///     assert_eq!(late.wait(), Ok(false)); // gave up at 1 s
    ///     assert_eq!(patient.wait(), Ok(true)); // served at 3 s
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_priority_timeout(&self, priority: i32, timeout: Duration) -> Option<Permit<'_>> {
        self.acquire_within(i64::from(priority), 1, timeout)
    }

    /// Acquires one permit, waiting at most `timeout` on the kernel's clock;
    /// `None` if it passed, and then the request is withdrawn (the waiters
    /// it held back are served).
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let s = Semaphore::new(1);
    ///     let _held = s.acquire();
    ///     assert!(s.acquire_timeout(Duration::from_secs(2)).is_none());
    ///     assert_eq!(os::uptime(), Duration::from_secs(2));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<Permit<'_>> {
        self.acquire_many_timeout(1, timeout)
    }

    /// Acquires `n` permits, waiting at most `timeout`; `None` if it passed,
    /// and then the request is withdrawn.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Semaphore;
    /// use cothread::Kernel;
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let s = Semaphore::new(2);
    ///     assert!(s.acquire_many_timeout(3, Duration::from_secs(1)).is_none());
    ///     assert_eq!(s.acquire_many_timeout(2, Duration::from_secs(1)).unwrap().permits(), 2);
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn acquire_many_timeout(&self, n: usize, timeout: Duration) -> Option<Permit<'_>> {
        self.acquire_within(0, n, timeout)
    }

    /// A request that gives up after `timeout` (a zero one is a try).
    #[track_caller]
    fn acquire_within(&self, priority: i64, n: usize, timeout: Duration) -> Option<Permit<'_>> {
        if timeout == Duration::ZERO {
            return self.try_acquire_many(n);
        }
        self.acquire_by(priority, n, Some(os::uptime().saturating_add(timeout)))
    }

    /// Acquires one permit if one is free and no thread waits for permits,
    /// without waiting. Works anywhere, in a callback or on the host too.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(1);
    /// let p = s.try_acquire().unwrap();
    /// assert!(s.try_acquire().is_none());
    /// drop(p);
    /// assert!(s.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.try_acquire_many(1)
    }

    /// Acquires `n` permits if they are free and no thread waits for
    /// permits, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(2);
    /// assert!(s.try_acquire_many(3).is_none());
    /// assert_eq!(s.try_acquire_many(2).unwrap().permits(), 2);
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Option<Permit<'_>> {
        let free = self.permits.get();
        if free < n || !self.waiters.borrow().is_empty() {
            return None;
        }
        self.permits.set(free - n);
        Some(Permit { semaphore: self, permits: n })
    }

    /// Adds `n` permits, serving the waiters in order as far as they go.
    ///
    /// # Panics
    ///
    /// If the permits in existence (free, and held by `Permit`s) would pass
    /// `usize::MAX`: none is added then.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(0);
    /// s.add_permits(2);
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let total = self.total.get().checked_add(n);
        let total =
            total.expect("cothread: a `sync::Semaphore` holds at most `usize::MAX` permits");
        self.total.set(total);
        self.give_back(n);
    }

    /// Returns `n` permits that exist already (a dropped `Permit`'s).
    fn give_back(&self, n: usize) {
        self.permits.set(self.permits.get() + n);
        self.serve();
    }

    /// The permits free now (not counting those granted to waiters that have
    /// not yet run).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(2);
    /// let _p = s.acquire_timeout(std::time::Duration::ZERO);
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.permits.get()
    }

    /// How many threads wait for permits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cothread::sync::Semaphore::new(1).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }

    #[track_caller]
    fn acquire_by(
        &self,
        priority: i64,
        n: usize,
        deadline: Option<Duration>,
    ) -> Option<Permit<'_>> {
        if priority == 0 {
            if let Some(permit) = self.try_acquire_many(n) {
                return Some(permit);
            }
        }
        let place = self.waiters.borrow_mut().push(priority, Request { wants: n, waker: None });
        // A priority request may go ahead of the others and find the
        // permits there already.
        self.serve();
        if self.take_grant(place) {
            return Some(Permit { semaphore: self, permits: n });
        }
        // Leaves the queue, or gives back permits granted to it, however the
        // wait ends: a kill unwinds through here.
        let withdraw = Withdraw { semaphore: self, place, wants: n };
        loop {
            let woke = park_local(ACQUIRE, deadline, |waker| {
                match self.waiters.borrow_mut().get_mut(place) {
                    Some(request) => {
                        request.waker = Some(waker);
                        false
                    }
                    None => true,
                }
            });
            if self.take_grant(place) {
                std::mem::forget(withdraw);
                return Some(Permit { semaphore: self, permits: n });
            }
            let timed_out = deadline.is_some_and(|at| os::uptime() >= at);
            if timed_out && matches!(woke, Woke::Timeout) {
                return None; // `withdraw` takes the request out
            }
            if matches!(woke, Woke::Shutdown) {
                drop(withdraw);
                if deadline.is_some() {
                    // A wait that may give up gives up at once, as every
                    // blocking call with a timeout does in a thread being
                    // unwound.
                    return None;
                }
                cannot_wait("a `sync::Semaphore`'s permits");
            }
        }
    }

    fn take_grant(&self, place: Place) -> bool {
        let mut granted = self.granted.borrow_mut();
        match granted.iter().position(|&p| p == place) {
            Some(at) => {
                granted.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// Grants permits to the waiters at the head of the queue while they go.
    fn serve(&self) {
        loop {
            let mut waiters = self.waiters.borrow_mut();
            let Some((_, request)) = waiters.front() else { return };
            let free = self.permits.get();
            if request.wants > free {
                return;
            }
            let (place, request) = waiters.pop_front().expect("the front was just seen");
            drop(waiters);
            self.permits.set(free - request.wants);
            self.granted.borrow_mut().push(place);
            if let Some(waker) = request.waker {
                waker.wake();
            }
        }
    }
}

/// See `Semaphore::acquire_by`.
struct Withdraw<'a> {
    semaphore: &'a Semaphore,
    place: Place,
    wants: usize,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let semaphore = self.semaphore;
        if semaphore.take_grant(self.place) {
            semaphore.add_permits(self.wants);
        } else {
            semaphore.waiters.borrow_mut().remove(self.place);
            // It may have held back the ones behind it.
            semaphore.serve();
        }
    }
}

impl Permit<'_> {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(5);
    /// assert_eq!(s.try_acquire_many(4).unwrap().permits(), 4);
    /// ```
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits out of the semaphore for good: they are not given
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::sync::Semaphore::new(2);
    /// s.try_acquire().unwrap().forget();
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        let semaphore = self.semaphore;
        semaphore.total.set(semaphore.total.get() - self.permits);
        self.permits = 0;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.give_back(self.permits);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.permits.get())
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("permits", &self.permits).finish()
    }
}
