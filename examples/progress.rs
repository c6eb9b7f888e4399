//! A frame loop that shows a text progress bar fed by the incremental values of
//! a job (Solara's `use_thread`), with cancel and retry driven by scripted
//! input.
//!
//! The job "downloads" ten chunks, one every 300 ms, and emits the percentage
//! after each; its second attempt fails on chunk 5. The host runs 100 ms frames
//! on the virtual clock ([`Kernel::advance`] once a frame), so the run is the
//! same every time and ends at once. Each frame it applies the inputs scripted
//! for that frame, then draws the bar from [`Job::state`] and [`Job::value`],
//! printing a line only when the picture changes. The loop ends when the script
//! is spent and the job has ended.
//!
//! ```text
//! $ cargo run --example progress
//! frame  0  [....................]   0%  running
//! frame  3  [##..................]  10%  running
//! frame  6  [####................]  20%  running
//! frame  9  [######..............]  30%  running
//! frame 11  input: cancel
//! frame 11  [######..............]  30%  cancelled
//! frame 15  input: retry
//! frame 15  [######..............]  30%  running
//! frame 18  [##..................]  10%  running
//! frame 21  [####................]  20%  running
//! frame 24  [######..............]  30%  running
//! frame 27  [########............]  40%  running
//! frame 30  [########............]  40%  error: checksum mismatch in chunk 5
//! frame 40  input: retry
//! frame 40  [########............]  40%  running
//! frame 43  [##..................]  10%  running
//! frame 46  [####................]  20%  running
//! frame 49  [######..............]  30%  running
//! frame 52  [########............]  40%  running
//! frame 55  [##########..........]  50%  running
//! frame 58  [############........]  60%  running
//! frame 61  [##############......]  70%  running
//! frame 64  [################....]  80%  running
//! frame 67  [##################..]  90%  running
//! frame 70  [####################] 100%  finished
//! 9 job_state and 17 job_value signals
//! ```
//!
//! What it shows:
//!
//! - The value is visible while the job is `running`; the state becomes
//!   `finished` only with the last one.
//! - `cancel` (frame 11) unwinds the green run at once; the bar keeps the last
//!   value, 30%.
//! - `retry` (frames 15 and 40) starts a new run. Until it emits its own first
//!   value the bar keeps the previous one (30%, then 40%): [`Job::value`] and
//!   [`Job::error`] change only when a new value or error arrives.
//! - A failed run leaves the job in `error` with the work's message, and its
//!   last value.
//! - A script could follow the same job by pulling its `"job_state"` and
//!   `"job_value"` signals; the host counts them with a kernel-wide listener.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use cothread::job::{Job, JobContext, JobState};
use cothread::{os, Kernel, Signal};

const FRAME: Duration = Duration::from_millis(100);
/// The time one chunk takes.
const CHUNK: Duration = Duration::from_millis(300);
const CHUNKS: u32 = 10;
const BAR: usize = 20;

/// What the player "presses", and on which frame.
#[derive(Debug, Clone, Copy)]
enum Input {
    Cancel,
    Retry,
}

const SCRIPT: &[(u32, Input)] = &[(11, Input::Cancel), (15, Input::Retry), (40, Input::Retry)];

/// One line of the picture: the bar, the percentage and the state.
fn draw(job: &Job<u32>) -> String {
    let percent = job.value().unwrap_or(0);
    let filled = percent as usize * BAR / 100;
    let bar = format!("{}{}", "#".repeat(filled), ".".repeat(BAR - filled));
    let state = match job.state() {
        JobState::Error => format!("error: {}", job.error().unwrap_or_default()),
        state => state.to_string(),
    };
    format!("[{bar}] {percent:>3}%  {state}")
}

fn main() {
    let mut kernel = Kernel::builder().virtual_time(true).build();

    let signals = Rc::new(Cell::new((0, 0)));
    for name in ["job_state", "job_value"] {
        let s = signals.clone();
        kernel.listen(name, move |signal: &Signal| {
            let (states, values) = s.get();
            s.set(match signal.name() {
                "job_state" => (states + 1, values),
                _ => (states, values + 1),
            });
        });
    }

    let attempts = Rc::new(Cell::new(0));
    let a = attempts.clone();
    let download = kernel.job(move |ctx: &JobContext<u32>| {
        a.set(a.get() + 1);
        let attempt = a.get();
        for chunk in 1..=CHUNKS {
            os::sleep(CHUNK); // a yield point: cancel unwinds the run here
            if attempt == 2 && chunk == 5 {
                return Err(format!("checksum mismatch in chunk {chunk}"));
            }
            ctx.emit(chunk * 100 / CHUNKS);
        }
        Ok(100)
    });

    let mut shown = String::new();
    for frame in 0.. {
        for &(_, input) in SCRIPT.iter().filter(|(at, _)| *at == frame) {
            println!("frame {frame:>2}  input: {}", format!("{input:?}").to_lowercase());
            match input {
                Input::Cancel => download.cancel(),
                Input::Retry => download.retry().expect("the kernel is alive"),
            }
        }
        let picture = draw(&download);
        if picture != shown {
            println!("frame {frame:>2}  {picture}");
            shown = picture;
        }
        let script_spent = SCRIPT.iter().all(|(at, _)| *at <= frame);
        if script_spent && download.state().is_done() {
            break;
        }
        kernel.advance(FRAME);
    }
    kernel.step(); // deliver the last frame's signals
    let (states, values) = signals.get();
    println!("{states} job_state and {values} job_value signals");
}
