//! SimPy's "Bank renege" example, ported: one counter, customers who give up
//! (renege) when their patience runs out before the counter is theirs.
//!
//! SimPy's `Resource(env, capacity=1)` is a `Semaphore::new(1)`, and its
//! `yield req | env.timeout(patience)` is `acquire_timeout(patience)`: `None`
//! when the patience ran out first (the request is withdrawn, as SimPy's
//! `with` cancels it). Each SimPy process is a green thread; `env.now` is the
//! kernel's virtual clock, in seconds.
//!
//! The random draws of SimPy's example are replaced by the fixed lists below,
//! in this port and in `examples/simpy/bank_renege.py` alike, and this program
//! prints exactly what that script prints with SimPy 4.1.2
//! (`tests/simpy_ports.rs` holds its lines):
//!
//! ```text
//! $ cargo run --example bank_renege
//! Bank renege
//!  0.0000 Customer00: Here I am
//!  0.0000 Customer00: Waited  0.000
//!  3.8600 Customer00: Finished
//! 10.2010 Customer01: Here I am
//! 10.2010 Customer01: Waited  0.000
//! 12.7270 Customer02: Here I am
//! 13.6010 Customer03: Here I am
//! 14.3140 Customer01: Finished
//! 14.3140 Customer02: Waited  1.587
//! 14.7740 Customer03: RENEGED after  1.173
//! 23.7560 Customer02: Finished
//! 35.8740 Customer04: Here I am
//! 35.8740 Customer04: Waited  0.000
//! 38.5340 Customer04: Finished
//! 41.3550 Customer05: Here I am
//! 41.3550 Customer05: Waited  0.000
//! 42.6620 Customer06: Here I am
//! 44.0710 Customer06: RENEGED after  1.409
//! 44.1420 Customer05: Finished
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use cothread::sync::Semaphore;
use cothread::{os, thread, Kernel};

/// Total number of customers.
const NEW_CUSTOMERS: usize = 7;
// Fixed inputs in place of the random draws, one a customer (seconds).
const ARRIVAL_INTERVALS: [f64; NEW_CUSTOMERS] = [10.201, 2.526, 0.874, 22.273, 5.481, 1.307, 0.912];
const PATIENCE: [f64; NEW_CUSTOMERS] = [1.634, 2.815, 2.179, 1.173, 2.952, 1.468, 1.409];
const TIME_IN_BANK: [f64; NEW_CUSTOMERS] = [3.86, 4.113, 9.442, 2.961, 2.66, 2.787, 5.318];

/// What the simulation prints, line by line.
type Log = Rc<RefCell<Vec<String>>>;

/// SimPy's `env.now`: the virtual clock in seconds.
fn now() -> f64 {
    os::uptime().as_secs_f64()
}

fn secs(t: f64) -> Duration {
    Duration::from_secs_f64(t)
}

/// Customer arrives, is served and leaves.
fn customer(name: String, counter: &Semaphore, i: usize, log: &Log) {
    let arrive = now();
    log.borrow_mut().push(format!("{arrive:7.4} {name}: Here I am"));
    // Wait for the counter or abort at the end of our tether.
    match counter.acquire_timeout(secs(PATIENCE[i])) {
        Some(_counter) => {
            // We got to the counter.
            let wait = now() - arrive;
            log.borrow_mut().push(format!("{:7.4} {name}: Waited {wait:6.3}", now()));
            os::sleep(secs(TIME_IN_BANK[i]));
            log.borrow_mut().push(format!("{:7.4} {name}: Finished", now()));
        } // the counter is released here
        None => {
            // We reneged.
            let wait = now() - arrive;
            log.borrow_mut().push(format!("{:7.4} {name}: RENEGED after {wait:6.3}", now()));
        }
    }
}

/// Runs the simulation to its end; the lines it prints.
pub fn run() -> Vec<String> {
    let log: Log = Rc::new(RefCell::new(vec!["Bank renege".to_string()]));
    let mut kernel = Kernel::builder().virtual_time(true).build();
    let l = log.clone();
    // The program is SimPy's `source`; `run` returns once every customer it
    // created has left (SimPy's `env.run()` without `until`).
    kernel
        .run(move || {
            let counter = Rc::new(Semaphore::new(1));
            for (i, interval) in ARRIVAL_INTERVALS.into_iter().enumerate() {
                let (counter, l) = (counter.clone(), l.clone());
                thread::create(move || customer(format!("Customer{i:02}"), &counter, i, &l));
                os::sleep(secs(interval));
            }
        })
        .expect("the simulation ends");
    let lines = log.borrow().clone();
    lines
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}
