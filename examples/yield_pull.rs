//! The yield/pull example of the OpenOS Thread API page: inside a thread,
//! `coroutine.yield()` (cothread: `thread::yield_now()`) and `event.pull()`
//! both wait for the next signal without blocking the program.
//!
//! ```text
//! $ cargo run --example yield_pull
//! done
//! custom_event_a
//! custom_event_b 2
//! ```
//!
//! The page prints "custom_event_a" before "done"; the real OpenOS code prints
//! "done" first, and so does cothread: `event.push` only queues the signal, and
//! the thread receives it when the program blocks (here: at its close).
//!
//! The Lua original:
//!
//! ```lua
//! local event = require("event")
//! local thread = require("thread")
//! thread.create(function()
//!     a,b,c,d,e,f,g = coroutine.yield()
//!     print(a,b,c,d,e,f,g)
//!     print(event.pull())
//! end)
//! event.push("custom_event_a")
//! print("done")
//! event.push("custom_event_b", 2)
//! ```

use cothread::{event, thread, Filter, Kernel, Signal};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        thread::create(|| {
            // `None` only while the thread is being killed.
            if let Some(signal) = thread::yield_now() {
                println!("{signal}"); // a `Signal` prints as its name and arguments
            }
            if let Some(signal) = event::pull(None, Filter::any()) {
                println!("{signal}");
            }
        });
        event::push(Signal::new("custom_event_a"));
        println!("done");
        event::push(Signal::new("custom_event_b").with(2));
    })
}
