//! An automation host that embeds cothread: the kernel blocks in
//! [`Kernel::run`] while another OS thread feeds it lines as `"line"` signals
//! through a [`SignalSender`](cothread::SignalSender). Scripts react to them:
//!
//! - `shell` runs the commands `set NAME VALUE`, `get NAME`,
//!   `after SECONDS TEXT` (a reminder thread that sleeps, then prints) and
//!   `quit`;
//! - `alarm` watches `set temp ...` and warns above 30;
//! - `watchdog` complains when no line has come for ten seconds.
//!
//! The host counts the lines with a kernel-wide listener. When no script is
//! ready the kernel sleeps in the OS; a push wakes it at once. On `quit` every
//! script ends, the program waits for its pending reminders, and `run`
//! returns.
//!
//! When stdin is a terminal, the feeder reads it line by line until `quit` or
//! end of input (`^D`). Otherwise (`cargo run --example automation < /dev/null`,
//! or under a test runner) it feeds a scripted list, and the output is:
//!
//! ```text
//! $ cargo run --example automation < /dev/null
//! > set temp 21
//! shell: temp = 21
//! > get temp
//! shell: temp is 21
//! > after 0.2 check the oven
//! shell: reminder in 0.2 s
//! > set temp 35
//! shell: temp = 35
//! alarm: temp 35 is above 30!
//! > set temp 28
//! shell: temp = 28
//! alarm: temp back to normal
//! > get humidity
//! shell: humidity is not set
//! > frobnicate
//! shell: unknown command "frobnicate"
//! > quit
//! shell: bye
//! reminder: check the oven
//! host: 8 lines, the scripts have ended
//! ```

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::rc::Rc;
use std::time::Duration;

use cothread::{event, os, thread, Error, Kernel, Signal, SignalSender};

/// What the feeder types when stdin is not a terminal.
const SCRIPT: &[&str] = &[
    "set temp 21",
    "get temp",
    "after 0.2 check the oven",
    "set temp 35",
    "set temp 28",
    "get humidity",
    "frobnicate",
    "quit",
];

/// The feeder: runs on its own OS thread and pushes each line into the kernel.
fn feed(sender: SignalSender) {
    let push = |line: &str| {
        // Err only if the kernel is gone: then nobody is listening anyway.
        sender.push(Signal::new("line").with(line)).is_ok()
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("commands: set NAME VALUE, get NAME, after SECONDS TEXT, quit");
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim();
            if !push(line) || line == "quit" {
                return;
            }
        }
        push("quit"); // end of input
    } else {
        for line in SCRIPT {
            push(line);
        }
    }
}

/// The next line, as text.
fn next_line() -> String {
    let line = event::pull(None, "line").expect("no timeout: a line comes");
    line.arg(0).to_string()
}

fn shell() {
    let mut vars = BTreeMap::new();
    loop {
        let line = next_line();
        println!("> {line}");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["set", name, value] => {
                vars.insert(name.to_string(), value.to_string());
                println!("shell: {name} = {value}");
            }
            ["get", name] => match vars.get(*name) {
                Some(value) => println!("shell: {name} is {value}"),
                None => println!("shell: {name} is not set"),
            },
            ["after", seconds, text @ ..] if seconds.parse::<f64>().is_ok() => {
                let delay = Duration::from_secs_f64(seconds.parse::<f64>().unwrap_or(0.0).max(0.0));
                let text = text.join(" ");
                println!("shell: reminder in {seconds} s");
                // The reminder belongs to the shell: when the shell returns,
                // its close waits for the reminder.
                thread::Builder::new()
                    .name("reminder")
                    .spawn(move || {
                        os::sleep(delay);
                        println!("reminder: {text}");
                    })
                    .expect("a stack for the reminder");
            }
            ["quit"] => {
                println!("shell: bye");
                return;
            }
            [] => {}
            _ => println!("shell: unknown command {line:?}"),
        }
    }
}

fn alarm() {
    let mut alarmed = false;
    loop {
        let line = next_line();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["set", "temp", value] => match value.parse::<f64>() {
                Ok(t) if t > 30.0 && !alarmed => {
                    alarmed = true;
                    println!("alarm: temp {value} is above 30!");
                }
                Ok(t) if t <= 30.0 && alarmed => {
                    alarmed = false;
                    println!("alarm: temp back to normal");
                }
                _ => {}
            },
            ["quit"] => return,
            _ => {}
        }
    }
}

fn watchdog() {
    loop {
        match event::pull(Duration::from_secs(10), "line") {
            Some(line) if line.arg(0).as_str() == Some("quit") => return,
            Some(_) => {}
            None => println!("watchdog: no input for ten seconds"),
        }
    }
}

fn main() -> Result<(), Error> {
    let mut kernel = Kernel::new();

    // A kernel-wide listener: the host's own view of the input.
    let lines = Rc::new(Cell::new(0));
    let counted = lines.clone();
    kernel.listen("line", move |_: &Signal| counted.set(counted.get() + 1));

    // The sender moves to the feeder; when the feeder ends, it is dropped.
    let feeder = {
        let sender = kernel.signal_sender();
        std::thread::spawn(move || feed(sender))
    };

    // Blocks until the program has closed: its body starts the scripts, and
    // its close waits for them (and their reminders) to end.
    kernel.run(|| {
        let scripts = [("shell", shell as fn()), ("alarm", alarm), ("watchdog", watchdog)];
        for (name, script) in scripts {
            thread::Builder::new().name(name).spawn(script).expect("a stack for a script");
        }
    })?;

    feeder.join().expect("the feeder does not panic");
    println!("host: {} lines, the scripts have ended", lines.get());
    Ok(())
}
