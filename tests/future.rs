//! `cothread::future`: a green thread waits for a future, async code waits
//! for green threads and jobs, an async host waits for the kernel. Rule by
//! rule, on the virtual clock; the cross-thread tests assert outcomes only.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{kernel, Drops, Out};
use cothread::job::{JobContext, JobState};
use cothread::{future, os, thread, Error, Kernel, Signal, Status, Value};

/// A future that stays pending until its `Gate` is opened, counting its
/// polls, and handing out the waker of its latest poll.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<GateState>>);

#[derive(Default)]
struct GateState {
    open: Option<u32>,
    polls: usize,
    waker: Option<Waker>,
}

impl Gate {
    fn open(&self, value: u32) {
        let waker = {
            let mut s = self.0.lock().unwrap();
            s.open = Some(value);
            s.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn waker(&self) -> Option<Waker> {
        self.0.lock().unwrap().waker.clone()
    }

    fn polls(&self) -> usize {
        self.0.lock().unwrap().polls
    }

    /// The future: ready with the value once open.
    fn wait(&self) -> impl Future<Output = u32> + 'static {
        let gate = self.clone();
        std::future::poll_fn(move |cx| {
            let mut s = gate.0.lock().unwrap();
            s.polls += 1;
            match s.open {
                Some(v) => Poll::Ready(v),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

/// A future that holds a drop-counted value and never completes.
fn pending_holding(guard: common::DropGuard) -> impl Future<Output = ()> {
    std::future::poll_fn(move |_| {
        let _keep = &guard;
        Poll::Pending
    })
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn a_ready_future_returns_at_once_without_letting_others_run() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            thread::create(move || {
                os::sleep(Duration::ZERO);
                o2.print("other ran");
            });
            let v = future::block_on(async { 6 * 7 });
            o.print(format!("ready {v} at {:?}", os::uptime()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["ready 42 at 0ns", "other ran"]);
}

#[test]
fn other_threads_run_while_one_waits_and_the_future_is_polled_only_when_woken() {
    let out = Out::new();
    let o = out.clone();
    let gate = Gate::default();
    let g = gate.clone();
    kernel()
        .run(move || {
            let (o2, g2) = (o.clone(), g.clone());
            let waiter = thread::create(move || {
                let v = future::block_on(g2.wait());
                o2.print(format!("got {v} at {:?}", os::uptime()));
            });
            for i in 1..=3 {
                os::sleep(Duration::from_secs(1));
                o.print(format!("tick {i}"));
            }
            assert_eq!(g.polls(), 1, "nothing woke it: polled once");
            g.open(7); // the local path: from a green thread of the same kernel
            waiter.join(None).unwrap();
        })
        .unwrap();
    assert_eq!(out.lines(), ["tick 1", "tick 2", "tick 3", "got 7 at 3s"]);
    assert_eq!(gate.polls(), 2);
}

#[test]
fn a_future_that_wakes_itself_yields_to_the_others() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o2 = o.clone();
            thread::create(move || o2.print("other ran"));
            let mut first = true;
            future::block_on(std::future::poll_fn(|cx| {
                if std::mem::take(&mut first) {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(())
            }));
            o.print("back");
        })
        .unwrap();
    assert_eq!(out.lines(), ["other ran", "back"]);
}

/// Four OS threads call the waker at once: one wake-up, one poll. A wake
/// after that poll is a new readiness, and wakes it again.
#[test]
fn a_waker_called_from_four_os_threads_at_once_wakes_the_thread_once() {
    let mut kernel = kernel();
    let gate = Gate::default();
    let g = gate.clone();
    let done = kernel.spawn(move || future::block_on(g.wait()));
    assert_eq!(gate.polls(), 1);
    let waker = gate.waker().expect("the first poll kept its waker");
    let start = Arc::new(Barrier::new(4));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (waker, start) = (waker.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                waker.wake_by_ref();
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    assert_eq!(kernel.step().resumes, 1);
    assert_eq!(gate.polls(), 2, "four wake-ups, one poll");
    assert_eq!(kernel.step().resumes, 0);
    // A new readiness: the kept waker (of the second poll) wakes it again.
    gate.open(9);
    assert_eq!(kernel.step().resumes, 1);
    assert_eq!(gate.polls(), 3);
    assert_eq!(done.wait(), Ok(9));
}

#[test]
fn a_wake_from_another_os_thread_wakes_a_kernel_blocked_in_the_os() {
    let gate = Gate::default();
    let (g, opener) = (gate.clone(), gate.clone());
    let helper = std::thread::spawn(move || {
        // Waits (bounded) for the green thread's first poll, then opens.
        for _ in 0..10_000 {
            if opener.polls() > 0 {
                opener.open(5);
                return true;
            }
            std::thread::yield_now();
            std::thread::sleep(Duration::from_micros(100));
        }
        false
    });
    let mut kernel = Kernel::new(); // the real clock: it blocks in the OS meanwhile
    let got = kernel.run(move || future::block_on(g.wait())).unwrap();
    assert!(helper.join().unwrap());
    assert_eq!(got, 5);
}

#[test]
fn a_kill_drops_the_future_on_the_threads_stack_and_its_waker_does_nothing() {
    let drops = Drops::new();
    let d = drops.clone();
    let gate = Gate::default();
    let g = gate.clone();
    let mut kernel = kernel();
    kernel
        .run(move || {
            let guard = d.guard();
            let g2 = g.clone();
            let t = thread::create(move || {
                let _guard = guard;
                future::block_on(g2.wait());
            });
            let d2 = d.clone();
            let u = thread::create(move || future::block_on(pending_holding(d2.guard())));
            os::sleep(Duration::from_secs(1));
            t.kill();
            u.kill();
            assert_eq!(d.count(), 2, "the thread's guard and the future's");
            assert_eq!(t.wait(), Err(Error::Killed));
            // The killed thread's waker wakes nothing, and keeps nothing
            // waiting: `run` ends.
            g.open(1);
        })
        .unwrap();
    assert_eq!(drops.count(), 2);
    assert_eq!(kernel.step().resumes, 0);
}

#[test]
fn a_waker_called_after_the_kernel_is_gone_is_harmless() {
    let drops = Drops::new();
    let gate = Gate::default();
    let mut kernel = kernel();
    let (d, g) = (drops.clone(), gate.clone());
    kernel.spawn(move || {
        let _guard = d.guard();
        future::block_on(g.wait())
    });
    let waker = gate.waker().unwrap();
    drop(kernel);
    assert_eq!(drops.count(), 1, "dropping the kernel unwound the waiting thread");
    waker.wake_by_ref(); // on the kernel's old OS thread
    std::thread::spawn(move || waker.wake()).join().unwrap(); // and from another
    gate.open(3);
}

#[test]
fn a_timeout_ends_the_wait_and_drops_the_future() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = kernel()
        .run(move || {
            let r = future::block_on_timeout(pending_holding(d.guard()), Duration::from_secs(2));
            (r, os::uptime(), d.count())
        })
        .unwrap();
    assert_eq!(out, (Err(Error::Timeout), Duration::from_secs(2), 1));
    // A future ready in time is not timed out.
    let v = kernel().run(|| future::block_on_timeout(async { 1 }, Duration::ZERO)).unwrap();
    assert_eq!(v, Ok(1));
}

#[test]
fn an_interrupt_ends_the_wait_and_drops_the_future() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = kernel()
        .run(move || {
            let d2 = d.clone();
            let t = thread::create(move || future::block_on(pending_holding(d2.guard())));
            os::sleep(Duration::from_secs(1));
            t.interrupt("stop");
            let caught = os::catch_interrupt(|| {
                thread::current(); // nothing: the interrupt is for `t`
            });
            (t.wait(), caught.is_ok(), d.count())
        })
        .unwrap();
    assert_eq!(out, (Err(Error::Interrupted(Value::from("stop"))), true, 1));
}

#[test]
fn a_suspended_thread_takes_its_wake_up_when_resumed() {
    let out = Out::new();
    let o = out.clone();
    let gate = Gate::default();
    let g = gate.clone();
    kernel()
        .run(move || {
            let (o2, g2) = (o.clone(), g.clone());
            let t = thread::create(move || {
                let v = future::block_on(g2.wait());
                o2.print(format!("got {v} at {:?}", os::uptime()));
            });
            t.suspend().unwrap();
            g.open(4);
            os::sleep(Duration::from_secs(1));
            o.print(format!("still {:?}", t.status()));
            t.resume().unwrap();
            os::sleep(Duration::ZERO);
            os::sleep(Duration::ZERO);
            o.print(format!("then {:?}", t.status()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["still Suspended", "got 4 at 1s", "then Dead"]);
}

#[test]
fn outside_a_kernel_block_on_blocks_the_os_thread_until_woken() {
    let gate = Gate::default();
    let opener = gate.clone();
    let helper = std::thread::spawn(move || {
        for _ in 0..10_000 {
            if opener.polls() > 0 {
                opener.open(8);
                return;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    assert_eq!(future::block_on(gate.wait()), 8);
    helper.join().unwrap();
    let never = future::block_on_timeout(std::future::pending::<()>(), Duration::from_millis(1));
    assert_eq!(never, Err(Error::Timeout));
}

#[test]
fn a_join_handle_is_awaited_in_a_green_thread() {
    let out = kernel()
        .run(|| {
            let ok = thread::create(|| {
                os::sleep(Duration::from_secs(2));
                "value"
            });
            let bad = thread::create(|| -> () { panic!("no value") });
            future::block_on(async move { (ok.await, bad.await, os::uptime()) })
        })
        .unwrap();
    assert_eq!(out, (Ok("value"), Err(Error::Panicked("no value".into())), Duration::from_secs(2)));
}

/// From the host's side, as an async host's task would: pending, a waker
/// woken when the thread ends, then the value. A suspended thread is waited
/// for, not killed.
#[test]
fn a_join_handle_is_awaited_from_the_host_and_waits_through_a_suspension() {
    let mut kernel = kernel();
    let t = kernel.spawn(|| {
        os::sleep(Duration::from_secs(1));
        11
    });
    let thread = t.thread();
    let mut fut = std::future::IntoFuture::into_future(t);
    let (count, waker) = counting();
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(kernel.threads().len(), 2, "the thread and the helper waiting for it");
    thread.suspend().unwrap();
    kernel.advance(Duration::from_secs(2));
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(thread.status(), Status::Suspended, "not killed");
    thread.resume().unwrap();
    kernel.advance(Duration::from_secs(1));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(11)));
    assert!(!kernel.step().alive, "the helper has ended too");
}

#[test]
fn dropping_a_pending_join_future_ends_its_helper() {
    let mut kernel = kernel();
    let t = kernel.spawn(|| os::sleep(Duration::from_secs(5)));
    let mut fut = std::future::IntoFuture::into_future(t);
    let (_count, waker) = counting();
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(kernel.threads().len(), 2);
    drop(fut);
    assert_eq!(kernel.threads().len(), 1);
}

#[test]
fn a_send_future_of_a_thread_is_awaited_on_another_os_thread() {
    let mut kernel = kernel();
    let t = kernel.spawn(|| {
        os::sleep(Duration::from_secs(1));
        String::from("across")
    });
    let fut = t.into_send_future();
    let waiter = std::thread::spawn(move || future::block_on(fut));
    kernel.run_forever().unwrap();
    assert_eq!(waiter.join().unwrap(), Ok(String::from("across")));
    // A kernel dropped first: the thread was killed.
    let mut kernel = self::kernel();
    let t = kernel.spawn(|| os::sleep(Duration::from_secs(1)));
    let fut = t.into_send_future();
    drop(kernel);
    assert_eq!(future::block_on(fut), Err(Error::Killed));
}

#[test]
fn a_job_is_awaited_until_its_run_ends() {
    let mut kernel = kernel();
    let j = kernel.job(|ctx: &JobContext<u32>| {
        ctx.emit(1);
        os::sleep(Duration::from_secs(3));
        Ok::<_, String>(2)
    });
    let state = Rc::new(Cell::new(None));
    let s = state.clone();
    let mut done = Box::pin(async move {
        s.set(Some(j.done().await));
        j.value()
    });
    let (count, waker) = counting();
    assert!(done.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    kernel.advance(Duration::from_secs(3));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(done.as_mut().poll(&mut Context::from_waker(&waker)), Poll::Ready(Some(2)));
    assert_eq!(state.get(), Some(JobState::Finished));
}

/// `Kernel::ready`: pending with nothing to do, woken by a push from another
/// OS thread; ready at once with work queued, a deadline due, or the kernel
/// gone.
#[test]
fn the_kernel_is_ready_when_it_has_work() {
    let mut kernel = kernel();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    kernel.spawn(move || {
        while let Some(s) = cothread::event::pull(None, "line") {
            g.borrow_mut().push(s.arg(0).to_string());
        }
    });
    let (count, waker) = counting();
    let mut ready = kernel.ready();
    assert!(poll_once(&mut ready, &waker).is_pending());
    let sender = kernel.signal_sender();
    std::thread::spawn(move || sender.push(Signal::new("line").with("a")).unwrap()).join().unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "the push woke the host");
    assert_eq!(poll_once(&mut ready, &waker), Poll::Ready(()));
    kernel.step_for(cothread::Budget::Resumes(8));
    assert_eq!(*got.borrow(), ["a"]);
    assert!(poll_once(&mut kernel.ready(), &waker).is_pending());
    // Work queued on this thread: ready at once.
    kernel.signal_sender().push(Signal::new("line").with("b")).unwrap();
    assert_eq!(poll_once(&mut kernel.ready(), &waker), Poll::Ready(()));
    kernel.step();
    // A virtual clock: its deadlines are not the OS's.
    kernel.spawn(|| os::sleep(Duration::from_secs(1)));
    assert_eq!(kernel.next_deadline_at(), None);
    let mut ready = kernel.ready();
    assert!(poll_once(&mut ready, &waker).is_pending());
    kernel.advance(Duration::from_secs(1));
    let before = count.0.load(Ordering::SeqCst);
    drop(kernel);
    assert_eq!(count.0.load(Ordering::SeqCst), before + 1, "dropping the kernel woke the host");
    assert_eq!(poll_once(&mut ready, &waker), Poll::Ready(()), "the kernel is gone");
    assert_eq!(*got.borrow(), ["a", "b"]);
}

#[test]
fn on_the_real_clock_a_due_deadline_makes_the_kernel_ready() {
    let mut kernel = Kernel::new();
    kernel.spawn(|| os::sleep(Duration::ZERO));
    let (_count, waker) = counting();
    // A zero sleep is due at once.
    assert!(kernel.next_deadline_at().is_some());
    assert_eq!(poll_once(&mut kernel.ready(), &waker), Poll::Ready(()));
    kernel.step();
    assert!(!kernel.step().alive);
}

#[test]
fn a_pending_block_on_where_nothing_can_park_panics() {
    let mut kernel = kernel();
    let panicked = kernel.enter(|| {
        std::panic::catch_unwind(|| future::block_on(std::future::pending::<()>())).is_err()
    });
    assert!(panicked);
    // A ready one works there.
    assert_eq!(kernel.enter(|| future::block_on(async { 2 })), 2);
}

/// The async host: a current-thread tokio runtime drives the kernel with
/// `ready()`; a green thread reads a tokio channel fed by a tokio task as
/// sequential code, and another tokio task awaits its `JoinHandle`.
#[test]
fn a_current_thread_tokio_runtime_drives_the_kernel_through_ready() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let (sum, steps) = local.block_on(&runtime, async {
        let mut kernel = kernel();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let reader = kernel.spawn(move || {
            let mut sum = 0;
            while let Some(v) = future::block_on(rx.recv()) {
                sum += v;
            }
            sum
        });
        tokio::task::spawn_local(async move {
            for v in 1..=10 {
                tx.send(v).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let total = tokio::task::spawn_local(async move { reader.await });
        let mut steps = 0;
        loop {
            kernel.ready().await;
            steps += 1;
            assert!(steps < 1_000, "woken without work too often");
            if !kernel.step_for(cothread::Budget::Resumes(16)).alive {
                break;
            }
        }
        (total.await.unwrap(), steps)
    });
    assert_eq!(sum, Ok(55));
    assert!(steps >= 2, "the kernel was waited for, not polled: {steps} steps");
}

/// A future that kept no waker cannot be woken: `run` reports the deadlock
/// instead of waiting for ever. One whose waker is kept is waited for.
#[test]
fn a_future_that_kept_no_waker_is_a_deadlock_the_kernel_reports() {
    let out = kernel().run(|| future::block_on(std::future::pending::<()>()));
    let Err(Error::Deadlock(waiting)) = out else { panic!("expected a deadlock, got {out:?}") };
    assert!(waiting.iter().any(|w| w.contains("a future")), "{waiting:?}");
}
