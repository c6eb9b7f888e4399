//! The soundness checks that need a peer runtime's code on a green stack (the
//! rest are in tests/soundness.rs, which needs no dependency). They live in
//! this package so that the library's own dev-dependencies stay empty.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::{child_succeeds, heap_is_intact, in_child, recurse};
use cothread::{thread, Error, Kernel};

/// A waker that does nothing, to poll a future by hand.
struct NoWake;

impl std::task::Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

#[test]
#[ignore = "run in a child process"]
fn child_overflow_with_a_pinned_waiter() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    if !in_child() {
        return;
    }
    let notify = Arc::new(tokio::sync::Notify::new());
    let n = notify.clone();
    let mut k = Kernel::builder().virtual_time(true).stack_size(64 * 1024).stack_pool(0).build();
    let result = k.run(move || {
        thread::create(move || {
            // An intrusive list node on the green stack, linked into `n`.
            let mut waiter = std::pin::pin!(n.notified());
            waiter.as_mut().enable();
            recurse(0)
        })
        .wait()
    });
    assert_eq!(result, Ok(Err(Error::StackOverflow)));
    assert_eq!(k.quarantined_stacks(), 1, "the discarded stack is kept");
    // The list still holds the node on the kept stack; walking it is safe,
    // and a waiter of the host's is woken with it.
    let mut host = std::pin::pin!(notify.notified());
    host.as_mut().enable();
    notify.notify_waiters();
    let waker = Waker::from(Arc::new(NoWake));
    assert_eq!(host.as_mut().poll(&mut Context::from_waker(&waker)), Poll::Ready(()));
    notify.notify_waiters();
    heap_is_intact();
    println!("child finished");
}

/// r04 of the soundness reproducers (tests/soundness.rs has the others): a pinned `tokio::sync::Notify` waiter (an
/// intrusive list node) lives on a green stack that overflows, so its
/// destructor never unlinks it. The thread ends `Err(Error::StackOverflow)`,
/// its stack is quarantined, and `notify_waiters` walks the list safely (it
/// used to walk freed memory) and wakes the host's own waiter.
#[test]
fn an_overflow_with_a_pinned_waiter_keeps_the_waiters_stack() {
    child_succeeds("child_overflow_with_a_pinned_waiter");
}
