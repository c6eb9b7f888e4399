//! `thread.waitForAll` from the OpenOS Thread API page: the program blocks until
//! every listed thread is done, so "B" comes before "Main program end".
//!
//! ```text
//! $ cargo run --example wait_for_all
//! Main program start
//! A
//! B
//! Main program end
//! ```
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! print("Main program start")
//! local t = thread.create(function(a, b)
//!     print(a)
//!     os.sleep()
//!     print(b)
//! end, 'A', 'B')
//! thread.waitForAll({t})
//! print("Main program end")
//! ```

use std::time::Duration;

use cothread::{os, thread, Kernel};

fn main() -> Result<(), cothread::Error> {
    let mut kernel = Kernel::new();
    kernel.run(|| {
        println!("Main program start");
        let (a, b) = ("A", "B"); // Lua's extra arguments to `thread.create`
        let t = thread::create(move || {
            println!("{a}");
            os::sleep(Duration::ZERO);
            println!("{b}");
        });
        thread::wait_for_all([&t], None)?;
        println!("Main program end");
        Ok(())
    })?
}
