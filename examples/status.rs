//! `t:status()` from the OpenOS Thread API page: a thread blocked in
//! `os.sleep()` is still "running".
//!
//! ```text
//! $ cargo run --example status
//! before sleep
//! running
//! after sleep
//! ```
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! local t = thread.create(function()
//!     print("before sleep")
//!     os.sleep()
//!     print("after sleep")
//! end)
//! print(t:status())
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        let t = thread::create(|| {
            println!("before sleep");
            os::sleep(Duration::ZERO);
            println!("after sleep");
        });
        println!("{}", t.status()); // `Status` displays as OpenOS names it
    })
}
