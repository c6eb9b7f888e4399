//! Looking into a kernel from the host: the thread table (OpenOS's `ps`) and
//! the trace of what the kernel does.

use std::backtrace::Backtrace;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::event::{Filter, Signal};
use crate::id::{Status, ThreadId};
use crate::kernel::{Core, Shared};
use crate::park::TaskKey;
use crate::park::Wait;
use crate::process::children;
use crate::task::{Kind, Task};

/// One row of [`Kernel::threads`](crate::Kernel::threads): a program or thread
/// as the kernel sees it.
///
/// # Examples
///
/// ```
/// use cothread::{event, thread, Kernel, Waiting};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.spawn(|| {
///     thread::Builder::new().name("reader").spawn(|| event::pull(None, "key_down")).unwrap();
///     event::pull(None, "quit");
/// });
/// let table = kernel.threads();
/// assert_eq!(table.len(), 2);
/// let reader = &table[1];
/// assert_eq!(reader.name.as_deref(), Some("reader"));
/// assert_eq!(reader.parent, Some(table[0].id));
/// assert_eq!(reader.waiting, Waiting::Signal("\"key_down\"".into()));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ThreadInfo {
    /// Its id.
    pub id: ThreadId,
    /// Its name, if it was given one ([`thread::Builder`](crate::thread::Builder)).
    pub name: Option<String>,
    /// `true` for a program (started by `Kernel::run` or `Kernel::spawn`),
    /// `false` for a thread.
    pub program: bool,
    /// Its status. A thread being unwound is already `Dead`.
    pub status: Status,
    /// The program or thread it is attached to; `None` for programs and
    /// detached threads (they belong to the root process).
    pub parent: Option<ThreadId>,
    /// What it is blocked on.
    pub waiting: Waiting,
    /// When its wait times out, on the kernel's clock.
    pub deadline: Option<Duration>,
    /// How many times the kernel has switched to it.
    pub resumes: u64,
    /// How many signals its pulls have received.
    pub signals: u64,
    /// Where it was started: the call to `thread::create`,
    /// `thread::Builder::spawn`, `Kernel::spawn` or `Kernel::run`.
    pub spawned_at: Option<&'static Location<'static>>,
    /// Where it waits: the blocking call it is in (`event::pull`,
    /// `os::sleep`, a join, ...); `None` while it is not blocked. A wait the
    /// kernel makes for it (a program's close, which joins its threads) is
    /// placed in the kernel's own source.
    pub waiting_at: Option<&'static Location<'static>>,
    /// The backtrace of the blocking call it is in, with
    /// [`KernelBuilder::backtraces`](crate::KernelBuilder::backtraces) on;
    /// `None` while it is not blocked, or with the option off.
    pub backtrace: Option<Arc<Backtrace>>,
}

/// Two rows are equal when every field is; backtraces are equal when they
/// are the same capture.
impl PartialEq for ThreadInfo {
    fn eq(&self, other: &ThreadInfo) -> bool {
        let same_backtrace = match (&self.backtrace, &other.backtrace) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.id == other.id
            && self.name == other.name
            && self.program == other.program
            && self.status == other.status
            && self.parent == other.parent
            && self.waiting == other.waiting
            && self.deadline == other.deadline
            && self.resumes == other.resumes
            && self.signals == other.signals
            && self.spawned_at == other.spawned_at
            && self.waiting_at == other.waiting_at
            && same_backtrace
    }
}

impl Eq for ThreadInfo {}

/// One line of [`Kernel::dump`](crate::Kernel::dump): the thread, its status
/// if it is not running, where it was spawned, what it waits on and where,
/// its deadline, and its counters.
///
/// # Examples
///
/// ```
/// use cothread::{event, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.spawn(|| event::pull(None, "key_down"));
/// let line = kernel.threads()[0].to_string();
/// assert!(line.starts_with("program #1, spawned at "), "{line}");
/// assert!(line.contains(": pull \"key_down\" at "), "{line}");
/// assert!(line.ends_with("; 1 resume, 0 signals"), "{line}");
/// ```
impl std::fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.program { "program" } else { "thread" };
        write!(f, "{kind} {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " ({name})")?;
        }
        if self.status != Status::Running {
            write!(f, " [{}]", self.status)?;
        }
        if let Some(at) = self.spawned_at {
            write!(f, ", spawned at {}:{}", at.file(), at.line())?;
        }
        if self.waiting != Waiting::Nothing {
            write!(f, ": {}", self.waiting)?;
            if let Some(at) = self.waiting_at {
                write!(f, " at {}:{}", at.file(), at.line())?;
            }
        }
        if let Some(deadline) = self.deadline {
            write!(f, " until {deadline:?}")?;
        }
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "; {} resume{}, {} signal{}",
            self.resumes,
            plural(self.resumes),
            self.signals,
            plural(self.signals)
        )
    }
}

/// What a program or thread is blocked on.
///
/// # Examples
///
/// ```
/// use cothread::Waiting;
/// assert_eq!(Waiting::Sleep.to_string(), "sleep");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waiting {
    /// Nothing: it is running, or ready and about to run.
    Nothing,
    /// A signal; the text describes the filter.
    Signal(String),
    /// `os::sleep`.
    Sleep,
    /// The end of these threads (a join, `wait_for_*`, or a program's close).
    Join(Vec<ThreadId>),
    /// It suspended itself, or was suspended while running.
    Suspended,
    /// Something else, described: a blocking job's driver waits for its
    /// worker, for example.
    Other(String),
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::Nothing => f.write_str("-"),
            Waiting::Signal(filter) => write!(f, "pull {filter}"),
            Waiting::Sleep => f.write_str("sleep"),
            Waiting::Join(ids) => {
                f.write_str("join")?;
                ids.iter().try_for_each(|id| write!(f, " {id}"))
            }
            Waiting::Suspended => f.write_str("suspended"),
            Waiting::Other(what) => f.write_str(what),
        }
    }
}

/// One thing the kernel did, as reported to [`Kernel::on_trace`]: enough to
/// record a run and compare it with another.
///
/// [`Kernel::on_trace`]: crate::Kernel::on_trace
///
/// # Examples
///
/// ```
/// use cothread::{thread, Kernel, Trace};
/// use std::{cell::RefCell, rc::Rc};
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.on_trace(move |_at, event: &Trace| l.borrow_mut().push(event.to_string()));
/// kernel.run(|| { thread::create(|| ()); }).unwrap();
/// assert_eq!(
///     *log.borrow(),
///     ["spawn #1", "resume #1", "spawn #2 in #1", "resume #2", "end #2", "end #1"]
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Trace {
    /// A program or thread was created (it runs at once).
    Spawn {
        /// The new program or thread.
        thread: ThreadId,
        /// The process it belongs to; `None` for a program.
        parent: Option<ThreadId>,
    },
    /// The kernel switched to a program or thread.
    Resume {
        /// Who runs now.
        thread: ThreadId,
    },
    /// A signal's delivery began: its listeners have run, and it wakes
    /// `receivers` waiting threads.
    Deliver {
        /// The signal.
        signal: Signal,
        /// How many waiting threads it wakes.
        receivers: usize,
    },
    /// A timer fired.
    Timer {
        /// The thread or program that owns it; `None` for the root process.
        owner: Option<ThreadId>,
    },
    /// A program or thread ended (returned, panicked, was killed or exited).
    End {
        /// Who ended.
        thread: ThreadId,
    },
}

impl std::fmt::Display for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trace::Spawn { thread, parent: Some(parent) } => {
                write!(f, "spawn {thread} in {parent}")
            }
            Trace::Spawn { thread, parent: None } => write!(f, "spawn {thread}"),
            Trace::Resume { thread } => write!(f, "resume {thread}"),
            Trace::Deliver { signal, receivers } => write!(f, "deliver {signal} to {receivers}"),
            Trace::Timer { owner: Some(owner) } => write!(f, "timer of {owner}"),
            Trace::Timer { owner: None } => f.write_str("timer"),
            Trace::End { thread } => write!(f, "end {thread}"),
        }
    }
}

/// The host's trace handler.
pub(crate) type TraceHook = Box<dyn FnMut(Duration, &Trace)>;

impl Core {
    /// The id of task `key`, or `None` for the root.
    pub(crate) fn thread_id(&self, key: TaskKey) -> Option<ThreadId> {
        let task = self.tasks.get(key)?;
        (task.kind != Kind::Root).then_some(task.id)
    }

    /// The thread table, oldest first.
    pub(crate) fn thread_table(&self) -> Vec<ThreadInfo> {
        let mut table: Vec<ThreadInfo> = self
            .tasks
            .iter()
            // A zombie (parked for ever) is dead, though its place is kept.
            .filter(|(_, task)| task.kind != Kind::Root && !task.zombie)
            .map(|(_, task)| self.info(task))
            .collect();
        table.sort_by_key(|info| info.id);
        table
    }

    /// The process tree as text, one line a task under its owner (see
    /// `Kernel::dump`).
    pub(crate) fn dump(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![(self.root, 0)];
        while let Some((key, depth)) = stack.pop() {
            let task = &self.tasks[key];
            if task.kind == Kind::Root {
                out.push_str("init\n");
            } else if !task.zombie {
                let indent = "  ".repeat(depth);
                let info = self.info(task);
                out.push_str(&indent);
                out.push_str(&info.to_string());
                out.push('\n');
                if let Some(backtrace) = &info.backtrace {
                    for line in backtrace.to_string().lines() {
                        out.push_str(&indent);
                        out.push_str("    ");
                        out.push_str(line);
                        out.push('\n');
                    }
                }
            }
            let children: Vec<TaskKey> = children(&self.tasks, key).collect();
            stack.extend(children.into_iter().rev().map(|child| (child, depth + 1)));
        }
        out
    }

    fn info(&self, task: &Task) -> ThreadInfo {
        let waiting = match &task.wait {
            Wait::None => Waiting::Nothing,
            Wait::Signal(filter) => Waiting::Signal(filter.describe()),
            Wait::Sleep => Waiting::Sleep,
            Wait::Join(keys) => {
                Waiting::Join(keys.iter().filter_map(|&k| self.thread_id(k)).collect())
            }
            Wait::Coma => Waiting::Suspended,
            Wait::On(what) => Waiting::Other(what.to_string()),
            Wait::Select(filters) => {
                let pulls: Vec<String> = filters.iter().map(Filter::describe).collect();
                if pulls.is_empty() {
                    Waiting::Other("sync::Select::wait".to_string())
                } else {
                    Waiting::Other(format!("sync::Select::wait (pull {})", pulls.join(", ")))
                }
            }
        };
        ThreadInfo {
            id: task.id,
            name: task.name.as_deref().map(str::to_owned),
            program: task.kind == Kind::Program,
            status: task.status,
            parent: task.parent.and_then(|p| self.thread_id(p)),
            waiting,
            deadline: task.deadline,
            resumes: task.resumes,
            signals: task.signals,
            spawned_at: task.spawned_at,
            waiting_at: task.waiting_at.filter(|_| !matches!(task.wait, Wait::None)),
            backtrace: task.backtrace.clone().filter(|_| !matches!(task.wait, Wait::None)),
        }
    }
}

impl Shared {
    /// Records whether a trace hook is installed.
    pub(crate) fn set_tracing(&self, on: bool) {
        let others = self.hooks.get() & !crate::kernel::TRACE;
        self.hooks.set(if on { others | crate::kernel::TRACE } else { others });
    }

    /// Reports `event` (built only if someone listens) to the trace hook.
    pub(crate) fn trace(&self, event: impl FnOnce(&Core) -> Trace) {
        if self.hooks.get() & crate::kernel::TRACE == 0 {
            return;
        }
        let (mut hook, at, event) = {
            let mut core = self.core();
            let Some(hook) = core.on_trace.take() else { return };
            let event = event(&core);
            (hook, core.now(), event)
        };
        self.assert_unborrowed("the trace hook");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(at, &event)));
        match outcome {
            Ok(()) => {
                let mut core = self.core();
                if core.on_trace.is_none() {
                    core.on_trace = Some(hook);
                }
            }
            Err(payload) => {
                drop(hook);
                let on = self.core().on_trace.is_some();
                self.set_tracing(on);
                let msg = crate::unwind::take_message(payload);
                self.report(
                    crate::report::ErrorOrigin::Trace,
                    &format!("{msg} (the trace hook is removed)"),
                );
            }
        }
    }
}
