//! A thread that fails, from the OpenOS Thread API page: a panic ends that
//! thread only; the program goes on and sees the thread "dead". The message is
//! not printed on stdout: it goes to the kernel's error reporter, which OpenOS
//! calls `event.onError` (it appends to `/tmp/event.log`) and which this host
//! sets to write to stderr: the third line below is on stderr.
//!
//! ```text
//! $ cargo run --example exception
//! p start
//! reader start
//! on_error: [thread] thread abort
//! p end dead
//! ```
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! local tty = require("tty")
//! print("p start")
//! local reader = thread.create(function()
//!     print("reader start")
//!     error("thread abort") -- throws an exception
//!     print("reader done")
//! end)
//! print("p end", reader:status())
//! ```

use cothread::{thread, Error, Kernel};

fn main() -> Result<(), Error> {
    // Rust's default panic hook would also print "thread 'main' panicked at ..."
    // with a source location; OpenOS prints nothing, so this host reports
    // script panics through `on_error` alone.
    std::panic::set_hook(Box::new(|_| {}));

    let mut kernel = Kernel::new();
    kernel.on_error(|msg| eprintln!("on_error: {msg}"));
    kernel.run(|| {
        println!("p start");
        let reader = thread::create(|| -> () {
            println!("reader start");
            panic!("thread abort");
        });
        println!("p end {}", reader.status());
        // The panic message is kept for whoever asks for the thread's value.
        assert_eq!(reader.wait(), Err(Error::Panicked("thread abort".into())));
    })
}
