//! SimPy's "Machine shop" example, ported: ten machines make parts and break
//! down now and then; one repairman mends them, and between repairs does
//! other, less important jobs, which a broken machine preempts.
//!
//! A machine breaking is `Thread::interrupt`: its breaker thread interrupts
//! the working thread, whose `os::sleep` (making a part) ends early inside
//! `os::catch_interrupt`, as SimPy's `process.interrupt()` raises
//! `simpy.Interrupt` at the `yield`. SimPy's `PreemptiveResource` is the
//! [`Preemptive`] below: a `Semaphore::new(1)` taken with
//! `acquire_priority`, plus a note of who holds it, so that a request of a
//! more urgent priority (a smaller number) interrupts the holder, which gives
//! the permit back and asks again. SimPy's `env.run(until=SIM_TIME)` is
//! `Kernel::advance` on the virtual clock; `env.now` is that clock, with one
//! of SimPy's minutes a minute.
//!
//! The random draws of SimPy's example are replaced by the fixed lists below,
//! in this port and in `examples/simpy/machine_shop.py` alike, and this
//! program prints exactly what that script prints with SimPy 4.1.2
//! (`tests/simpy_ports.rs` holds its lines):
//!
//! ```text
//! $ cargo run --example machine_shop
//! Machine shop
//! Machine shop results after 4 weeks
//! Machine 0 made 3358 parts.
//! Machine 1 made 3323 parts.
//! Machine 2 made 3331 parts.
//! Machine 3 made 3540 parts.
//! Machine 4 made 3548 parts.
//! Machine 5 made 3276 parts.
//! Machine 6 made 3470 parts.
//! Machine 7 made 3293 parts.
//! Machine 8 made 3406 parts.
//! Machine 9 made 3517 parts.
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use cothread::sync::{Permit, Semaphore};
use cothread::thread::{self, Thread};
use cothread::{os, Error, Kernel};

/// Time it takes to repair a machine in minutes.
const REPAIR_TIME: f64 = 30.0;
/// Duration of other jobs in minutes.
const JOB_DURATION: f64 = 30.0;
/// Number of machines in the machine shop.
const NUM_MACHINES: usize = 10;
/// Simulation time in weeks.
const WEEKS: u64 = 4;
/// Simulation time in minutes.
const SIM_TIME: f64 = (WEEKS * 7 * 24 * 60) as f64;
// Fixed inputs in place of the random draws (minutes), taken round again when
// they run out: processing times of a part (mean 10, sigma 2), machine `i`
// starting at the `i`th, and times to failure (mean about 300), a row a
// machine.
#[rustfmt::skip]
const PROCESSING_TIMES: [f64; 20] = [
    12.8255, 10.1437, 9.1515, 8.8916, 9.1909, 8.0042, 8.4951, 7.7695, 8.5654, 11.7758,
    11.4525, 10.7748, 7.9843, 13.9988, 9.563, 10.4841, 9.6999, 7.4904, 10.0004, 11.7745,
];
#[rustfmt::skip]
const TIMES_TO_FAILURE: [[f64; 5]; NUM_MACHINES] = [
    [75.787, 296.202, 885.279, 258.188, 151.592],
    [256.293, 223.456, 624.163, 392.184, 101.877],
    [624.981, 112.953, 356.524, 270.694, 260.175],
    [529.574, 52.82, 7.01, 904.692, 225.397],
    [47.559, 235.035, 8.224, 225.302, 1151.928],
    [443.441, 228.166, 452.952, 119.993, 75.711],
    [8.513, 98.309, 89.997, 353.805, 940.602],
    [195.045, 58.995, 466.962, 121.272, 484.069],
    [55.9, 40.759, 49.162, 705.697, 492.746],
    [238.66, 42.118, 4.304, 1061.004, 314.668],
];

fn minutes(t: f64) -> Duration {
    Duration::from_secs_f64(t * 60.0)
}

/// SimPy's `PreemptiveResource(env, capacity=1)`: one permit, granted by
/// priority (smaller first, first come first served among equals), and a
/// request more urgent than the holder's preempts it: the holder is
/// interrupted (SimPy's `Preempted` cause) and must give the permit back.
///
/// The holder is noted once its `acquire_priority` returns: a request in
/// the round between a grant and the grantee's first run finds no holder
/// and waits (SimPy would preempt the grantee). In this run the only
/// requests made in such a round are the other jobs', which preempt nothing.
struct Preemptive {
    slot: Semaphore,
    /// The priority and thread of whoever holds the slot.
    user: RefCell<Option<(i32, Thread)>>,
}

/// The slot, held; dropping it gives it back (SimPy's `with ... as req`).
struct Usage<'a> {
    resource: &'a Preemptive,
    _permit: Permit<'a>,
}

impl Preemptive {
    fn new() -> Preemptive {
        Preemptive { slot: Semaphore::new(1), user: RefCell::new(None) }
    }

    fn request(&self, priority: i32) -> Usage<'_> {
        if let Some((held, user)) = &*self.user.borrow() {
            if *held > priority {
                user.interrupt("preempted");
            }
        }
        let permit = self.slot.acquire_priority(priority);
        let me = thread::current().expect("a request is made in a green thread");
        *self.user.borrow_mut() = Some((priority, me));
        Usage { resource: self, _permit: permit }
    }
}

impl Drop for Usage<'_> {
    fn drop(&mut self) {
        // Before the permit: the next holder notes itself once it runs.
        self.resource.user.borrow_mut().take();
    }
}

/// A machine produces parts and may get broken every now and then.
///
/// If it breaks, it requests a repairman and continues the production after
/// it is repaired. A machine has a name and a number of parts made thus far.
struct Machine {
    name: String,
    index: usize,
    parts_made: Cell<u32>,
    broken: Cell<bool>,
    parts_drawn: Cell<usize>,
    failures_drawn: Cell<usize>,
}

impl Machine {
    /// Return actual processing time for a concrete part.
    fn time_per_part(&self) -> Duration {
        let k = self.index + self.parts_drawn.replace(self.parts_drawn.get() + 1);
        minutes(PROCESSING_TIMES[k % PROCESSING_TIMES.len()])
    }

    /// Return time until next failure for this machine.
    fn time_to_failure(&self) -> Duration {
        let row = TIMES_TO_FAILURE[self.index];
        let k = self.failures_drawn.replace(self.failures_drawn.get() + 1);
        minutes(row[k % row.len()])
    }

    /// Produce parts as long as the simulation runs.
    ///
    /// While making a part, the machine may break multiple times. Request a
    /// repairman when this happens.
    fn working(&self, repairman: &Preemptive) {
        loop {
            // Start making a new part.
            let mut done_in = self.time_per_part();
            while !done_in.is_zero() {
                let start = os::uptime();
                // Working on the part.
                match os::catch_interrupt(|| os::sleep(done_in)) {
                    Ok(()) => done_in = Duration::ZERO,
                    Err(Error::Interrupted(_)) => {
                        self.broken.set(true);
                        // How much time left?
                        done_in -= os::uptime() - start;
                        // Request a repairman. This will preempt its "other job".
                        {
                            let _repair = repairman.request(1);
                            os::sleep(minutes(REPAIR_TIME));
                        }
                        self.broken.set(false);
                    }
                    Err(e) => unreachable!("catch_interrupt catches interrupts only: {e}"),
                }
            }
            // Part is done.
            self.parts_made.set(self.parts_made.get() + 1);
        }
    }

    /// Break the machine every now and then.
    fn break_machine(&self, working: &Thread) {
        loop {
            os::sleep(self.time_to_failure());
            if !self.broken.get() {
                // Only break the machine if it is currently working.
                working.interrupt("broken");
            }
        }
    }
}

/// The repairman's other (unimportant) job.
fn other_jobs(repairman: &Preemptive) {
    loop {
        // Start a new job.
        let mut done_in = minutes(JOB_DURATION);
        while !done_in.is_zero() {
            // Retry the job until it is done. Its priority is lower than that
            // of machine repairs.
            let _job = repairman.request(2);
            let start = os::uptime();
            match os::catch_interrupt(|| os::sleep(done_in)) {
                Ok(()) => done_in = Duration::ZERO,
                Err(_) => done_in -= os::uptime() - start,
            }
        }
    }
}

/// Runs the simulation for `SIM_TIME`; the lines it prints.
pub fn run() -> Vec<String> {
    let mut kernel = Kernel::builder().virtual_time(true).build();
    let machines: Vec<Rc<Machine>> = (0..NUM_MACHINES)
        .map(|i| {
            Rc::new(Machine {
                name: format!("Machine {i}"),
                index: i,
                parts_made: Cell::new(0),
                broken: Cell::new(false),
                parts_drawn: Cell::new(0),
                failures_drawn: Cell::new(0),
            })
        })
        .collect();
    let shop = machines.clone();
    kernel.spawn(move || {
        let repairman = Rc::new(Preemptive::new());
        for machine in shop {
            // Start "working" and "break_machine" threads for this machine.
            let (m, r) = (machine.clone(), repairman.clone());
            let working = thread::create(move || m.working(&r));
            let working = Thread::clone(&working);
            thread::create(move || machine.break_machine(&working));
        }
        thread::create(move || other_jobs(&repairman));
    });
    // SimPy's `env.run(until=SIM_TIME)`: nothing in this run falls due at
    // exactly SIM_TIME, where SimPy stops first and `advance` runs it.
    kernel.advance(minutes(SIM_TIME));
    drop(kernel); // ends the threads that would run for ever

    // Analysis/results.
    let mut lines =
        vec!["Machine shop".to_string(), format!("Machine shop results after {WEEKS} weeks")];
    for machine in &machines {
        lines.push(format!("{} made {} parts.", machine.name, machine.parts_made.get()));
    }
    lines
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}
