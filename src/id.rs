//! A task's public identities as plain data: its [`ThreadId`] and its
//! [`Status`]. A leaf: it knows nothing of the rest of the crate.

use std::fmt;

/// A place in the source: where a thread was spawned, or where it blocks
/// (recorded with `#[track_caller]`, without allocating).
pub(crate) type Site = &'static std::panic::Location<'static>;

/// A thread's state, as OpenOS's `t:status()` names it.
///
/// # Examples
///
/// ```
/// use cothread::{os, thread, Kernel, Status};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let t = thread::create(|| os::sleep(Duration::from_secs(1)));
///     assert_eq!(t.status(), Status::Running); // also while it sleeps
///     t.suspend().unwrap();
///     assert_eq!(t.status(), Status::Suspended);
///     t.kill();
///     assert_eq!(t.status(), Status::Dead);
///     assert_eq!(Status::Dead.to_string(), "dead");
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Alive and not suspended; also while blocked, and while its function has
    /// returned but it waits for its own children.
    Running,
    /// Frozen by `suspend`: it misses signals and deadlines until resumed.
    Suspended,
    /// Returned, panicked, exited or killed.
    Dead,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Running => "running",
            Status::Suspended => "suspended",
            Status::Dead => "dead",
        })
    }
}

/// A thread's identity: unique for the life of its kernel, never reused, so a
/// stale handle can never reach a newer thread.
///
/// # Examples
///
/// ```
/// use cothread::{thread, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let a = thread::create(|| {});
///     let b = thread::create(|| {});
///     assert_ne!(a.id(), b.id());
///     assert_eq!(a.id(), a.clone().id());
/// }).unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub(crate) u64);

impl ThreadId {
    /// The id as a number (1 for the first program or thread of a kernel, and up).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// let n = kernel.run(|| cothread::thread::create(|| {}).id().as_u64()).unwrap();
    /// assert_eq!(n, 2); // the program is 1
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThreadId({})", self.0)
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
