//! What the kernel reports about an error raised in a program, a thread or one
//! of their callbacks: [`ErrorReport`], plain data. A leaf.

use std::fmt;
use std::panic::Location;

use crate::id::ThreadId;

/// Where an error the kernel reports was raised: the bracketed tag of
/// OpenOS's text (`"[thread] boom"`).
///
/// # Examples
///
/// ```
/// use cothread::ErrorOrigin;
/// assert_eq!(ErrorOrigin::Listener.to_string(), "listener");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorOrigin {
    /// A thread's body panicked, overflowed its stack, or ran too long
    /// without yielding; or a thread's value panicked as it was dropped.
    Thread,
    /// A program's body (run by `Kernel::run` or `Kernel::spawn`) did.
    Program,
    /// A listener ([`event::listen`](crate::event::listen)) panicked.
    Listener,
    /// A timer's callback ([`event::timer`](crate::event::timer)) panicked.
    Timer,
    /// A pull's predicate ([`Filter::new`](crate::Filter::new)) panicked.
    Filter,
    /// The trace hook ([`Kernel::on_trace`](crate::Kernel::on_trace)) panicked.
    Trace,
    /// A signal's payload panicked as it was dropped.
    Signal,
    /// A hook the host installed panicked as it was dropped.
    Hook,
    /// A layer's state (the job layer's, say) panicked as it was dropped.
    Layer,
}

impl ErrorOrigin {
    /// The tag as OpenOS's text shows it: `"thread"`, `"listener"`, ...
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cothread::ErrorOrigin::Program.as_str(), "program");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorOrigin::Thread => "thread",
            ErrorOrigin::Program => "program",
            ErrorOrigin::Listener => "listener",
            ErrorOrigin::Timer => "timer",
            ErrorOrigin::Filter => "filter",
            ErrorOrigin::Trace => "trace",
            ErrorOrigin::Signal => "signal",
            ErrorOrigin::Hook => "hook",
            ErrorOrigin::Layer => "layer",
        }
    }
}

impl fmt::Display for ErrorOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error the kernel reports, with the program or thread it was raised
/// for: what [`Kernel::on_error_report`](crate::Kernel::on_error_report)
/// receives, and what the default reporter logs at `log::error!`.
///
/// Its `Display` is the richer form of OpenOS's `"[thread] <message>"`:
///
/// `[<origin> <who> spawned at <file:line>] <message>, waiting at <file:line>`
///
/// where `<who>` is the thread's name if it has one, else its id (`#3`);
/// `spawned at` is left out when the spawn site is unknown, and `, waiting
/// at` when it never blocked. With no thread (an error of the kernel itself,
/// a kernel-wide listener's) it is OpenOS's text, `[<origin>] <message>`,
/// which [`openos_text`](ErrorReport::openos_text) always gives.
///
/// # Examples
///
/// ```
/// use cothread::{thread, ErrorOrigin, ErrorReport, Kernel};
/// use std::{cell::RefCell, rc::Rc};
///
/// let reports: Rc<RefCell<Vec<ErrorReport>>> = Rc::default();
/// let sink = reports.clone();
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.on_error_report(move |report| sink.borrow_mut().push(report.clone()));
/// kernel.run(|| {
///     thread::Builder::new().name("npc42").spawn(|| -> () { panic!("boom") }).unwrap();
/// }).unwrap();
/// let report = &reports.borrow()[0];
/// assert_eq!(report.origin, ErrorOrigin::Thread);
/// assert_eq!(report.name.as_deref(), Some("npc42"));
/// assert_eq!(report.message, "boom");
/// assert_eq!(report.openos_text(), "[thread] boom");
/// let line = report.to_string();
/// assert!(line.starts_with("[thread npc42 spawned at src/"), "{line}");
/// assert!(line.ends_with("] boom"), "{line}"); // it never blocked
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorReport {
    /// What raised it.
    pub origin: ErrorOrigin,
    /// The program or thread it was raised in or for (the owner of a
    /// listener or timer); `None` for the kernel itself (a kernel-wide
    /// listener, the trace hook, a dropped signal).
    pub thread: Option<ThreadId>,
    /// That thread's name, if it was given one.
    pub name: Option<String>,
    /// Where that thread was spawned.
    pub spawned_at: Option<&'static Location<'static>>,
    /// Where that thread waits, or last waited: the last blocking call it
    /// made (for a thread that panicked, the one its panic came after);
    /// `None` if it never blocked.
    pub waiting_at: Option<&'static Location<'static>>,
    /// The message: a panic's, `"stack overflow"`, `"too long without
    /// yielding"`, ...
    pub message: String,
}

impl ErrorReport {
    /// OpenOS's text, `"[<origin>] <message>"`, as
    /// [`Kernel::on_error`](crate::Kernel::on_error) receives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{ErrorOrigin, ErrorReport};
    ///
    /// let report = ErrorReport::new(ErrorOrigin::Timer, "tick failed");
    /// assert_eq!(report.openos_text(), "[timer] tick failed");
    /// assert_eq!(report.to_string(), "[timer] tick failed"); // no thread
    /// ```
    pub fn openos_text(&self) -> String {
        format!("[{}] {}", self.origin, self.message)
    }

    /// A report of `message` from `origin`, for no thread; the thread's
    /// fields are public, to fill in.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{ErrorOrigin, ErrorReport};
    ///
    /// let mut report = ErrorReport::new(ErrorOrigin::Thread, "boom");
    /// report.name = Some("npc42".into());
    /// assert_eq!(report.to_string(), "[thread npc42] boom");
    /// ```
    pub fn new(origin: ErrorOrigin, message: impl Into<String>) -> ErrorReport {
        ErrorReport {
            origin,
            thread: None,
            name: None,
            spawned_at: None,
            waiting_at: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", self.origin)?;
        match (&self.name, self.thread) {
            (Some(name), _) => write!(f, " {name}")?,
            (None, Some(id)) => write!(f, " {id}")?,
            (None, None) => {}
        }
        if let Some(at) = self.spawned_at {
            write!(f, " spawned at {}:{}", at.file(), at.line())?;
        }
        write!(f, "] {}", self.message)?;
        if let Some(at) = self.waiting_at {
            write!(f, ", waiting at {}:{}", at.file(), at.line())?;
        }
        Ok(())
    }
}

/// What the watchdog ([`KernelBuilder::watchdog`](crate::KernelBuilder::watchdog))
/// reports, from its own OS thread, about a program or thread that has run
/// longer than the limit since it was last resumed, while it still runs.
///
/// Its `Display`: `thread #3 (npc42), spawned at src/npc.rs:40, has run 61
/// ms without yielding (limit 50 ms), since its wait at src/npc.rs:88`; the
/// spawn site and the wait are left out where unknown (a thread's first
/// stretch follows no wait).
///
/// # Examples
///
/// ```
/// use cothread::{Kernel, WatchdogReport};
/// use std::sync::mpsc;
/// use std::time::{Duration, Instant};
///
/// let (tx, rx) = mpsc::channel::<WatchdogReport>();
/// let mut kernel = Kernel::builder()
///     .watchdog(Duration::from_millis(20))
///     .on_watchdog(move |report| { let _ = tx.send(report.clone()); })
///     .build();
/// kernel.run(move || {
///     let start = Instant::now();
///     // Spins without yielding until the watchdog has said so.
///     while rx.try_recv().is_err() && start.elapsed() < Duration::from_secs(10) {}
/// }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchdogReport {
    /// The program or thread that runs.
    pub thread: ThreadId,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// `true` for a program, `false` for a thread.
    pub program: bool,
    /// Where it was spawned.
    pub spawned_at: Option<&'static Location<'static>>,
    /// The blocking call it was resumed from: where its run without a
    /// yield began. `None` for its first stretch.
    pub waiting_at: Option<&'static Location<'static>>,
    /// How long it has run since it was resumed, at least.
    pub running_for: std::time::Duration,
    /// The watchdog's limit.
    pub limit: std::time::Duration,
}

impl fmt::Display for WatchdogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.program { "program" } else { "thread" };
        write!(f, "{kind} {}", self.thread)?;
        if let Some(name) = &self.name {
            write!(f, " ({name})")?;
        }
        if let Some(at) = self.spawned_at {
            write!(f, ", spawned at {}:{},", at.file(), at.line())?;
        }
        write!(
            f,
            " has run {} ms without yielding (limit {} ms)",
            self.running_for.as_millis(),
            self.limit.as_millis()
        )?;
        if let Some(at) = self.waiting_at {
            write!(f, ", since its wait at {}:{}", at.file(), at.line())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_as_the_issue_writes_it() {
        #[track_caller]
        fn here() -> &'static Location<'static> {
            Location::caller()
        }
        let (spawned, waiting) = (here(), here());
        let mut report = ErrorReport::new(ErrorOrigin::Thread, "boom");
        report.thread = Some(ThreadId(3));
        assert_eq!(report.to_string(), "[thread #3] boom");
        report.name = Some("npc42".into());
        report.spawned_at = Some(spawned);
        report.waiting_at = Some(waiting);
        assert_eq!(
            report.to_string(),
            format!(
                "[thread npc42 spawned at src/report.rs:{}] boom, waiting at src/report.rs:{}",
                spawned.line(),
                waiting.line()
            )
        );
        assert_eq!(report.openos_text(), "[thread] boom");
    }

    #[test]
    fn the_watchdog_report_names_the_thread_and_its_sites() {
        let at = Location::caller();
        let mut report = WatchdogReport {
            thread: ThreadId(3),
            name: None,
            program: false,
            spawned_at: None,
            waiting_at: None,
            running_for: std::time::Duration::from_millis(61),
            limit: std::time::Duration::from_millis(50),
        };
        assert_eq!(report.to_string(), "thread #3 has run 61 ms without yielding (limit 50 ms)");
        report.name = Some("npc42".into());
        report.spawned_at = Some(at);
        report.waiting_at = Some(at);
        let line = at.line();
        assert_eq!(
            report.to_string(),
            format!(
                "thread #3 (npc42), spawned at src/report.rs:{line}, has run 61 ms without \
                 yielding (limit 50 ms), since its wait at src/report.rs:{line}"
            )
        );
    }
}
