//! The reference model: what docs/semantics.md and the crate's documented choices
//! say a [`Program`] must do, computed without the runtime.
//!
//! It has no stacks and no coroutines. Each task is a script and a program
//! counter; a blocked task remembers where it blocked (its [`Site`]); the
//! model's own call stack stands for the stacks that nest when a thread
//! creates another (which runs at once, on top of its creator), kills one
//! (which unwinds at once) or is woken by the kernel. The rules it follows, and
//! where each comes from:
//!
//! - **Creating** runs the new thread until its first blocking call, then the
//!   creator goes on (docs/semantics.md "Scheduling"). The new thread is a
//!   child of its creator.
//! - **Blocking** (pull, sleep, join, self-suspend, and the sync objects'
//!   waits: a send, a receive, a lock, an acquire, a select) parks the task
//!   with a wait token taken from one kernel-wide counter: the order of
//!   tokens is the order in which waits began.
//! - **A round** (docs/semantics.md "Scheduling", the **cothread** round;
//!   rustdoc of the crate root and docs/threads.md "When threads run"): the
//!   signals queued when it starts, in push order, each first to the live,
//!   unfrozen listeners of its name in registration order, then to every
//!   unfrozen waiting task whose filter accepts it, in token order; then the
//!   deadlines due by the round's start (not those added during it), in
//!   (deadline, order added) order; then the joins nudged in the round before.
//!   With nothing to do and nothing queued, the virtual clock jumps to the
//!   nearest deadline that can still wake something.
//! - **Suspension** (docs/threads.md "Suspend and resume"): a suspended task,
//!   and every task under it, is frozen: it misses signals (for good), its
//!   listeners and timers do not run (timer firings are skipped, not stored),
//!   and a deadline or join nudge that comes meanwhile is remembered and given
//!   to it in the round after it is thawed. A thread suspended while its stack
//!   is busy under a thread it created stops when control comes back to it.
//!   `suspend` nudges the target's joiners (a suspended thread counts as done
//!   for joins).
//! - **Joins** (docs/semantics.md "Thread status and handle methods"): done
//!   means not running (dead or suspended); the targets found done are killed;
//!   a timeout leaves them.
//! - **Kill** (docs/threads.md "Kill"): dead at once (status, detached from its
//!   parent, joiners nudged, listeners and timers removed, `thread_exit`
//!   pushed), then its stack unwinds and its children are killed, newest
//!   first. A task whose stack is busy under the running one dies when control
//!   comes back to it; a task that kills itself never returns.
//! - **Ends** (docs/processes.md): a body that returns closes (joins its
//!   children, newest first); a panic, `os::exit` or a kill kills them. A panic
//!   is reported as `"[thread] msg"` or `"[program] msg"`.
//! - **Attach and detach** (docs/processes.md "Attach and detach"): level 0 is
//!   the calling task, each level one parent up; moving a task out from under
//!   a suspended one thaws it.
//! - **The host** (rustdoc of `Kernel::run` and `Kernel::run_forever`): `run`
//!   runs rounds until the program is gone; when nothing can ever happen
//!   again while it lives, it kills it and returns `Deadlock`. `run_forever`
//!   then runs rounds until nothing can happen. While a thread waits on a
//!   channel (docs/sync.md, "Channels"), "nothing can happen" is not known:
//!   another OS thread could send, and the kernel waits in the OS for ever
//!   ([`Outcome::WaitsForever`]).
//! - **Wake-ups** (src/park.rs, `Core::wake`): a wait source's wake-up runs
//!   the woken task in the next round's wake phase, after that round's
//!   signals and deadlines, in the order the wake-ups came; a wake-up given
//!   while the kernel's state is borrowed (a channel's watchers woken as a
//!   receiver registers its wait) goes through the remote path, and joins
//!   the next round's wake-ups after the others. A woken task re-checks its
//!   condition and parks again (a new wait: a new token, a new deadline
//!   entry) if it does not hold.
//! - **Channels** (src/sync/channel.rs): a send hands its value to the first
//!   waiting receiver, else puts it in the buffer if there is room, else
//!   waits in the senders' queue with it; a receive takes the buffer's first
//!   value (the first waiting sender's value takes its place) or a waiting
//!   sender's. Waiters are served first come first served; a kill takes a
//!   waiter out (a parked sender's value is dropped, a value handed to a
//!   receiver goes on to the next receiver or back to the front).
//! - **Mutex and semaphore** (src/sync/mutex.rs, semaphore.rs): an unlock
//!   hands the lock to the longest waiter; a release grants the first
//!   waiter's request if it fits; a kill gives back a lock or permits held
//!   or handed to the task as its stack unwinds (innermost frame first: the
//!   wait, the held lock, then the permits in its body's frame).
//! - **Select** (src/sync/select.rs): the first listed ready case wins (a
//!   value in the channel, then a signal the wait received, then the
//!   timeout); a wait watches the channel (woken at its next change) and
//!   takes the watch out as it ends.

use std::collections::VecDeque;

use crate::ops::{
    push_id, who, Chan, Mode, Observed, Op, Program, Want, PERMITS, SCRIPTS, TICK_MS,
};

type Key = usize;

/// The root process: owns the program and detached threads; never runs.
const ROOT: Key = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Running,
    Suspended,
    Dead,
}

impl St {
    fn text(self) -> &'static str {
        match self {
            St::Running => "running",
            St::Suspended => "suspended",
            St::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug)]
struct Sig {
    name: &'static str,
    arg: i64,
}

impl Sig {
    fn show(&self) -> String {
        format!("{} {}", self.name, self.arg)
    }
}

/// What a blocked task waits for.
#[derive(Debug)]
enum Wait {
    None,
    /// `indexed`: still in the waiter index (a delivery takes it out; a task
    /// taken out but not woken, because it was frozen by then, gets no more
    /// signals in this wait).
    Signal {
        want: Want,
        indexed: bool,
    },
    Sleep,
    Join,
    Coma,
    /// A sync object's wait (a channel, the mutex, the semaphore).
    Sync,
}

/// Why a blocked task was woken.
#[derive(Debug, Clone)]
enum Woke {
    Nothing,
    Signal(Sig),
    Timeout,
    Nudge,
}

/// What a task does when control comes back to it after a nested run
/// (create, kill) or a self-suspension.
#[derive(Debug, Clone)]
enum After {
    /// Log the step's line (and, for a create, keep the `JoinHandle`), then
    /// go to the next step.
    Step { line: String, keeps_join: Option<usize> },
    /// Go on closing.
    Close,
}

/// Where a task is in its life; for a blocked task, where it blocked.
#[derive(Debug, Clone)]
enum Site {
    Start,
    Steps,
    Pull {
        deadline: Option<u64>,
    },
    Sleep {
        deadline: u64,
    },
    /// In a join: `t.join(..)` (`then` is a step) or the close's.
    Join {
        target: Key,
        deadline: Option<u64>,
        done: Vec<Key>,
        then: After,
    },
    Coma {
        then: After,
    },
    Close,
    /// A parked sender: its place in the channel's senders' queue.
    Send {
        c: usize,
        place: u64,
        deadline: Option<u64>,
    },
    /// A parked receiver: its place in the receivers' queue.
    Recv {
        c: usize,
        place: u64,
        deadline: Option<u64>,
    },
    /// Waiting for the mutex.
    Lock {
        place: u64,
    },
    /// Holding the mutex through a sleep.
    Hold {
        deadline: u64,
    },
    /// Waiting for a permit.
    Acquire {
        place: u64,
        deadline: Option<u64>,
    },
    /// A select's wait.
    Select {
        c: usize,
        want: Want,
        deadline: Option<u64>,
    },
}

#[derive(Debug, Clone)]
enum End {
    Returned,
    Panicked(String),
    Killed,
    Exited,
}

/// What a piece of a task's execution ended with.
enum Flow {
    /// Go on with the task's next piece of work.
    Next,
    /// It blocked: control goes back to whoever resumed it.
    Blocked,
    /// Its body is over (returned, or unwinding): finish it.
    End(End),
}

#[derive(Debug, PartialEq, Eq)]
enum KillHow {
    Nothing,
    SelfUnwind,
    WhenBack,
    Unwound,
}

struct Task {
    script: usize,
    serial: u64,
    is_thread: bool,
    parent: Option<Key>,
    children: Vec<Key>,
    status: St,
    wait: Wait,
    token: u64,
    woke: Woke,
    missed: bool,
    kill_pending: bool,
    dying: bool,
    ended: bool,
    /// Its stack is in use: it is running, or under the running task.
    on_cpu: bool,
    /// Its coroutine has returned; it is gone from the kernel's table once
    /// control leaves it.
    done: bool,
    removed: bool,
    pc: usize,
    site: Site,
    joiners: Vec<(Key, u64)>,
    body_ended: bool,
    outcome: Option<String>,
    /// Permits it holds in its body's frame.
    permits: usize,
}

#[derive(Debug, Clone, Copy)]
enum Due {
    Task(Key, u64),
    Timer(usize),
}

struct Listener {
    owner: Key,
    name: &'static str,
    mode: Mode,
    alive: bool,
}

struct Timer {
    owner: Key,
    interval: u64,
    remaining: u32,
    alive: bool,
}

/// A wait's waker: the task and the token of its wait.
type Waker = (Key, u64);

/// A channel's state, as src/sync/channel.rs keeps it.
#[derive(Default)]
struct Channel {
    capacity: Option<usize>,
    buffer: VecDeque<i64>,
    /// Parked senders: (place, value, waker).
    sending: VecDeque<(u64, i64, Option<Waker>)>,
    /// Parked receivers: (place, waker).
    receiving: VecDeque<(u64, Option<Waker>)>,
    /// Values handed to a receiver that has not run yet: (place, value).
    handed: Vec<(u64, i64)>,
    /// Selects woken at the channel's next change.
    watchers: Vec<Waker>,
}

#[derive(Default)]
struct Lock {
    locked: bool,
    handed: Option<u64>,
    waiters: VecDeque<(u64, Option<Waker>)>,
}

#[derive(Default)]
struct Permits {
    free: usize,
    waiters: VecDeque<(u64, Option<Waker>)>,
    granted: Vec<u64>,
}

struct Model {
    scripts: Vec<Vec<Op>>,
    tasks: Vec<Task>,
    /// The task whose stack is executing (`None`: the host).
    running: Option<Key>,
    now: u64,
    queue: Vec<Sig>,
    /// The wake-ups for the next round's wake phase (`Core::wake`): joins
    /// nudged, sync waits woken.
    join_wakes: Vec<(Key, u64)>,
    /// Wake-ups through the remote path, drained into `join_wakes` as the
    /// next round begins.
    remote_wakes: Vec<(Key, u64)>,
    chans: Vec<Channel>,
    lock: Lock,
    semaphore: Permits,
    /// Places in the sync objects' queues.
    next_place: u64,
    /// Channel values made, and dropped.
    values: u32,
    values_dropped: u32,
    /// (at, order added, what).
    deadlines: Vec<(u64, u64, Due)>,
    next_seq: u64,
    next_token: u64,
    next_serial: u64,
    listeners: Vec<Listener>,
    timers: Vec<Timer>,
    /// Script number -> task, once started.
    key_of: Vec<Option<Key>>,
    /// Scripts whose creator got the `JoinHandle` back.
    join_kept: Vec<bool>,
    log: Vec<String>,
    /// A bound on the model's own work, so that a model bug cannot hang a test.
    fuel: u64,
}

/// What the model says a program does.
pub enum Outcome {
    Ends(Observed),
    /// It never ends, because a timer whose owner is frozen for good keeps
    /// the clock moving (see [`Model::idle`]); the runtime would spin there
    /// too.
    Endless,
    /// Nothing can happen, but a thread waits on a channel: the runtime
    /// waits in the OS for ever for another OS thread's send.
    WaitsForever,
}

/// Runs `program` on the model.
pub fn run_model(program: &Program) -> Outcome {
    let mut m = Model::new(program);
    let program_key = m.spawn(ROOT, 0);
    // Kernel::run: rounds until the program is gone; a deadlock kills it.
    let run = loop {
        if m.tasks[program_key].removed {
            break m.tasks[program_key].outcome.clone().expect("a finished task has an outcome");
        }
        let busy = m.round();
        if !busy {
            match m.idle() {
                Idle::Goes => {}
                Idle::Stuck => {
                    m.kill(program_key);
                    break "deadlock".to_string();
                }
                Idle::Spins => return Outcome::Endless,
                Idle::Waits => return Outcome::WaitsForever,
            }
        }
    };
    // Kernel::run_forever: rounds until nothing can happen.
    loop {
        let busy = m.round();
        if !busy {
            match m.idle() {
                Idle::Goes => {}
                Idle::Stuck => break,
                Idle::Spins => return Outcome::Endless,
                Idle::Waits => return Outcome::WaitsForever,
            }
        }
    }
    let alive = m.tasks.iter().skip(1).any(|t| !t.removed);
    let mut observed = Observed {
        run,
        run_forever: if alive { "deadlock" } else { "ok" }.to_string(),
        uptime_ms: m.now,
        ..Observed::default()
    };
    for j in 1..SCRIPTS {
        let Some(k) = m.key_of[j] else { continue };
        let status = if m.tasks[k].removed { St::Dead } else { m.tasks[k].status };
        observed.statuses.push((j, status.text().to_string()));
        if status == St::Dead && m.join_kept[j] {
            let outcome = m.tasks[k].outcome.clone().expect("a dead task has an outcome");
            observed.waits.push((j, outcome));
        }
    }
    for j in 0..SCRIPTS {
        if let Some(k) = m.key_of[j] {
            observed.drops.push((j, u32::from(m.tasks[k].body_ended)));
            observed.drops_after_kernel.push((j, 1));
        }
    }
    // The kernel's drop unwinds the parked senders (their values go with
    // them); the values in the channels go with the channels.
    let parked: usize = m.chans.iter().map(|c| c.sending.len()).sum();
    let dropped = m.values_dropped;
    observed.values = [m.values, dropped, dropped + parked as u32, m.values];
    observed.log = m.log;
    Outcome::Ends(observed)
}

/// What the kernel does after a round with nothing to do.
enum Idle {
    /// Something can still happen (the clock has moved to it, if need be).
    Goes,
    /// Nothing can ever happen again: a deadlock, or the end.
    Stuck,
    /// Nothing can ever run again, but a timer of a frozen owner keeps
    /// skipping its firings, one interval at a time, for ever.
    Spins,
    /// Nothing can happen, but a channel's waiter keeps a handle another OS
    /// thread could wake it with: the kernel waits for it for ever.
    Waits,
}

impl Model {
    fn new(program: &Program) -> Model {
        let root = Task::new(0, 0, false, None);
        Model {
            scripts: program.scripts.clone(),
            tasks: vec![root],
            running: None,
            now: 0,
            queue: Vec::new(),
            join_wakes: Vec::new(),
            remote_wakes: Vec::new(),
            chans: [Chan::One, Chan::Unbounded]
                .iter()
                .map(|c| Channel { capacity: c.capacity(), ..Channel::default() })
                .collect(),
            lock: Lock::default(),
            semaphore: Permits { free: PERMITS, ..Permits::default() },
            next_place: 0,
            values: 0,
            values_dropped: 0,
            deadlines: Vec::new(),
            next_seq: 0,
            next_token: 0,
            next_serial: 0,
            listeners: Vec::new(),
            timers: Vec::new(),
            key_of: vec![None; SCRIPTS],
            join_kept: vec![false; SCRIPTS],
            log: Vec::new(),
            fuel: 1_000_000,
        }
    }

    fn burn(&mut self) {
        self.fuel = self.fuel.checked_sub(1).expect("the model ran away (a bug in the model)");
    }

    fn log(&mut self, script: usize, what: impl Into<String>) {
        let line = format!("{} {} {}", self.now, who(script), what.into());
        self.log.push(line);
    }

    fn report(&mut self, message: String) {
        let line = format!("{} error {message}", self.now);
        self.log.push(line);
    }

    // -----------------------------------------------------------------------
    // The task tree
    // -----------------------------------------------------------------------

    /// Whether `k` or a process above it is suspended.
    fn frozen(&self, k: Key) -> bool {
        let mut at = Some(k);
        while let Some(x) = at {
            if self.tasks[x].status == St::Suspended {
                return true;
            }
            at = self.tasks[x].parent;
        }
        false
    }

    /// Whether `ancestor` is `k` or above it.
    fn is_ancestor(&self, ancestor: Key, k: Key) -> bool {
        let mut at = Some(k);
        while let Some(x) = at {
            if x == ancestor {
                return true;
            }
            at = self.tasks[x].parent;
        }
        false
    }

    /// `k` and everything under it, parents before children, oldest first.
    fn subtree(&self, k: Key) -> Vec<Key> {
        let mut out = vec![k];
        let mut i = 0;
        while i < out.len() {
            out.extend(self.tasks[out[i]].children.iter().copied());
            i += 1;
        }
        out
    }

    // -----------------------------------------------------------------------
    // Deadlines, waits and wake-ups
    // -----------------------------------------------------------------------

    fn push_deadline(&mut self, at: u64, due: Due) {
        self.deadlines.push((at, self.next_seq, due));
        self.next_seq += 1;
    }

    fn live(&self, due: Due) -> bool {
        match due {
            Due::Task(k, token) => !self.tasks[k].removed && self.tasks[k].token == token,
            Due::Timer(id) => self.timers[id].alive,
        }
    }

    /// Parks the running task `t` in `wait` until woken; `site` is where it
    /// goes on.
    fn block(&mut self, t: Key, wait: Wait, deadline: Option<u64>, site: Site) -> Flow {
        assert!(!self.tasks[t].dying, "model: a dying task blocks");
        self.next_token += 1;
        let token = self.next_token;
        if let Site::Join { target, .. } = &site {
            let target = *target;
            self.tasks[target].joiners.push((t, token));
        }
        if let Some(at) = deadline {
            self.push_deadline(at, Due::Task(t, token));
        }
        let task = &mut self.tasks[t];
        task.token = token;
        task.wait = wait;
        task.site = site;
        Flow::Blocked
    }

    /// Wakes `k` with `woke` if it is still in the wait `token` names and not
    /// frozen (then it is told when thawed).
    fn wake(&mut self, k: Key, token: u64, woke: Woke) {
        let task = &self.tasks[k];
        if task.removed || task.token != token {
            return;
        }
        if matches!(task.wait, Wait::None) {
            return;
        }
        if self.frozen(k) {
            self.tasks[k].missed = true;
            return;
        }
        let task = &mut self.tasks[k];
        task.wait = Wait::None;
        task.token = 0;
        task.woke = woke;
        self.switch_to(k, false);
    }

    /// Schedules the wake-ups that `k` and the tasks under it missed while
    /// frozen, for those that no longer are.
    fn deliver_missed(&mut self, k: Key) {
        for x in self.subtree(k) {
            if self.frozen(x) {
                continue;
            }
            let task = &mut self.tasks[x];
            if task.missed || matches!(task.wait, Wait::Coma) {
                task.missed = false;
                let token = task.token;
                let now = self.now;
                self.push_deadline(now, Due::Task(x, token));
            }
        }
    }

    // -----------------------------------------------------------------------
    // Running tasks
    // -----------------------------------------------------------------------

    /// Starts script `script` as a child of `parent` and runs it until it
    /// blocks or ends.
    fn spawn(&mut self, parent: Key, script: usize) -> Key {
        self.next_serial += 1;
        let key = self.tasks.len();
        self.tasks.push(Task::new(script, self.next_serial, script > 0, Some(parent)));
        self.tasks[parent].children.push(key);
        self.key_of[script] = Some(key);
        self.switch_to(key, false);
        key
    }

    /// Gives the CPU to `k` (to go on, or, with `kill`, to unwind) until it
    /// blocks or ends.
    fn switch_to(&mut self, k: Key, kill: bool) {
        self.burn();
        let previous = self.running.replace(k);
        self.tasks[k].on_cpu = true;
        if kill {
            self.finish(k, End::Killed);
        } else {
            loop {
                match self.advance(k) {
                    Flow::Next => continue,
                    Flow::Blocked => break,
                    Flow::End(end) => {
                        self.finish(k, end);
                        break;
                    }
                }
            }
        }
        self.tasks[k].on_cpu = false;
        self.running = previous;
        if self.tasks[k].done {
            self.tasks[k].removed = true;
        }
    }

    /// One piece of the running task `t`'s work, from where it is.
    fn advance(&mut self, t: Key) -> Flow {
        self.burn();
        let script = self.tasks[t].script;
        let site = std::mem::replace(&mut self.tasks[t].site, Site::Steps);
        let woke = std::mem::replace(&mut self.tasks[t].woke, Woke::Nothing);
        match site {
            Site::Start => {
                self.log(script, "start");
                Flow::Next
            }
            Site::Steps => {
                let pc = self.tasks[t].pc;
                match self.scripts[script].get(pc).copied() {
                    Some(op) => self.exec(t, op),
                    None => {
                        self.log(script, "end");
                        self.release_permits(t);
                        self.tasks[t].body_ended = true;
                        self.tasks[t].site = Site::Close;
                        Flow::Next
                    }
                }
            }
            Site::Close => match self.tasks[t].children.last().copied() {
                Some(child) => self.join(t, child, None, Vec::new(), After::Close),
                None => Flow::End(End::Returned),
            },
            Site::Pull { deadline } => match woke {
                Woke::Signal(s) => self.next_step(t, format!("got {}", s.show())),
                _ if deadline.is_some_and(|d| self.now >= d) => self.next_step(t, "timeout"),
                _ => {
                    let want = match self.scripts[script][self.tasks[t].pc] {
                        Op::Pull(want, _) => want,
                        op => unreachable!("model: pulling at {op}"),
                    };
                    let wait = Wait::Signal { want, indexed: true };
                    self.block(t, wait, deadline, Site::Pull { deadline })
                }
            },
            Site::Sleep { deadline } => {
                if self.now >= deadline {
                    self.next_step(t, "slept")
                } else {
                    self.block(t, Wait::Sleep, Some(deadline), Site::Sleep { deadline })
                }
            }
            Site::Join { target, deadline, done, then } => {
                self.join(t, target, deadline, done, then)
            }
            Site::Coma { then } => self.after(t, then),
            Site::Send { c, place, deadline } => {
                let line = self.send_line(t, c);
                if !self.chans[c].sending.iter().any(|e| e.0 == place) {
                    return self.next_step(t, format!("{line}ok"));
                }
                if deadline.is_some_and(|d| self.now >= d) {
                    self.chans[c].sending.retain(|e| e.0 != place);
                    self.values_dropped += 1;
                    return self.next_step(t, format!("{line}timeout"));
                }
                self.park_send(t, c, place, deadline)
            }
            Site::Recv { c, place, deadline } => {
                let name = chan_name(c);
                if let Some(at) = self.chans[c].handed.iter().position(|h| h.0 == place) {
                    let (_, value) = self.chans[c].handed.swap_remove(at);
                    self.values_dropped += 1;
                    return self.next_step(t, format!("recv {name}: {value}"));
                }
                assert!(
                    self.chans[c].receiving.iter().any(|r| r.0 == place),
                    "model: a receiver neither served nor queued"
                );
                if deadline.is_some_and(|d| self.now >= d) {
                    self.chans[c].receiving.retain(|r| r.0 != place);
                    return self.next_step(t, format!("recv {name}: timeout"));
                }
                self.park_recv(t, c, Some(place), deadline)
            }
            Site::Lock { place } => {
                if self.lock.handed == Some(place) {
                    self.lock.handed = None;
                    return self.hold(t);
                }
                self.park_lock(t, place)
            }
            Site::Hold { deadline } => {
                if self.now >= deadline {
                    self.unlock();
                    self.next_step(t, "unlocked")
                } else {
                    self.block(t, Wait::Sleep, Some(deadline), Site::Hold { deadline })
                }
            }
            Site::Acquire { place, deadline } => {
                if self.take_grant(place) {
                    self.tasks[t].permits += 1;
                    return self.next_step(t, "acquired");
                }
                let timed_out = deadline.is_some_and(|d| self.now >= d);
                if timed_out && matches!(woke, Woke::Timeout) {
                    self.withdraw_request(place);
                    return self.next_step(t, "acquire: timeout");
                }
                self.park_acquire(t, place, deadline)
            }
            Site::Select { c, want, deadline } => {
                self.chans[c].watchers.retain(|w| w.0 != t);
                let pending = match woke {
                    Woke::Signal(s) => Some(s),
                    _ => None,
                };
                self.select(t, c, want, deadline, pending)
            }
        }
    }

    // -----------------------------------------------------------------------
    // The sync objects
    // -----------------------------------------------------------------------

    fn place(&mut self) -> u64 {
        self.next_place += 1;
        self.next_place
    }

    /// A wake-up from a wait source: through the remote path if given
    /// under the kernel's borrow (`remote`).
    fn wake_later(&mut self, waker: Option<Waker>, remote: bool) {
        if let Some(w) = waker {
            if remote {
                self.remote_wakes.push(w);
            } else {
                self.join_wakes.push(w);
            }
        }
    }

    /// The channel changed: its watchers are woken, and dropped.
    fn changed(&mut self, c: usize, remote: bool) {
        let watchers = std::mem::take(&mut self.chans[c].watchers);
        for w in watchers {
            self.wake_later(Some(w), remote);
        }
    }

    fn has_room(&self, c: usize) -> bool {
        let chan = &self.chans[c];
        chan.capacity.is_none_or(|cap| chan.buffer.len() < cap)
    }

    fn can_recv(&self, c: usize) -> bool {
        !self.chans[c].buffer.is_empty() || !self.chans[c].sending.is_empty()
    }

    /// `State::take`.
    fn take(&mut self, c: usize) -> Option<i64> {
        if let Some(value) = self.chans[c].buffer.pop_front() {
            if self.has_room(c) {
                if let Some((_, v, waker)) = self.chans[c].sending.pop_front() {
                    self.wake_later(waker, false);
                    self.chans[c].buffer.push_back(v);
                }
            }
            self.changed(c, false);
            return Some(value);
        }
        let (_, v, waker) = self.chans[c].sending.pop_front()?;
        self.wake_later(waker, false);
        self.changed(c, false);
        Some(v)
    }

    /// `State::put`.
    fn put(&mut self, c: usize, value: i64) -> bool {
        if let Some((place, waker)) = self.chans[c].receiving.pop_front() {
            self.wake_later(waker, false);
            self.chans[c].handed.push((place, value));
            return true;
        }
        if self.has_room(c) {
            self.chans[c].buffer.push_back(value);
            self.changed(c, false);
            return true;
        }
        false
    }

    /// `State::give_back`.
    fn give_back(&mut self, c: usize, value: i64) {
        if let Some((place, waker)) = self.chans[c].receiving.pop_front() {
            self.wake_later(waker, false);
            self.chans[c].handed.push((place, value));
        } else {
            self.chans[c].buffer.push_front(value);
            self.changed(c, false);
        }
    }

    /// The line of the send that `t` is at, up to its outcome.
    fn send_line(&self, t: Key, c: usize) -> String {
        let task = &self.tasks[t];
        format!("send {} {}: ", chan_name(c), push_id(task.script, task.pc))
    }

    fn park_send(&mut self, t: Key, c: usize, place: u64, deadline: Option<u64>) -> Flow {
        let flow = self.block(t, Wait::Sync, deadline, Site::Send { c, place, deadline });
        let waker = (t, self.tasks[t].token);
        let entry = self.chans[c].sending.iter_mut().find(|e| e.0 == place);
        entry.expect("model: a parked sender's entry").2 = Some(waker);
        flow
    }

    /// Parks a receiver; its registration files it (first park) or
    /// renews its waker, and wakes the channel's watchers under the
    /// kernel's borrow.
    fn park_recv(&mut self, t: Key, c: usize, place: Option<u64>, deadline: Option<u64>) -> Flow {
        let place = place.unwrap_or_else(|| {
            let place = self.place();
            self.chans[c].receiving.push_back((place, None));
            place
        });
        let flow = self.block(t, Wait::Sync, deadline, Site::Recv { c, place, deadline });
        let waker = (t, self.tasks[t].token);
        let entry = self.chans[c].receiving.iter_mut().find(|e| e.0 == place);
        entry.expect("model: a parked receiver's entry").1 = Some(waker);
        self.changed(c, true);
        flow
    }

    /// A select's wait, from its look at the cases.
    fn select(
        &mut self,
        t: Key,
        c: usize,
        want: Want,
        deadline: Option<u64>,
        pending: Option<Sig>,
    ) -> Flow {
        let name = chan_name(c);
        if self.can_recv(c) {
            let value = self.take(c).expect("a ready channel has a value");
            self.values_dropped += 1;
            return self.next_step(t, format!("select {name}: recv {value}"));
        }
        if let Some(sig) = pending {
            return self.next_step(t, format!("select {name}: got {}", sig.show()));
        }
        if deadline.is_some_and(|d| self.now >= d) {
            return self.next_step(t, format!("select {name}: timeout"));
        }
        let wait = Wait::Signal { want, indexed: true };
        let flow = self.block(t, wait, deadline, Site::Select { c, want, deadline });
        let waker = (t, self.tasks[t].token);
        self.chans[c].watchers.push(waker);
        flow
    }

    /// Has `t` hold the mutex through its sleep.
    fn hold(&mut self, t: Key) -> Flow {
        let script = self.tasks[t].script;
        self.log(script, "locked");
        let n = match self.scripts[script][self.tasks[t].pc] {
            Op::Lock(n) => n,
            op => unreachable!("model: locking at {op}"),
        };
        let deadline = self.now + u64::from(n) * TICK_MS;
        self.block(t, Wait::Sleep, Some(deadline), Site::Hold { deadline })
    }

    fn park_lock(&mut self, t: Key, place: u64) -> Flow {
        let flow = self.block(t, Wait::Sync, None, Site::Lock { place });
        let waker = (t, self.tasks[t].token);
        let entry = self.lock.waiters.iter_mut().find(|e| e.0 == place);
        entry.expect("model: a lock waiter's entry").1 = Some(waker);
        flow
    }

    fn unlock(&mut self) {
        match self.lock.waiters.pop_front() {
            None => self.lock.locked = false,
            Some((place, waker)) => {
                self.lock.handed = Some(place);
                self.wake_later(waker, false);
            }
        }
    }

    fn park_acquire(&mut self, t: Key, place: u64, deadline: Option<u64>) -> Flow {
        let flow = self.block(t, Wait::Sync, deadline, Site::Acquire { place, deadline });
        let waker = (t, self.tasks[t].token);
        match self.semaphore.waiters.iter_mut().find(|e| e.0 == place) {
            Some(entry) => entry.1 = Some(waker),
            // Granted meanwhile: `park_local`'s registration wakes it now.
            None => self.wake_later(Some(waker), false),
        }
        flow
    }

    fn take_grant(&mut self, place: u64) -> bool {
        match self.semaphore.granted.iter().position(|&p| p == place) {
            Some(at) => {
                self.semaphore.granted.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// `Semaphore::serve`: grants the first requests that fit.
    fn serve(&mut self) {
        while !self.semaphore.waiters.is_empty() && self.semaphore.free >= 1 {
            let (place, waker) = self.semaphore.waiters.pop_front().expect("a waiter");
            self.semaphore.free -= 1;
            self.semaphore.granted.push(place);
            self.wake_later(waker, false);
        }
    }

    fn add_permit(&mut self) {
        self.semaphore.free += 1;
        self.serve();
    }

    /// A request's wait ended without the permit: its `Withdraw`.
    fn withdraw_request(&mut self, place: u64) {
        if self.take_grant(place) {
            self.add_permit();
        } else {
            self.semaphore.waiters.retain(|e| e.0 != place);
            self.serve();
        }
    }

    /// What `t`'s frames give back as its stack unwinds, innermost first:
    /// the wait it is parked in, the lock it holds, the permits in its
    /// body's frame.
    fn unwind_frames(&mut self, t: Key) {
        match std::mem::replace(&mut self.tasks[t].site, Site::Steps) {
            Site::Send { c, place, .. } => {
                let before = self.chans[c].sending.len();
                self.chans[c].sending.retain(|e| e.0 != place);
                if self.chans[c].sending.len() < before {
                    self.values_dropped += 1;
                }
            }
            Site::Recv { c, place, .. } => {
                self.chans[c].receiving.retain(|e| e.0 != place);
                if let Some(at) = self.chans[c].handed.iter().position(|h| h.0 == place) {
                    let (_, value) = self.chans[c].handed.swap_remove(at);
                    self.give_back(c, value);
                }
            }
            Site::Lock { place } => {
                if self.lock.handed == Some(place) {
                    self.lock.handed = None;
                    self.unlock();
                } else {
                    self.lock.waiters.retain(|e| e.0 != place);
                }
            }
            Site::Hold { .. } => self.unlock(),
            Site::Acquire { place, .. } => self.withdraw_request(place),
            Site::Select { c, .. } => self.chans[c].watchers.retain(|w| w.0 != t),
            _ => {}
        }
        self.release_permits(t);
    }

    /// The permits in `t`'s body's frame go back, oldest first.
    fn release_permits(&mut self, t: Key) {
        for _ in 0..std::mem::take(&mut self.tasks[t].permits) {
            self.add_permit();
        }
    }

    /// Logs `line` for the current step and moves to the next one.
    fn next_step(&mut self, t: Key, line: impl Into<String>) -> Flow {
        let script = self.tasks[t].script;
        self.log(script, line);
        self.tasks[t].pc += 1;
        self.tasks[t].site = Site::Steps;
        Flow::Next
    }

    fn after(&mut self, t: Key, then: After) -> Flow {
        match then {
            After::Step { line, keeps_join } => {
                if let Some(j) = keeps_join {
                    self.join_kept[j] = true;
                }
                self.next_step(t, line)
            }
            After::Close => {
                self.tasks[t].site = Site::Close;
                Flow::Next
            }
        }
    }

    /// Control is back with `t` after other tasks ran on its stack: a kill or
    /// a suspension that came meanwhile takes effect now; otherwise `then`.
    fn check_interrupts(&mut self, t: Key, then: After) -> Flow {
        if std::mem::take(&mut self.tasks[t].kill_pending) {
            return Flow::End(End::Killed);
        }
        if self.tasks[t].status == St::Suspended {
            return self.block(t, Wait::Coma, None, Site::Coma { then });
        }
        self.after(t, then)
    }

    /// The join loop: done once `target` is not running (the ones found done
    /// are killed), or timed out; otherwise waits.
    fn join(
        &mut self,
        t: Key,
        target: Key,
        deadline: Option<u64>,
        mut done: Vec<Key>,
        then: After,
    ) -> Flow {
        let present = !self.tasks[target].removed;
        let living = present && self.tasks[target].status == St::Running;
        if present && !living {
            done.push(target);
        }
        let timed_out = living && deadline.is_some_and(|d| self.now >= d);
        if !living || timed_out {
            for k in done {
                if self.kill(k) == KillHow::SelfUnwind {
                    return Flow::End(End::Killed);
                }
            }
            let then = match then {
                After::Step { line, keeps_join } => {
                    let outcome = if living { "thread join timed out" } else { "ok" };
                    After::Step { line: format!("{line}{outcome}"), keeps_join }
                }
                After::Close => After::Close,
            };
            return self.check_interrupts(t, then);
        }
        self.block(t, Wait::Join, deadline, Site::Join { target, deadline, done, then })
    }

    /// Runs step `op` of the running task `t`.
    fn exec(&mut self, t: Key, op: Op) -> Flow {
        let me = self.tasks[t].script;
        let pc = self.tasks[t].pc;
        let ms = |n: u8| u64::from(n) * TICK_MS;
        // A step on another thread: its key, or the line that says it has none.
        let target = |m: &Model, j: usize, what: &str| match m.key_of[j] {
            Some(k) => Ok(k),
            None => Err(format!("{what} T{j}: -")),
        };
        match op {
            Op::Create(j) => {
                if j <= me || self.key_of[j].is_some() {
                    return self.next_step(t, format!("create T{j}: -"));
                }
                self.spawn(t, j);
                let then = After::Step { line: format!("created T{j}"), keeps_join: Some(j) };
                self.check_interrupts(t, then)
            }
            Op::Sleep(n) => {
                let deadline = self.now + ms(n);
                self.block(t, Wait::Sleep, Some(deadline), Site::Sleep { deadline })
            }
            Op::Pull(want, timeout) => {
                let deadline = timeout.map(|n| self.now + ms(n));
                let wait = Wait::Signal { want, indexed: true };
                self.block(t, wait, deadline, Site::Pull { deadline })
            }
            Op::Push(name) => {
                let sig = Sig { name: name.as_str(), arg: push_id(me, pc) };
                let line = format!("push {}", sig.show());
                self.queue.push(sig);
                self.next_step(t, line)
            }
            Op::Listen(name, mode) => {
                self.listeners.push(Listener { owner: t, name: name.as_str(), mode, alive: true });
                self.next_step(t, format!("listen {} {mode:?}", name.as_str()))
            }
            Op::Timer(interval, times) => {
                let id = self.timers.len();
                self.timers.push(Timer {
                    owner: t,
                    interval: ms(interval),
                    remaining: u32::from(times),
                    alive: true,
                });
                self.push_deadline(self.now + ms(interval), Due::Timer(id));
                self.next_step(t, format!("timer {interval}x{times}"))
            }
            Op::Suspend(j) => {
                let k = match target(self, j, "suspend") {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let line = format!("suspend T{j}: ");
                let task = &self.tasks[k];
                let status = if task.removed { St::Dead } else { task.status };
                if status != St::Running || task.dying {
                    return self
                        .next_step(t, format!("{line}cannot suspend {} thread", status.text()));
                }
                let task = &mut self.tasks[k];
                task.status = St::Suspended;
                let joiners = std::mem::take(&mut task.joiners);
                self.join_wakes.extend(joiners);
                let then = After::Step { line: format!("{line}ok"), keeps_join: None };
                if k == t {
                    return self.block(t, Wait::Coma, None, Site::Coma { then });
                }
                self.check_interrupts(t, then)
            }
            Op::Resume(j) => {
                let k = match target(self, j, "resume") {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let line = format!("resume T{j}: ");
                let task = &self.tasks[k];
                let status = if task.removed { St::Dead } else { task.status };
                if status != St::Suspended {
                    return self
                        .next_step(t, format!("{line}cannot resume {} thread", status.text()));
                }
                self.tasks[k].status = St::Running;
                self.deliver_missed(k);
                self.next_step(t, format!("{line}ok"))
            }
            Op::Kill(j) => {
                let k = match target(self, j, "kill") {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let line = format!("kill T{j}: ok");
                if self.tasks[k].removed {
                    return self.next_step(t, line);
                }
                if self.kill(k) == KillHow::SelfUnwind {
                    return Flow::End(End::Killed);
                }
                self.check_interrupts(t, After::Step { line, keeps_join: None })
            }
            Op::Join(j, timeout) => {
                let k = match target(self, j, "join") {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let deadline = timeout.map(|n| self.now + ms(n));
                let then = After::Step { line: format!("join T{j}: "), keeps_join: None };
                self.join(t, k, deadline, Vec::new(), then)
            }
            Op::Attach(j, level) => {
                let k = match target(self, j, &format!("attach {level}")) {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let mut to = Some(t);
                for _ in 0..level {
                    to = to.and_then(|x| self.tasks[x].parent);
                }
                let outcome = match to {
                    _ if self.tasks[k].removed || self.tasks[k].status == St::Dead => {
                        "thread is dead".to_string()
                    }
                    None => "thread failed to attach, process not found".to_string(),
                    Some(to) => self.move_task(k, to),
                };
                self.next_step(t, format!("attach {level} T{j}: {outcome}"))
            }
            Op::Detach(j) => {
                let k = match target(self, j, "detach") {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let outcome = if self.tasks[k].removed || self.tasks[k].status == St::Dead {
                    "thread is dead".to_string()
                } else {
                    self.move_task(k, ROOT)
                };
                self.next_step(t, format!("detach T{j}: {outcome}"))
            }
            Op::Status(j) => {
                let k = match target(self, j, "status") {
                    Ok(k) => k,
                    Err(line) => return self.next_step(t, line),
                };
                let status = if self.tasks[k].removed { St::Dead } else { self.tasks[k].status };
                self.next_step(t, format!("status T{j}: {}", status.text()))
            }
            Op::Exit => Flow::End(End::Exited),
            Op::Panic => Flow::End(End::Panicked(format!("boom {}", who(me)))),
            Op::Send(ch, timeout) => {
                let c = ch.index();
                let value = push_id(me, pc);
                self.values += 1;
                let line = self.send_line(t, c);
                if self.put(c, value) {
                    return self.next_step(t, format!("{line}ok"));
                }
                if timeout == Some(0) {
                    self.values_dropped += 1;
                    return self.next_step(t, format!("{line}timeout"));
                }
                let place = self.place();
                self.chans[c].sending.push_back((place, value, None));
                self.changed(c, false);
                let deadline = timeout.map(|n| self.now + ms(n));
                self.park_send(t, c, place, deadline)
            }
            Op::TrySend(ch) => {
                let c = ch.index();
                let value = push_id(me, pc);
                self.values += 1;
                let outcome = if self.put(c, value) {
                    "ok"
                } else {
                    self.values_dropped += 1;
                    "full"
                };
                self.next_step(t, format!("try_send {} {value}: {outcome}", ch.as_str()))
            }
            Op::Recv(ch, timeout) => {
                let c = ch.index();
                if let Some(value) = self.take(c) {
                    self.values_dropped += 1;
                    return self.next_step(t, format!("recv {}: {value}", ch.as_str()));
                }
                if timeout == Some(0) {
                    return self.next_step(t, format!("recv {}: timeout", ch.as_str()));
                }
                let deadline = timeout.map(|n| self.now + ms(n));
                self.park_recv(t, c, None, deadline)
            }
            Op::TryRecv(ch) => {
                let outcome = match self.take(ch.index()) {
                    Some(value) => {
                        self.values_dropped += 1;
                        value.to_string()
                    }
                    None => "empty".to_string(),
                };
                self.next_step(t, format!("try_recv {}: {outcome}", ch.as_str()))
            }
            Op::Lock(_) => {
                if !self.lock.locked {
                    self.lock.locked = true;
                    return self.hold(t);
                }
                let place = self.place();
                self.lock.waiters.push_back((place, None));
                self.park_lock(t, place)
            }
            Op::Acquire(timeout) => {
                if self.semaphore.free >= 1 && self.semaphore.waiters.is_empty() {
                    self.semaphore.free -= 1;
                    self.tasks[t].permits += 1;
                    return self.next_step(t, "acquired");
                }
                if timeout == Some(0) {
                    return self.next_step(t, "acquire: timeout");
                }
                let place = self.place();
                self.semaphore.waiters.push_back((place, None));
                self.serve();
                if self.take_grant(place) {
                    self.tasks[t].permits += 1;
                    return self.next_step(t, "acquired");
                }
                let deadline = timeout.map(|n| self.now + ms(n));
                self.park_acquire(t, place, deadline)
            }
            Op::Release => {
                if self.tasks[t].permits == 0 {
                    return self.next_step(t, "release: -");
                }
                self.tasks[t].permits -= 1;
                self.add_permit();
                self.next_step(t, "released")
            }
            Op::Select(ch, want, timeout) => {
                let deadline = timeout.map(|n| self.now + ms(n));
                self.select(t, ch.index(), want, deadline, None)
            }
        }
    }

    /// Moves `k` under `to`; the result's text.
    fn move_task(&mut self, k: Key, to: Key) -> String {
        if self.tasks[k].parent == Some(to) {
            return "ok".to_string();
        }
        if self.is_ancestor(k, to) {
            return "thread failed to attach, a thread cannot own itself or its ancestors"
                .to_string();
        }
        let was_frozen = self.frozen(k);
        if let Some(old) = self.tasks[k].parent {
            self.tasks[old].children.retain(|&c| c != k);
        }
        self.tasks[k].parent = Some(to);
        self.tasks[to].children.push(k);
        if was_frozen && !self.frozen(k) {
            self.deliver_missed(k);
        }
        "ok".to_string()
    }

    // -----------------------------------------------------------------------
    // Deaths
    // -----------------------------------------------------------------------

    /// Kills `k`: dead at once, then unwound (now, when control comes back to
    /// it, or, for the running task, by the caller).
    fn kill(&mut self, k: Key) -> KillHow {
        let task = &mut self.tasks[k];
        if task.removed || task.status == St::Dead || task.dying {
            return KillHow::Nothing;
        }
        task.dying = true;
        let how = if self.running == Some(k) {
            KillHow::SelfUnwind
        } else if task.on_cpu {
            task.kill_pending = true;
            KillHow::WhenBack
        } else {
            KillHow::Unwound
        };
        self.mark_dead(k);
        if how == KillHow::Unwound {
            self.switch_to(k, true);
        }
        how
    }

    /// The end of the running task `t`'s body, however it came: reports a
    /// panic, kills the children left, and does the death bookkeeping.
    fn finish(&mut self, t: Key, end: End) {
        self.unwind_frames(t);
        self.tasks[t].dying = true;
        self.tasks[t].body_ended = true;
        if let End::Panicked(msg) = &end {
            let kind = if self.tasks[t].is_thread { "thread" } else { "program" };
            self.report(format!("[{kind}] {msg}"));
        }
        while let Some(&child) = self.tasks[t].children.last() {
            self.kill(child);
            assert!(
                self.tasks[t].children.last() != Some(&child),
                "model: killing a child did not detach it"
            );
        }
        self.mark_dead(t);
        self.tasks[t].outcome = Some(match end {
            End::Returned => "ok".to_string(),
            End::Panicked(msg) => format!("thread panicked: {msg}"),
            End::Killed => "thread was killed".to_string(),
            End::Exited => "process exited".to_string(),
        });
        self.tasks[t].done = true;
    }

    /// Death bookkeeping, once.
    fn mark_dead(&mut self, k: Key) {
        let task = &mut self.tasks[k];
        task.status = St::Dead;
        if task.ended {
            return;
        }
        task.ended = true;
        let joiners = std::mem::take(&mut task.joiners);
        let parent = task.parent.take();
        task.wait = Wait::None;
        task.token = 0;
        let (is_thread, serial) = (task.is_thread, task.serial);
        if let Some(p) = parent {
            self.tasks[p].children.retain(|&c| c != k);
        }
        self.join_wakes.extend(joiners);
        for l in self.listeners.iter_mut().filter(|l| l.owner == k) {
            l.alive = false;
        }
        for tm in self.timers.iter_mut().filter(|tm| tm.owner == k) {
            tm.alive = false;
        }
        if is_thread {
            self.queue.push(Sig { name: "thread_exit", arg: serial as i64 });
        }
    }

    // -----------------------------------------------------------------------
    // The kernel's rounds
    // -----------------------------------------------------------------------

    /// One round; returns whether it had anything to do.
    fn round(&mut self) -> bool {
        let signals = std::mem::take(&mut self.queue);
        let remote = std::mem::take(&mut self.remote_wakes);
        self.join_wakes.extend(remote);
        let joins = std::mem::take(&mut self.join_wakes);
        let cutoff = (self.now, self.next_seq);
        let mut busy = false;
        for sig in signals {
            busy = true;
            self.run_listeners(&sig);
            let mut receivers = Vec::new();
            for k in 0..self.tasks.len() {
                if self.tasks[k].removed || self.frozen(k) {
                    continue;
                }
                let token = self.tasks[k].token;
                if let Wait::Signal { want, indexed } = &mut self.tasks[k].wait {
                    if *indexed && want.matches(sig.name) {
                        *indexed = false;
                        receivers.push((token, k));
                    }
                }
            }
            receivers.sort_unstable();
            for (token, k) in receivers {
                self.wake(k, token, Woke::Signal(sig.clone()));
            }
        }
        loop {
            let first = (0..self.deadlines.len())
                .min_by_key(|&i| (self.deadlines[i].0, self.deadlines[i].1))
                .filter(|&i| (self.deadlines[i].0, self.deadlines[i].1) < cutoff);
            let Some(i) = first else { break };
            let (_, _, due) = self.deadlines.remove(i);
            busy = true;
            match due {
                Due::Task(k, token) => self.wake(k, token, Woke::Timeout),
                Due::Timer(id) => self.fire_timer(id),
            }
        }
        for (k, token) in joins {
            busy = true;
            self.wake(k, token, Woke::Nudge);
        }
        busy
    }

    /// After a round with nothing to do: what can still happen. The clock
    /// moves to the nearest deadline that can still wake something.
    fn idle(&mut self) -> Idle {
        if !self.queue.is_empty() || !self.join_wakes.is_empty() || !self.remote_wakes.is_empty() {
            return Idle::Goes;
        }
        self.deadlines.retain(|&(_, _, due)| match due {
            Due::Task(k, token) => !self.tasks[k].removed && self.tasks[k].token == token,
            Due::Timer(id) => self.timers[id].alive,
        });
        debug_assert!(self.deadlines.iter().all(|&(_, _, due)| self.live(due)));
        // Every deadline left belongs to a frozen task or timer: none of them
        // can run anything, so nothing can ever thaw them. A frozen timer is
        // rescheduled at each skipped firing, for ever.
        let frozen = |m: &Model, due: Due| match due {
            Due::Task(k, _) => m.frozen(k),
            Due::Timer(id) => m.frozen(m.timers[id].owner),
        };
        if self.deadlines.iter().all(|&(_, _, due)| frozen(self, due))
            && self.deadlines.iter().any(|&(_, _, due)| matches!(due, Due::Timer(_)))
        {
            return Idle::Spins;
        }
        match self.deadlines.iter().map(|&(at, seq, _)| (at, seq)).min() {
            Some((at, _)) => {
                self.now = self.now.max(at);
                Idle::Goes
            }
            None if self.chans.iter().any(|c| {
                !c.sending.is_empty() || !c.receiving.is_empty() || !c.watchers.is_empty()
            }) =>
            {
                Idle::Waits
            }
            None => Idle::Stuck,
        }
    }

    fn run_listeners(&mut self, sig: &Sig) {
        let ids: Vec<usize> = (0..self.listeners.len())
            .filter(|&i| self.listeners[i].alive && self.listeners[i].name == sig.name)
            .collect();
        for id in ids {
            let (owner, mode) = (self.listeners[id].owner, self.listeners[id].mode);
            if !self.listeners[id].alive || self.frozen(owner) {
                continue;
            }
            let script = self.tasks[owner].script;
            match mode {
                Mode::Keep => self.log(script, format!("heard {}", sig.show())),
                Mode::Once => {
                    self.log(script, format!("heard {}", sig.show()));
                    self.listeners[id].alive = false;
                }
                Mode::Panic => {
                    self.report(format!("[listener] boom L{script}"));
                    self.listeners[id].alive = false;
                }
            }
        }
    }

    fn fire_timer(&mut self, id: usize) {
        let timer = &mut self.timers[id];
        if !timer.alive {
            return;
        }
        let (owner, interval) = (timer.owner, timer.interval);
        if self.frozen(owner) {
            self.push_deadline(self.now + interval, Due::Timer(id));
            return;
        }
        let timer = &mut self.timers[id];
        timer.remaining -= 1;
        let again = timer.remaining != 0;
        if !again {
            timer.alive = false;
        }
        let script = self.tasks[owner].script;
        self.log(script, "tick");
        if again {
            self.push_deadline(self.now + interval, Due::Timer(id));
        }
    }
}

fn chan_name(c: usize) -> &'static str {
    [Chan::One, Chan::Unbounded][c].as_str()
}

impl Task {
    fn new(script: usize, serial: u64, is_thread: bool, parent: Option<Key>) -> Task {
        Task {
            script,
            serial,
            is_thread,
            parent,
            children: Vec::new(),
            status: St::Running,
            wait: Wait::None,
            token: 0,
            woke: Woke::Nothing,
            missed: false,
            kill_pending: false,
            dying: false,
            ended: false,
            on_cpu: false,
            done: false,
            removed: false,
            pc: 0,
            site: Site::Start,
            joiners: Vec::new(),
            body_ended: false,
            outcome: None,
            permits: 0,
        }
    }
}
