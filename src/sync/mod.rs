//! Channels and locks: ways for green threads to talk and to share, each a
//! wait source on the kernel's park and wake.
//!
//! A [signal](crate::Signal) is a broadcast that is gone once delivered: a
//! thread that is not waiting for it at that moment misses it. The
//! primitives here keep what they are given until it is taken:
//!
//! - [`channel`] and [`unbounded`]: a queue of values, many senders and many
//!   receivers; the handles are `Send` when the values are, so they also
//!   link kernels on different OS threads, and plain OS threads.
//! - [`Mutex`]: a lock around a value, handed to the longest waiter.
//! - [`Semaphore`]: a count of permits, first come first served or by
//!   priority.
//! - [`Barrier`]: `n` threads wait for each other.
//! - [`Notify`]: a wake-up that is stored when nobody waits for it.
//!
//! Every wait ends cleanly when its thread is killed, interrupted or
//! unwound by the kernel's drop: its place in the queue is given up, a
//! parked sender's value is dropped exactly once, a lock or permits handed
//! to a thread that dies before it runs are passed on. `Kernel::threads`
//! shows what each thread waits on (`sync::Mutex::lock`,
//! `sync::Receiver::recv`, ...). The blocking calls park only in a green
//! thread (a channel's also block a plain OS thread), and panic in a
//! listener or timer callback as every blocking call does; the `try_*`
//! calls work anywhere.
//!
//! ```
//! use cothread::sync::{self, Mutex};
//! use cothread::{thread, Kernel};
//! use std::rc::Rc;
//!
//! let mut kernel = Kernel::builder().virtual_time(true).build();
//! let total = kernel.run(|| {
//!     let (tx, rx) = sync::channel::<u32>(4);
//!     let sum = Rc::new(Mutex::new(0));
//!     let adders: Vec<_> = (0..2)
//!         .map(|_| {
//!             let (rx, sum) = (rx.clone(), sum.clone());
//!             thread::create(move || {
//!                 for n in &rx {
//!                     *sum.lock() += n;
//!                 }
//!             })
//!         })
//!         .collect();
//!     for n in 1..=10 {
//!         tx.send(n).unwrap();
//!     }
//!     drop(tx); // the adders' loops end once the channel is drained
//!     thread::wait_for_all(&adders, None).unwrap();
//!     let total = *sum.lock();
//!     total
//! });
//! assert_eq!(total.unwrap(), 55);
//! ```

mod barrier;
mod block;
mod channel;
mod error;
mod mutex;
mod notify;
mod queue;
mod select;
mod semaphore;

pub use barrier::{Barrier, BarrierWaitResult};
pub use channel::{channel, unbounded, IntoIter, Iter, Receiver, Sender, TryIter};
pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use mutex::{Mutex, MutexGuard};
pub use notify::Notify;
pub use select::{Case, Select};
pub use semaphore::{Permit, Semaphore};
