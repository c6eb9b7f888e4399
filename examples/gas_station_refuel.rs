//! SimPy's "Gas Station Refueling" example, ported: cars queue for one of two
//! pumps that share one fuel reservoir; a control process calls a tank truck
//! when the reservoir runs low, and cars that find it empty wait, holding
//! their pump, until the truck has refilled it.
//!
//! SimPy's `Resource(env, 2)` is a `Semaphore::new(2)`. Its
//! `Container(env, capacity, init)` is the [`Container`] below: two
//! semaphores, one counting the litres in the tank and one the room left, so
//! that a `get` waits while there is too little fuel and a `put` while there
//! is too little room, each first come first served as in SimPy. A process
//! that waits for another (`yield env.process(tank_truck(..))`) joins a green
//! thread. SimPy's `env.run(until=SIM_TIME)` is `Kernel::advance` on the
//! virtual clock; `env.now` is that clock, in seconds.
//!
//! The random draws of SimPy's example are replaced by the fixed lists below,
//! in this port and in `examples/simpy/gas_station_refuel.py` alike, and this
//! program prints exactly what that script prints with SimPy 4.1.2
//! (`tests/simpy_ports.rs` holds its lines):
//!
//! ```text
//! $ cargo run --example gas_station_refuel
//! Gas Station refuelling
//!   87.0 s: Car 0 arrived at gas station
//!  103.5 s: Car 0 refueled with 33.0L
//!  128.0 s: Car 1 arrived at gas station
//!  150.0 s: Car 1 refueled with 44.0L
//!  191.0 s: Car 2 arrived at gas station
//!  210.5 s: Car 2 refueled with 39.0L
//!  325.0 s: Car 3 arrived at gas station
//!  338.5 s: Car 3 refueled with 27.0L
//!  377.0 s: Car 4 arrived at gas station
//!  380.0 s: Calling tank truck
//!  398.0 s: Car 4 refueled with 42.0L
//!  593.0 s: Car 5 arrived at gas station
//!  631.0 s: Car 6 arrived at gas station
//!  666.0 s: Car 7 arrived at gas station
//!  680.0 s: Tank truck arrived and refuelled station with 185.0L
//!  698.0 s: Car 5 refueled with 36.0L
//!  702.5 s: Car 6 refueled with 45.0L
//!  713.0 s: Car 7 refueled with 30.0L
//!  837.0 s: Car 8 arrived at gas station
//!  840.0 s: Calling tank truck
//!  857.5 s: Car 8 refueled with 41.0L
//!  932.0 s: Car 9 arrived at gas station
//!  951.0 s: Car 9 refueled with 38.0L
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use cothread::sync::Semaphore;
use cothread::{os, thread, Kernel};

/// Size of the gas station tank (litres).
const STATION_TANK_SIZE: usize = 200;
/// Station tank minimum level (% of full).
const THRESHOLD: f64 = 25.0;
/// Size of car fuel tanks (litres).
const CAR_TANK_SIZE: usize = 50;
/// Rate of refuelling car fuel tank (litres / second).
const REFUELING_SPEED: f64 = 2.0;
/// Time it takes tank truck to arrive (seconds).
const TANK_TRUCK_TIME: u64 = 300;
/// Simulation time (seconds).
const SIM_TIME: u64 = 1000;
// Fixed inputs in place of the random draws, one a car (taken round again if
// the lists run out): the interval before it arrives (seconds, in [30, 300])
// and its tank's level (litres, in [5, 25]).
const T_INTER: [u64; 11] = [87, 41, 63, 134, 52, 216, 38, 35, 171, 95, 249];
const CAR_TANK_LEVEL: [usize; 11] = [17, 6, 11, 23, 8, 14, 5, 20, 9, 12, 16];

/// What the simulation prints, line by line.
type Log = Rc<RefCell<Vec<String>>>;

/// SimPy's `env.now`: the virtual clock in seconds.
fn now() -> f64 {
    os::uptime().as_secs_f64()
}

/// SimPy's `Container`: an amount between 0 and a capacity, taken out and put
/// in by the unit. A get waits while the amount is too small, a put while
/// the room is; both queues are first come first served, and a request at
/// the head that cannot be met holds back the ones behind it, as SimPy's do.
struct Container {
    level: Semaphore,
    room: Semaphore,
    capacity: usize,
}

impl Container {
    fn new(capacity: usize, init: usize) -> Container {
        Container { level: Semaphore::new(init), room: Semaphore::new(capacity - init), capacity }
    }

    /// The amount in it, less what was granted to a getter that has not yet
    /// run (SimPy takes it out when it grants the get).
    fn level(&self) -> usize {
        self.level.available_permits()
    }

    fn get(&self, amount: usize) {
        self.level.acquire_many(amount).forget();
        self.room.add_permits(amount);
    }

    fn put(&self, amount: usize) {
        self.room.acquire_many(amount).forget();
        self.level.add_permits(amount);
    }
}

/// A car arrives at the gas station for refueling.
///
/// It requests one of the gas station's fuel pumps and tries to get the
/// desired amount of fuel from it. If the station's fuel tank is depleted,
/// the car has to wait for the tank truck to arrive.
fn car(name: String, gas_station: &Semaphore, station_tank: &Container, i: usize, log: &Log) {
    let car_tank_level = CAR_TANK_LEVEL[i % CAR_TANK_LEVEL.len()];
    log.borrow_mut().push(format!("{:6.1} s: {name} arrived at gas station", now()));
    // Request one of the gas pumps.
    let _pump = gas_station.acquire();
    // Get the required amount of fuel.
    let fuel_required = CAR_TANK_SIZE - car_tank_level;
    station_tank.get(fuel_required);
    // The "actual" refueling process takes some time.
    os::sleep(Duration::from_secs_f64(fuel_required as f64 / REFUELING_SPEED));
    log.borrow_mut().push(format!(
        "{:6.1} s: {name} refueled with {:.1}L",
        now(),
        fuel_required as f64
    ));
} // the pump is given back here

/// Periodically check the level of the gas station tank and call the tank
/// truck if the level falls below a threshold.
fn gas_station_control(station_tank: Rc<Container>, log: Log) {
    loop {
        let level = station_tank.level() as f64 / station_tank.capacity as f64 * 100.0;
        if level < THRESHOLD {
            // We need to call the tank truck now!
            log.borrow_mut().push(format!("{:6.1} s: Calling tank truck", now()));
            // Wait for the tank truck to arrive and refuel the station tank.
            let (tank, l) = (station_tank.clone(), log.clone());
            thread::create(move || tank_truck(&tank, &l)).join(None).expect("the truck arrives");
        }
        os::sleep(Duration::from_secs(10)); // Check every 10 seconds.
    }
}

/// Arrives at the gas station after a certain delay and refuels it.
fn tank_truck(station_tank: &Container, log: &Log) {
    os::sleep(Duration::from_secs(TANK_TRUCK_TIME));
    let amount = station_tank.capacity - station_tank.level();
    station_tank.put(amount);
    log.borrow_mut().push(format!(
        "{:6.1} s: Tank truck arrived and refuelled station with {:.1}L",
        now(),
        amount as f64
    ));
}

/// Generate new cars that arrive at the gas station.
fn car_generator(gas_station: Rc<Semaphore>, station_tank: Rc<Container>, log: Log) {
    for i in 0.. {
        os::sleep(Duration::from_secs(T_INTER[i % T_INTER.len()]));
        let (pumps, tank, l) = (gas_station.clone(), station_tank.clone(), log.clone());
        thread::create(move || car(format!("Car {i}"), &pumps, &tank, i, &l));
    }
}

/// Runs the simulation for `SIM_TIME`; the lines it prints.
pub fn run() -> Vec<String> {
    let log: Log = Rc::new(RefCell::new(vec!["Gas Station refuelling".to_string()]));
    let mut kernel = Kernel::builder().virtual_time(true).build();
    let l = log.clone();
    kernel.spawn(move || {
        let gas_station = Rc::new(Semaphore::new(2));
        let station_tank = Rc::new(Container::new(STATION_TANK_SIZE, STATION_TANK_SIZE));
        let (tank, l2) = (station_tank.clone(), l.clone());
        thread::create(move || gas_station_control(tank, l2));
        thread::create(move || car_generator(gas_station, station_tank, l));
    });
    // SimPy's `env.run(until=SIM_TIME)`: nothing in this run falls due at
    // exactly SIM_TIME, where SimPy stops first and `advance` runs it.
    kernel.advance(Duration::from_secs(SIM_TIME));
    drop(kernel); // ends the threads that would run for ever
    let lines = log.borrow().clone();
    lines
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}
