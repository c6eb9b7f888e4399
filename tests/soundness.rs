//! The soundness defects that the reproducers (r01 to r15) found, one
//! test each, pinning the fixed behaviour. Most failed by aborting, crashing,
//! corrupting the heap or hanging, so those tests run in a child process (this
//! test binary, re-run with one ignored test selected), as
//! tests/stack_overflow.rs does, with a time limit: a regression to a hang
//! fails its test instead of holding the run. The few whose failure was a
//! panic or a wrong value (r09, r10, an impossible stack size) run in the test
//! process. Timing is the virtual clock's.
//!
//! Two reproducers are covered elsewhere:
//! - r09 (a 24 KB pattern took seconds to test against one signal): its
//!   refusal is pinned here; the step bound that keeps patterns within the
//!   length cap cheap is pinned by tests/events.rs
//!   (`a_pattern_that_backtracks_past_the_step_bound_does_not_match`) and by
//!   src/event/pattern.rs (`adversarial_patterns_within_the_length_cap_stop_at_the_step_bound`,
//!   `the_step_bound_does_not_grow_with_the_pattern`).
//! - r11 (removing a timer or a listener scanned its group: n of them cost
//!   O(n^2)): tests/events.rs runs 100 000 of each
//!   (`a_hundred_thousand_one_shot_kernel_timers_each_fire_once_in_deadline_order`,
//!   `a_hundred_thousand_one_shot_listeners_of_one_name_each_run_once_in_order`).
//!   The reproducer compares wall times, which no test here asserts.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{child_succeeds, heap_is_intact, in_child, kernel, recurse, secs, tail, Drops, Out};
use cothread::job::JobContext;
use cothread::{
    event, os, thread, Budget, Error, Filter, Kernel, Signal, Status, Value, MIN_STACK_SIZE,
};

/// A kernel on the virtual clock with small stacks, so overflows come quickly.
fn small_stacks() -> Kernel {
    Kernel::builder().virtual_time(true).stack_size(64 * 1024).build()
}

/// A kernel whose error reporter prints into the returned lines.
fn reporting(mut kernel: Kernel) -> (Kernel, Out) {
    let errors = Out::new();
    let sink = errors.clone();
    kernel.on_error(move |msg| sink.print(msg));
    (kernel, errors)
}

// ---------------------------------------------------------------------------
// r01, r01b, r02: threads started by destructors that run after their
// process has ended (or while the kernel goes) are refused.
// ---------------------------------------------------------------------------

/// Tries to start a thread both ways in its destructor, and logs what it gets.
/// Each body holds a guard of `bodies` and logs if it ever runs.
struct StartsThreads {
    log: Out,
    bodies: Drops,
}

impl Drop for StartsThreads {
    fn drop(&mut self) {
        let (log, guard) = (self.log.clone(), self.bodies.guard());
        let spawned =
            thread::Builder::new().name("late-thread-with-a-long-name").spawn(move || {
                let _guard = guard;
                log.print("the spawned thread ran");
                let big = [7u8; 100];
                event::pull(None, Filter::new(move |s: &Signal| s.name().len() == big.len()));
            });
        self.log.print(format!("spawn: {:?}", spawned.map(|t| t.id())));
        let (log, guard) = (self.log.clone(), self.bodies.guard());
        let created = thread::create(move || {
            let _guard = guard;
            log.print("the created thread ran");
            event::pull(None, "wake");
        });
        let status = created.status();
        self.log.print(format!("create: {status:?}, wait: {:?}", created.wait()));
    }
}

/// What [`StartsThreads`] logs when both threads are refused.
const REFUSED: [&str; 2] = ["spawn: Err(ProcessEnded)", "create: Dead, wait: Err(ProcessEnded)"];

#[test]
#[ignore = "run in a child process"]
fn child_thread_started_by_the_error_reporters_drop() {
    if !in_child() {
        return;
    }
    let (log, bodies) = (Out::new(), Drops::new());
    let starter = StartsThreads { log: log.clone(), bodies: bodies.clone() };
    let mut k = kernel();
    k.run(move || {
        event::on_error(move |msg| {
            let _ = &starter;
            eprintln!("{msg}");
        });
    })
    .unwrap();
    drop(k);
    assert_eq!(log.lines(), REFUSED);
    assert_eq!(bodies.count(), 2, "both bodies dropped, neither run");
    heap_is_intact();
    println!("child finished");
}

/// r01 in the reproducers: a value owned by the error reporter's
/// closure starts threads in its destructor, which the kernel's drop runs
/// after it has killed every thread. `thread::Builder::spawn` gets
/// `Err(Error::ProcessEnded)` and `thread::create` a dead handle whose `wait`
/// says the same; both bodies are dropped without running (the thread used
/// to start, and be unwound while the kernel was being destroyed: use after
/// free), and the heap is intact.
#[test]
fn a_thread_started_by_the_error_reporters_drop_is_refused() {
    child_succeeds("child_thread_started_by_the_error_reporters_drop");
}

#[test]
#[ignore = "run in a child process"]
fn child_thread_started_by_a_kernel_listeners_drop() {
    if !in_child() {
        return;
    }
    let (log, bodies) = (Out::new(), Drops::new());
    let starter = StartsThreads { log: log.clone(), bodies: bodies.clone() };
    let mut k = kernel();
    k.listen("x", move |_| {
        let _ = &starter;
    });
    drop(k);
    assert_eq!(log.lines(), REFUSED);
    assert_eq!(bodies.count(), 2, "both bodies dropped, neither run");
    heap_is_intact();
    println!("child finished");
}

/// r01b in the reproducers: the same with the value owned by a
/// kernel-wide listener, which the kernel's drop drops (glibc used to abort
/// on the corrupted heap): refused both ways, bodies dropped, heap intact.
#[test]
fn a_thread_started_by_a_kernel_listeners_drop_is_refused() {
    child_succeeds("child_thread_started_by_a_kernel_listeners_drop");
}

/// A program whose thread returns a [`StartsThreads`] nobody claims: the
/// kernel drops the value once the thread has ended, and its threads are
/// refused. With `wake`, the program then pushes the signal an orphan
/// would wait for.
fn unclaimed_value_starts_threads(wake: bool) {
    let (log, bodies) = (Out::new(), Drops::new());
    let (l, b) = (log.clone(), bodies.clone());
    let mut k = kernel();
    let result = k.run(move || {
        drop(thread::create(move || {
            os::sleep(secs(1));
            StartsThreads { log: l, bodies: b }
        }));
        os::sleep(secs(2));
        if wake {
            event::push(Signal::new("wake"));
            os::sleep(secs(1));
        }
        os::uptime()
    });
    assert_eq!(result, Ok(secs(if wake { 3 } else { 2 })));
    assert_eq!(log.lines(), REFUSED);
    assert_eq!(bodies.count(), 2, "both bodies dropped, neither run");
    assert_eq!(k.threads(), [], "no orphan in the thread table");
    drop(k);
    heap_is_intact();
    println!("child finished");
}

#[test]
#[ignore = "run in a child process"]
fn child_thread_started_by_an_unclaimed_value() {
    if !in_child() {
        return;
    }
    unclaimed_value_starts_threads(false);
}

/// r02 in the reproducers: the destructor of a thread's unclaimed
/// value starts threads after that thread has ended. They are refused
/// (`Err(Error::ProcessEnded)` both ways, bodies dropped unrun); `run` returns
/// `Ok`, the thread table is empty and the kernel's drop returns (it used to
/// abort on the orphan whose parent's slot had been freed).
#[test]
fn a_thread_started_by_an_unclaimed_value_is_refused() {
    child_succeeds("child_thread_started_by_an_unclaimed_value");
}

#[test]
#[ignore = "run in a child process"]
fn child_thread_started_by_an_unclaimed_value_then_woken() {
    if !in_child() {
        return;
    }
    unclaimed_value_starts_threads(true);
}

/// r02 in the reproducers, with `wake`: as above, then the program
/// pushes the signal the orphan would have waited for. Nothing receives it
/// and `run` returns `Ok` (waking the orphan used to panic inside the kernel,
/// "no task at key 2", out of `run`).
#[test]
fn a_thread_started_by_an_unclaimed_value_is_refused_and_nothing_wakes() {
    child_succeeds("child_thread_started_by_an_unclaimed_value_then_woken");
}

// ---------------------------------------------------------------------------
// r03 (and r04, in benches/tests/peers.rs: it needs tokio): a stack whose frames an overflow discarded is quarantined, not
// freed, while memory on it is still referred to from elsewhere.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_overflow_inside_a_thread_scope() {
    if !in_child() {
        return;
    }
    let (go, wait_for_go) = mpsc::channel::<()>();
    let (wrote, written) = mpsc::channel::<u64>();
    let mut k = small_stacks();
    let result = k.run(move || {
        thread::create(move || {
            let cell = AtomicU64::new(0);
            let cell = &cell;
            std::thread::scope(|s| {
                s.spawn(move || {
                    // Writes through its borrow of the green stack only once
                    // the green thread is gone.
                    wait_for_go.recv().unwrap();
                    for i in 0..1000 {
                        cell.store(i, Ordering::Relaxed);
                    }
                    wrote.send(cell.load(Ordering::Relaxed)).unwrap();
                });
                recurse(0)
            })
        })
        .wait()
    });
    assert_eq!(result, Ok(Err(Error::StackOverflow)));
    assert_eq!(k.quarantined_stacks(), 1, "the discarded stack is kept");
    go.send(()).unwrap();
    assert_eq!(written.recv(), Ok(999), "the scoped thread wrote to the kept stack");
    assert_eq!(k.run(|| thread::create(|| 7).wait()), Ok(Ok(7)));
    heap_is_intact();
    println!("child finished");
}

/// r03 in the reproducers: a green thread overflows inside
/// `std::thread::scope`, whose scoped OS thread goes on writing through a
/// borrow of the green stack (the scope never joins it: its frames are
/// discarded). The thread ends `Err(Error::StackOverflow)`, its stack is
/// quarantined (`Kernel::quarantined_stacks` is 1) instead of unmapped, and
/// the scoped thread's writes land there (they used to be a SIGSEGV or a
/// write after free).
#[test]
fn an_overflow_inside_a_thread_scope_keeps_the_borrowed_stack() {
    child_succeeds("child_overflow_inside_a_thread_scope");
}

// ---------------------------------------------------------------------------
// r05: a recursion that calls the kernel at each level overflows into the
// emergency zone and is unwound at its next kernel call.
//
// The zone is usually first touched deep inside the kernel call, with the
// kernel's state borrowed: the fault handler then leaves the thread to its
// next kernel call (an unwind there would leave the kernel half done), which
// comes one level up.
// ---------------------------------------------------------------------------

/// The kernel call each level of [`walk`] makes.
#[derive(Clone, Copy)]
enum Call {
    Listen,
    Sleep,
    Pull,
    Timer,
    Create,
}

/// Recurses for ever, holding a guard of `drops` at each level (counted in
/// `levels`) and calling the kernel.
fn walk(call: Call, drops: &Drops, levels: &Cell<u64>) -> u64 {
    let _level = drops.guard();
    levels.set(levels.get() + 1);
    match call {
        Call::Listen => {
            event::listen("x", |_| {});
        }
        Call::Sleep => os::sleep(Duration::ZERO),
        Call::Pull => {
            event::pull(Duration::ZERO, "x");
        }
        Call::Timer => {
            event::timer(secs(60), 1, || {});
        }
        Call::Create => {
            thread::create(|| ());
        }
    }
    walk(call, drops, levels) + 1
}

/// Runs [`walk`] with `call` in a thread of a kernel with default stacks: it
/// ends with `Error::StackOverflow`, unwound (every guard dropped, the stack
/// not quarantined), and the kernel goes on.
fn recursion_with_a_kernel_call_per_level(call: Call) {
    let (drops, levels) = (Drops::new(), Rc::new(Cell::new(0)));
    let (d, l) = (drops.clone(), levels.clone());
    let mut k = kernel();
    let result = k.run(move || {
        thread::create(move || {
            let _start = d.guard();
            walk(call, &d, &l)
        })
        .wait()
    });
    assert_eq!(result, Ok(Err(Error::StackOverflow)));
    assert!(levels.get() > 100, "only {} levels", levels.get());
    assert_eq!(drops.count() as u64, levels.get() + 1, "every level's guard and the start's");
    assert_eq!(k.quarantined_stacks(), 0, "unwound, not discarded");
    assert_eq!(k.threads(), []);
    assert_eq!(k.run(|| thread::create(|| 7).wait()), Ok(Ok(7)));
    println!("{} levels", levels.get());
    println!("child finished");
}

/// A child running [`recursion_with_a_kernel_call_per_level`] with one kind
/// of call, and the test that runs it.
macro_rules! recursion_test {
    ($(#[$doc:meta])* $test:ident, $child:ident, $call:expr) => {
        #[test]
        #[ignore = "run in a child process"]
        fn $child() {
            if !in_child() {
                return;
            }
            recursion_with_a_kernel_call_per_level($call);
        }

        $(#[$doc])*
        #[test]
        fn $test() {
            child_succeeds(stringify!($child));
        }
    };
}

recursion_test!(
    /// r05 in the reproducers (`listen`): a recursion that registers a
    /// listener at each level ends `Ok(Err(Error::StackOverflow))` and is unwound
    /// (it used to overflow inside the kernel's borrowed state and abort).
    a_recursion_that_listens_at_each_level_is_unwound,
    child_recursion_that_listens,
    Call::Listen
);

recursion_test!(
    /// r05 in the reproducers (`sleep`): the same with `os::sleep(0)` at
    /// each level.
    a_recursion_that_sleeps_at_each_level_is_unwound,
    child_recursion_that_sleeps,
    Call::Sleep
);

recursion_test!(
    /// r05 in the reproducers (`pull`): the same with a pull that times
    /// out at once at each level.
    a_recursion_that_pulls_at_each_level_is_unwound,
    child_recursion_that_pulls,
    Call::Pull
);

recursion_test!(
    /// r05 in the reproducers (`timer`): the same with a timer started at
    /// each level.
    a_recursion_that_starts_a_timer_at_each_level_is_unwound,
    child_recursion_that_starts_timers,
    Call::Timer
);

recursion_test!(
    /// r05 in the reproducers, with `thread::create` at each level: the
    /// same. (This variant aborted only in release builds; a debug build shows
    /// the fixed behaviour as well.)
    a_recursion_that_creates_a_thread_at_each_level_is_unwound,
    child_recursion_that_creates_threads,
    Call::Create
);

// ---------------------------------------------------------------------------
// r06: an overflow inside malloc, with another OS thread alive.
// ---------------------------------------------------------------------------

/// Recurses for ever, allocating at each level.
fn allocate_deeper(depth: u64) -> u64 {
    let block = std::hint::black_box(vec![depth as u8; 1500 + (depth as usize % 7) * 300]);
    if depth == u64::MAX {
        return 0;
    }
    allocate_deeper(depth + 1) + u64::from(block[0])
}

#[test]
#[ignore = "run in a child process"]
fn child_overflow_inside_malloc() {
    if !in_child() {
        return;
    }
    // With a second OS thread, glibc's malloc takes its arena lock.
    let _other = std::thread::spawn(|| loop {
        std::thread::park();
    });
    let mut k = small_stacks();
    let result = k.run(|| thread::create(|| allocate_deeper(0)).wait());
    assert_eq!(result, Ok(Err(Error::StackOverflow)));
    let text = format!("survived: {result:?}");
    println!("{text}");
    heap_is_intact();
    assert_eq!(k.run(|| thread::create(|| vec![1u8; 4096].len()).wait()), Ok(Ok(4096)));
    println!("child finished");
}

/// r06 in the reproducers: a green thread whose recursion allocates
/// overflows inside malloc while a second OS thread lives (so glibc locks
/// its arena). It ends `Err(Error::StackOverflow)` and the host then
/// formats, prints and allocates (the kernel's own bookkeeping used to
/// deadlock on the arena lock the discarded frames held: a hang).
#[test]
fn an_overflow_inside_malloc_leaves_the_allocator_usable() {
    let printed = child_succeeds("child_overflow_inside_malloc");
    assert!(printed.stdout.contains("survived: Ok(Err(StackOverflow))\n"), "{}", printed.stdout);
    assert!(printed.stdout.contains("heap intact\n"), "{}", printed.stdout);
}

// ---------------------------------------------------------------------------
// r07: a budget counts listener runs.
// ---------------------------------------------------------------------------

/// A kernel whose listener re-pushes its own signal for ever.
fn echoing() -> Kernel {
    let mut k = kernel();
    k.spawn(|| {
        event::listen("ping", |_| event::push(Signal::new("ping")));
        event::push(Signal::new("ping"));
        os::sleep(secs(3600));
    });
    k
}

#[test]
#[ignore = "run in a child process"]
fn child_budget_with_an_echoing_listener() {
    if !in_child() {
        return;
    }
    let mut k = echoing();
    let report = k.step_for(Budget::Resumes(100));
    assert_eq!(report.callbacks + report.resumes, 100, "{report:?}");
    assert_eq!((report.callbacks, report.resumes, report.signals), (100, 0, 100), "{report:?}");
    assert!(report.alive);
    let mut k = echoing();
    let report = k.advance_for(secs(1), Budget::Resumes(100));
    assert_eq!(report.callbacks + report.resumes, 100, "{report:?}");
    assert!(report.behind, "{report:?}");
    assert_eq!(k.uptime(), Duration::ZERO, "the echo keeps the clock at its instant");
    println!("child finished");
}

/// r07 in the reproducers: a listener that re-pushes its own signal.
/// `Kernel::step_for(Budget::Resumes(100))` returns after 100 callbacks and
/// resumes together (`StepReport::callbacks` counts the listener's runs; they
/// used to count for nothing, so the step never returned), and
/// `Kernel::advance_for` likewise, behind, with the clock where it was.
#[test]
fn a_budget_counts_the_runs_of_a_listener_that_echoes_its_signal() {
    child_succeeds("child_budget_with_an_echoing_listener");
}

// ---------------------------------------------------------------------------
// r08: a thread that catches its kill is parked for ever.
// ---------------------------------------------------------------------------

/// Starts, as a program, a worker loop that survives panics by catching every
/// unwind around its pull, its kill's too; has it handle one job.
fn stubborn_worker(k: &mut Kernel) -> thread::JoinHandle<()> {
    let handled = Out::new();
    let h = handled.clone();
    let worker = k.spawn(move || loop {
        if let Ok(Some(s)) = catch_unwind(AssertUnwindSafe(|| event::pull(None, "job"))) {
            h.print(format!("handled {}", s.name()));
        }
    });
    k.push_signal(Signal::new("job"));
    k.step();
    assert_eq!(handled.lines(), ["handled job"]);
    worker
}

/// The report of a program that caught its kill.
const CAUGHT_ITS_KILL: &str =
    "[program] caught the unwind that was to end it and went on: parked for ever, its stack kept";

#[test]
#[ignore = "run in a child process"]
fn child_worker_that_catches_its_kill() {
    if !in_child() {
        return;
    }
    // Killed by the kernel's drop.
    let (mut k, errors) = reporting(kernel());
    let worker = stubborn_worker(&mut k);
    drop(k);
    assert_eq!(errors.lines(), [CAUGHT_ITS_KILL]);
    assert_eq!(worker.status(), Status::Dead);
    // Killed by a handle, then dropped.
    let (mut k, errors) = reporting(kernel());
    let worker = stubborn_worker(&mut k);
    worker.kill();
    assert_eq!(k.quarantined_stacks(), 1);
    assert_eq!(k.threads(), [], "a thread parked for ever is dead: not in the table");
    assert!(
        errors.lines().iter().any(|e| e.contains("caught the unwind that was to end it")),
        "{:?}",
        errors.lines()
    );
    assert_eq!(errors.lines(), [CAUGHT_ITS_KILL]);
    assert_eq!((worker.status(), worker.wait()), (Status::Dead, Err(Error::Killed)));
    drop(k);
    println!("child finished");
}

/// r08 in the reproducers: a worker loop that catches every unwind
/// around its pull also catches its kill. It is parked for ever instead of
/// spinning (every blocking call of a killed thread returns at once): the
/// kernel's drop returns (it used to spin for ever), the program is reported
/// through `on_error` as having caught its kill, and a kill by its handle
/// leaves its stack quarantined (`Kernel::quarantined_stacks` is 1).
#[test]
fn a_worker_that_catches_its_kill_is_parked_and_the_kernels_drop_returns() {
    child_succeeds("child_worker_that_catches_its_kill");
}

// ---------------------------------------------------------------------------
// r09: a pattern too long to test cheaply is refused.
// ---------------------------------------------------------------------------

/// r09 in the reproducers: a 24 KB pattern (eight 3 000-byte sets
/// under `*`) took seconds to test against one 40-byte name. It is refused by
/// `Filter::try_pattern`, which names its length and the limit. (The step
/// bound on patterns within the limit: see this file's header.)
#[test]
fn the_reproducers_24_kb_pattern_is_refused() {
    let set = format!("[{}%w_]", "\u{1}".repeat(3000));
    let pattern = format!("{}\u{2}", format!("{set}*").repeat(8));
    assert_eq!(pattern.len(), 24_049);
    assert_eq!(
        Filter::try_pattern(&pattern).err().as_deref(),
        Some("pattern too long (24049 bytes; the limit is 256)")
    );
}

// ---------------------------------------------------------------------------
// r10: a signal argument whose destructor panics.
// ---------------------------------------------------------------------------

/// Panics when dropped.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("argument destructor panics");
    }
}

/// r10 in the reproducers: a program pushes a signal nobody receives,
/// with an argument whose destructor panics. The kernel drops it in its round
/// with the panic contained: `run` returns the program's value (the panic
/// used to escape `Kernel::run`) and the panic is reported as
/// `[signal] argument destructor panics`.
#[test]
fn a_signal_argument_whose_destructor_panics_is_contained() {
    let (mut k, errors) = reporting(kernel());
    let result = k.run(|| {
        event::push(Signal::new("x").with(Value::shared(Bomb)));
        os::sleep(secs(1));
        "script done"
    });
    assert_eq!(result, Ok("script done"));
    assert_eq!(errors.lines(), ["[signal] argument destructor panics"]);
    assert_eq!(k.threads(), []);
}

// ---------------------------------------------------------------------------
// r12: an overflow inside println!, with stdout's lock held.
// ---------------------------------------------------------------------------

/// Recurses for ever with an `N`-byte frame, printing each level.
fn print_deeper<const N: usize>(depth: u64) -> u64 {
    let pad = std::hint::black_box([0u8; N]);
    println!("depth {depth}");
    if depth == u64::MAX {
        return 0;
    }
    print_deeper::<N>(depth + 1) + pad.len() as u64
}

/// Runs [`print_deeper`] in a thread of a kernel with default stacks, then
/// prints from the host.
fn overflow_while_printing(print: fn(u64) -> u64) {
    let mut k = kernel();
    let result = k.run(move || thread::create(move || print(0)).wait());
    assert_eq!(result, Ok(Err(Error::StackOverflow)));
    println!("host prints");
    println!("child finished");
}

/// Defines a child test that overflows while printing with frames of `N` bytes.
macro_rules! println_overflow_child {
    ($($name:ident: $n:literal),* $(,)?) => {$(
        #[test]
        #[ignore = "run in a child process"]
        fn $name() {
            if !in_child() {
                return;
            }
            overflow_while_printing(print_deeper::<$n>);
        }
    )*};
}

println_overflow_child!(
    child_println_overflow_0: 0,
    child_println_overflow_16: 16,
    child_println_overflow_32: 32,
    child_println_overflow_48: 48,
    child_println_overflow_64: 64,
    child_println_overflow_80: 80,
    child_println_overflow_96: 96,
    child_println_overflow_112: 112,
);

/// Runs the println-overflow children of `frames` (bytes of padding a frame):
/// each exits 0, and its host prints after the green thread's overflow.
fn println_overflows(frames: &[usize]) {
    for n in frames {
        let printed = child_succeeds(&format!("child_println_overflow_{n}"));
        // The thread's last line may be cut short where it overflowed; the
        // host's line ends it.
        assert!(printed.stdout.contains("host prints\n"), "{n}: {}", tail(&printed.stdout));
        assert!(printed.stdout.contains("depth 100\n"), "{n}: the thread printed");
    }
}

/// r12 in the reproducers, frames of 0 to 48 bytes of padding: a
/// recursion that prints each level overflows inside `println!` with stdout's
/// lock and `RefCell` held. The thread ends `Err(Error::StackOverflow)`, the
/// host's `println!` then works and the process exits 0 (it used to panic,
/// "RefCell already borrowed", and abort at exit).
#[test]
fn an_overflow_inside_println_leaves_stdout_usable_small_frames() {
    println_overflows(&[0, 16, 32, 48]);
}

/// r12 in the reproducers, frames of 64 to 112 bytes of padding: as
/// above.
#[test]
fn an_overflow_inside_println_leaves_stdout_usable_large_frames() {
    println_overflows(&[64, 80, 96, 112]);
}

// ---------------------------------------------------------------------------
// r13: a panic with a waiting destructor, then a small thread's panic.
// ---------------------------------------------------------------------------

/// Waits in its destructor ("send goodbye, wait for the answer"), and logs
/// when the wait returned.
struct Goodbye(Out);

impl Drop for Goodbye {
    fn drop(&mut self) {
        os::sleep(secs(10));
        self.0.print(format!("goodbye slept until {:?}", os::uptime()));
    }
}

#[test]
#[ignore = "run in a child process"]
fn child_panics_with_a_waiting_destructor() {
    if !in_child() {
        return;
    }
    let log = Out::new();
    let l = log.clone();
    let (mut k, errors) = reporting(kernel());
    let result = k.run(move || {
        let goodbye = Goodbye(l.clone());
        thread::create(move || -> () {
            let _goodbye = goodbye;
            panic!("bug 1")
        });
        l.print(format!("A ended at {:?}", os::uptime()));
        os::sleep(secs(1));
        let b = thread::Builder::new()
            .stack_size(16 * 1024)
            .spawn(|| -> () { panic!("bug 2") })
            .unwrap()
            .wait();
        l.print(format!("B: {b:?}"));
        thread::create(|| -> () { panic!("bug 3") }).wait()
    });
    assert_eq!(result, Ok(Err(Error::Panicked("bug 3".into()))));
    assert_eq!(
        log.lines(),
        ["goodbye slept until 0ns", "A ended at 0ns", "B: Err(Panicked(\"bug 2\"))"]
    );
    assert_eq!(errors.lines(), ["[thread] bug 1", "[thread] bug 2", "[thread] bug 3"]);
    assert_eq!(k.quarantined_stacks(), 0);
    println!("child finished");
}

/// r13 in the reproducers: thread A panics and its destructor waits;
/// then a thread B with a 16 KiB stack panics, then a third. A destructor run
/// by a panic does not park (see tests/misuse.rs,
/// `a_destructor_run_by_a_panic_does_not_park`): A's sleep returns at once, so
/// std never counts two panics under way, B's panic prints no forced
/// backtrace (which overflowed B's stack in the panic hook), and the process
/// survives every panic (the next one used to abort it).
#[test]
fn panics_while_a_destructor_waits_leave_the_process_alive() {
    let printed = child_succeeds("child_panics_with_a_waiting_destructor");
    for bug in ["bug 1", "bug 2", "bug 3"] {
        assert!(printed.stderr.contains(&format!("\n{bug}\n")), "{bug}: {}", printed.stderr);
    }
    assert!(!printed.stderr.contains("stack backtrace"), "{}", printed.stderr);
}

// ---------------------------------------------------------------------------
// r14: os::exit in a destructor that a kill runs.
// ---------------------------------------------------------------------------

/// Calls `os::exit` in its destructor.
struct ExitOnDrop(Out);

impl Drop for ExitOnDrop {
    fn drop(&mut self) {
        self.0.print("exit");
        os::exit();
    }
}

#[test]
#[ignore = "run in a child process"]
fn child_exit_in_a_destructor_during_a_kill() {
    if !in_child() {
        return;
    }
    let log = Out::new();
    let l = log.clone();
    let (mut k, errors) = reporting(kernel());
    let result = k.run(move || {
        let exits = ExitOnDrop(l.clone());
        let t = thread::create(move || {
            let _exits = exits;
            event::pull(None, "never");
        });
        t.kill();
        l.print("the killer goes on");
        (t.status(), t.wait())
    });
    assert_eq!(result, Ok((Status::Dead, Err(Error::Killed))));
    assert_eq!(log.lines(), ["exit", "the killer goes on"]);
    assert_eq!(
        errors.lines(),
        ["[thread] called os::exit while unwinding: parked for ever, its stack kept"]
    );
    assert!(errors.lines()[0].contains("os::exit while unwinding"));
    assert_eq!(k.quarantined_stacks(), 1);
    drop(k);
    println!("child finished");
}

/// r14 in the reproducers: `os::exit` from a destructor that runs
/// while its thread is killed. A second unwind there would abort the process
/// (it did); the thread is parked for ever instead (its stack quarantined),
/// the killer goes on, and `on_error` reports "os::exit while unwinding".
/// `wait` gives `Err(Error::Killed)`: the kill came first, and a thread
/// being killed ends killed, whatever its destructors do.
#[test]
fn exit_in_a_destructor_during_a_kill_parks_the_thread() {
    child_succeeds("child_exit_in_a_destructor_during_a_kill");
}

// ---------------------------------------------------------------------------
// r15: a kill from a nested kernel's job.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_kill_from_a_nested_kernels_job() {
    if !in_child() {
        return;
    }
    let log = Out::new();
    let l = log.clone();
    let victim: Rc<RefCell<Option<thread::Thread>>> = Rc::default();
    let v = victim.clone();
    let mut a = kernel();
    let result = a.run(move || {
        let t = thread::create(move || {
            let _unwound = l.on_drop("T unwound");
            os::sleep(Duration::ZERO);
            let mut b = kernel();
            let lj = l.clone();
            let job = b.job(move |_: &JobContext<()>| {
                lj.print("the job kills T");
                v.borrow().as_ref().expect("T's handle is set").kill();
                lj.print("the job goes on");
                Ok::<_, String>(())
            });
            l.print(format!("T runs after its kill; job state {:?}", job.state()));
            "T's value"
        });
        *victim.borrow_mut() = Some(t.thread());
        t.wait()
    });
    assert_eq!(result, Ok(Err(Error::Killed)));
    assert_eq!(log.lines(), ["the job kills T", "the job goes on", "T unwound"]);
    println!("child finished");
}

/// r15 in the reproducers: thread T of one kernel starts a job on a
/// second kernel, and the job (a green thread running on top of T's stack)
/// kills T. The kill reaches T in its own frames once the nested kernel's
/// call returns: T's `wait` gives `Err(Error::Killed)` and T runs none of its
/// code after the job (the job's stack used to be unwound instead, and T ran
/// on and returned its value).
#[test]
fn a_kill_from_a_nested_kernels_job_ends_its_target() {
    child_succeeds("child_kill_from_a_nested_kernels_job");
}

// ---------------------------------------------------------------------------
// Low-severity items of the same issue: stack sizes out of range.
// ---------------------------------------------------------------------------

/// A low-severity item of the issue that the reproducers came from: a kernel
/// asked for stacks of `usize::MAX` bytes cannot get one, and `run` says so
/// with `Err(Error::StackAlloc(_))` instead of panicking.
#[test]
fn a_kernel_with_an_impossible_stack_size_refuses_to_run() {
    let mut k = Kernel::builder().virtual_time(true).stack_size(usize::MAX).build();
    let result = k.run(|| 1);
    assert!(matches!(result, Err(Error::StackAlloc(_))), "{result:?}");
    assert!(result.unwrap_err().to_string().starts_with("cannot allocate a thread stack: "));
}

#[test]
#[ignore = "run in a child process"]
fn child_tiny_stack_size() {
    if !in_child() {
        return;
    }
    assert_eq!(MIN_STACK_SIZE, 16 * 1024);
    let mut k = Kernel::builder().virtual_time(true).stack_size(4096).build();
    let result = k.run(|| {
        let program = event::pull(secs(1), "x");
        let thread = thread::create(|| event::pull(secs(1), "x").is_none()).wait();
        let tiny = thread::Builder::new()
            .stack_size(4096)
            .spawn(|| {
                // As much as the 4 KiB asked for, on the stack, and a pull.
                let buf = std::hint::black_box([1u8; 4096]);
                (event::pull(secs(1), "x").is_none(), buf.iter().map(|&b| usize::from(b)).sum())
            })
            .unwrap()
            .wait();
        (program.is_none(), thread, tiny, os::uptime())
    });
    assert_eq!(result, Ok((true, Ok(true), Ok((true, 4096)), secs(3))));
    assert_eq!(k.quarantined_stacks(), 0);
    println!("child finished");
}

/// A low-severity item of the issue that the reproducers came from: a 4 KiB
/// stack (`KernelBuilder::stack_size(4096)`, `thread::Builder::stack_size`)
/// is raised to `MIN_STACK_SIZE` (16 KiB), so a program and its threads can
/// pull on it (and hold more than 4 KiB of locals) without overflowing.
#[test]
fn a_tiny_stack_size_is_raised_to_the_minimum() {
    child_succeeds("child_tiny_stack_size");
}

// ---------------------------------------------------------------------------
// A kernel dropped by one of its own green threads (it reaches the kernel
// through an `Rc<RefCell<..>>` while a host call runs it): the teardown waits
// until that call returns to the host, then unwinds every thread as a drop
// from the host does. It used to unwind the dropping thread out of the
// teardown, leave the rest to be force-unwound with no kernel current, and
// abort on a kernel call in their destructors.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run in a child process"]
fn child_kernel_dropped_by_its_own_thread() {
    if !in_child() {
        return;
    }
    /// Calls into the kernel as it is dropped.
    struct UsesKernel(Rc<Cell<bool>>);
    impl Drop for UsesKernel {
        fn drop(&mut self) {
            let _ = os::uptime();
            self.0.set(true);
        }
    }
    let slot = Rc::new(RefCell::new(Some(Kernel::builder().virtual_time(true).build())));
    let inner = slot.clone();
    let unwound = Rc::new(Cell::new(false));
    let errors = Out::new();
    let (job, older) = {
        let mut borrowed = slot.borrow_mut();
        let kernel = borrowed.as_mut().unwrap();
        let sink = errors.clone();
        kernel.on_error(move |message| sink.print(message));
        let u = unwound.clone();
        let older = kernel.spawn(move || {
            let _guard = UsesKernel(u);
            event::pull(None, "never");
        });
        let first = Cell::new(true);
        // A retry runs the work at once, on a green thread, with no borrow
        // of the kernel held by the host.
        let job = kernel.job(move |_: &JobContext<()>| {
            if !first.replace(false) {
                drop(inner.borrow_mut().take());
            }
            Ok::<_, String>(())
        });
        (job, older)
    };
    job.retry().unwrap();
    assert!(slot.borrow().is_none(), "the work dropped the kernel");
    assert!(unwound.get(), "the older program was unwound, its destructor's kernel call answered");
    assert_eq!(older.wait(), Err(Error::Killed));
    assert_eq!(errors.lines(), Vec::<String>::new());
    heap_is_intact();
    println!("child finished");
}

#[test]
fn a_kernel_dropped_by_its_own_thread_is_torn_down_when_the_host_call_returns() {
    child_succeeds("child_kernel_dropped_by_its_own_thread");
}

/// Locks a `sync::Mutex` in its destructor.
struct LockOnDrop(Rc<cothread::sync::Mutex<u32>>, Out);

impl Drop for LockOnDrop {
    fn drop(&mut self) {
        self.1.print("lock");
        *self.0.lock() += 1;
        self.1.print("locked");
    }
}

#[test]
#[ignore = "run in a child process"]
fn child_lock_in_a_destructor_during_a_kill() {
    if !in_child() {
        return;
    }
    let log = Out::new();
    let l = log.clone();
    let (mut k, errors) = reporting(kernel());
    let result = k.run(move || {
        let m = Rc::new(cothread::sync::Mutex::new(0));
        let held = m.lock();
        let locks = LockOnDrop(m.clone(), l.clone());
        let t = thread::create(move || {
            let _locks = locks;
            event::pull(None, "never");
        });
        os::sleep(Duration::ZERO);
        t.kill();
        l.print("the killer goes on");
        drop(held);
        // Nobody is left to take the lock: the parked destructor holds no
        // place in its queue.
        let free = m.try_lock().is_some();
        (t.status(), t.wait(), free)
    });
    assert_eq!(result, Ok((Status::Dead, Err(Error::Killed), true)));
    assert_eq!(log.lines(), ["lock", "the killer goes on"]);
    assert_eq!(
        errors.lines(),
        ["[thread] waited for a `sync::Mutex` another thread holds while unwinding: \
             parked for ever, its stack kept"]
    );
    assert_eq!(k.quarantined_stacks(), 1);
    drop(k);
    println!("child finished");
}

/// A destructor run by a kill waits for a `sync::Mutex` another thread
/// holds. It can neither wait (a thread never parks mid-unwind) nor panic
/// (a second unwind aborts the process: it did): the thread is parked for
/// ever, reported, and the lock stays free for the others.
#[test]
fn lock_in_a_destructor_during_a_kill_parks_the_thread() {
    child_succeeds("child_lock_in_a_destructor_during_a_kill");
}

#[test]
#[ignore = "run in a child process"]
fn child_lock_in_a_destructor_during_an_interrupt() {
    if !in_child() {
        return;
    }
    let log = Out::new();
    let l = log.clone();
    let (mut k, errors) = reporting(kernel());
    let result = k.run(move || {
        let m = Rc::new(cothread::sync::Mutex::new(0));
        let held = m.lock();
        let locks = LockOnDrop(m.clone(), l.clone());
        let t = thread::create(move || {
            let _locks = locks;
            event::pull(None, "never");
        });
        os::sleep(Duration::ZERO);
        assert!(t.interrupt("stop"));
        os::sleep(secs(1));
        drop(held);
        t.wait()
    });
    // Ends as its uncaught interrupt would have ended it, reported once.
    assert_eq!(result, Ok(Err(Error::Interrupted(Value::from("stop")))));
    assert_eq!(log.lines(), ["lock"]);
    assert_eq!(
        errors.lines(),
        ["[thread] waited for a `sync::Mutex` another thread holds while unwinding: \
             parked for ever, its stack kept"]
    );
    drop(k);
    println!("child finished");
}

/// As above, for a destructor run by an uncaught interrupt: the thread is
/// parked for ever and ends `Interrupted` with the cause, as the interrupt
/// would have ended it (it ended `Panicked`, reported twice).
#[test]
fn lock_in_a_destructor_during_an_interrupt_ends_the_thread_interrupted() {
    child_succeeds("child_lock_in_a_destructor_during_an_interrupt");
}
