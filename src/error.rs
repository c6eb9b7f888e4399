//! The crate's one error type.

use std::fmt;

use crate::event::Value;
use crate::id::Status;

/// Everything that can go wrong in a call a caller can act on.
///
/// Where OpenOS returns an error string, [`Display`](fmt::Display) gives the same
/// text, so messages read as they would on an OpenComputers machine.
///
/// # Examples
///
/// ```
/// use cothread::{thread, Error, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let out = kernel.run(|| {
///     let t = thread::create(|| {});
///     t.join(None).unwrap();
///     t.resume()
/// });
/// let err = out.unwrap().unwrap_err();
/// assert!(matches!(err, Error::CannotResume(cothread::Status::Dead)));
/// assert_eq!(err.to_string(), "cannot resume dead thread");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A join or wait ran out of time; the threads waited on keep running.
    Timeout,
    /// `resume` on a thread that is not suspended (its status is given).
    CannotResume(Status),
    /// `suspend` on a thread that is not running (its status is given).
    CannotSuspend(Status),
    /// `attach(level)` named a level above the root process.
    ProcessNotFound,
    /// `attach` would make a thread its own ancestor.
    AttachCycle,
    /// `attach` or `detach` of a thread that has already ended.
    DeadThread,
    /// The thread (or program) panicked; the panic message is kept.
    Panicked(String),
    /// The thread was killed (by `kill`, by its parent's end, or by a join that
    /// found it suspended) before it returned a value.
    Killed,
    /// The thread (or program) ended itself with [`os::exit`](crate::os::exit).
    Exited,
    /// The thread was ended by an interrupt
    /// ([`Thread::interrupt`](crate::thread::Thread::interrupt), or
    /// [`Kernel::hard_interrupt`](crate::Kernel::hard_interrupt), whose cause
    /// is [`Value::Nil`]), or, from
    /// [`os::catch_interrupt`](crate::os::catch_interrupt), the interrupt that
    /// was caught; with its cause.
    Interrupted(Value),
    /// The program can never finish: every thread waits and nothing can wake any
    /// of them. Each entry names a waiting thread and what it waits for.
    Deadlock(Vec<String>),
    /// The thread (or program) ran off the end of its stack, and ended like a
    /// panic: its threads are killed. Usually it was unwound (its destructors
    /// ran) at its next kernel call or at the first return that allows an
    /// unwind; one that ran through its stack's emergency zone too had its
    /// frames discarded: its locals leak, a lock or `RefCell` borrow it held
    /// stays held, and its stack is quarantined (see `docs/reliability.md`).
    /// Give deep recursion a larger stack with
    /// [`thread::Builder::stack_size`](crate::thread::Builder::stack_size).
    StackOverflow,
    /// The watchdog ([`KernelBuilder::watchdog`](crate::KernelBuilder::watchdog))
    /// found the thread (or program) running longer than its limit without
    /// yielding, and it was ended at its next
    /// [`os::checkpoint`](crate::os::checkpoint) or blocking call, its stack
    /// unwound and its threads killed, as CC:Tweaked and OpenComputers end
    /// such a script.
    TooLongWithoutYielding,
    /// No stack for a thread: the OS refused the address space or the memory,
    /// or the process's stacks hold as much as a limit leaves room for (its
    /// address-space limit, `RLIMIT_AS`; or, where the kernel has no guard
    /// regions, `vm.max_map_count`), cothread keeping a reserve back for the
    /// rest of the process; the text names the limit and the fix.
    StackAlloc(String),
    /// `Kernel::run` was called while a kernel is already running on this OS thread.
    NestedRun,
    /// A signal was sent to a kernel that has been dropped.
    KernelGone,
    /// A thread was started on behalf of a process that has ended (by a
    /// destructor its end runs, such as that of its unclaimed value), or while
    /// the kernel is being dropped. It never ran; its body was dropped.
    ProcessEnded,
    /// The OS refused to start the kernel's worker threads for blocking jobs
    /// (too many threads, or out of memory); the text is the OS's. The
    /// blocking job whose run needed them ends in
    /// [`JobState::Error`](crate::job::JobState::Error) with this error's
    /// text as its [`error`](crate::job::Job::error), its work not run; the
    /// next blocking run (a [`retry`](crate::job::Job::retry), another job)
    /// tries to start the workers again.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Error;
    ///
    /// let refused = Error::WorkerThread("Resource temporarily unavailable (os error 11)".into());
    /// assert_eq!(
    ///     refused.to_string(),
    ///     "cannot start a job worker thread: Resource temporarily unavailable (os error 11)"
    /// );
    /// ```
    WorkerThread(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => f.write_str("thread join timed out"),
            Error::CannotResume(status) => write!(f, "cannot resume {status} thread"),
            Error::CannotSuspend(status) => write!(f, "cannot suspend {status} thread"),
            Error::ProcessNotFound => f.write_str("thread failed to attach, process not found"),
            Error::AttachCycle => {
                f.write_str("thread failed to attach, a thread cannot own itself or its ancestors")
            }
            Error::DeadThread => f.write_str("thread is dead"),
            Error::Panicked(msg) => write!(f, "thread panicked: {msg}"),
            Error::Killed => f.write_str("thread was killed"),
            Error::Exited => f.write_str("process exited"),
            Error::Interrupted(Value::Nil) => f.write_str("interrupted"),
            Error::Interrupted(cause) => write!(f, "interrupted: {cause}"),
            Error::Deadlock(waiting) => {
                write!(f, "deadlock: nothing can wake the waiting threads: ")?;
                f.write_str(&waiting.join("; "))
            }
            Error::StackOverflow => f.write_str("stack overflow"),
            Error::TooLongWithoutYielding => f.write_str("too long without yielding"),
            Error::StackAlloc(why) => write!(f, "cannot allocate a thread stack: {why}"),
            Error::NestedRun => f.write_str("kernel run re-entered from inside a running kernel"),
            Error::KernelGone => f.write_str("the kernel has been dropped"),
            Error::ProcessEnded => f.write_str(
                "cannot start a thread: its process has ended or the kernel is going away",
            ),
            Error::WorkerThread(why) => write!(f, "cannot start a job worker thread: {why}"),
        }
    }
}

impl std::error::Error for Error {}
