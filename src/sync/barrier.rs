//! A meeting point for a fixed number of the green threads of one kernel.

use std::cell::{Cell, RefCell};
use std::fmt;

use super::queue::{Place, Queue};
use crate::park::{park_local, LocalWaker, Woke};

const WAIT: &str = "sync::Barrier::wait";

/// Lets `n` green threads of one kernel wait for each other: each
/// [`wait`](Barrier::wait) parks until the `n`th thread arrives, then all of
/// them go on, and the barrier starts counting again (it is reusable, like
/// std's). The thread that arrives last is the leader.
///
/// A waiter that is killed before the others arrive no longer counts. Like
/// [`Mutex`](super::Mutex), it is kernel-local (neither `Send` nor `Sync`).
///
/// # Examples
///
/// ```
/// use cothread::sync::Barrier;
/// use cothread::{os, thread, Kernel};
/// use std::{rc::Rc, time::Duration};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let times = kernel.run(|| {
///     let start = Rc::new(Barrier::new(3));
///     let racers: Vec<_> = [1u64, 2, 3]
///         .into_iter()
///         .map(|warm_up| {
///             let start = start.clone();
///             thread::create(move || {
///                 os::sleep(Duration::from_secs(warm_up));
///                 let leader = start.wait().is_leader();
///                 (os::uptime(), leader)
///             })
///         })
///         .collect();
///     racers.into_iter().map(|r| r.wait().unwrap()).collect::<Vec<_>>()
/// });
/// let three = Duration::from_secs(3);
/// assert_eq!(times.unwrap(), [(three, false), (three, false), (three, true)]);
/// ```
pub struct Barrier {
    parties: usize,
    state: RefCell<State>,
}

struct State {
    arrived: usize,
    /// Counts the barrier's openings: a waiter whose generation has passed
    /// goes on.
    generation: u64,
    waiters: Queue<Option<LocalWaker>>,
}

/// What [`Barrier::wait`] returns: whether this thread was the leader.
///
/// # Examples
///
/// ```
/// use cothread::sync::Barrier;
/// use cothread::Kernel;
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| assert!(Barrier::new(1).wait().is_leader())).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this thread arrived last (one thread of each opening is).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Barrier;
    /// use cothread::Kernel;
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| assert!(Barrier::new(0).wait().is_leader())).unwrap();
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for `n` threads (0 acts as 1: every wait returns at once).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = cothread::sync::Barrier::new(4);
    /// assert_eq!(b.parties(), 4);
    /// ```
    pub fn new(n: usize) -> Barrier {
        Barrier {
            parties: n.max(1),
            state: RefCell::new(State { arrived: 0, generation: 0, waiters: Queue::new() }),
        }
    }

    /// How many threads each opening waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cothread::sync::Barrier::new(0).parties(), 1);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Parks the calling green thread until `n` threads have called `wait`;
    /// the last to arrive is the leader, and wakes the others (they run in
    /// the kernel's next round, in the order they arrived).
    /// `Kernel::threads` shows a waiter as `sync::Barrier::wait`. A thread
    /// being unwound (a destructor run by a kill) does not wait: it returns
    /// at once, not counted.
    ///
    /// # Panics
    ///
    /// If it must wait where nothing can wait: outside a green thread, in a
    /// listener or timer callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Barrier;
    /// use cothread::{thread, Kernel};
    /// use std::rc::Rc;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let b = Rc::new(Barrier::new(2));
    ///     let b2 = b.clone();
    ///     let other = thread::create(move || (0..3).map(|_| b2.wait().is_leader()).count());
    ///     for _ in 0..3 {
    ///         b.wait(); // reused: three openings
    ///     }
    ///     assert_eq!(other.wait().unwrap(), 3);
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let generation = {
            let mut state = self.state.borrow_mut();
            state.arrived += 1;
            if state.arrived == self.parties {
                state.arrived = 0;
                state.generation += 1;
                let woken: Vec<_> = state.waiters.drain().filter_map(|(_, w)| w).collect();
                drop(state);
                for waker in woken {
                    waker.wake();
                }
                return BarrierWaitResult { leader: true };
            }
            state.generation
        };
        // No longer counted, however the wait ends early: a kill unwinds
        // through here.
        let withdraw = Withdraw { barrier: self, generation, place: Cell::new(None) };
        loop {
            let woke = park_local(WAIT, None, |waker| {
                let mut state = self.state.borrow_mut();
                let filed = state.waiters.file_waker(&withdraw.place, waker);
                filed.is_err()
            });
            if self.state.borrow().generation != generation {
                std::mem::forget(withdraw);
                return BarrierWaitResult { leader: false };
            }
            if matches!(woke, Woke::Shutdown) {
                return BarrierWaitResult { leader: false }; // `withdraw` uncounts it
            }
        }
    }
}

/// See `Barrier::wait`.
struct Withdraw<'a> {
    barrier: &'a Barrier,
    generation: u64,
    /// Its place in the queue, once its first park has filed it.
    place: Cell<Option<Place>>,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let mut state = self.barrier.state.borrow_mut();
        if state.generation == self.generation {
            state.arrived -= 1;
            if let Some(place) = self.place.get() {
                state.waiters.remove(place);
            }
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("arrived", &state.arrived)
            .finish()
    }
}
