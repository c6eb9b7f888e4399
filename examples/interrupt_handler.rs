//! The interrupt handler example of the OpenOS Thread API page: one thread
//! waits for the soft interrupt (the user's `^C`) to clean up, another reads
//! input; whichever ends first ends the program with `os.exit`, which kills
//! the other.
//!
//! Here the host plays the user: it starts the program with `Kernel::spawn`,
//! prints "^c" where the user would type it and calls `Kernel::interrupt()`,
//! which pushes the `"interrupted"` signal, then steps the kernel until the
//! program has ended. `io.read()` is a pull of `"key_down"`, and no key comes.
//!
//! ```text
//! $ cargo run --example interrupt_handler
//! main program
//! input: ^c
//! cleaning up resources
//! ```
//!
//! The Lua original:
//!
//! ```lua
//! local thread = require("thread")
//! local event = require("event")
//! local cleanup_thread = thread.create(function()
//!     event.pull("interrupted")
//!     print("cleaning up resources")
//! end)
//! local main_thread = thread.create(function()
//!     print("main program")
//!     while true do
//!         io.write("input: ")
//!         io.read()
//!     end
//! end)
//! thread.waitForAny({cleanup_thread, main_thread})
//! os.exit(0) -- closes all remaining threads
//! ```

use std::io::Write;

use cothread::{event, os, thread, Error, Kernel};

fn main() -> Result<(), Error> {
    let mut kernel = Kernel::new();
    // Runs the program up to its first blocking call: both threads now wait.
    let program = kernel.spawn(|| {
        let cleanup_thread = thread::create(|| {
            event::pull(None, "interrupted");
            println!("cleaning up resources");
        });
        let main_thread = thread::create(|| -> () {
            println!("main program");
            loop {
                print!("input: ");
                std::io::stdout().flush().expect("stdout is writable");
                event::pull(None, "key_down"); // io.read()
            }
        });
        thread::wait_for_any([&cleanup_thread, &main_thread], None).expect("no timeout was given");
        os::exit(); // kills main_thread, still waiting for input
    });

    println!("^c");
    kernel.interrupt();
    while kernel.step().alive {}

    // `os::exit` is how this program ends: that is its normal outcome.
    match program.wait() {
        Err(Error::Exited) => Ok(()),
        other => other,
    }
}
