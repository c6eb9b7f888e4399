//! A 60 Hz game loop that embeds cothread: each frame the host pushes the
//! frame's input as signals, steps the kernel with a budget
//! ([`Kernel::step_for`]) and renders the state of four scripted actors:
//!
//! - a guard on patrol, walking one tile every 15 frames and back,
//! - a door that waits for the `E` key, stays open 45 frames, then closes,
//! - a beacon blinking on an [`event::timer`] every half second,
//! - a path planner that, once asked, grinds through 40 slices of work,
//!   yielding after each one: a busy script that the budget of four resumes a
//!   frame keeps from eating the frame, and that cannot starve the others.
//!
//! The kernel runs on the real clock and the loop sleeps to the next frame, as
//! a game does; 120 frames take two seconds. Scripts count frames by pulling
//! the `"frame"` signal the host pushes, so what they do is the same on every
//! run; the beacon's timer runs on the clock, and the loop renders well away
//! from its ticks. After the last frame the host prints the kernel's thread
//! table, then drops the kernel, which unwinds the actors.
//!
//! ```text
//! $ cargo run --example game_loop
//! frame   8 | guard G.... | door closed | beacon off | planner  0/40 | resumes 1
//! frame  20: planner: asked for a path
//! frame  23 | guard .G... | door closed | beacon off | planner 12/40 | resumes 4
//! frame  33: planner: path found
//! frame  38 | guard ..G.. | door closed | beacon on  | planner 40/40 | resumes 1
//! frame  50: door: key E, opening
//! frame  53 | guard ...G. | door open   | beacon on  | planner 40/40 | resumes 2
//! frame  68 | guard ....G | door open   | beacon off | planner 40/40 | resumes 2
//! frame  83 | guard ...G. | door open   | beacon off | planner 40/40 | resumes 2
//! frame  94: door: closing
//! frame  98 | guard ..G.. | door closed | beacon on  | planner 40/40 | resumes 1
//! frame 113 | guard .G... | door closed | beacon on  | planner 40/40 | resumes 1
//!
//! ps after 120 frames:
//!   #1   (program) running   resumes 1    signals 0    pull "quit"
//!   #2   guard     running   resumes 121  signals 120  pull "frame"
//!   #3   door      running   resumes 47   signals 46   pull "key_down" with arg 0 = Str("E")
//!   #4   beacon    running   resumes 1    signals 0    pull "quit"
//! ```
//!
//! The planner gets three of the four resumes of each frame (the guard takes
//! the fourth), so its 40 slices take 14 frames; the guard, the door and the
//! beacon keep their pace meanwhile.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use cothread::{event, os, thread, Budget, Filter, Kernel, Signal};

const FRAMES: u32 = 120;
const FRAME: Duration = Duration::from_nanos(1_000_000_000 / 60);
/// Thread resumes a frame may spend on scripts.
const BUDGET: usize = 4;
const PLANNER_SLICES: u32 = 40;

/// What the renderer draws: the actors write it, the host reads it.
#[derive(Default)]
struct World {
    frame: u32,
    guard_x: usize,
    door_open: bool,
    beacon_on: bool,
    planner_done: u32,
}

/// Waits for `n` frames by pulling the host's `"frame"` signal.
fn wait_frames(n: u32) {
    for _ in 0..n {
        event::pull(None, "frame");
    }
}

/// Starts a named actor thread.
fn actor(name: &str, script: impl FnOnce() + 'static) {
    thread::Builder::new().name(name).spawn(script).expect("a stack for an actor");
}

fn spawn_actors(kernel: &mut Kernel, world: &Rc<RefCell<World>>) {
    let world = world.clone();
    kernel.spawn(move || {
        let w = world.clone();
        actor("guard", move || {
            let route = [1, 2, 3, 4, 3, 2, 1, 0];
            for x in route.iter().cycle() {
                wait_frames(15);
                w.borrow_mut().guard_x = *x;
            }
        });

        let w = world.clone();
        actor("door", move || loop {
            event::pull(None, Filter::name("key_down").arg(0, "E"));
            println!("frame {:3}: door: key E, opening", w.borrow().frame);
            w.borrow_mut().door_open = true;
            wait_frames(45);
            w.borrow_mut().door_open = false;
            println!("frame {:3}: door: closing", w.borrow().frame);
        });

        let w = world.clone();
        actor("beacon", move || {
            event::timer(Duration::from_millis(500), event::Times::Forever, move || {
                let mut world = w.borrow_mut();
                world.beacon_on = !world.beacon_on;
            });
            event::pull(None, "quit"); // the timer lives as long as its thread
        });

        let w = world.clone();
        actor("planner", move || {
            event::pull(None, "plan");
            println!("frame {:3}: planner: asked for a path", w.borrow().frame);
            for slice in 1..=PLANNER_SLICES {
                std::hint::black_box((0..1000u64).sum::<u64>()); // a slice of work
                w.borrow_mut().planner_done = slice;
                os::sleep(Duration::ZERO); // yield: the rest waits for the next turn
            }
            println!("frame {:3}: planner: path found", w.borrow().frame);
        });

        event::pull(None, "quit");
    });
}

fn render(world: &World, resumes: usize) {
    let mut lane = ['.'; 5];
    lane[world.guard_x] = 'G';
    println!(
        "frame {:3} | guard {} | door {} | beacon {} | planner {:2}/{PLANNER_SLICES} | resumes {resumes}",
        world.frame,
        lane.iter().collect::<String>(),
        if world.door_open { "open  " } else { "closed" },
        if world.beacon_on { "on " } else { "off" },
        world.planner_done,
    );
}

fn main() {
    let mut kernel = Kernel::new();
    let world = Rc::new(RefCell::new(World::default()));
    spawn_actors(&mut kernel, &world);

    let start = Instant::now();
    for frame in 1..=FRAMES {
        world.borrow_mut().frame = frame;
        // The frame's input, as the engine would collect it.
        match frame {
            20 => kernel.push_signal(Signal::new("plan")),
            50 => kernel.push_signal(Signal::new("key_down").with("E")),
            _ => {}
        }
        kernel.push_signal(Signal::new("frame").with(frame));
        let report = kernel.step_for(Budget::Resumes(BUDGET));
        // Render between the beacon's ticks (every 30 frames), never on one.
        if frame % 15 == 8 {
            render(&world.borrow(), report.resumes);
        }
        // Sleep to the next frame, as vsync would.
        let next = start + FRAME * frame;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }

    println!("\nps after {FRAMES} frames:");
    for t in kernel.threads() {
        println!(
            "  {:<4} {:<9} {:<9} resumes {:<4} signals {:<4} {}",
            t.id.to_string(),
            t.name.as_deref().unwrap_or(if t.program { "(program)" } else { "-" }),
            t.status.to_string(),
            t.resumes,
            t.signals,
            t.waiting,
        );
    }
    // Dropping the kernel unwinds every actor still alive.
}
