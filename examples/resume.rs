//! Suspend and resume, from the OpenOS Thread API page: the thread suspends
//! itself, the program resumes it, and the thread runs again only when the
//! program next blocks (here: at its close, which joins the thread).
//!
//! ```text
//! $ cargo run --example resume
//! start
//! outside thread create
//! after resume
//! after suspend
//! after sleep
//! ```
//!
//! The page prints "after suspend" before "after resume"; the real OpenOS code
//! prints them the other way round, and so does cothread: `resume` only marks
//! the thread runnable, it does not switch to it.
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! local t -- this example needs an upvalue to t
//! t = thread.create(function()
//!     print("start")
//!     thread.current():suspend()
//!     print("after suspend")
//!     os.sleep()
//!     print("after sleep")
//! end)
//! print("outside thread create")
//! t:resume()
//! print("after resume")
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        let t = thread::create(|| {
            println!("start");
            let me = thread::current().expect("called inside a thread");
            me.suspend().expect("a running thread can be suspended");
            println!("after suspend");
            os::sleep(Duration::ZERO);
            println!("after sleep");
        });
        println!("outside thread create");
        t.resume()?;
        println!("after resume");
        Ok(())
    })?
}
