//! The event façade's plain data: listener and timer ids, what a listener
//! returns, how many times a timer fires. A leaf.

use std::time::Duration;

/// Identifies a listener registered with [`listen`](crate::event::listen).
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel};
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     let a = event::listen("x", |_| {});
///     let b = event::listen("x", |_| {});
///     assert_ne!(a, b);
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId {
    pub(crate) key: usize,
    pub(crate) serial: u64,
}

/// Identifies a timer registered with [`timer`](crate::event::timer).
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     let id: event::TimerId = event::timer(Duration::from_secs(1), 1, || {});
///     assert!(event::cancel(id));
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) key: usize,
    pub(crate) serial: u64,
}

/// What a listener callback returns: `()` to stay registered, or a `bool`
/// (`false` unregisters it, as in OpenOS).
///
/// # Examples
///
/// ```
/// use cothread::event::ListenerResult;
/// assert!(().keep());
/// assert!(!false.keep());
/// ```
pub trait ListenerResult {
    /// Whether the listener stays registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::event::ListenerResult;
    /// assert!(().keep());
    /// assert!(!false.keep());
    /// ```
    fn keep(self) -> bool;
}

impl ListenerResult for () {
    fn keep(self) -> bool {
        true
    }
}

impl ListenerResult for bool {
    fn keep(self) -> bool {
        self
    }
}

/// How many times a [`timer`](crate::event::timer) fires.
///
/// # Examples
///
/// ```
/// use cothread::event::Times;
/// assert_eq!(Times::from(3), Times::Count(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// This many times.
    Count(u32),
    /// Until cancelled or its owner dies (OpenOS's `math.huge`).
    Forever,
}

impl From<u32> for Times {
    fn from(n: u32) -> Times {
        Times::Count(n)
    }
}

/// When a timer that fired at `now` fires next: an interval on, unless the
/// clock has no later instant to give (a zero interval, or `now` at
/// `Duration::MAX`, where every later instant saturates to `now` itself).
pub(crate) fn next_firing(now: Duration, interval: Duration) -> Option<Duration> {
    Some(now.saturating_add(interval)).filter(|&at| at > now)
}
