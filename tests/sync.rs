//! `cothread::sync`: channels, Mutex, Semaphore, Barrier and Notify, rule by
//! rule. Every test runs on the virtual clock; the cross-thread tests assert
//! outcomes only, never time.

mod common;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use common::{kernel, secs, Drops, Out};
use cothread::sync::{
    self, Barrier, Mutex, Notify, RecvError, RecvTimeoutError, Semaphore, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
use cothread::{event, os, thread, Error, Kernel, Signal, Status, Value, Waiting};

/// Runs `program` on a virtual-clock kernel with an `Out` to print to;
/// gives the lines it printed.
fn printed(program: impl FnOnce(Out) + 'static) -> Vec<String> {
    let out = Out::new();
    let o = out.clone();
    kernel().run(move || program(o)).unwrap();
    out.lines()
}

fn waiting(kernel: &Kernel) -> Vec<String> {
    kernel.threads().iter().map(|t| t.waiting.to_string()).collect()
}

// ---- channels ----

#[test]
fn values_arrive_in_the_order_they_were_sent_and_waiting_receivers_are_served_in_turn() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded();
        let readers: Vec<_> = ["r1", "r2", "r3"]
            .into_iter()
            .map(|name| {
                let (rx, o) = (rx.clone(), o.clone());
                thread::create(move || o.print(format!("{name} got {}", rx.recv().unwrap())))
            })
            .collect();
        for v in 1..=3 {
            tx.send(v).unwrap();
        }
        thread::wait_for_all(&readers, None).unwrap();
        for v in 4..=6 {
            tx.send(v).unwrap();
        }
        o.print(format!("{:?}", rx.try_iter().collect::<Vec<_>>()));
    });
    assert_eq!(lines, ["r1 got 1", "r2 got 2", "r3 got 3", "[4, 5, 6]"]);
}

#[test]
fn a_bounded_send_waits_while_the_channel_is_full_and_senders_are_served_in_turn() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel(1);
        tx.send(0).unwrap();
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let (tx, o) = (tx.clone(), o.clone());
                thread::create(move || {
                    tx.send(v).unwrap();
                    o.print(format!("sent {v} at {:?}", os::uptime()));
                })
            })
            .collect();
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)), "no overtaking");
        for _ in 0..3 {
            os::sleep(secs(1));
            o.print(format!("got {}", rx.recv().unwrap()));
        }
        thread::wait_for_all(&senders, None).unwrap();
    });
    assert_eq!(lines, ["got 0", "sent 1 at 1s", "got 1", "sent 2 at 2s", "got 2"]);
}

#[test]
fn a_zero_capacity_channel_is_a_rendezvous() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<&str>(0);
        assert_eq!(tx.try_send("x"), Err(TrySendError::Full("x")), "nobody waits");
        let o2 = o.clone();
        let sender = thread::create(move || {
            tx.send("hello").unwrap();
            o2.print(format!("sent at {:?}", os::uptime()));
            tx
        });
        os::sleep(secs(2));
        assert!(rx.is_empty(), "nothing is buffered");
        o.print(format!("got {} at {:?}", rx.recv().unwrap(), os::uptime()));
        let tx = sender.wait().unwrap();
        // A waiting receiver makes try_send succeed.
        let r = thread::create(move || rx.recv().unwrap());
        assert_eq!(tx.try_send("direct"), Ok(()));
        o.print(r.wait().unwrap());
    });
    assert_eq!(lines, ["got hello at 2s", "sent at 2s", "direct"]);
}

#[test]
fn try_calls_tell_full_and_empty_from_disconnected() {
    let (tx, rx) = sync::channel(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(1).unwrap();
    assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    drop(rx);
    assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    assert_eq!(tx.send(4), Err(SendError(4)));
    let (tx, rx) = sync::unbounded();
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv(), Err(RecvError));
}

#[test]
fn timeouts_hand_the_value_back_and_withdraw_the_wait() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel(1);
        tx.send(1).unwrap();
        assert_eq!(tx.send_timeout(2, secs(1)), Err(SendTimeoutError::Timeout(2)));
        o.print(format!("send timed out at {:?}", os::uptime()));
        assert_eq!(rx.recv(), Ok(1));
        assert!(rx.is_empty(), "the timed-out value is not in the channel");
        assert_eq!(rx.recv_timeout(secs(1)), Err(RecvTimeoutError::Timeout));
        o.print(format!("recv timed out at {:?}", os::uptime()));
        // A timed-out receiver is out of the queue: the next value goes to
        // the one waiting now, not to the ghost.
        let rx2 = rx.clone();
        let late = thread::create(move || rx2.recv_timeout(secs(10)));
        tx.send(3).unwrap();
        o.print(format!("{:?}", late.wait().unwrap()));
        assert_eq!(tx.send_timeout(4, Duration::ZERO), Ok(()));
        assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(4));
    });
    assert_eq!(lines, ["send timed out at 1s", "recv timed out at 2s", "Ok(3)"]);
}

#[test]
fn the_last_sender_or_receiver_going_away_ends_the_waits_on_the_other_side() {
    let lines = printed(|o| {
        // Receivers: what was sent is received first, then RecvError.
        let (tx, rx) = sync::unbounded::<u8>();
        let (rx1, o1) = (rx.clone(), o.clone());
        let reader = thread::create(move || {
            let got: Vec<_> = rx1.iter().collect();
            o1.print(format!("reader got {got:?} then {:?}", rx1.recv()));
        });
        tx.send(7).unwrap();
        os::sleep(secs(1));
        drop(tx);
        reader.join(None).unwrap();
        // Senders: each parked sender gets its value back.
        let (tx, rx) = sync::channel::<String>(0);
        let senders: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|v| {
                let (tx, o) = (tx.clone(), o.clone());
                thread::create(move || {
                    let back = tx.send(v.to_string()).unwrap_err().into_inner();
                    o.print(format!("{back} came back at {:?}", os::uptime()));
                })
            })
            .collect();
        os::sleep(secs(1));
        drop(rx);
        thread::wait_for_all(&senders, None).unwrap();
        assert!(tx.is_disconnected());
    });
    assert_eq!(
        lines,
        ["reader got [7] then Err(RecvError)", "a came back at 2s", "b came back at 2s"]
    );
}

#[test]
fn a_killed_sender_drops_its_parked_value_exactly_once() {
    let drops = Drops::new();
    let d = drops.clone();
    kernel()
        .run(move || {
            let (tx, rx) = sync::channel(1);
            tx.send(d.guard()).unwrap();
            let (tx2, d2) = (tx.clone(), d.clone());
            let sender = thread::create(move || {
                let _ = tx2.send(d2.guard());
            });
            assert_eq!(d.count(), 0);
            sender.kill();
            assert_eq!(sender.status(), Status::Dead);
            assert_eq!(d.count(), 1, "the parked value was dropped with the wait");
            drop(rx.recv().unwrap());
            assert_eq!(d.count(), 2);
            assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty), "nothing left behind");
            // Values still buffered are dropped once the last receiver goes.
            tx.send(d.guard()).unwrap();
            drop(rx);
            assert_eq!(d.count(), 3);
        })
        .unwrap();
    assert_eq!(drops.count(), 3);
}

/// A wait on a channel is filed under the channel's lock, held from the
/// look at its state: a wait that cannot begin (an interrupt already made,
/// a callback, where nothing can block) lets go of that lock before the
/// interrupt is raised or the panic reported, and the channel works on.
#[test]
fn a_wait_that_cannot_begin_leaves_the_channel_unlocked() {
    let drops = Drops::new();
    let d = drops.clone();
    let lines = printed(move |o| {
        let (tx, rx) = sync::channel(1);
        tx.send(d.guard()).unwrap();
        let (tx2, d2, o2) = (tx.clone(), d.clone(), o.clone());
        let sender = thread::create(move || {
            assert!(thread::current().unwrap().interrupt("early"));
            let sent = os::catch_interrupt(|| tx2.send(d2.guard()));
            o2.print(format!("send: {:?}", sent.map(|r| r.is_ok())));
            o2.print(format!("len: {}", tx2.len()));
        });
        sender.join(None).unwrap();
        o.print(format!("dropped: {}", d.count()));
        drop(rx.recv().unwrap());
        let (rx2, o3, d3) = (rx.clone(), o.clone(), d.clone());
        event::listen("x", move |_| {
            let blocked = catch_unwind(AssertUnwindSafe(|| rx2.recv().map(|_| ())));
            o3.print(format!("recv in a callback panics: {}", blocked.is_err()));
            o3.print(format!("then try_send: {:?}", tx.try_send(d3.guard()).is_ok()));
            false
        });
        event::push(Signal::new("x"));
        os::sleep(Duration::ZERO);
        o.print(format!("try_recv: {:?}", rx.try_recv().map(|_| ())));
    });
    assert_eq!(
        lines,
        [
            "send: Err(Interrupted(Str(\"early\")))",
            "len: 1",
            "dropped: 1",
            "recv in a callback panics: true",
            "then try_send: true",
            "try_recv: Ok(())",
        ]
    );
    assert_eq!(drops.count(), 3, "the unsent value, the received ones, each once");
}

#[test]
fn a_value_handed_to_a_receiver_that_dies_before_it_runs_goes_to_the_next() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded::<&str>();
        let (rx1, o1) = (rx.clone(), o.clone());
        let first = thread::create(move || o1.print(format!("first {:?}", rx1.recv())));
        let (rx2, o2) = (rx.clone(), o.clone());
        let second = thread::create(move || o2.print(format!("second {:?}", rx2.recv())));
        tx.send("one").unwrap(); // handed to `first`, which has not run yet
        first.kill();
        second.join(None).unwrap();
        // With nobody else waiting, it goes back to the channel.
        let (rx3, o3) = (rx.clone(), o.clone());
        let third = thread::create(move || o3.print(format!("third {:?}", rx3.recv())));
        tx.send("two").unwrap();
        third.kill();
        o.print(format!("left {:?}", rx.try_recv()));
    });
    assert_eq!(lines, ["second Ok(\"one\")", "left Ok(\"two\")"]);
}

#[test]
fn dropping_the_kernel_drops_values_of_parked_senders_once() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let (tx, rx) = sync::channel(0);
    let keep = rx.clone();
    k.spawn(move || {
        let _ = tx.send(d.guard());
    });
    assert_eq!(drops.count(), 0);
    drop(k);
    assert_eq!(drops.count(), 1);
    assert_eq!(keep.try_recv().err(), Some(TryRecvError::Disconnected));
    drop(rx);
}

#[test]
fn a_suspended_receiver_takes_its_value_when_resumed() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded();
        let o1 = o.clone();
        let r =
            thread::create(move || o1.print(format!("got {:?} at {:?}", rx.recv(), os::uptime())));
        r.suspend().unwrap();
        tx.send(5).unwrap();
        os::sleep(secs(1));
        assert!(o.lines().is_empty());
        r.resume().unwrap();
        r.join(None).unwrap();
    });
    assert_eq!(lines, ["got Ok(5) at 1s"]);
}

/// Starts a receiver `A` on a fresh channel, sends it a value it has not run
/// to take, lets `stop` deal with `A` and drops the last sender; then `B`
/// receives, `then` deals with `A` again, and both are joined. Gives what
/// each printed, what a receive would tell before `then`, and what is left.
fn handed_then_disconnected(
    stop: fn(&thread::JoinHandle<()>),
    then: fn(&thread::JoinHandle<()>),
) -> Vec<String> {
    printed(move |o| {
        let (tx, rx) = sync::unbounded::<u32>();
        let (ra, oa) = (rx.clone(), o.clone());
        let a = thread::create(move || {
            let r = os::catch_interrupt(|| {
                for v in ra.iter() {
                    oa.print(format!("A got {v} at {:?}", os::uptime()));
                }
            });
            oa.print(format!("A ends: {r:?}"));
        });
        tx.send(1).unwrap(); // handed to A, which has not run yet
        stop(&a);
        drop(tx);
        o.print(format!("try_recv: {:?}", rx.try_recv()));
        let (rb, ob) = (rx.clone(), o.clone());
        let b = thread::create(move || {
            for v in rb.iter() {
                ob.print(format!("B got {v} at {:?}", os::uptime()));
            }
            ob.print(format!("B: RecvError at {:?}", os::uptime()));
        });
        os::sleep(secs(1));
        o.print(format!("at 1s: {:?}", rx.recv_timeout(Duration::ZERO)));
        then(&a);
        let _ = (a.join(None), b.join(None));
        o.print(format!("left: {:?}", rx.try_iter().collect::<Vec<_>>()));
    })
}

#[test]
fn a_value_handed_to_an_interrupted_receiver_goes_to_the_next_after_the_last_sender_left() {
    let lines = handed_then_disconnected(|a| assert!(a.thread().interrupt("stop")), |_| {});
    assert_eq!(
        lines,
        [
            "try_recv: Err(Empty)",
            "A ends: Err(Interrupted(Str(\"stop\")))",
            "B got 1 at 0ns",
            "B: RecvError at 0ns",
            "at 1s: Err(Disconnected)",
            "left: []",
        ]
    );
}

#[test]
fn a_value_handed_to_a_suspended_receiver_waits_for_it_and_goes_on_if_it_is_killed() {
    let lines = handed_then_disconnected(|a| a.suspend().unwrap(), |a| a.kill());
    assert_eq!(
        lines,
        [
            "try_recv: Err(Empty)",
            "at 1s: Err(Timeout)",
            "B got 1 at 1s",
            "B: RecvError at 1s",
            "left: []",
        ]
    );
}

#[test]
fn a_value_handed_to_a_suspended_receiver_is_its_when_resumed_and_then_the_rest_disconnect() {
    let lines = handed_then_disconnected(|a| a.suspend().unwrap(), |a| a.resume().unwrap());
    assert_eq!(
        lines,
        [
            "try_recv: Err(Empty)",
            "at 1s: Err(Timeout)",
            "A got 1 at 1s",
            "A ends: Ok(())",
            "B: RecvError at 1s",
            "left: []",
        ]
    );
}

#[test]
fn the_hard_interrupt_ends_a_channel_wait() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let (tx, rx) = sync::channel(0);
    let program = k.spawn(move || {
        let _ = tx.send(d.guard());
    });
    assert!(k.hard_interrupt());
    while k.step().alive {}
    assert_eq!(program.wait(), Err(Error::Interrupted(Value::Nil)));
    assert_eq!(drops.count(), 1);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected));
}

#[test]
fn threads_show_what_they_wait_on() {
    let mut k = kernel();
    let (tx, rx) = sync::channel::<u8>(0);
    let rx2 = rx.clone();
    k.spawn(move || rx2.recv());
    let tx2 = tx.clone();
    k.spawn(move || tx2.send(1).and(tx2.send(2)));
    let m = Rc::new(Mutex::new(()));
    let (m1, m2) = (m.clone(), m.clone());
    k.spawn(move || {
        let _held = m1.lock();
        os::sleep(secs(10));
    });
    k.spawn(move || drop(m2.lock()));
    let s = Rc::new(Semaphore::new(0));
    let s1 = s.clone();
    k.spawn(move || drop(s1.acquire()));
    let b = Rc::new(Barrier::new(2));
    let b1 = b.clone();
    k.spawn(move || b1.wait().is_leader());
    let n = Rc::new(Notify::new());
    let n1 = n.clone();
    k.spawn(move || n1.wait());
    assert_eq!(
        waiting(&k),
        [
            "sync::Receiver::recv", // handed 1, not run yet
            "sync::Sender::send",   // 2 waits for a receiver
            "sleep",
            "sync::Mutex::lock",
            "sync::Semaphore::acquire",
            "sync::Barrier::wait",
            "sync::Notify::wait",
        ]
    );
    k.step();
    assert_eq!(k.threads()[0].waiting, Waiting::Other("sync::Sender::send".into()));
    drop((tx, rx));
}

#[test]
fn blocking_in_a_callback_panics_and_try_calls_work_there() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded::<u8>();
        let m = Rc::new(Mutex::new(0));
        let m2 = m.clone();
        let _held = m.lock();
        let o2 = o.clone();
        event::listen("x", move |_| {
            o2.print(format!("try_send {:?}", tx.try_send(1)));
            o2.print(format!("try_recv {:?}", rx.try_recv()));
            o2.print(format!("try_lock {}", m2.try_lock().is_some()));
            let blocked = catch_unwind(AssertUnwindSafe(|| rx.recv()));
            let message = blocked.unwrap_err();
            let message = message.downcast_ref::<&str>().copied().unwrap_or("");
            o2.print(message);
            false
        });
        event::push(Signal::new("x"));
        os::sleep(Duration::ZERO);
    });
    assert_eq!(
        lines,
        [
            "try_send Ok(())",
            "try_recv Ok(1)",
            "try_lock false",
            "cothread: a listener or timer callback cannot block (pull, sleep, join); start a \
             thread from it instead",
        ]
    );
}

#[test]
fn a_send_from_another_os_thread_wakes_the_kernel() {
    let (tx, rx) = sync::channel::<u64>(4);
    let feeder = std::thread::spawn(move || {
        for i in 1..=100 {
            tx.send(i).unwrap();
        }
    });
    let mut k = Kernel::new();
    let sum = k.run(move || rx.iter().sum::<u64>()).unwrap();
    feeder.join().unwrap();
    assert_eq!(sum, 5050);
}

/// An async host's waker (`Kernel::ready`) that uses a channel: it counts
/// its calls and tries a send, as a host's code may (in a kernel, a send
/// with a timeout reads that kernel's clock).
struct ChannelWaker {
    calls: std::sync::atomic::AtomicUsize,
    tx: sync::Sender<u32>,
}

impl ChannelWaker {
    /// The waker, and what counts its calls.
    fn new(tx: sync::Sender<u32>) -> (std::sync::Arc<ChannelWaker>, std::task::Waker) {
        let host = std::sync::Arc::new(ChannelWaker { calls: 0.into(), tx });
        let waker = std::task::Waker::from(host.clone());
        (host, waker)
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::task::Wake for ChannelWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.tx.send_timeout(0, Duration::ZERO);
    }
}

/// Runs `scenario` on an OS thread of its own and fails if it has not
/// ended within a minute: a test of a hang must not hang the suite.
fn ends(scenario: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        scenario();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(60)) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the scenario hangs"),
        // Ended, or panicked (the panic is printed above).
        other => other.expect("the scenario ends without a panic"),
    }
}

/// A send from another OS thread that wakes a kernel awaited by an async
/// host calls the host's waker once the channel's lock is let go: the waker
/// may use the channel.
#[test]
fn an_async_hosts_waker_may_use_the_channel_whose_send_woke_the_kernel() {
    ends(|| {
        use std::future::Future;
        let (tx, rx) = sync::channel::<u32>(1);
        let mut k = Kernel::new();
        let receiver = k.spawn(move || rx.recv());
        k.step();
        let (host, waker) = ChannelWaker::new(tx.clone());
        let mut ready = std::pin::pin!(k.ready());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        std::thread::spawn(move || tx.send(7).unwrap()).join().unwrap();
        assert_eq!(host.calls(), 1);
        assert!(ready.as_mut().poll(&mut cx).is_ready());
        k.run_until_idle();
        assert_eq!(receiver.wait(), Ok(Ok(7)));
    });
}

/// A wake-up made inside the kernel while it runs (a receive's registration
/// waking a select that watches the channel) tells no async host: the host
/// is the one running the kernel.
#[test]
fn a_wake_up_inside_the_running_kernel_tells_no_async_host() {
    ends(|| {
        use std::future::Future;
        let (tx, rx) = sync::channel::<u32>(0);
        let watched = rx.clone();
        let mut k = Kernel::new();
        let _sender = k.signal_sender();
        let selecting = k.spawn(move || {
            let mut select = sync::Select::new();
            select.recv(&watched);
            select.wait()
        });
        k.spawn(move || {
            event::pull(None, "go");
            rx.recv().is_ok()
        });
        k.step();
        let (host, waker) = ChannelWaker::new(tx.clone());
        let pending = std::pin::pin!(k.ready())
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending();
        assert!(pending);
        k.push_signal(Signal::new("go"));
        k.step();
        assert_eq!(host.calls(), 0);
        drop(tx);
        drop(k);
        drop(selecting);
    });
}

/// A wake-up of another kernel made inside this one's bookkeeping (a
/// receive's registration waking a select of that kernel, which watches the
/// channel) tells that kernel's async host once this kernel's state is let
/// go: the host's waker may use the library, this kernel included.
#[test]
fn another_kernels_host_is_told_outside_this_kernels_bookkeeping() {
    ends(|| {
        use std::future::Future;
        let (tx, rx) = sync::unbounded::<u32>();
        let watched = rx.clone();
        let mut b = Kernel::new();
        let _selecting = b.spawn(move || {
            let mut select = sync::Select::new();
            select.recv(&watched);
            select.wait()
        });
        b.step();
        let (to_host, from_host) = sync::unbounded::<u32>();
        let (host, waker) = ChannelWaker::new(to_host);
        let pending = std::pin::pin!(b.ready())
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending();
        assert!(pending);
        let mut a = kernel();
        let got = a.run(move || rx.recv_timeout(secs(1)));
        assert_eq!(got, Ok(Err(RecvTimeoutError::Timeout)));
        assert_eq!(host.calls(), 1);
        assert_eq!(from_host.try_recv(), Ok(0), "the host's send went through");
        drop(tx);
    });
}

#[test]
fn a_receive_on_a_plain_os_thread_blocks_it_until_a_green_thread_sends() {
    let (tx, rx) = sync::channel::<u64>(0);
    let (back_tx, back_rx) = sync::unbounded::<u64>();
    let os_side = std::thread::spawn(move || {
        let mut total = 0;
        while let Ok(v) = rx.recv() {
            total += v;
            back_tx.send(v * 10).unwrap();
        }
        total
    });
    let mut k = kernel();
    let echoed = k
        .run(move || {
            let mut echoed = Vec::new();
            for i in 1..=5 {
                tx.send(i).unwrap();
                echoed.push(back_rx.recv().unwrap());
            }
            echoed
        })
        .unwrap();
    assert_eq!(echoed, [10, 20, 30, 40, 50]);
    assert_eq!(os_side.join().unwrap(), 15);
}

#[test]
fn two_kernels_on_two_os_threads_exchange_messages() {
    const N: u64 = 2_000;
    let (to_b, from_a) = sync::channel::<u64>(8);
    let (to_a, from_b) = sync::channel::<u64>(8);
    let b = std::thread::spawn(move || {
        let mut k = Kernel::new();
        k.run(move || {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (from_a, to_a) = (from_a.clone(), to_a.clone());
                    thread::create(move || {
                        for v in &from_a {
                            to_a.send(v + 1).unwrap();
                        }
                    })
                })
                .collect();
            drop((from_a, to_a));
            thread::wait_for_all(&workers, None).unwrap();
        })
        .unwrap();
    });
    let mut k = Kernel::new();
    let total = k
        .run(move || {
            let feeder = thread::create(move || {
                for i in 0..N {
                    to_b.send(i).unwrap();
                }
            });
            let total: u64 = from_b.iter().sum();
            feeder.join(None).unwrap();
            total
        })
        .unwrap();
    b.join().unwrap();
    assert_eq!(total, N * (N - 1) / 2 + N);
}

#[test]
fn values_need_not_be_send_within_one_kernel() {
    let got = kernel()
        .run(|| {
            let (tx, rx) = sync::unbounded::<Rc<RefCell<u8>>>();
            thread::create(move || tx.send(Rc::new(RefCell::new(3))).unwrap());
            let v = rx.recv().unwrap();
            let n = *v.borrow();
            n
        })
        .unwrap();
    assert_eq!(got, 3);
}

// ---- Mutex ----

#[test]
fn an_unlock_hands_the_mutex_to_the_longest_waiter_and_nobody_barges() {
    let lines = printed(|o| {
        let m = Rc::new(Mutex::new(Vec::new()));
        let held = m.lock();
        let waiters: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let m = m.clone();
                thread::create(move || m.lock().push(name))
            })
            .collect();
        drop(held);
        // Handed to "a", which has not run yet: still locked.
        o.print(format!("locked {} try {}", m.is_locked(), m.try_lock().is_some()));
        thread::wait_for_all(&waiters, None).unwrap();
        o.print(format!("{:?} locked {}", *m.lock(), m.is_locked()));
    });
    assert_eq!(lines, ["locked true try false", "[\"a\", \"b\", \"c\"] locked true"]);
}

#[test]
fn a_killed_holder_releases_the_mutex_as_its_stack_unwinds() {
    let lines = printed(|o| {
        let m = Rc::new(Mutex::new(0));
        let m1 = m.clone();
        let holder = thread::create(move || {
            let mut g = m1.lock();
            *g = 1;
            os::sleep(secs(100));
            *g = 2;
        });
        let (m2, o2) = (m.clone(), o.clone());
        let waiter = thread::create(move || {
            let g = m2.lock();
            o2.print(format!("waiter saw {} at {:?}", *g, os::uptime()));
        });
        os::sleep(secs(1));
        holder.kill();
        waiter.join(None).unwrap();
        assert!(!m.is_locked());
    });
    assert_eq!(lines, ["waiter saw 1 at 1s"]);
}

#[test]
fn a_killed_waiter_leaves_the_queue_and_one_handed_the_lock_passes_it_on() {
    let lines = printed(|o| {
        let m = Rc::new(Mutex::new(Vec::new()));
        let held = m.lock();
        let spawn = |name: &'static str| {
            let m = m.clone();
            thread::create(move || m.lock().push(name))
        };
        let (a, b, c) = (spawn("a"), spawn("b"), spawn("c"));
        b.kill(); // waiting: leaves the queue
        drop(held); // handed to a
        a.kill(); // before it ran: passes it on to c
        c.join(None).unwrap();
        o.print(format!("{:?} locked {}", *m.lock(), m.is_locked()));
        assert!(!m.is_locked());
    });
    assert_eq!(lines, ["[\"c\"] locked true"]);
}

#[test]
fn locking_a_mutex_twice_is_a_deadlock_the_kernel_reports() {
    let out = kernel().run(|| {
        let m = Mutex::new(());
        let _a = m.lock();
        let _b = m.lock();
    });
    let Err(Error::Deadlock(waiting)) = out else { panic!("expected a deadlock, got {out:?}") };
    assert!(waiting[0].contains("sync::Mutex::lock"), "{waiting:?}");
}

// ---- Semaphore ----

#[test]
fn permits_go_first_come_first_served_and_try_acquire_never_overtakes() {
    let lines = printed(|o| {
        let s = Rc::new(Semaphore::new(2));
        let first = s.acquire_many(2);
        let spawn = |name: &'static str, n: usize| {
            let (s, o) = (s.clone(), o.clone());
            thread::create(move || {
                let p = s.acquire_many(n);
                o.print(format!("{name} got {} at {:?}", p.permits(), os::uptime()));
                os::sleep(secs(1));
            })
        };
        let big = spawn("big", 2);
        let small = spawn("small", 1);
        drop(first);
        // Both free permits went to "big"; "small" waits behind it.
        assert!(s.try_acquire().is_none());
        thread::wait_for_all(&[big.thread(), small.thread()], None).unwrap();
        o.print(format!("free {}", s.available_permits()));
    });
    assert_eq!(lines, ["big got 2 at 0ns", "small got 1 at 1s", "free 2"]);
}

#[test]
fn a_request_at_the_head_holds_back_the_rest_until_it_times_out() {
    let lines = printed(|o| {
        let s = Rc::new(Semaphore::new(1));
        let (s1, o1) = (s.clone(), o.clone());
        let greedy = thread::create(move || {
            let got = s1.acquire_many_timeout(3, secs(2));
            o1.print(format!("greedy {:?} at {:?}", got.map(|p| p.permits()), os::uptime()));
        });
        let (s2, o2) = (s.clone(), o.clone());
        let modest = thread::create(move || {
            let p = s2.acquire();
            o2.print(format!("modest {} at {:?}", p.permits(), os::uptime()));
        });
        thread::wait_for_all(&[greedy.thread(), modest.thread()], None).unwrap();
        assert_eq!(s.waiters(), 0);
    });
    assert_eq!(lines, ["greedy None at 2s", "modest 1 at 2s"]);
}

#[test]
fn priorities_go_first_and_add_permits_serves_as_far_as_they_go() {
    let lines = printed(|o| {
        let s = Rc::new(Semaphore::new(0));
        let users: Vec<_> = [("p5", 5), ("p0", 0), ("p-1", -1), ("p0b", 0)]
            .into_iter()
            .map(|(name, priority)| {
                let (s, o) = (s.clone(), o.clone());
                thread::create(move || {
                    let p = s.acquire_priority(priority);
                    o.print(format!("{name} at {:?}", os::uptime()));
                    p.forget();
                })
            })
            .collect();
        s.add_permits(2);
        os::sleep(secs(1));
        s.add_permits(2);
        thread::wait_for_all(&users, None).unwrap();
    });
    assert_eq!(lines, ["p-1 at 0ns", "p0 at 0ns", "p0b at 1s", "p5 at 1s"]);
}

#[test]
fn a_waiter_granted_permits_that_dies_before_it_runs_gives_them_on() {
    let lines = printed(|o| {
        let s = Rc::new(Semaphore::new(1));
        let held = s.acquire();
        let spawn = |name: &'static str| {
            let (s, o) = (s.clone(), o.clone());
            thread::create(move || {
                let _p = s.acquire();
                o.print(name);
            })
        };
        let (a, b, c) = (spawn("a"), spawn("b"), spawn("c"));
        b.kill();
        drop(held); // granted to a
        a.kill();
        c.join(None).unwrap();
        o.print(format!("free {} waiters {}", s.available_permits(), s.waiters()));
    });
    assert_eq!(lines, ["c", "free 1 waiters 0"]);
}

// ---- Barrier and Notify ----

#[test]
fn a_barrier_opens_for_n_threads_again_and_again_and_a_killed_waiter_does_not_count() {
    let lines = printed(|o| {
        let b = Rc::new(Barrier::new(2));
        let b1 = b.clone();
        let doomed = thread::create(move || b1.wait().is_leader());
        doomed.kill(); // arrived, then gone: not counted
        let (b2, o2) = (b.clone(), o.clone());
        let other = thread::create(move || {
            for round in 0..2 {
                os::sleep(secs(1));
                let leader = b2.wait().is_leader();
                o2.print(format!("other round {round} leader {leader} at {:?}", os::uptime()));
            }
        });
        for round in 0..2 {
            let leader = b.wait().is_leader();
            o.print(format!("main round {round} leader {leader} at {:?}", os::uptime()));
        }
        other.join(None).unwrap();
    });
    assert_eq!(
        lines,
        [
            "other round 0 leader true at 1s",
            "main round 0 leader false at 1s",
            "other round 1 leader true at 2s",
            "main round 1 leader false at 2s",
        ]
    );
}

#[test]
fn notify_one_stores_a_permit_notify_all_does_not_and_a_dead_notified_thread_passes_it_on() {
    let lines = printed(|o| {
        let n = Rc::new(Notify::new());
        n.notify_one();
        n.notify_one(); // one permit, not two
        assert!(n.wait_timeout(secs(1)));
        assert!(!n.wait_timeout(secs(1)));
        n.notify_all(); // nobody waits: nothing stored
        assert!(!n.wait_timeout(secs(1)));
        let spawn = |name: &'static str| {
            let (n, o) = (n.clone(), o.clone());
            thread::create(move || {
                n.wait();
                o.print(format!("{name} at {:?}", os::uptime()));
            })
        };
        let (a, b) = (spawn("a"), spawn("b"));
        n.notify_one(); // a
        a.kill(); // before it ran: b gets it
        b.join(None).unwrap();
        let (c, d) = (spawn("c"), spawn("d"));
        n.notify_all();
        thread::wait_for_all(&[c.thread(), d.thread()], None).unwrap();
    });
    assert_eq!(lines, ["b at 2s", "c at 2s", "d at 2s"]);
}

#[test]
fn channel_handles_cross_os_threads_when_the_values_can_and_locks_stay_home() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<sync::Sender<String>>();
    send_and_sync::<sync::Receiver<String>>();
    // What the compiler must refuse is stated in the types' docs; here, the
    // positive half, and that the kernel-local ones are usable through `Rc`.
    let m = Rc::new(Mutex::new(1));
    let s = Rc::new(Semaphore::new(1));
    assert_eq!((*m.lock(), s.available_permits()), (1, 1));
}

#[test]
fn waits_that_time_out_leave_no_entry_behind() {
    kernel()
        .run(|| {
            let s = Semaphore::new(0);
            let n = Notify::new();
            let (_tx, rx) = sync::unbounded::<u8>();
            for _ in 0..100 {
                assert!(s.acquire_timeout(Duration::from_millis(1)).is_none());
                assert!(!n.wait_timeout(Duration::from_millis(1)));
                assert_eq!(
                    rx.recv_timeout(Duration::from_millis(1)),
                    Err(RecvTimeoutError::Timeout)
                );
            }
            assert_eq!((s.waiters(), n.waiters()), (0, 0));
            // A value sent now is buffered, not handed to a ghost receiver.
            _tx.send(1).unwrap();
            assert_eq!(rx.len(), 1);
        })
        .unwrap();
}

#[test]
fn the_hard_interrupt_ends_a_lock_wait_and_the_lock_skips_the_interrupted_waiter() {
    let mut k = kernel();
    let m = Rc::new(Mutex::new(Vec::new()));
    let (m1, m2, m3) = (m.clone(), m.clone(), m.clone());
    let holder = k.spawn(move || {
        let mut held = m1.lock();
        os::sleep(secs(1));
        held.push("holder");
    });
    let patient = k.spawn(move || m2.lock().push("patient"));
    let interrupted = k.spawn(move || m3.lock().push("interrupted"));
    assert!(k.hard_interrupt()); // the newest program: `interrupted`
    while k.advance(secs(1)).alive {}
    assert_eq!(interrupted.wait(), Err(Error::Interrupted(Value::Nil)));
    assert!(holder.wait().is_ok() && patient.wait().is_ok());
    assert_eq!(*m.lock(), ["holder", "patient"]);
}

#[test]
fn a_killed_permit_holder_gives_its_permits_back() {
    let got = kernel()
        .run(|| {
            let s = Rc::new(Semaphore::new(2));
            let s1 = s.clone();
            let holder = thread::create(move || {
                let _p = s1.acquire_many(2);
                os::sleep(secs(100));
            });
            let s2 = s.clone();
            let waiter = thread::create(move || s2.acquire_many(2).permits());
            os::sleep(secs(1));
            holder.kill();
            (waiter.wait().unwrap(), os::uptime(), s.available_permits())
        })
        .unwrap();
    assert_eq!(got, (2, secs(1), 2));
}

#[test]
fn dropping_the_kernel_ends_every_kind_of_wait_and_leaves_the_primitives_usable() {
    let drops = Drops::new();
    let m = Rc::new(Mutex::new(0));
    let s = Rc::new(Semaphore::new(0));
    let n = Rc::new(Notify::new());
    let b = Rc::new(Barrier::new(3));
    let (tx, rx) = sync::channel(0);
    let mut k = kernel();
    let (m1, m2) = (m.clone(), m.clone());
    k.spawn(move || {
        let _held = m1.lock();
        os::sleep(secs(100));
    });
    k.spawn(move || *m2.lock() += 1);
    let s1 = s.clone();
    k.spawn(move || s1.acquire().forget());
    let n1 = n.clone();
    k.spawn(move || n1.wait());
    let b1 = b.clone();
    k.spawn(move || b1.wait().is_leader());
    let d = drops.guard();
    let tx1 = tx.clone();
    k.spawn(move || tx1.send(d).is_ok());
    drop(k);
    assert_eq!(drops.count(), 1, "the parked value was dropped once");
    assert!(!m.is_locked() && m.try_lock().is_some());
    assert_eq!((s.waiters(), n.waiters()), (0, 0));
    s.add_permits(1);
    assert_eq!(s.available_permits(), 1, "no ghost took the permit");
    assert_eq!(tx.try_send(drops.guard()).map_err(|e| e.is_full()), Err(true));
    assert_eq!(drops.count(), 2);
    drop(rx);
}

#[test]
fn a_lock_that_must_wait_outside_a_kernel_panics_and_one_that_need_not_works() {
    let m = Mutex::new(());
    let held = m.lock(); // free: no wait, fine anywhere
    let blocked = catch_unwind(AssertUnwindSafe(|| drop(m.lock()))).unwrap_err();
    let message = blocked.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("`sync::Mutex::lock` called outside a kernel"), "{message}");
    drop(held);
    assert!(!m.is_locked(), "the failed wait left nothing behind");
    assert!(m.try_lock().is_some());
}

#[test]
fn an_interrupt_with_a_cause_ends_a_wait_that_the_thread_catches_and_its_place_is_given_up() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded::<&str>();
        let m = Rc::new(Mutex::new(()));
        let held = m.lock();
        let (rx1, m1, o1) = (rx.clone(), m.clone(), o.clone());
        let t = thread::create(move || {
            let first = os::catch_interrupt(|| rx1.recv());
            o1.print(format!("recv: {first:?}"));
            let second = os::catch_interrupt(|| drop(m1.lock()));
            o1.print(format!("lock: {second:?}"));
            o1.print(format!("then: {:?}", rx1.recv()));
        });
        assert!(t.thread().interrupt("reroute"));
        os::sleep(Duration::ZERO);
        // The interrupted receiver is out of the queue: this value is
        // buffered, not handed to it.
        tx.send("kept").unwrap();
        assert_eq!(rx.len(), 1);
        assert!(t.thread().interrupt(7));
        os::sleep(Duration::ZERO);
        drop(held);
        assert!(!m.is_locked(), "the interrupted waiter was not handed the lock");
        t.join(None).unwrap();
    });
    assert_eq!(
        lines,
        [
            "recv: Err(Interrupted(Str(\"reroute\")))",
            "lock: Err(Interrupted(Int(7)))",
            "then: Ok(\"kept\")",
        ]
    );
}

/// Producers and consumers on a small channel and a shared lock, with
/// threads of both kinds killed as they go (a fixed pseudo-random order):
/// every value made is dropped exactly once, whatever it was doing when its
/// thread died (parked in a send, handed to a receiver, buffered, held), and
/// the lock and the channel keep working for the survivors.
#[test]
fn kills_in_the_middle_of_traffic_lose_and_leak_nothing() {
    let drops = Drops::new();
    let made = Rc::new(RefCell::new(0usize));
    let received = Rc::new(RefCell::new(0usize));
    let (d, mk, rc) = (drops.clone(), made.clone(), received.clone());
    kernel()
        .run(move || {
            let (tx, rx) = sync::channel(2);
            let tally = Rc::new(Mutex::new(0usize));
            let mut threads = Vec::new();
            for i in 0..24 {
                if i % 2 == 0 {
                    let (tx, d, mk) = (tx.clone(), d.clone(), mk.clone());
                    threads.push(thread::create(move || {
                        for _ in 0..20 {
                            *mk.borrow_mut() += 1;
                            if tx.send(d.guard()).is_err() {
                                return;
                            }
                            os::sleep(Duration::from_millis(1 + i % 3));
                        }
                    }));
                } else {
                    let (rx, rc, tally) = (rx.clone(), rc.clone(), tally.clone());
                    threads.push(thread::create(move || {
                        while let Ok(value) = rx.recv() {
                            let mut count = tally.lock();
                            os::sleep(Duration::from_millis(i % 2)); // held across a wait
                            *count += 1;
                            *rc.borrow_mut() += 1;
                            drop(value);
                        }
                    }));
                }
            }
            drop((tx, rx));
            let mut seed = 12345u64;
            for _ in 0..10 {
                os::sleep(Duration::from_millis(3));
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                threads[(seed >> 33) as usize % threads.len()].kill();
            }
            thread::wait_for_all(&threads, None).unwrap();
            assert!(!tally.is_locked(), "no dead holder kept the lock");
            assert_eq!(*tally.lock(), *rc.borrow());
        })
        .unwrap();
    // Some values died in flight, with their senders or receivers.
    assert!(0 < *received.borrow() && *received.borrow() < *made.borrow());
    assert_eq!(drops.count(), *made.borrow(), "every value dropped exactly once");
}

// A thread blocked in a sync call is shown waiting where the script called
// it, not inside the crate.
#[test]
fn a_sync_wait_is_placed_at_the_scripts_call() {
    let mut k = kernel();
    let top = line!();
    k.spawn(|| {
        let (_tx, rx) = sync::channel::<u8>(1);
        let lock = Rc::new(Mutex::new(()));
        let held = lock.lock();
        let l = lock.clone();
        thread::create(move || drop(l.lock()));
        let notify = Notify::new();
        thread::create(move || notify.wait());
        let semaphore = Semaphore::new(0);
        thread::create(move || drop(semaphore.acquire()));
        let _ = rx.recv();
        drop(held);
    });
    let lines: Vec<u32> = k.threads().iter().map(|t| t.waiting_at.unwrap().line()).collect();
    assert_eq!(lines, [top + 11, top + 6, top + 8, top + 10]);
    assert!(k.threads().iter().all(|t| t.waiting_at.unwrap().file() == file!()));
}

/// docs/reliability.md, "Known gaps": threads that all wait on channels are
/// not a deadlock the kernel can prove (another OS thread may hold a
/// sender), so `run` would wait in the OS for ever; a host that drives the
/// kernel itself gets control back with the threads shown waiting.
#[test]
fn threads_all_waiting_on_channels_leave_a_stepping_host_in_control() {
    let mut k = kernel();
    let (tx, rx) = sync::channel::<u8>(0);
    let (tx2, rx2) = sync::channel::<u8>(0);
    let a = k.spawn(move || {
        let _keep = tx2;
        rx.recv().ok()
    });
    let b = k.spawn(move || {
        let _keep = tx;
        rx2.recv().ok()
    });
    let report = k.run_until_idle();
    assert!(report.alive && report.next_deadline.is_none());
    assert_eq!(waiting(&k), ["sync::Receiver::recv", "sync::Receiver::recv"]);
    assert!(k.dump().contains("sync::Receiver::recv"), "{}", k.dump());
    a.kill();
    b.kill();
    assert!(!k.run_until_idle().alive);
}

#[test]
fn permits_in_existence_never_pass_usize_max_and_none_is_lost() {
    let s = Semaphore::new(3);
    let all = s.try_acquire_many(3).unwrap();
    let overflow = catch_unwind(AssertUnwindSafe(|| s.add_permits(usize::MAX)));
    assert!(overflow.is_err(), "adding past usize::MAX panics");
    assert_eq!(s.available_permits(), 0, "nothing was added");
    s.add_permits(usize::MAX - 3);
    drop(all);
    assert_eq!(s.available_permits(), usize::MAX);
    let one = s.try_acquire().unwrap();
    one.forget(); // one fewer in existence: room for one more
    s.add_permits(1);
    assert_eq!(s.available_permits(), usize::MAX);
}

/// Gives up on permits in its destructor, with a timeout.
struct AcquiresOnDrop(Rc<Semaphore>, Out);

impl Drop for AcquiresOnDrop {
    fn drop(&mut self) {
        let got = self.0.acquire_timeout(secs(1)).is_some();
        let by_priority = self.0.acquire_priority_timeout(1, secs(1)).is_some();
        self.1.print(format!("acquired: {got}, {by_priority} at {:?}", os::uptime()));
    }
}

#[test]
fn an_acquire_with_a_timeout_in_a_destructor_run_by_a_kill_gives_up_at_once() {
    let lines = printed(|o| {
        let s = Rc::new(Semaphore::new(0));
        let on_drop = AcquiresOnDrop(s.clone(), o.clone());
        let t = thread::create(move || {
            let _d = on_drop;
            event::pull(None, "never");
        });
        os::sleep(secs(1));
        t.kill();
        o.print(format!("{:?}", t.wait()));
    });
    assert_eq!(lines, ["acquired: false, false at 1s", "Err(Killed)"]);
}

/// A value whose `Debug` reaches its own mutex.
struct Node {
    me: std::rc::Weak<Mutex<Node>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.me.upgrade().expect("the mutex lives");
        let inner = m.try_lock().is_some();
        write!(f, "Node (lock free inside: {inner})")
    }
}

#[test]
fn a_mutex_printed_by_a_value_that_reaches_it_again_stays_usable() {
    let m = Rc::new_cyclic(|me| Mutex::new(Node { me: me.clone() }));
    let printed = format!("{m:?}");
    assert_eq!(printed, "Mutex { value: Node (lock free inside: false), waiters: 0 }");
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

/// An async host's waker that counts its calls, then panics.
struct PanickingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for PanickingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        panic!("the host's waker fails");
    }
}

impl PanickingWaker {
    /// How many times it was called.
    fn calls(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Has each of `kernels` awaited by an async host (`Kernel::ready`, which
/// must find no work) whose waker panics; returns what counts its calls.
fn awaited_by_a_panicking_host(kernels: &mut [Kernel]) -> std::sync::Arc<PanickingWaker> {
    use std::future::Future;
    let host = std::sync::Arc::new(PanickingWaker(0.into()));
    let waker = std::task::Waker::from(host.clone());
    for k in kernels {
        let pending = std::pin::pin!(k.ready())
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending();
        assert!(pending);
    }
    host
}

/// A kernel for each of `programs`, each run up to its first wait.
fn waiting_in_kernels<T: 'static, F: FnOnce() -> T + 'static>(
    programs: impl IntoIterator<Item = F>,
) -> (Vec<Kernel>, Vec<thread::JoinHandle<T>>) {
    programs
        .into_iter()
        .map(|program| {
            let mut k = Kernel::new();
            let handle = k.spawn(program);
            k.step();
            (k, handle)
        })
        .unzip()
}

/// Two programs that wait to receive on `rx`.
fn receiving(
    rx: &sync::Receiver<u32>,
) -> impl Iterator<Item = impl FnOnce() -> Result<u32, sync::RecvError>> + '_ {
    (0..2).map(move |_| {
        let rx = rx.clone();
        move || rx.recv()
    })
}

/// The last sender's drop wakes the receivers of two kernels, each awaited
/// by an async host whose waker panics: both hosts are told (the second
/// is not lost to the first's panic), and the panic goes on to the caller
/// once both are.
#[test]
fn a_panicking_host_waker_does_not_keep_the_other_kernels_from_being_told() {
    ends(|| {
        let (tx, rx) = sync::unbounded::<u32>();
        let (mut kernels, receivers) = waiting_in_kernels(receiving(&rx));
        let host = awaited_by_a_panicking_host(&mut kernels);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(tx)));
        assert!(dropped.is_err(), "the waker's panic goes on to the caller");
        assert_eq!(host.calls(), 2, "both hosts told");
        for (k, receiver) in kernels.iter_mut().zip(receivers) {
            k.run_until_idle();
            assert_eq!(receiver.wait(), Ok(Err(sync::RecvError)));
        }
    });
}

/// Two kernels' selects watch a channel, each kernel awaited by an async
/// host whose waker panics; a receive in a third kernel wakes both inside
/// its bookkeeping. Both hosts are told once that kernel's state is let go,
/// and the panic goes on in the receiving thread.
#[test]
fn a_panicking_host_waker_told_later_does_not_keep_the_others_from_it() {
    ends(|| {
        let (tx, rx) = sync::unbounded::<u32>();
        let (mut kernels, selects) = waiting_in_kernels((0..2).map(|_| {
            let watched = rx.clone();
            move || {
                let mut select = sync::Select::new();
                select.recv(&watched);
                select.wait()
            }
        }));
        let host = awaited_by_a_panicking_host(&mut kernels);
        let mut a = kernel();
        let got = a.run(move || rx.recv_timeout(secs(1)));
        assert!(got.is_err(), "the receiving program ends with the waker's panic: {got:?}");
        assert_eq!(host.calls(), 2, "both hosts told");
        drop(tx);
        drop(selects);
    });
}

/// A kernel dropped in an unwind tells the async host awaiting it that it
/// is gone; when the host's waker panics there, the panic is dropped rather
/// than let out of the unwind, which would abort the process.
#[test]
fn a_kernel_dropped_in_an_unwind_survives_its_hosts_panicking_waker() {
    ends(|| {
        let (_tx, rx) = sync::unbounded::<u32>();
        let (mut kernels, _receivers) = waiting_in_kernels(receiving(&rx).take(1));
        let host = awaited_by_a_panicking_host(&mut kernels);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _kernels = kernels;
            panic!("the host's own panic");
        }));
        assert!(unwound.is_err());
        assert_eq!(host.calls(), 1, "the host was told");
    });
}

/// A host that runs a kernel from a destructor while it panics (std's
/// count of unwinds is the OS thread's): a green thread there is not
/// unwinding, and a host waker's panic from its drop of the last sender
/// goes on in it, as without the host's panic.
#[test]
fn a_host_wakers_panic_goes_on_in_a_green_thread_run_during_the_hosts_unwind() {
    /// Two kernels whose receivers wait on a channel, awaited by a host
    /// whose waker panics, and the channel's one sender.
    fn waiting() -> (Vec<Kernel>, std::sync::Arc<PanickingWaker>, sync::Sender<u32>) {
        let (tx, rx) = sync::unbounded::<u32>();
        let (mut kernels, _receivers) = waiting_in_kernels(receiving(&rx));
        let host = awaited_by_a_panicking_host(&mut kernels);
        (kernels, host, tx)
    }
    struct RunOnDrop(Option<std::sync::mpsc::Sender<(bool, usize)>>);
    impl Drop for RunOnDrop {
        fn drop(&mut self) {
            let (kernels, host, tx) = waiting();
            let ran = kernel().run(move || drop(tx));
            let report = self.0.take().expect("dropped once");
            let _ = report.send((ran.is_err(), host.calls()));
            // Not dropped here: each would tell its host, whose waker panics.
            std::mem::forget(kernels);
        }
    }
    ends(|| {
        let (report, reported) = std::sync::mpsc::channel();
        let run_on_drop = RunOnDrop(Some(report));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _run_on_drop = run_on_drop;
            panic!("the host's own panic");
        }));
        assert!(unwound.is_err());
        let (failed, calls) = reported.recv().expect("the destructor reports");
        assert!(failed, "the waker's panic went on in the green thread");
        assert_eq!(calls, 2, "both hosts told");
    });
}
