//! Green threads: `thread::create`, the `Thread` handle and joins.
//!
//! A thread is a process: it starts running at once (before `create` returns),
//! owns the threads it creates, and its parent's end joins it (or, if the parent
//! panicked or exited, kills it).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::error::Error;
use crate::event::{Signal, Value};
use crate::kernel::{self, Shared};
use crate::park::{Registration, TaskKey};
use crate::process::SpawnOptions;
use crate::task::{Kind, Outcome, Slot};

pub use crate::id::{Status, ThreadId};

/// A cheap, clonable handle to a thread (OpenOS's thread handle `t`).
///
/// Every method works from inside the kernel and from the host; the ones that
/// must wait (`join`) need to be called from a program or thread. Like the
/// kernel, it stays on the kernel's OS thread: it is not `Send` (see
/// [`Kernel`](crate::Kernel#one-kernel-per-os-thread)).
///
/// # Examples
///
/// ```
/// use cothread::{os, thread, Kernel, Status};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let t: thread::Thread = thread::create(|| os::sleep(Duration::from_secs(5))).clone();
///     t.join(Duration::from_secs(10)).unwrap();
///     assert_eq!(t.status(), Status::Dead);
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct Thread {
    id: ThreadId,
    key: TaskKey,
    name: Option<Rc<str>>,
    kernel: Weak<Shared>,
}

impl Thread {
    pub(crate) fn new(
        kernel: Weak<Shared>,
        key: TaskKey,
        id: ThreadId,
        name: Option<Rc<str>>,
    ) -> Thread {
        Thread { id, key, name, kernel }
    }

    /// The thread's place in its kernel's task table, and its serial: what
    /// a wait source needs to be woken at its end
    /// ([`Registration::on_end`](crate::park::Registration::on_end)).
    pub(crate) fn task(&self) -> (&Weak<Shared>, TaskKey, ThreadId) {
        (&self.kernel, self.key, self.id)
    }

    /// Has the wait `r` registers woken when the thread ends or is
    /// suspended, or at once if it has ended already.
    pub(crate) fn wake_at_end(&self, r: &mut Registration<'_>) {
        if !r.on_end(&self.kernel, self.key, self.id) {
            r.wake_now();
        }
    }

    /// Runs `f` with the kernel entered, if the thread is still alive.
    fn with_live<R>(&self, f: impl FnOnce(&Shared, TaskKey) -> R) -> Option<R> {
        if let Some(here) = kernel::try_current() {
            here.check_stack();
        }
        let shared = self.kernel.upgrade()?;
        shared.core().task(self.key, self.id)?;
        let _enter = (!kernel::is_current(&shared)).then(|| kernel::enter(&shared));
        Some(f(&shared, self.key))
    }

    /// Whether the code on the CPU is this thread's or that of a thread it
    /// (transitively) owns: what killing it would unwind.
    pub(crate) fn runs_caller(&self) -> bool {
        let Some(shared) = self.kernel.upgrade() else { return false };
        if !kernel::is_current(&shared) {
            return false;
        }
        let core = shared.core();
        let alive = core.task(self.key, self.id).is_some();
        alive
            && core.context.is_some_and(|at| crate::process::is_ancestor(&core.tasks, self.key, at))
    }

    /// The thread's id.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// kernel.run(|| {
    ///     let t = cothread::thread::create(|| cothread::thread::current().unwrap().id());
    ///     let id = t.id();
    ///     assert_eq!(t.wait().unwrap(), id);
    /// }).unwrap();
    /// ```
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The name given with [`Builder::name`], if any; it outlives the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let t = thread::Builder::new().name("reader").spawn(|| ()).unwrap();
    ///     assert_eq!(t.name(), Some("reader"));
    ///     assert_eq!(thread::create(|| ()).name(), None);
    /// }).unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The thread's status: `Running` (also while blocked), `Suspended` or `Dead`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// kernel.run(|| {
    ///     let t = cothread::thread::create(|| {});
    ///     assert_eq!(t.status(), cothread::Status::Dead);
    /// }).unwrap();
    /// ```
    pub fn status(&self) -> Status {
        self.with_live(|shared, key| shared.core().tasks[key].status).unwrap_or(Status::Dead)
    }

    /// Freezes the thread: it misses every signal until resumed (a sleep or a
    /// timeout that falls due meanwhile ends at the resume), and so do the
    /// threads it owns. Suspending the current thread blocks it here
    /// until another thread resumes it. A join on a suspended thread returns at
    /// once and kills it.
    ///
    /// # Errors
    ///
    /// [`Error::CannotSuspend`] if the thread is not running
    /// (`"cannot suspend dead thread"`), or is already ending (a kill is
    /// unwinding it, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Error, Kernel, Status};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let t = thread::create(|| { cothread::event::pull(None, "never"); });
    ///     t.suspend().unwrap();
    ///     assert_eq!(t.suspend(), Err(Error::CannotSuspend(Status::Suspended)));
    ///     t.kill();
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn suspend(&self) -> Result<(), Error> {
        self.with_live(|shared, key| {
            let out = shared.suspend(key);
            shared.check_interrupts();
            out
        })
        .unwrap_or(Err(Error::CannotSuspend(Status::Dead)))
    }

    /// Thaws a suspended thread. It does not run at once: it runs when the caller
    /// next blocks, as in OpenOS. A wait that timed out while it was suspended
    /// ends then; signals pushed meanwhile are lost.
    ///
    /// # Errors
    ///
    /// [`Error::CannotResume`] if the thread is not suspended
    /// (`"cannot resume running thread"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, thread, Error, Kernel, Status};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let t = thread::create(|| os::sleep(Duration::from_secs(1)));
    ///     assert_eq!(t.resume(), Err(Error::CannotResume(Status::Running)));
    ///     t.suspend().unwrap();
    ///     t.resume().unwrap();
    /// }).unwrap();
    /// ```
    pub fn resume(&self) -> Result<(), Error> {
        self.with_live(|shared, key| shared.resume(key))
            .unwrap_or(Err(Error::CannotResume(Status::Dead)))
    }

    /// Kills the thread: it is dead at once, its stack is unwound now (its
    /// destructors run), and the threads it owns are killed the same way.
    /// Killing the current thread never returns. Killing a dead thread does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, thread, Kernel, Status};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let t = thread::create(|| loop { os::sleep(Duration::from_secs(1)) });
    ///     t.kill();
    ///     assert_eq!(t.status(), Status::Dead);
    ///     t.kill(); // no effect
    /// }).unwrap();
    /// ```
    pub fn kill(&self) {
        self.with_live(|shared, key| {
            shared.kill(key);
            shared.check_interrupts();
        });
    }

    /// Interrupts the thread with a `cause` (SimPy's `process.interrupt`):
    /// the blocking call it is in (a pull, a sleep, a join, a channel or lock
    /// wait) ends, in the next round, by unwinding its stack from there; if it
    /// is not blocked, its next blocking call does so at once. Inside
    /// [`os::catch_interrupt`](crate::os::catch_interrupt) the unwind stops
    /// there, which returns [`Error::Interrupted`] with the cause; uncaught, it
    /// ends the thread with that error, and the threads it owns are killed. A
    /// suspended thread gets it when it is resumed. A second interrupt before
    /// the first is raised replaces its cause. Returns whether the thread was
    /// alive to receive it (interrupting a dead thread does nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, thread, Error, Kernel, Value};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let driver = thread::create(|| {
    ///         match os::catch_interrupt(|| os::sleep(Duration::from_secs(60))) {
    ///             Err(Error::Interrupted(cause)) => format!("rerouted: {cause}"),
    ///             _ => "arrived".to_string(),
    ///         }
    ///     });
    ///     os::sleep(Duration::from_secs(1));
    ///     assert!(driver.interrupt(Value::from("road closed")));
    ///     assert_eq!(driver.wait(), Ok("rerouted: road closed".to_string()));
    /// }).unwrap();
    /// ```
    pub fn interrupt(&self, cause: impl Into<Value>) -> bool {
        let cause = cause.into();
        self.with_live(|shared, key| shared.core().interrupt(key, cause)).unwrap_or(false)
    }

    /// Waits until the thread is no longer running: it ended, or it is suspended
    /// (then the join kills it), as OpenOS's `t:join(timeout)`. A thread that
    /// panicked joins fine; see [`JoinHandle::wait`] for its value or panic.
    ///
    /// `timeout` is `None` (wait as long as it takes) or a `Duration`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (`"thread join timed out"`) when the timeout passes; the
    /// thread keeps running. [`Error::Killed`] at once, the thread still running,
    /// if the caller is unwinding (in a destructor, as a kill, a panic or an
    /// exit unwinds its stack): it cannot wait.
    ///
    /// # Panics
    ///
    /// If the thread is still running and the caller is not a program or thread
    /// of the thread's own kernel (only those can wait for it).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, thread, Error, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let t = thread::create(|| os::sleep(Duration::from_secs(5)));
    ///     assert_eq!(t.join(Duration::from_secs(1)), Err(Error::Timeout));
    ///     assert_eq!(t.join(None), Ok(()));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn join(&self, timeout: impl Into<Option<Duration>>) -> Result<(), Error> {
        wait_for_threads([self], true, timeout.into())
    }

    /// Moves the thread under another process: `level` 0 is the current process
    /// (the current thread, or the program), 1 its parent, and so on up to the root.
    /// The thread then blocks that process's close instead of its old parent's.
    ///
    /// # Errors
    ///
    /// [`Error::ProcessNotFound`] if there is no process at `level`,
    /// [`Error::AttachCycle`] if the process is the thread itself or one it owns,
    /// [`Error::DeadThread`] if the thread has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Error, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let t = thread::create(|| { cothread::event::pull(None, "x"); });
    ///     assert_eq!(t.attach(0), Ok(())); // already ours: no change
    ///     assert_eq!(t.attach(9), Err(Error::ProcessNotFound));
    ///     t.kill();
    /// }).unwrap();
    /// ```
    pub fn attach(&self, level: usize) -> Result<(), Error> {
        self.with_live(|shared, key| shared.attach(key, level)).unwrap_or(Err(Error::DeadThread))
    }

    /// Moves the thread under the root process: no program's close waits for it,
    /// and it runs until it ends, is killed, or the kernel is dropped (which
    /// unwinds it).
    ///
    /// # Errors
    ///
    /// [`Error::DeadThread`] if the thread has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, thread, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let t = thread::create(|| { event::pull(None, "never"); });
    ///     t.detach().unwrap();
    /// }).unwrap(); // returns: nothing waits for the detached thread
    /// ```
    pub fn detach(&self) -> Result<(), Error> {
        self.with_live(|shared, key| shared.detach(key)).unwrap_or(Err(Error::DeadThread))
    }
}

impl PartialEq for Thread {
    fn eq(&self, other: &Thread) -> bool {
        self.id == other.id && self.kernel.ptr_eq(&other.kernel)
    }
}

impl Eq for Thread {}

impl AsRef<Thread> for Thread {
    fn as_ref(&self) -> &Thread {
        self
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("status", &self.status())
            .finish()
    }
}

/// The handle `thread::create` returns: a [`Thread`] (it derefs to one) that also
/// gives the thread's value. It is not `Send` (see
/// [`Kernel`](crate::Kernel#one-kernel-per-os-thread)).
///
/// # Examples
///
/// ```
/// use cothread::{thread, Kernel};
///
/// let mut kernel = Kernel::new();
/// let v = kernel.run(|| thread::create(|| 6 * 7).wait()).unwrap();
/// assert_eq!(v, Ok(42));
/// ```
pub struct JoinHandle<T> {
    thread: Thread,
    slot: Rc<Slot<T>>,
    _value: PhantomData<T>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(thread: Thread, slot: Rc<Slot<T>>) -> JoinHandle<T> {
        JoinHandle { thread, slot, _value: PhantomData }
    }

    /// The handle of a task `shared` has just spawned (what
    /// [`Shared::spawn`] gave for it), named `name`.
    pub(crate) fn spawned(
        shared: &Shared,
        (key, id, slot): (TaskKey, ThreadId, Rc<Slot<T>>),
        name: Option<Rc<str>>,
    ) -> JoinHandle<T> {
        JoinHandle::new(Thread::new(shared.weak(), key, id, name), slot)
    }

    /// The handle of a thread that was refused with `error` and never ran:
    /// it is dead (it belongs to no kernel), and `wait` gives `error`.
    fn refused(shared: &Shared, error: Error) -> JoinHandle<T> {
        let serial = shared.core().next_id();
        let slot = Rc::new(Slot::new());
        slot.fail(error);
        JoinHandle::new(Thread::new(Weak::new(), TaskKey(usize::MAX), serial, None), slot)
    }

    /// Joins the thread, then gives its value, or why it has none.
    ///
    /// # Errors
    ///
    /// [`Error::Panicked`] with the panic message, [`Error::Killed`] (also when it
    /// was suspended: the join killed it), [`Error::Exited`] if it called
    /// [`os::exit`](crate::os::exit), [`Error::StackOverflow`] if it ran off the
    /// end of its stack, [`Error::Interrupted`] if an interrupt ended it
    /// ([`Thread::interrupt`], or the hard interrupt for a program), and
    /// [`Error::ProcessEnded`] if [`create`] refused it. A caller that is
    /// unwinding cannot wait: it gets [`Error::Killed`] at once if the thread is
    /// still running (see [`Thread::join`]).
    ///
    /// # Panics
    ///
    /// As [`Thread::join`]: if the thread is still running and the caller cannot wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Error, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let ok = thread::create(|| "value");
    ///     let bad = thread::create(|| -> () { panic!("no value") });
    ///     assert_eq!(ok.wait(), Ok("value"));
    ///     assert_eq!(bad.wait(), Err(Error::Panicked("no value".into())));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn wait(self) -> Result<T, Error> {
        // No timeout: this returns only once the thread is dead or suspended (and
        // then killed by the join).
        let _ = self.thread.join(None);
        self.slot.take().unwrap_or(Err(Error::Killed))
    }

    /// The `Thread` handle, cloned.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut kernel = cothread::Kernel::new();
    /// kernel.run(|| {
    ///     let h = cothread::thread::create(|| 1);
    ///     assert_eq!(h.thread().id(), h.id());
    /// }).unwrap();
    /// ```
    pub fn thread(&self) -> Thread {
        self.thread.clone()
    }
}

impl<T> AsRef<Thread> for JoinHandle<T> {
    fn as_ref(&self) -> &Thread {
        &self.thread
    }
}

impl<T> Deref for JoinHandle<T> {
    type Target = Thread;

    fn deref(&self) -> &Thread {
        &self.thread
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinHandle").field(&self.thread).finish()
    }
}

/// Starts a thread running `f` and returns its handle. The thread runs at once,
/// up to its first blocking call, before `create` returns; it belongs to the
/// current process (the calling thread, or the program).
///
/// # Panics
///
/// Outside a kernel; or if no stack can be had for the thread (the message names
/// the limit and the fix).
///
/// # Examples
///
/// ```
/// use cothread::{os, thread, Kernel};
/// use std::{cell::RefCell, rc::Rc, time::Duration};
///
/// let out = Rc::new(RefCell::new(Vec::new()));
/// let o = out.clone();
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(move || {
///     o.borrow_mut().push("start");
///     let o2 = o.clone();
///     thread::create(move || {
///         o2.borrow_mut().push("A");
///         os::sleep(Duration::ZERO);
///         o2.borrow_mut().push("B");
///     });
///     o.borrow_mut().push("end");
/// }).unwrap();
/// assert_eq!(*out.borrow(), ["start", "A", "end", "B"]);
/// ```
///
/// A thread created for a process that has ended (by a destructor run as it
/// ended, or as the kernel is dropped) is refused: `create` then returns the
/// handle of a thread that never ran, dead, whose [`wait`](JoinHandle::wait)
/// gives [`Error::ProcessEnded`] (a panic there could abort the process).
///
/// # Panics
///
/// Outside a kernel, and if the OS refuses a stack ([`Builder::spawn`]
/// returns that as an error instead).
#[track_caller]
pub fn create<T: 'static>(f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    let shared = kernel::current("thread::create");
    match Builder::new().spawn_in(shared, f) {
        Ok(handle) => handle,
        Err(error) => create_failed(shared, error),
    }
}

#[cold]
#[inline(never)]
fn create_failed<T>(shared: &Shared, error: Error) -> JoinHandle<T> {
    match error {
        // Raised only by destructors that run as a process ends or the
        // kernel goes: a panic there could abort the process.
        Error::ProcessEnded => JoinHandle::refused(shared, Error::ProcessEnded),
        error => panic!("cothread: thread::create failed: {error}"),
    }
}

/// Configures a thread before it starts, like `std::thread::Builder`: its
/// name (shown by [`Thread::name`], [`Kernel::threads`](crate::Kernel::threads)
/// and the log) and its stack size.
///
/// # Examples
///
/// ```
/// use cothread::{thread, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let sum = kernel.run(|| {
///     let worker = thread::Builder::new()
///         .name("summer")
///         .stack_size(64 * 1024)
///         .spawn(|| (1..=10).sum::<u32>())
///         .unwrap();
///     worker.wait().unwrap()
/// });
/// assert_eq!(sum, Ok(55));
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the kernel's stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::thread::Builder::new();
    /// # drop(builder);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::thread::Builder::new().name("net");
    /// # drop(builder);
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the thread's stack size in bytes (rounded up to whole pages, at
    /// least [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE); an emergency zone and a
    /// guard page are added below). Stacks of the kernel's size are pooled and
    /// reused; others are carved for the thread from chunks of their size,
    /// and their slots reused by threads of the same size once it ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::thread::Builder::new().stack_size(1 << 20);
    /// # drop(builder);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the thread, as [`create`] does: it runs at once, up to its first
    /// blocking call, before `spawn` returns.
    ///
    /// # Errors
    ///
    /// - [`Error::StackAlloc`] if the OS refuses the stack, or the process's
    ///   stacks hold as much as its address-space limit or (without guard
    ///   regions) `vm.max_map_count` leaves room for (see
    ///   docs/performance.md, "Memory mappings");
    /// - [`Error::ProcessEnded`] if the process it would belong to has ended
    ///   (the call comes from a destructor run as it ended, or as the kernel
    ///   is dropped): nothing would ever end the thread. `f` is dropped unrun.
    ///
    /// # Panics
    ///
    /// Outside a kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let t = thread::Builder::new().name("t").spawn(|| 1).unwrap();
    ///     assert_eq!(t.wait(), Ok(1));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn<T: 'static>(
        self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        self.spawn_in(kernel::current("thread::Builder::spawn"), f)
    }

    #[track_caller]
    fn spawn_in<T: 'static>(
        self,
        shared: &Shared,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        let parent = shared.current_owner();
        let name: Option<Rc<str>> = self.name.map(Rc::from);
        let site = Some(std::panic::Location::caller());
        let options = SpawnOptions { name: name.clone(), stack_size: self.stack_size, site };
        let spawned = shared.spawn(parent, Kind::Thread, options, f)?;
        shared.check_interrupts();
        Ok(JoinHandle::spawned(shared, spawned, name))
    }
}

/// The current thread's handle, or `None` in a program's main body, in a
/// kernel-wide listener, and outside any kernel, as OpenOS's `thread.current()`.
/// Unlike the other free functions it does not panic outside a kernel, so that
/// library code can ask whether it runs in a green thread.
///
/// # Examples
///
/// ```
/// use cothread::{thread, Kernel};
///
/// assert!(thread::current().is_none()); // no kernel here
/// let mut kernel = Kernel::new();
/// kernel.run(|| {
///     assert!(thread::current().is_none());
///     let t = thread::create(|| thread::current().map(|t| t.id()));
///     let id = t.id();
///     assert_eq!(t.wait(), Ok(Some(id)));
/// }).unwrap();
/// ```
pub fn current() -> Option<Thread> {
    let shared = kernel::try_current()?;
    let (key, serial, name) = {
        let core = shared.core();
        let key = core.context?;
        let task = &core.tasks[key];
        if task.kind != Kind::Thread {
            return None;
        }
        (key, task.id, task.name.clone())
    };
    Some(Thread::new(shared.weak(), key, serial, name))
}

/// Lua's `coroutine.yield()` inside a thread: waits for the next signal of any
/// name and returns it (`None` only while the thread is being unwound).
///
/// # Examples
///
/// ```
/// use cothread::{event, thread, Kernel, Signal};
///
/// let mut kernel = Kernel::new();
/// let name = kernel.run(|| {
///     let t = thread::create(|| thread::yield_now().map(|s| s.name().to_string()));
///     event::push(Signal::new("tick"));
///     t.wait()
/// }).unwrap();
/// assert_eq!(name, Ok(Some("tick".to_string())));
/// ```
pub fn yield_now() -> Option<Signal> {
    crate::event::pull(None, crate::event::Filter::any())
}

/// Waits until every thread in `threads` is done (ended, or suspended: those are
/// killed), as OpenOS's `thread.waitForAll`. The threads found done are killed
/// even when the wait times out; the others keep running.
///
/// # Errors
///
/// [`Error::Timeout`] when `timeout` passes first; [`Error::Killed`] at once
/// if the caller is unwinding and would have to wait (as [`Thread::join`]).
///
/// # Panics
///
/// As [`Thread::join`]; and if it would have to wait for threads of two
/// kernels (a wait blocks in one).
///
/// # Examples
///
/// ```
/// use cothread::{os, thread, Kernel};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let a = thread::create(|| os::sleep(Duration::from_secs(1)));
///     let b = thread::create(|| os::sleep(Duration::from_secs(2)));
///     thread::wait_for_all([&a, &b], Duration::from_secs(5)).unwrap();
///     assert_eq!(os::uptime(), Duration::from_secs(2));
/// }).unwrap();
/// ```
#[track_caller]
pub fn wait_for_all(
    threads: impl IntoIterator<Item = impl AsRef<Thread>>,
    timeout: impl Into<Option<Duration>>,
) -> Result<(), Error> {
    wait_for_threads(threads, true, timeout.into())
}

/// Waits until any thread in `threads` is done, as OpenOS's `thread.waitForAny`;
/// otherwise as [`wait_for_all`].
///
/// # Errors
///
/// [`Error::Timeout`] when `timeout` passes first; [`Error::Killed`] at once
/// if the caller is unwinding and would have to wait (as [`Thread::join`]).
///
/// # Panics
///
/// As [`Thread::join`]; and if it would have to wait for threads of two
/// kernels (a wait blocks in one).
///
/// # Examples
///
/// ```
/// use cothread::{os, thread, Kernel, Status};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let a = thread::create(|| os::sleep(Duration::from_secs(1)));
///     let b = thread::create(|| os::sleep(Duration::from_secs(2)));
///     thread::wait_for_any([&a, &b], None).unwrap();
///     assert_eq!(b.status(), Status::Running);
/// }).unwrap();
/// ```
#[track_caller]
pub fn wait_for_any(
    threads: impl IntoIterator<Item = impl AsRef<Thread>>,
    timeout: impl Into<Option<Duration>>,
) -> Result<(), Error> {
    wait_for_threads(threads, false, timeout.into())
}

#[track_caller]
fn wait_for_threads(
    threads: impl IntoIterator<Item = impl AsRef<Thread>>,
    all: bool,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    // The threads of a dropped kernel are dead: done.
    let (threads, gone): (Vec<Thread>, Vec<Thread>) =
        threads.into_iter().map(|t| t.as_ref().clone()).partition(|t| t.kernel.strong_count() > 0);
    if !all && !gone.is_empty() {
        return Ok(());
    }
    let Some(first) = threads.first() else { return Ok(()) };
    if threads.iter().any(|t| !t.kernel.ptr_eq(&first.kernel)) {
        // One wait cannot block in two kernels; threads found done need none.
        let done = |t: &Thread| t.status() != Status::Running;
        let finished = if all { threads.iter().all(done) } else { threads.iter().any(done) };
        assert!(
            finished,
            "cothread: one wait (`join`, `wait_for_all`, `wait_for_any`) cannot block for \
             threads of two kernels"
        );
        return Ok(());
    }
    let Some(shared) = first.kernel.upgrade() else { return Ok(()) };
    let targets: Vec<(TaskKey, ThreadId)> = threads.iter().map(|t| (t.key, t.id)).collect();
    let here = kernel::is_current(&shared);
    // A program or thread of another kernel (or one of its callbacks) can
    // find these threads done, but not wait in their kernel.
    let elsewhere = !here && kernel::try_current().is_some();
    let _enter = (!here).then(|| kernel::enter(&shared));
    let me = if elsewhere { None } else { shared.core().running };
    shared.wait_for_from(me, &targets, all, timeout)
}
