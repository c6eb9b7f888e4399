//! `t:kill()` from the OpenOS Thread API page: a thread stops only where it
//! blocks, so the kill catches it in its `os.sleep()` and "after sleep" never
//! comes. cothread unwinds the killed thread's stack at once, so its
//! destructors run inside `kill` ("dropped guard" below; the Lua has no such
//! line).
//!
//! ```text
//! $ cargo run --example kill
//! running
//! still running
//! before kill
//! dropped guard
//! after kill
//! ```
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! local t = thread.create(function()
//!     while true do
//!         print("running")
//!         print("still running")
//!         os.sleep()
//!         print("after sleep")
//!     end
//!     print("unreachable code")
//! end)
//! print("before kill")
//! t:kill()
//! print("after kill")
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel, Status};

/// Prints when dropped, to show that `kill` unwinds the thread's stack.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        println!("dropped guard");
    }
}

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        let t = thread::create(|| -> () {
            let _guard = Guard;
            loop {
                println!("running");
                println!("still running");
                os::sleep(Duration::ZERO);
                println!("after sleep");
            }
        });
        println!("before kill");
        t.kill();
        println!("after kill");
        assert_eq!(t.status(), Status::Dead);
    })
}
