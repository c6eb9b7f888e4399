//! A thread that suspends itself, from the OpenOS Thread API page: it stops at
//! `suspend()` and nobody resumes it. The program's close joins it, a join
//! counts a suspended thread as finished and kills it, so the program ends and
//! nothing after "start" is printed.
//!
//! ```text
//! $ cargo run --example suspend
//! start
//! ```
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
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel, Status};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    let t = kernel.run(|| {
        // `thread::current()` is the thread's own handle: no upvalue needed.
        let t = thread::create(|| {
            println!("start");
            let me = thread::current().expect("called inside a thread");
            me.suspend().expect("a running thread can be suspended");
            println!("after suspend");
            os::sleep(Duration::ZERO);
            println!("after sleep");
        });
        t.thread() // hand a plain `Thread` handle out to the host
    })?;
    // The program's close joined `t`; a join kills a suspended thread.
    assert_eq!(t.status(), Status::Dead);
    Ok(())
}
