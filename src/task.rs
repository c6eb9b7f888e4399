//! The task table: every program and thread's record (`Task`), the table
//! that holds them by key (`Tasks`), what a task is resumed with (`Wake`),
//! where its coroutine is kept (`Home`) and how it ended (`End`). Mechanism
//! only: the process tree's rules (ownership, close, kill) are `process`'s.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corosensei::{Coroutine, Yielder};

use crate::error::Error;
use crate::event::Value;
use crate::id::{Site, Status, ThreadId};
use crate::overflow::{Exit, OverflowUnwind};
use crate::park::{TaskKey, Wait, WaitQueue, WaitToken, Woke};
use crate::process::Siblings;
use crate::report::ErrorOrigin;
use crate::unwind::{take_message, ExitUnwind, InterruptUnwind, KillUnwind, OverrunUnwind};

/// What a green thread is resumed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Go on from where it blocked.
    Run,
    /// Unwind: the thread has been killed (or the kernel is going away).
    Kill,
}

/// A green thread's coroutine. It returns [`Exit::Overflow`] when the fault
/// handler ended it on a stack overflow (see `overflow`).
pub(crate) type Co = Coroutine<Wake, (), Exit, crate::stack::ThreadStack>;

/// Where a task's coroutine is kept while it is parked, boxed so that parking
/// and resuming it moves a pointer, not the coroutine. The stack pool keeps a
/// home (emptied) with its stack, so that a spawn allocates none.
pub(crate) struct Home {
    pub(crate) co: Option<Co>,
    /// The span its thread runs in (the `tracing` feature): entered for each
    /// of its resumes, taken out with the coroutine, so never cloned.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

impl crate::stack::Home for Home {
    fn new() -> Box<Home> {
        Box::new(Home {
            co: None,
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
        })
    }

    fn is_empty(&self) -> bool {
        self.co.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The root ("init") process: owns programs and detached threads; never runs.
    Root,
    /// A program started by `Kernel::run`.
    Program,
    /// A thread started by `thread::create`.
    Thread,
}

/// How a task's body ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    Returned,
    Panicked(String),
    Killed,
    Exited,
    Interrupted(Value),
    /// Ran off the end of its stack: unwound at its next kernel call, or, if
    /// it ran through the emergency zone first, its frames discarded.
    Overflowed,
    /// Ended by the watchdog: too long without yielding.
    Overrun,
}

impl End {
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> End {
        if payload.is::<KillUnwind>() {
            End::Killed
        } else if payload.is::<ExitUnwind>() {
            End::Exited
        } else if let Some(InterruptUnwind(cause)) = payload.downcast_ref() {
            End::Interrupted(cause.clone())
        } else if payload.is::<OverflowUnwind>() {
            End::Overflowed
        } else if payload.is::<OverrunUnwind>() {
            End::Overrun
        } else {
            End::Panicked(take_message(payload))
        }
    }

    pub(crate) fn error(&self) -> Option<Error> {
        match self {
            End::Returned => None,
            End::Panicked(msg) => Some(Error::Panicked(msg.clone())),
            End::Killed => Some(Error::Killed),
            End::Exited => Some(Error::Exited),
            End::Interrupted(cause) => Some(Error::Interrupted(cause.clone())),
            End::Overflowed => Some(Error::StackOverflow),
            End::Overrun => Some(Error::TooLongWithoutYielding),
        }
    }
}

/// Where a task's result goes: the typed slot a `JoinHandle<T>` reads.
pub(crate) struct Slot<T> {
    value: RefCell<Option<Result<T, Error>>>,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Slot<T> {
        Slot { value: RefCell::new(None) }
    }

    pub(crate) fn set(&self, value: T) {
        *self.value.borrow_mut() = Some(Ok(value));
    }

    pub(crate) fn take(&self) -> Option<Result<T, Error>> {
        self.value.borrow_mut().take()
    }
}

/// The untyped side of a `Slot`, through which the kernel records why a task
/// has no value.
pub(crate) trait Outcome {
    fn fail(&self, error: Error);
}

impl<T> Outcome for Slot<T> {
    fn fail(&self, error: Error) {
        let mut value = self.value.borrow_mut();
        if value.is_none() {
            *value = Some(Err(error));
        }
    }
}

/// One program or thread.
pub(crate) struct Task {
    pub(crate) id: ThreadId,
    pub(crate) kind: Kind,
    pub(crate) name: Option<Rc<str>>,
    pub(crate) parent: Option<TaskKey>,
    /// Attached children, an intrusive list oldest first: linking and
    /// unlinking a child is O(1) however many siblings it has.
    pub(crate) children: Siblings,
    /// This task's neighbours in its parent's list.
    pub(crate) prev_sibling: Option<TaskKey>,
    pub(crate) next_sibling: Option<TaskKey>,
    pub(crate) status: Status,
    pub(crate) wait: Wait,
    /// Names the current wait: a wake-up that carries another token is stale.
    pub(crate) token: WaitToken,
    pub(crate) woke: Woke,
    /// A deadline or nudge arrived while the task was frozen (it or an ancestor
    /// suspended); `resume` delivers it.
    pub(crate) missed: bool,
    /// Killed while its stack was busy resuming another task; it unwinds as soon
    /// as control comes back to it.
    pub(crate) kill_pending: bool,
    /// An interrupt, with its cause, to raise in the task as it returns from
    /// its current blocking call or enters its next one.
    pub(crate) interrupt: Option<Value>,
    /// The cause of the interrupt raised in the task, while it unwinds: how
    /// it ends if a destructor of that unwind is parked for ever.
    pub(crate) raised: Option<Value>,
    /// Being unwound or cleaning up: blocking calls return at once.
    pub(crate) dying: bool,
    /// Death bookkeeping (detach, `thread_exit`, joiners) is done.
    pub(crate) ended: bool,
    /// Its children have been killed for the last time (its `finish` is past
    /// that point, or, for the root, the kernel's drop is): a thread started
    /// on its behalf now is refused, since nothing would ever end it.
    pub(crate) sealed: bool,
    /// The kernel's own catch has taken the unwind that ended its body: what
    /// runs now is the kernel's cleanup (dropping its value), not code that
    /// caught a kill and went on.
    pub(crate) unwound: bool,
    /// It caught its kill (or exited from a cleanup) and went on: it is parked
    /// for ever, never resumed, and its stack is quarantined with the kernel.
    pub(crate) zombie: bool,
    /// `None` while the coroutine is on the CPU (or for the root).
    pub(crate) coroutine: Option<Box<Home>>,
    pub(crate) yielder: *const Yielder<Wake, ()>,
    pub(crate) outcome: Option<Rc<dyn Outcome>>,
    /// Tasks parked in a join on this one.
    pub(crate) joiners: WaitQueue,
    /// The deadline of the current wait, for reports.
    pub(crate) deadline: Option<Duration>,
    /// Where it was spawned, and where it last blocked (its current wait's
    /// call, while it waits), for reports.
    pub(crate) spawned_at: Option<Site>,
    pub(crate) waiting_at: Option<Site>,
    /// The backtrace of its last blocking call, captured only with
    /// `KernelBuilder::backtraces`.
    pub(crate) backtrace: Option<Arc<std::backtrace::Backtrace>>,
    pub(crate) resumes: u64,
    /// Signals it has received from pulls.
    pub(crate) signals: u64,
    /// Its stack came from the pool and goes back to it.
    pub(crate) pooled_stack: bool,
    /// Where its stack was in use when it last blocked, to prefetch.
    pub(crate) frames: crate::stack::Frames,
    /// The lowest address of its stack's mapping (its guard page).
    pub(crate) stack_low: usize,
    /// It ran into its stack's emergency zone: it is unwound at its next
    /// kernel call, and its stack is not reused.
    pub(crate) tripped: bool,
    /// The watchdog found it running too long without yielding: it is
    /// ended at its next checkpoint or blocking call.
    pub(crate) overrun: bool,
}

/// A task taken off its parking place to be resumed: its coroutine, and what
/// `running` and `context` were before it, to be put back when it yields.
pub(crate) struct Parked {
    pub(crate) coroutine: Box<Home>,
    pub(crate) running: Option<TaskKey>,
    pub(crate) context: Option<TaskKey>,
}

impl Task {
    /// Ends the task's wait: no token or deadline is current any more.
    /// Returns what it waited on, for [`Core::forget_wait`](crate::kernel::Core::forget_wait).
    #[inline(always)]
    pub(crate) fn end_wait(&mut self) -> Wait {
        self.token = WaitToken::NONE;
        self.deadline = None;
        std::mem::replace(&mut self.wait, Wait::None)
    }

    /// [`end_wait`](Task::end_wait) for a wait that
    /// [holds nothing](Wait::holds_nothing): only its tag is written.
    #[inline(always)]
    pub(crate) fn end_wait_holding_nothing(&mut self) {
        debug_assert!(self.wait.holds_nothing());
        std::mem::forget(self.end_wait());
    }

    #[inline]
    pub(crate) fn new(id: ThreadId, kind: Kind, parent: Option<TaskKey>) -> Task {
        Task {
            id,
            kind,
            name: None,
            parent,
            children: Siblings::default(),
            prev_sibling: None,
            next_sibling: None,
            status: Status::Running,
            wait: Wait::None,
            token: WaitToken::NONE,
            woke: Woke::Nothing,
            missed: false,
            kill_pending: false,
            interrupt: None,
            raised: None,
            dying: false,
            ended: false,
            sealed: false,
            unwound: false,
            zombie: false,
            coroutine: None,
            yielder: std::ptr::null(),
            outcome: None,
            joiners: WaitQueue::default(),
            deadline: None,
            spawned_at: None,
            waiting_at: None,
            backtrace: None,
            resumes: 0,
            signals: 0,
            pooled_stack: true,
            frames: crate::stack::Frames::default(),
            stack_low: 0,
            tripped: false,
            overrun: false,
        }
    }

    /// What the kernel's reports name as the origin of this task's errors.
    pub(crate) fn origin(&self) -> ErrorOrigin {
        if self.kind == Kind::Thread {
            ErrorOrigin::Thread
        } else {
            ErrorOrigin::Program
        }
    }

    /// How a task that caught the unwind meant to end it (a kill's, a stack
    /// overflow's) ends.
    pub(crate) fn caught_end(&self) -> End {
        if self.tripped {
            End::Overflowed
        } else if self.overrun {
            End::Overrun
        } else {
            End::Killed
        }
    }

    /// Whether the code on the CPU runs on this task's stack: its own
    /// frames, not those of a green thread of another kernel started on top
    /// of it.
    #[inline]
    pub(crate) fn runs_here(&self) -> bool {
        let here = crate::stack::below_here();
        self.stack_low <= here && here < self.frames.end
    }

    /// "thread #3" or "thread #3 (worker)", for messages.
    pub(crate) fn label(&self) -> String {
        let kind = match self.kind {
            Kind::Root => "init",
            Kind::Program => "program",
            Kind::Thread => "thread",
        };
        match &self.name {
            Some(name) => format!("{kind} {} ({name})", self.id),
            None => format!("{kind} {}", self.id),
        }
    }
}

/// The task table: tasks by key, as a slab whose free places form a list. It
/// counts the suspended tasks, so that while none is (the common case) a
/// wake-up knows its thread is not frozen without walking up the tree:
/// statuses change through [`Tasks::set_status`] only.
///
/// A removed task is dropped where it lies, and a new one is written straight
/// into its place: a task is a few hundred bytes, and a spawn used to spend a
/// tenth of its time moving them in and out of a general-purpose slab.
#[derive(Default)]
pub(crate) struct Tasks {
    places: Vec<Place>,
    /// The first free place; `places.len()` when none is.
    free: usize,
    len: usize,
    pub(crate) suspended: usize,
}

// Boxing the task would cost an allocation a spawn and a pointer chase a
// wake-up; a free place is rare and short-lived.
#[allow(clippy::large_enum_variant)]
enum Place {
    Used(Task),
    /// The next free place, as [`Tasks::free`].
    Free(usize),
}

impl Tasks {
    /// Makes room for `additional` more tasks without growing the table.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.places.reserve(additional);
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.places.capacity()
    }

    /// Adds the task `make` makes, built in its place; returns its key.
    #[inline(always)]
    pub(crate) fn insert(&mut self, make: impl FnOnce() -> Task) -> TaskKey {
        let key = self.free;
        match self.places.get_mut(key) {
            Some(place) => {
                let Place::Free(next) = *place else {
                    unreachable!("the free list names free places")
                };
                self.free = next;
                *place = Place::Used(make());
            }
            None => {
                self.places.push(Place::Used(make()));
                self.free = self.places.len();
            }
        }
        self.len += 1;
        TaskKey(key)
    }

    /// Drops the task at `key` where it lies and frees its place.
    ///
    /// # Panics
    ///
    /// If there is no task at `key`.
    #[inline]
    pub(crate) fn remove(&mut self, key: TaskKey) {
        let TaskKey(key) = key;
        let Some(Place::Used(task)) = self.places.get_mut(key) else {
            panic!("no task to remove at key {key}")
        };
        self.suspended -= usize::from(task.status == Status::Suspended);
        self.places[key] = Place::Free(self.free);
        self.free = key;
        self.len -= 1;
    }

    #[inline]
    pub(crate) fn get(&self, key: TaskKey) -> Option<&Task> {
        match self.places.get(key.0) {
            Some(Place::Used(task)) => Some(task),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: TaskKey) -> Option<&mut Task> {
        match self.places.get_mut(key.0) {
            Some(Place::Used(task)) => Some(task),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskKey, &Task)> {
        self.places.iter().enumerate().filter_map(|(key, place)| match place {
            Place::Used(task) => Some((TaskKey(key), task)),
            Place::Free(_) => None,
        })
    }

    #[inline]
    pub(crate) fn set_status(&mut self, key: TaskKey, status: Status) {
        let task = &mut self[key];
        let was = std::mem::replace(&mut task.status, status);
        self.suspended += usize::from(status == Status::Suspended);
        self.suspended -= usize::from(was == Status::Suspended);
    }
}

impl std::ops::Index<TaskKey> for Tasks {
    type Output = Task;

    #[inline]
    fn index(&self, key: TaskKey) -> &Task {
        match self.get(key) {
            Some(task) => task,
            None => no_task(key),
        }
    }
}

impl std::ops::IndexMut<TaskKey> for Tasks {
    #[inline]
    fn index_mut(&mut self, key: TaskKey) -> &mut Task {
        match self.get_mut(key) {
            Some(task) => task,
            None => no_task(key),
        }
    }
}

#[cold]
#[track_caller]
fn no_task(key: TaskKey) -> ! {
    panic!("no task at key {key}")
}
