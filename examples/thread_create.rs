//! The first example of the OpenOS Thread API page: a thread starts at once, runs
//! up to its first blocking call, and the program's close waits for it.
//!
//! ```text
//! $ cargo run --example thread_create
//! Main program start
//! A
//! Main program end
//! B
//! ```
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! print("Main program start")
//! thread.create(function()
//!     print("A")
//!     os.sleep()
//!     print("B")
//! end)
//! print("Main program end")
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        println!("Main program start");
        thread::create(|| {
            println!("A");
            os::sleep(Duration::ZERO);
            println!("B");
        });
        println!("Main program end");
    })
}
