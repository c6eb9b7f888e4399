//! The operation language of the model-based tests and of the fuzzer, and its
//! interpreter on the real runtime.
//!
//! A [`Program`] is a fixed set of numbered scripts: script 0 is the program's
//! main body (run by `Kernel::run`), scripts 1.. are threads. Each script is a
//! list of [`Op`]s. A thread exists once some script has run `Create(j)` for it
//! (each script runs as a thread at most once, and only a lower-numbered script
//! may create it, so the process tree is finite). Every other operation names
//! its target by script number.
//!
//! Both [`run_real`] (this file) and `reference::run_model` (the model) turn a
//! program into an [`Observed`]: the interleaved log of what every script saw,
//! with the uptime of each line, the results of `run` and `run_forever`, the
//! final statuses and `wait()` results, and the drop counters. [`check`]
//! compares them.
//!
//! Besides threads and signals, a program has a fixed set of shared sync
//! objects, made before it starts and kept until after the kernel is gone:
//! two channels of [`Val`]s (`c1`, bounded with capacity 1, and `cu`,
//! unbounded), a [`sync::Mutex`] and a [`sync::Semaphore`] of
//! [`PERMITS`] permits. A permit a script acquires is kept in its body's
//! frame until it releases it, or until the frame unwinds (a kill, a panic,
//! an exit) or its body returns.
//!
//! This file is shared by `benches/tests/model.rs` and `fuzz/fuzz_targets/programs.rs`
//! (through `#[path]`), so it uses nothing but `cothread` and `std`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use cothread::sync::{self, Permit, RecvTimeoutError, SendTimeoutError, TrySendError};
use cothread::{event, os, select, thread, Error, Filter, Kernel, Signal, Status};

/// The number of scripts: the program (0) and the threads (1..SCRIPTS).
pub const SCRIPTS: usize = 5;

/// The longest script the generators and the decoder make.
pub const MAX_OPS: usize = 8;

/// One tick of the virtual clock: every duration in the language is a number
/// of ticks.
pub const TICK_MS: u64 = 10;

/// Every panic the scripts raise on purpose starts with this, so that a
/// panic hook can keep them quiet and let any other panic through.
pub const SCRIPT_PANIC: &str = "boom ";

/// A signal name that scripts push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    A,
    B,
}

impl Name {
    pub fn as_str(self) -> &'static str {
        match self {
            Name::A => "a",
            Name::B => "b",
        }
    }
}

/// What a pull waits for: one of the names, or any signal (`yield_now`, which
/// also receives the `thread_exit` signals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Name(Name),
    Any,
}

impl Want {
    pub fn matches(self, name: &str) -> bool {
        match self {
            Want::Name(n) => n.as_str() == name,
            Want::Any => true,
        }
    }
}

/// One of the program's two channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chan {
    /// `c1`: `sync::channel(1)`.
    One,
    /// `cu`: `sync::unbounded()`.
    Unbounded,
}

impl Chan {
    pub fn as_str(self) -> &'static str {
        match self {
            Chan::One => "c1",
            Chan::Unbounded => "cu",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Chan::One => 0,
            Chan::Unbounded => 1,
        }
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(self) -> Option<usize> {
        match self {
            Chan::One => Some(1),
            Chan::Unbounded => None,
        }
    }
}

/// The permits of the program's semaphore.
pub const PERMITS: usize = 2;

/// What a listener callback does besides logging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Logs and stays registered.
    Keep,
    /// Logs and returns `false`: it is removed.
    Once,
    /// Panics (without logging): it is reported and removed.
    Panic,
}

/// One step of a script. Targets are script numbers (1..SCRIPTS); durations
/// are ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `thread::create` of script `j`, if `j` is above the caller's number and
    /// has not been created yet (otherwise logged as `-`).
    Create(usize),
    /// `os::sleep`.
    Sleep(u8),
    /// `event::pull` (or `thread::yield_now` for `Want::Any`) with an
    /// optional timeout.
    Pull(Want, Option<u8>),
    /// `event::push` of a signal whose argument names the pushing step.
    Push(Name),
    /// `event::listen`.
    Listen(Name, Mode),
    /// `event::timer(interval, times)`.
    Timer(u8, u8),
    Suspend(usize),
    Resume(usize),
    Kill(usize),
    /// `t.join(timeout)`.
    Join(usize, Option<u8>),
    /// `t.attach(level)`.
    Attach(usize, u8),
    Detach(usize),
    /// Logs `t.status()`.
    Status(usize),
    /// `os::exit()`.
    Exit,
    /// `panic!`.
    Panic,
    /// `send` (no timeout) or `send_timeout` of a value whose id names the
    /// step; logs `ok` or `timeout`.
    Send(Chan, Option<u8>),
    /// `try_send`; logs `ok` or `full`.
    TrySend(Chan),
    /// `recv` (no timeout) or `recv_timeout`; logs the value's id or
    /// `timeout`.
    Recv(Chan, Option<u8>),
    /// `try_recv`; logs the value's id or `empty`.
    TryRecv(Chan),
    /// Locks the mutex (logs `locked`), holds it through an `os::sleep` of
    /// this many ticks, unlocks it (logs `unlocked`).
    Lock(u8),
    /// `acquire` (no timeout) or `acquire_timeout` of one permit, kept in
    /// the script's frame.
    Acquire(Option<u8>),
    /// Drops the newest permit the script holds (`-` if none).
    Release,
    /// `select!` over a receive on the channel, a pull and (if given) a
    /// timeout, in that order.
    Select(Chan, Want, Option<u8>),
}

/// A program: `scripts[0]` is the main body, `scripts[j]` thread `j`'s.
#[derive(Clone, PartialEq, Eq)]
pub struct Program {
    pub scripts: Vec<Vec<Op>>,
}

/// How a script is named in the log.
pub fn who(script: usize) -> String {
    if script == 0 {
        "P".to_string()
    } else {
        format!("T{script}")
    }
}

/// A tick count as a duration.
pub fn ticks(n: u8) -> Duration {
    Duration::from_millis(u64::from(n) * TICK_MS)
}

/// The argument of the signal that step `pc` of script `script` pushes.
pub fn push_id(script: usize, pc: usize) -> i64 {
    (script * 100 + pc) as i64
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timeout = |t: Option<u8>| t.map_or("none".to_string(), |t| t.to_string());
        match *self {
            Op::Create(j) => write!(f, "create T{j}"),
            Op::Sleep(n) => write!(f, "sleep {n}"),
            Op::Pull(Want::Name(n), t) => write!(f, "pull {} {}", n.as_str(), timeout(t)),
            Op::Pull(Want::Any, t) => write!(f, "pull * {}", timeout(t)),
            Op::Push(n) => write!(f, "push {}", n.as_str()),
            Op::Listen(n, m) => write!(f, "listen {} {m:?}", n.as_str()),
            Op::Timer(i, n) => write!(f, "timer {i}x{n}"),
            Op::Suspend(j) => write!(f, "suspend T{j}"),
            Op::Resume(j) => write!(f, "resume T{j}"),
            Op::Kill(j) => write!(f, "kill T{j}"),
            Op::Join(j, t) => write!(f, "join T{j} {}", timeout(t)),
            Op::Attach(j, l) => write!(f, "attach T{j} {l}"),
            Op::Detach(j) => write!(f, "detach T{j}"),
            Op::Status(j) => write!(f, "status T{j}"),
            Op::Exit => f.write_str("exit"),
            Op::Panic => f.write_str("panic"),
            Op::Send(c, t) => write!(f, "send {} {}", c.as_str(), timeout(t)),
            Op::TrySend(c) => write!(f, "try_send {}", c.as_str()),
            Op::Recv(c, t) => write!(f, "recv {} {}", c.as_str(), timeout(t)),
            Op::TryRecv(c) => write!(f, "try_recv {}", c.as_str()),
            Op::Lock(n) => write!(f, "lock {n}"),
            Op::Acquire(t) => write!(f, "acquire {}", timeout(t)),
            Op::Release => f.write_str("release"),
            Op::Select(c, Want::Name(n), t) => {
                write!(f, "select {} {} {}", c.as_str(), n.as_str(), timeout(t))
            }
            Op::Select(c, Want::Any, t) => write!(f, "select {} * {}", c.as_str(), timeout(t)),
        }
    }
}

/// One script a line: `P: create T1; sleep 2`.
impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, script) in self.scripts.iter().enumerate() {
            let ops: Vec<String> = script.iter().map(Op::to_string).collect();
            writeln!(f, "{}: {}", who(i), ops.join("; "))?;
        }
        Ok(())
    }
}

impl Program {
    /// A program read from arbitrary bytes, for the fuzzer: three bytes an
    /// operation (which script, which operation, its parameters).
    pub fn decode(bytes: &[u8]) -> Program {
        let mut scripts = vec![Vec::new(); SCRIPTS];
        for chunk in bytes.chunks_exact(3) {
            let script = usize::from(chunk[0]) % SCRIPTS;
            if scripts[script].len() < MAX_OPS {
                if let Some(op) = decode_op(script, chunk[1], chunk[2]) {
                    scripts[script].push(op);
                }
            }
        }
        Program { scripts }
    }
}

fn decode_op(script: usize, kind: u8, param: u8) -> Option<Op> {
    let target = 1 + usize::from(param) % (SCRIPTS - 1);
    let small = param % 4;
    let timeout = |p: u8| if p & 0x80 != 0 { None } else { Some(p % 4) };
    let name = |p: u8| if p & 0x40 != 0 { Name::B } else { Name::A };
    let chan = |p: u8| if p & 0x10 != 0 { Chan::Unbounded } else { Chan::One };
    Some(match kind % 23 {
        0 => {
            let above = SCRIPTS - 1 - script;
            if above == 0 {
                return None;
            }
            Op::Create(script + 1 + usize::from(param) % above)
        }
        1 => Op::Sleep(small),
        2 => {
            let want = if param & 0x20 != 0 { Want::Any } else { Want::Name(name(param)) };
            Op::Pull(want, timeout(param))
        }
        3 => Op::Push(name(param)),
        4 => {
            let mode = match param % 3 {
                0 => Mode::Keep,
                1 => Mode::Once,
                _ => Mode::Panic,
            };
            Op::Listen(name(param), mode)
        }
        5 => Op::Timer(1 + param % 3, 1 + (param / 3) % 3),
        6 => Op::Suspend(target),
        7 => Op::Resume(target),
        8 => Op::Kill(target),
        9 => Op::Join(target, timeout(param)),
        10 => Op::Attach(target, (param / 16) % 3),
        11 => Op::Detach(target),
        12 => Op::Status(target),
        13 => Op::Exit,
        14 => Op::Panic,
        15 => Op::Send(chan(param), timeout(param)),
        16 => Op::TrySend(chan(param)),
        17 => Op::Recv(chan(param), timeout(param)),
        18 => Op::TryRecv(chan(param)),
        19 => Op::Lock(small),
        20 => Op::Acquire(timeout(param)),
        21 => Op::Release,
        _ => {
            let want = if param & 0x20 != 0 { Want::Any } else { Want::Name(name(param)) };
            Op::Select(chan(param), want, timeout(param))
        }
    })
}

/// What a run produced: the same shape from the runtime and from the model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// Every line the scripts and the error reporter logged, in order:
    /// `"<ms> <who> <what>"`.
    pub log: Vec<String>,
    /// What `Kernel::run` returned (`"ok"`, `"deadlock"` or the error's text).
    pub run: String,
    /// What the `Kernel::run_forever` after it returned.
    pub run_forever: String,
    /// `(script, status)` of every thread created, after `run_forever`.
    pub statuses: Vec<(usize, String)>,
    /// `(script, wait())` of every dead thread whose creator got its
    /// `JoinHandle` back from `create`.
    pub waits: Vec<(usize, String)>,
    /// `(script, drops)` of every script started (the program included) after
    /// `run_forever`: each holds one counted guard in its body's frame, dropped
    /// when its body returns or unwinds.
    pub drops: Vec<(usize, u32)>,
    /// The same after the kernel is dropped: every guard dropped exactly once.
    pub drops_after_kernel: Vec<(usize, u32)>,
    /// The virtual clock after `run_forever`, in ms.
    pub uptime_ms: u64,
    /// The channel values: how many were made, and how many had been
    /// dropped after `run_forever`, after the kernel's drop, and after the
    /// channels' drop (all of them, each once).
    pub values: [u32; 4],
}

/// An error as the log shows it.
pub fn describe(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(Error::Deadlock(_)) => "deadlock".to_string(),
        Err(e) => e.to_string(),
    }
}

/// Everything the scripts share while they run on the real runtime.
struct World {
    scripts: Vec<Vec<Op>>,
    log: RefCell<Vec<String>>,
    /// Each thread's handle, stored by the thread itself when it starts.
    handles: RefCell<Vec<Option<thread::Thread>>>,
    /// Each thread's `JoinHandle`, stored by its creator when `create` returns.
    joins: RefCell<Vec<Option<thread::JoinHandle<()>>>>,
    created: RefCell<Vec<bool>>,
    drops: Vec<Rc<Cell<u32>>>,
    /// The two channels (`Chan::index`), dropped after the kernel.
    chans: RefCell<Option<Vec<Ends>>>,
    mutex: sync::Mutex<()>,
    semaphore: sync::Semaphore,
    /// Values made, and values dropped.
    values: Cell<u32>,
    values_dropped: Rc<Cell<u32>>,
}

/// A channel's two handles.
type Ends = (sync::Sender<Val>, sync::Receiver<Val>);

/// A value sent over a channel: the id of the step that sent it, and the
/// count of drops all values share.
pub struct Val {
    id: i64,
    dropped: Rc<Cell<u32>>,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.dropped.set(self.dropped.get() + 1);
    }
}

/// Counts its drop.
struct Guard(Rc<Cell<u32>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

impl World {
    fn log(&self, who: &str, what: impl fmt::Display) {
        let ms = os::uptime().as_millis();
        self.log.borrow_mut().push(format!("{ms} {who} {what}"));
    }

    fn handle(&self, j: usize) -> Option<thread::Thread> {
        self.handles.borrow()[j].clone()
    }

    fn sender(&self, c: Chan) -> sync::Sender<Val> {
        self.chans.borrow().as_ref().expect("the channels live")[c.index()].0.clone()
    }

    fn receiver(&self, c: Chan) -> sync::Receiver<Val> {
        self.chans.borrow().as_ref().expect("the channels live")[c.index()].1.clone()
    }

    fn value(&self, id: i64) -> Val {
        self.values.set(self.values.get() + 1);
        Val { id, dropped: self.values_dropped.clone() }
    }
}

/// Runs `program` on the real runtime, on the virtual clock.
pub fn run_real(program: &Program) -> Observed {
    let world = Rc::new(World {
        scripts: program.scripts.clone(),
        log: RefCell::new(Vec::new()),
        handles: RefCell::new(vec![None; SCRIPTS]),
        joins: RefCell::new((0..SCRIPTS).map(|_| None).collect()),
        created: RefCell::new(vec![false; SCRIPTS]),
        drops: (0..SCRIPTS).map(|_| Rc::new(Cell::new(0))).collect(),
        chans: RefCell::new(Some(vec![sync::channel(1), sync::unbounded()])),
        mutex: sync::Mutex::new(()),
        semaphore: sync::Semaphore::new(PERMITS),
        values: Cell::new(0),
        values_dropped: Rc::new(Cell::new(0)),
    });
    world.created.borrow_mut()[0] = true;
    let mut kernel = Kernel::builder().virtual_time(true).stack_size(128 * 1024).build();
    let w = world.clone();
    kernel.on_error(move |msg| w.log("error", msg));
    let w = world.clone();
    let run = kernel.run(move || body(&w, 0));
    let run_forever = kernel.run_forever();
    let mut observed = Observed {
        run: describe(&run),
        run_forever: describe(&run_forever),
        uptime_ms: kernel.uptime().as_millis() as u64,
        ..Observed::default()
    };
    let created = world.created.borrow().clone();
    for j in 1..SCRIPTS {
        let Some(t) = world.handle(j) else { continue };
        let status = t.status();
        observed.statuses.push((j, status.to_string()));
        let join = world.joins.borrow_mut()[j].take();
        if let (Some(join), Status::Dead) = (join, status) {
            observed.waits.push((j, describe(&join.wait())));
        }
    }
    let counts = |observed: &mut Vec<(usize, u32)>| {
        for (j, _) in created.iter().enumerate().filter(|(_, c)| **c) {
            observed.push((j, world.drops[j].get()));
        }
    };
    counts(&mut observed.drops);
    let forever = world.values_dropped.get();
    drop(kernel);
    counts(&mut observed.drops_after_kernel);
    let after_kernel = world.values_dropped.get();
    drop(world.chans.borrow_mut().take());
    observed.values = [world.values.get(), forever, after_kernel, world.values_dropped.get()];
    observed.log = world.log.borrow().clone();
    observed
}

/// A script's body: a counted guard, then its steps.
fn body(world: &Rc<World>, me: usize) {
    let _guard = Guard(world.drops[me].clone());
    // The permits the script holds, oldest first: given back as this frame
    // is left, after the body's last line, or as it unwinds.
    let held = RefCell::new(Vec::new());
    if me > 0 {
        world.handles.borrow_mut()[me] = thread::current();
    }
    let name = who(me);
    world.log(&name, "start");
    for pc in 0..world.scripts[me].len() {
        step(world, me, &name, pc, world.scripts[me][pc], &held);
    }
    world.log(&name, "end");
}

fn step<'w>(
    world: &'w Rc<World>,
    me: usize,
    name: &str,
    pc: usize,
    op: Op,
    held: &RefCell<Vec<Permit<'w>>>,
) {
    match op {
        Op::Create(j) => {
            if j <= me || world.created.borrow()[j] {
                return world.log(name, format!("create T{j}: -"));
            }
            world.created.borrow_mut()[j] = true;
            let w = world.clone();
            let handle = thread::create(move || body(&w, j));
            world.log(name, format!("created T{j}"));
            world.joins.borrow_mut()[j] = Some(handle);
        }
        Op::Sleep(n) => {
            os::sleep(ticks(n));
            world.log(name, "slept");
        }
        Op::Pull(want, timeout) => {
            let filter = match want {
                Want::Name(n) => Filter::name(n.as_str()),
                Want::Any => Filter::any(),
            };
            match event::pull(timeout.map(ticks), filter) {
                Some(s) => world.log(name, format!("got {}", show(&s))),
                None => world.log(name, "timeout"),
            }
        }
        Op::Push(n) => {
            let s = Signal::new(n.as_str()).with(push_id(me, pc));
            world.log(name, format!("push {}", show(&s)));
            event::push(s);
        }
        Op::Listen(n, mode) => {
            let w = world.clone();
            let owner = name.to_string();
            event::listen(n.as_str(), move |s: &Signal| match mode {
                Mode::Keep | Mode::Once => {
                    w.log(&owner, format!("heard {}", show(s)));
                    mode == Mode::Keep
                }
                Mode::Panic => panic!("{SCRIPT_PANIC}L{me}"),
            });
            world.log(name, format!("listen {} {mode:?}", n.as_str()));
        }
        Op::Timer(interval, times) => {
            let w = world.clone();
            let owner = name.to_string();
            event::timer(ticks(interval), u32::from(times), move || w.log(&owner, "tick"));
            world.log(name, format!("timer {interval}x{times}"));
        }
        Op::Suspend(j) => on_target(world, name, "suspend", j, |t| result(t.suspend())),
        Op::Resume(j) => on_target(world, name, "resume", j, |t| result(t.resume())),
        Op::Kill(j) => on_target(world, name, "kill", j, |t| {
            t.kill();
            "ok".to_string()
        }),
        Op::Join(j, timeout) => {
            on_target(world, name, "join", j, |t| result(t.join(timeout.map(ticks))))
        }
        Op::Attach(j, level) => on_target(world, name, &format!("attach {level}"), j, |t| {
            result(t.attach(usize::from(level)))
        }),
        Op::Detach(j) => on_target(world, name, "detach", j, |t| result(t.detach())),
        Op::Status(j) => on_target(world, name, "status", j, |t| t.status().to_string()),
        Op::Exit => os::exit(),
        Op::Panic => panic!("{SCRIPT_PANIC}{name}"),
        Op::Send(c, timeout) => {
            let id = push_id(me, pc);
            let tx = world.sender(c);
            let value = world.value(id);
            let outcome = match timeout {
                None => match tx.send(value) {
                    Ok(()) => "ok",
                    Err(_) => "disconnected",
                },
                Some(t) => match tx.send_timeout(value, ticks(t)) {
                    Ok(()) => "ok",
                    Err(SendTimeoutError::Timeout(_)) => "timeout",
                    Err(SendTimeoutError::Disconnected(_)) => "disconnected",
                },
            };
            world.log(name, format!("send {} {id}: {outcome}", c.as_str()));
        }
        Op::TrySend(c) => {
            let id = push_id(me, pc);
            let outcome = match world.sender(c).try_send(world.value(id)) {
                Ok(()) => "ok",
                Err(TrySendError::Full(_)) => "full",
                Err(TrySendError::Disconnected(_)) => "disconnected",
            };
            world.log(name, format!("try_send {} {id}: {outcome}", c.as_str()));
        }
        Op::Recv(c, timeout) => {
            let rx = world.receiver(c);
            let got = match timeout {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => rx.recv_timeout(ticks(t)),
            };
            let outcome = match got {
                Ok(value) => value.id.to_string(),
                Err(RecvTimeoutError::Timeout) => "timeout".to_string(),
                Err(RecvTimeoutError::Disconnected) => "disconnected".to_string(),
            };
            world.log(name, format!("recv {}: {outcome}", c.as_str()));
        }
        Op::TryRecv(c) => {
            let outcome = match world.receiver(c).try_recv() {
                Ok(value) => value.id.to_string(),
                Err(sync::TryRecvError::Empty) => "empty".to_string(),
                Err(sync::TryRecvError::Disconnected) => "disconnected".to_string(),
            };
            world.log(name, format!("try_recv {}: {outcome}", c.as_str()));
        }
        Op::Lock(n) => {
            let guard = world.mutex.lock();
            world.log(name, "locked");
            os::sleep(ticks(n));
            drop(guard);
            world.log(name, "unlocked");
        }
        Op::Acquire(timeout) => {
            let permit = match timeout {
                None => Some(world.semaphore.acquire()),
                Some(t) => world.semaphore.acquire_timeout(ticks(t)),
            };
            match permit {
                Some(permit) => {
                    held.borrow_mut().push(permit);
                    world.log(name, "acquired");
                }
                None => world.log(name, "acquire: timeout"),
            }
        }
        Op::Release => {
            let permit = held.borrow_mut().pop();
            let outcome = if permit.is_some() { "released" } else { "release: -" };
            drop(permit);
            world.log(name, outcome);
        }
        Op::Select(c, want, timeout) => {
            let rx = world.receiver(c);
            let filter = match want {
                Want::Name(n) => Filter::name(n.as_str()),
                Want::Any => Filter::any(),
            };
            let recv = |got: Result<Val, sync::RecvError>| match got {
                Ok(value) => format!("recv {}", value.id),
                Err(_) => "disconnected".to_string(),
            };
            let outcome = match timeout {
                Some(t) => select! {
                    recv(rx) -> got => recv(got),
                    pull(filter) -> s => format!("got {}", show(&s)),
                    timeout(ticks(t)) => "timeout".to_string(),
                },
                None => select! {
                    recv(rx) -> got => recv(got),
                    pull(filter) -> s => format!("got {}", show(&s)),
                },
            };
            world.log(name, format!("select {}: {outcome}", c.as_str()));
        }
    }
}

/// Runs `f` on thread `j`'s handle and logs `"<what> T<j>: <result>"`, or
/// `"<what> T<j>: -"` if the thread has not started yet.
fn on_target(
    world: &World,
    name: &str,
    what: &str,
    j: usize,
    f: impl FnOnce(&thread::Thread) -> String,
) {
    let outcome = match world.handle(j) {
        Some(t) => f(&t),
        None => "-".to_string(),
    };
    world.log(name, format!("{what} T{j}: {outcome}"));
}

fn result(r: Result<(), Error>) -> String {
    describe(&r)
}

/// `"a 103"`: a signal's name and its one integer argument.
pub fn show(s: &Signal) -> String {
    format!("{} {}", s.name(), s.arg(0).as_int().unwrap_or(-1))
}

/// How a program fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The runtime and the model agree.
    Agreed,
    /// The model says the program never ends (a frozen timer keeps the clock
    /// moving, see `reference::Idle::Spins`), so it was not run.
    Endless,
    /// The model says the runtime would wait in the OS for ever: nothing can
    /// happen, but a thread waits on a channel, which another OS thread
    /// could end (docs/sync.md, "Channels"). Not run.
    WaitsForever,
}

/// Runs `program` on the model and then on the runtime; `Err` describes where
/// they disagree. A panic that escapes the runtime (out of `run`,
/// `run_forever`, a handle call or the kernel's drop) is a disagreement too.
pub fn check(program: &Program) -> Result<Checked, String> {
    let model = match crate::reference::run_model(program) {
        crate::reference::Outcome::Ends(model) => model,
        crate::reference::Outcome::Endless => return Ok(Checked::Endless),
        crate::reference::Outcome::WaitsForever => return Ok(Checked::WaitsForever),
    };
    let real = catch_unwind(AssertUnwindSafe(|| run_real(program)))
        .map_err(|p| format!("a panic escaped the runtime: {}", panic_text(&*p)))?;
    if real == model {
        return Ok(Checked::Agreed);
    }
    let mut out = String::new();
    let lines = real.log.len().max(model.log.len());
    let first = (0..lines).find(|&i| real.log.get(i) != model.log.get(i));
    if let Some(i) = first {
        out += &format!("logs differ at line {i}:\n");
        for k in i.saturating_sub(8)..i {
            out += &format!("    both:    {}\n", real.log[k]);
        }
        out += &format!("    runtime: {:?}\n", real.log.get(i));
        out += &format!("    model:   {:?}\n", model.log.get(i));
    }
    let fields: [(&str, String, String); 8] = [
        ("run", real.run.clone(), model.run.clone()),
        ("run_forever", real.run_forever.clone(), model.run_forever.clone()),
        ("statuses", format!("{:?}", real.statuses), format!("{:?}", model.statuses)),
        ("waits", format!("{:?}", real.waits), format!("{:?}", model.waits)),
        ("drops", format!("{:?}", real.drops), format!("{:?}", model.drops)),
        (
            "drops after the kernel",
            format!("{:?}", real.drops_after_kernel),
            format!("{:?}", model.drops_after_kernel),
        ),
        ("uptime", real.uptime_ms.to_string(), model.uptime_ms.to_string()),
        ("values", format!("{:?}", real.values), format!("{:?}", model.values)),
    ];
    for (what, r, m) in fields {
        if r != m {
            out += &format!("{what} differ:\n    runtime: {r}\n    model:   {m}\n");
        }
    }
    out += "runtime log:\n";
    for line in &real.log {
        out += &format!("    {line}\n");
    }
    Err(out)
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(not a string)".to_string()
    }
}

/// Installs (once) a panic hook that keeps the scripts' own panics quiet and
/// passes every other panic to the hook that was there before.
pub fn quiet_script_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if panic_text(info.payload()).starts_with(SCRIPT_PANIC) {
                return;
            }
            previous(info);
        }));
    });
}
