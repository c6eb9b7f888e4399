//! A fixed-step simulation that embeds cothread on the virtual clock: the host
//! integrates a room's temperature in steps of 100 ms and, after each step,
//! moves the kernel's clock by the same amount with [`Kernel::advance`]. The
//! scripts see simulated time only:
//!
//! - `sensor` reads the thermometer every 250 ms and pushes a `"reading"`,
//! - `thermostat` pulls readings and commands the cooling valve (open above
//!   24 °C, close below 21 °C), and says so when the readings stop,
//! - `valve` takes 300 ms to move after each command,
//! - a timer of the program prints a report every second.
//!
//! `advance` runs each deadline at its own time (the sensor's reading at
//! 0.250 s runs at 0.250 s, inside the step from 0.2 s to 0.3 s), so the log
//! below is the same on every run. Eight simulated seconds take a few
//! milliseconds; the host then prints what the trace hook counted and the
//! thread table.
//!
//! ```text
//! $ cargo run --example simulation
//! [ 1.000] report: 23.50 °C, valve closed
//! [ 1.500] thermostat: 24.25 °C: too warm, open the valve
//! [ 1.500] valve: opening
//! [ 1.800] valve: open
//! [ 2.000] report: 24.20 °C, valve open
//! [ 3.000] report: 21.70 °C, valve open
//! [ 3.250] thermostat: 20.95 °C: cool enough, close the valve
//! [ 3.250] valve: closing
//! [ 3.550] valve: closed
//! [ 4.000] report: 20.80 °C, valve closed
//! [ 5.000] report: 22.30 °C, valve closed
//! [ 5.000] sensor: battery empty
//! [ 5.550] valve: no command for two seconds, parking
//! [ 6.000] report: 23.80 °C, valve closed
//! [ 6.000] thermostat: no reading for a second; closing the valve
//! [ 7.000] report: 25.30 °C, valve closed
//! [ 8.000] report: 26.80 °C, valve closed
//! host: 8 s simulated in 80 steps, 50 thread resumes, 26 signals delivered
//! host: #1 (program): running, 1 resumes, pull "end of simulation"
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use cothread::{event, os, thread, Kernel, Signal, Trace};

/// The host's fixed step.
const STEP: Duration = Duration::from_millis(100);
/// Simulated time.
const STEPS: u32 = 80;

/// The simulated room, shared by the host (physics) and the scripts.
#[derive(Debug)]
struct Room {
    temp: f64,
    valve_open: bool,
}

/// A log line stamped with the simulated time.
fn log(who: &str, what: impl std::fmt::Display) {
    println!("[{:6.3}] {who}: {what}", os::uptime().as_secs_f64());
}

fn start_scripts(kernel: &mut Kernel, room: &Rc<RefCell<Room>>) {
    let room = room.clone();
    kernel.spawn(move || {
        let r = room.clone();
        thread::Builder::new()
            .name("sensor")
            .spawn(move || {
                // Twenty readings, then the sensor fails.
                for _ in 0..20 {
                    os::sleep(Duration::from_millis(250));
                    let temp = r.borrow().temp;
                    event::push(Signal::new("reading").with(temp));
                }
                log("sensor", "battery empty");
            })
            .expect("a stack for the sensor");

        thread::Builder::new()
            .name("thermostat")
            .spawn(|| {
                let mut cooling = false;
                loop {
                    let Some(reading) = event::pull(Duration::from_secs(1), "reading") else {
                        log("thermostat", "no reading for a second; closing the valve");
                        event::push(Signal::new("valve").with(false));
                        return;
                    };
                    let temp = reading.arg(0).as_float().unwrap_or(f64::NAN);
                    if temp > 24.0 && !cooling {
                        log("thermostat", format_args!("{temp:.2} °C: too warm, open the valve"));
                    } else if temp < 21.0 && cooling {
                        log(
                            "thermostat",
                            format_args!("{temp:.2} °C: cool enough, close the valve"),
                        );
                    } else {
                        continue;
                    }
                    cooling = !cooling;
                    event::push(Signal::new("valve").with(cooling));
                }
            })
            .expect("a stack for the thermostat");

        let r = room.clone();
        thread::Builder::new()
            .name("valve")
            .spawn(move || {
                while let Some(command) = event::pull(Duration::from_secs(2), "valve") {
                    let open = command.arg(0).as_bool() == Some(true);
                    if r.borrow().valve_open == open {
                        continue;
                    }
                    log("valve", if open { "opening" } else { "closing" });
                    os::sleep(Duration::from_millis(300));
                    r.borrow_mut().valve_open = open;
                    log("valve", if open { "open" } else { "closed" });
                }
                log("valve", "no command for two seconds, parking");
            })
            .expect("a stack for the valve");

        let r = room.clone();
        event::timer(Duration::from_secs(1), event::Times::Forever, move || {
            let room = r.borrow();
            let valve = if room.valve_open { "open" } else { "closed" };
            log("report", format_args!("{:.2} °C, valve {valve}", room.temp));
        });
        // The program lives as long as the simulation; its timer with it.
        event::pull(None, "end of simulation");
    });
}

fn main() {
    let mut kernel = Kernel::builder().virtual_time(true).build();

    let resumes = Rc::new(Cell::new(0));
    let deliveries = Rc::new(Cell::new(0));
    let (r, d) = (resumes.clone(), deliveries.clone());
    kernel.on_trace(move |_, event| match event {
        Trace::Resume { .. } => r.set(r.get() + 1),
        Trace::Deliver { .. } => d.set(d.get() + 1),
        _ => {}
    });

    let room = Rc::new(RefCell::new(Room { temp: 22.0, valve_open: false }));
    start_scripts(&mut kernel, &room);

    for _ in 0..STEPS {
        // Physics: a heater warms the room by 1.5 °C/s; the open valve cools
        // it by 4 °C/s.
        {
            let mut room = room.borrow_mut();
            let cooling = if room.valve_open { 4.0 } else { 0.0 };
            room.temp += (1.5 - cooling) * STEP.as_secs_f64();
        }
        // Scripts: everything due during the step, each at its own time.
        kernel.advance(STEP);
    }

    println!(
        "host: {} s simulated in {STEPS} steps, {} thread resumes, {} signals delivered",
        kernel.uptime().as_secs_f64(),
        resumes.get(),
        deliveries.get()
    );
    for t in kernel.threads() {
        let name = t.name.as_deref().unwrap_or(if t.program { "(program)" } else { "-" });
        println!("host: {} {name}: {}, {} resumes, {}", t.id, t.status, t.resumes, t.waiting);
    }
    // Dropping the kernel unwinds the program that is still waiting.
}
