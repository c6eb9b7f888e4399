//! The second `t:status()` example of the OpenOS Thread API page: a suspended
//! thread stays "suspended" while the program sleeps, and `resume` makes it
//! "running" again. The Lua sleeps 10 seconds; this port sleeps 100 ms.
//!
//! ```text
//! $ cargo run --example status_suspended
//! before sleep
//! suspended
//! suspended
//! after resume
//! running
//! after sleep
//! ```
//!
//! The page ends with "dead"; the real OpenOS code prints "running" and then
//! the thread's "after sleep", and so does cothread: `resume` does not run the
//! thread, it runs when the program next blocks (here: at its close).
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
//! t:suspend()
//! print(t:status())
//! os.sleep(10)
//! print(t:status())
//! t:resume()
//! print("after resume")
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
        t.suspend()?;
        println!("{}", t.status());
        // The thread's sleep falls due during this one; suspended, it misses
        // the wake-up until it is resumed.
        os::sleep(Duration::from_millis(100));
        println!("{}", t.status());
        t.resume()?;
        println!("after resume");
        println!("{}", t.status());
        Ok(())
    })?
}
