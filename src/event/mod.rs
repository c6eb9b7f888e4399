//! Signals and events: `push`, the `pull` family, listeners, timers and the error
//! reporter, as OpenOS's `event` library.
//!
//! A pushed signal is queued; it is delivered when the running code blocks, in
//! push order, first to the listeners registered for its name (in registration
//! order), then to every thread whose pull accepts it (in the order they began
//! waiting). A suspended thread misses signals.

mod filter;
pub(crate) mod ids;
pub(crate) mod listen;
mod name;
mod pattern;
mod signal;
pub(crate) mod waiters;

use std::time::Duration;

pub use filter::Filter;
pub use ids::{ListenerId, ListenerResult, TimerId, Times};
pub use pattern::{MAX_PATTERN_LEN, MAX_PATTERN_STEPS};
pub use signal::{Signal, Value};

use crate::kernel;
use crate::park::{Wait, Woke};

/// Queues `signal`, like OpenOS's `event.push`. Nothing else runs until the
/// caller blocks; then every thread whose pull accepts it receives it.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{event, os, thread, Kernel, Signal};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let a = thread::create(|| event::pull(None, "go").is_some());
///     let b = thread::create(|| event::pull(None, "go").is_some());
///     event::push(Signal::new("go"));
///     os::sleep(Duration::ZERO); // both receivers have run by now
///     assert_eq!((a.wait(), b.wait()), (Ok(true), Ok(true)));
/// }).unwrap();
/// ```
pub fn push(signal: Signal) {
    kernel::current("event::push").core().enqueue(signal);
}

/// Waits for a signal that `filter` accepts, like OpenOS's `event.pull`, and
/// returns it; `None` when `timeout` (`None`: forever, or a `Duration`) passes
/// first. A `&str` filter is an exact name; see [`Filter`] for argument tests,
/// OpenOS patterns and predicates.
///
/// # Panics
///
/// Outside a program or thread (on the host, or in a listener or timer callback).
///
/// # Examples
///
/// ```
/// use cothread::{event, Filter, Kernel, Signal};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.push_signal(Signal::new("key_down").with(13));
/// kernel.push_signal(Signal::new("key_down").with(42));
/// kernel.run(|| {
///     let s = event::pull(None, Filter::name("key_down").arg(0, 42)).unwrap();
///     assert_eq!(s.arg(0).as_int(), Some(42));
///     assert!(event::pull(Duration::from_secs(1), "modem_message").is_none());
/// }).unwrap();
/// ```
#[track_caller]
pub fn pull(timeout: impl Into<Option<Duration>>, filter: impl Into<Filter>) -> Option<Signal> {
    let shared = kernel::current("event::pull");
    let filter = filter.into();
    let deadline = timeout.into().map(|t| shared.core().now().saturating_add(t));
    loop {
        let wait = Wait::Signal(filter.clone());
        let signal =
            match shared.park(wait, deadline, |core, parker| core.waiters.add(&filter, parker)) {
                Woke::Signal(signal) => Some(signal),
                Woke::Shutdown => None,
                // A wake-up that is not a signal is a timeout only once the deadline
                // has passed: a thread resumed after a suspension is woken to
                // re-check, and waits on if nothing is due.
                _ => {
                    let now = shared.core().now();
                    if !deadline.is_some_and(|d| now >= d) {
                        continue;
                    }
                    None
                }
            };
        filter.drop_cheaply();
        return signal;
    }
}

/// Waits for a signal that `predicate` accepts (OpenOS's `event.pullFiltered`).
///
/// # Panics
///
/// As [`pull`].
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel, Signal};
///
/// let mut kernel = Kernel::new();
/// kernel.push_signal(Signal::new("a").with(1));
/// kernel.push_signal(Signal::new("b").with(2));
/// let s = kernel.run(|| event::pull_filtered(None, |s: &Signal| s.arg(0).as_int() == Some(2)));
/// assert_eq!(s.unwrap().unwrap().name(), "b");
/// ```
#[track_caller]
pub fn pull_filtered(
    timeout: impl Into<Option<Duration>>,
    predicate: impl Fn(&Signal) -> bool + 'static,
) -> Option<Signal> {
    pull(timeout, Filter::new(predicate))
}

/// Waits for a signal with any of `names` (OpenOS's `event.pullMultiple`).
///
/// # Panics
///
/// As [`pull`].
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel, Signal};
///
/// let mut kernel = Kernel::new();
/// kernel.push_signal(Signal::new("scroll"));
/// kernel.push_signal(Signal::new("drag"));
/// let s = kernel.run(|| event::pull_multiple(None, &["touch", "drag"]));
/// assert_eq!(s.unwrap().unwrap().name(), "drag");
/// ```
#[track_caller]
pub fn pull_multiple<S: AsRef<str>>(
    timeout: impl Into<Option<Duration>>,
    names: &[S],
) -> Option<Signal> {
    pull(timeout, Filter::names(names))
}

/// Registers `callback` for signals named `name` (exactly; a `&str` or a
/// `String`, as [`Filter::name`] takes), like OpenOS's `event.listen`. The listener belongs to the current thread (or program): it
/// runs only while its owner is alive and not suspended, and dies with it.
/// Listeners run when a signal is delivered, before the threads waiting for it,
/// in registration order. A callback that returns `false` is removed; one that
/// panics is reported through [`on_error`] and removed. A callback must not block.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{event, os, Kernel, Signal};
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let seen = Rc::new(Cell::new(0));
/// let s = seen.clone();
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(move || {
///     event::listen("key_down", move |sig: &Signal| s.set(s.get() + sig.arg(0).as_int().unwrap()));
///     event::push(Signal::new("key_down").with(2));
///     event::push(Signal::new("key_down").with(3));
///     os::sleep(Duration::ZERO);
/// }).unwrap();
/// assert_eq!(seen.get(), 5);
/// ```
pub fn listen<R: ListenerResult>(
    name: impl AsRef<str>,
    callback: impl FnMut(&Signal) -> R + 'static,
) -> ListenerId {
    let shared = kernel::current("event::listen");
    let owner = shared.current_owner();
    shared.listen_as(owner, name.as_ref(), callback)
}

/// Removes a listener of the current thread (or program); returns whether it
/// removed one. Another thread's listener is not touched.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel};
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     let id = event::listen("x", |_| {});
///     assert!(event::ignore(id));
///     assert!(!event::ignore(id));
/// }).unwrap();
/// ```
pub fn ignore(id: ListenerId) -> bool {
    let shared = kernel::current("event::ignore");
    let owner = shared.current_owner();
    shared.ignore_as(owner, id)
}

/// Calls `callback` every `interval`, `times` times (a count or
/// [`Times::Forever`]), like OpenOS's `event.timer`. The first call comes one
/// interval from now. The timer belongs to the current thread (or program), does
/// not fire while its owner is suspended (those firings are skipped, not
/// stored; a zero-interval timer fires once its owner thaws: is resumed, or
/// leaves a suspended process), and dies with it. A repeating timer also ends
/// at the clock's last instant (`Duration::MAX`), which has no later one to
/// fire at. A callback that panics is reported through [`on_error`] and
/// cancelled. A callback must not block.
///
/// # Panics
///
/// Outside a kernel; if `interval` is zero and the timer repeats (that would
/// fire without end at one instant).
///
/// # Examples
///
/// ```
/// use cothread::{event, os, Kernel};
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let ticks = Rc::new(Cell::new(0));
/// let t = ticks.clone();
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(move || {
///     event::timer(Duration::from_millis(50), 3, move || t.set(t.get() + 1));
///     os::sleep(Duration::from_secs(1));
/// }).unwrap();
/// assert_eq!(ticks.get(), 3);
/// ```
pub fn timer(
    interval: Duration,
    times: impl Into<Times>,
    callback: impl FnMut() + 'static,
) -> TimerId {
    let shared = kernel::current("event::timer");
    shared.timer_as(shared.current_owner(), interval, times.into(), Box::new(callback))
}

/// Cancels a timer of the current thread (or program); returns whether it
/// removed one.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     let id = event::timer(Duration::from_secs(1), event::Times::Forever, || {});
///     assert!(event::cancel(id));
///     assert!(!event::cancel(id));
/// }).unwrap();
/// ```
pub fn cancel(id: TimerId) -> bool {
    let shared = kernel::current("event::cancel");
    shared.cancel_as(shared.current_owner(), id)
}

/// Replaces the kernel's error reporter (default: `log::error!`), like OpenOS's
/// `event.onError`. Thread panics arrive as `"[thread] <message>"`, program
/// panics as `"[program] <message>"`, listener, timer and pull-predicate panics
/// as `"[listener] <message>"`, `"[timer] <message>"` and `"[filter] <message>"`,
/// and a panicking trace hook as `"[trace] <message> ..."`.
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{event, thread, Kernel};
///
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     event::on_error(|msg| eprintln!("script error: {msg}"));
///     thread::create(|| -> () { panic!("thread abort") });
/// }).unwrap();
/// ```
pub fn on_error(handler: impl FnMut(&str) + 'static) {
    kernel::current("event::on_error").set_error_hook(Box::new(handler));
}

/// Installs the kernel's structured error reporter from inside: as
/// [`Kernel::on_error_report`](crate::Kernel::on_error_report), which says
/// how it works beside [`on_error`].
///
/// # Panics
///
/// Outside a kernel.
///
/// # Examples
///
/// ```
/// use cothread::{event, thread, Kernel};
/// use std::{cell::RefCell, rc::Rc};
///
/// let names = Rc::new(RefCell::new(Vec::new()));
/// let sink = names.clone();
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(move || {
///     event::on_error_report(move |report| sink.borrow_mut().push(report.name.clone()));
///     thread::Builder::new().name("reader").spawn(|| -> () { panic!("eof") }).unwrap();
/// }).unwrap();
/// assert_eq!(*names.borrow(), [Some("reader".to_string())]);
/// ```
pub fn on_error_report(handler: impl FnMut(&crate::ErrorReport) + 'static) {
    kernel::current("event::on_error_report").set_report_hook(Box::new(handler));
}

impl crate::Kernel {
    /// Registers a kernel-wide listener for signals named `name` (a `&str` or
    /// a `String`): it belongs to no thread and lives as long as the kernel
    /// (or until [`ignore`](crate::Kernel::ignore)). It runs like a thread's listener
    /// (see [`event::listen`](crate::event::listen)): in registration order,
    /// before the waiting threads, removed when it returns `false` or panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel, Signal};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let l = log.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.listen("score", move |s: &Signal| l.borrow_mut().push(s.to_string()));
    /// kernel.run(|| event::push(Signal::new("score").with(10))).unwrap();
    /// kernel.step();
    /// assert_eq!(*log.borrow(), ["score 10"]);
    /// ```
    pub fn listen<R: ListenerResult>(
        &mut self,
        name: impl AsRef<str>,
        callback: impl FnMut(&Signal) -> R + 'static,
    ) -> ListenerId {
        self.enter(|| listen(name, callback))
    }

    /// Removes a kernel-wide listener; returns whether it removed one.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// let id = kernel.listen("x", |_| {});
    /// assert!(kernel.ignore(id));
    /// assert!(!kernel.ignore(id));
    /// ```
    pub fn ignore(&mut self, id: ListenerId) -> bool {
        self.enter(|| ignore(id))
    }

    /// Starts a kernel-wide timer (see [`event::timer`](crate::event::timer)):
    /// it belongs to no thread and fires, in the kernel's rounds, until it has
    /// fired `times` times or is [`cancel`](crate::Kernel::cancel)led.
    ///
    /// # Panics
    ///
    /// If `interval` is zero and the timer repeats.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event::Times, Kernel};
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    ///
    /// let frames = Rc::new(Cell::new(0));
    /// let f = frames.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let id = kernel.timer(Duration::from_millis(100), Times::Forever, move || f.set(f.get() + 1));
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(frames.get(), 10);
    /// assert!(kernel.cancel(id));
    /// ```
    pub fn timer(
        &mut self,
        interval: Duration,
        times: impl Into<crate::event::Times>,
        callback: impl FnMut() + 'static,
    ) -> crate::event::TimerId {
        self.enter(|| timer(interval, times, callback))
    }

    /// Cancels a kernel-wide timer; returns whether it removed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut kernel = cothread::Kernel::new();
    /// let id = kernel.timer(Duration::from_secs(1), 1, || {});
    /// assert!(kernel.cancel(id));
    /// assert!(!kernel.cancel(id));
    /// ```
    pub fn cancel(&mut self, id: crate::event::TimerId) -> bool {
        self.enter(|| cancel(id))
    }
}
