//! `thread.waitForAny` from the OpenOS Thread API page: the program goes on once
//! one listed thread is done.
//!
//! ```text
//! $ cargo run --example wait_for_any
//! Main program start
//! A
//! C
//! B
//! D
//! Main program end
//! ```
//!
//! The page prints "Main program end" before "D" and warns that the order is
//! not specified; the real OpenOS code prints "D" first, and so does cothread.
//! `t1` ends in the round in which `t2` takes its second `os.sleep()`; the join
//! that waits on `t1` is woken in the round after, where `t2` prints "D" before
//! the joins are woken.
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! print("Main program start")
//! local t1 = thread.create(function(a, b)
//!     print(a)
//!     os.sleep()
//!     print(b)
//! end, 'A', 'B')
//! local t2 = thread.create(function(c, d)
//!     print(c)
//!     os.sleep()
//!     os.sleep()
//!     print(d)
//! end, 'C', 'D')
//! thread.waitForAny({t1, t2})
//! print("Main program end")
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        println!("Main program start");
        let (a, b) = ("A", "B");
        let t1 = thread::create(move || {
            println!("{a}");
            os::sleep(Duration::ZERO);
            println!("{b}");
        });
        let (c, d) = ("C", "D");
        let t2 = thread::create(move || {
            println!("{c}");
            os::sleep(Duration::ZERO);
            os::sleep(Duration::ZERO);
            println!("{d}");
        });
        thread::wait_for_any([&t1, &t2], None)?;
        println!("Main program end");
        Ok(())
    })?
}
