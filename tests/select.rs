//! `sync::Select` and `select!`, rule by rule (docs/sync.md, "Select"): the
//! first listed ready case wins, each kind of case fires when its source is
//! ready, a wait ends cleanly however it ends, and it shows in
//! `Kernel::threads`. Virtual clock throughout, except where a wake-up comes
//! from another OS thread.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use common::{kernel, secs, Drops, Out};
use cothread::job::{self, JobContext, JobState};
use cothread::sync::{self, RecvError, Select, SendError};
use cothread::{event, os, select, thread, Error, Filter, Kernel, Signal, Value};

/// A panic's message.
fn text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

fn printed(program: impl FnOnce(Out) + 'static) -> Vec<String> {
    let out = Out::new();
    let o = out.clone();
    kernel().run(move || program(o)).unwrap();
    out.lines()
}

#[test]
fn when_several_cases_are_ready_the_first_listed_wins_every_time() {
    let lines = printed(|o| {
        let (tx_a, rx_a) = sync::unbounded();
        let (tx_b, rx_b) = sync::unbounded();
        for n in 0..3 {
            tx_a.send(format!("a{n}")).unwrap();
            tx_b.send(format!("b{n}")).unwrap();
        }
        // b listed first: b drains first, then a.
        for _ in 0..6 {
            let line = select! {
                recv(rx_b) -> v => v.unwrap(),
                recv(rx_a) -> v => v.unwrap(),
            };
            o.print(line);
        }
    });
    assert_eq!(lines, ["b0", "b1", "b2", "a0", "a1", "a2"]);
}

#[test]
fn a_recv_case_waits_until_a_value_comes_and_a_disconnect_fires_it_too() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<u32>(1);
        thread::create(move || {
            os::sleep(secs(2));
            tx.send(7).unwrap();
            os::sleep(secs(1));
            drop(tx);
        });
        for _ in 0..2 {
            let mut sel = Select::new();
            let got = sel.recv(&rx);
            assert_eq!(sel.wait(), got);
            o.print(format!("{:?} at {:?}", rx.try_recv(), os::uptime()));
        }
    });
    assert_eq!(lines, ["Ok(7) at 2s", "Err(Disconnected) at 3s"]);
}

#[test]
fn a_recv_case_is_not_disconnected_while_a_value_is_handed_to_a_receiver_yet_to_take_it() {
    for kill in [true, false] {
        let lines = printed(move |o| {
            let (tx, rx) = sync::unbounded::<u32>();
            let (ra, oa) = (rx.clone(), o.clone());
            let a = thread::create(move || oa.print(format!("A {:?}", ra.recv())));
            tx.send(1).unwrap(); // handed to A, which has not run yet
            a.suspend().unwrap();
            drop(tx);
            thread::create(move || {
                os::sleep(secs(1));
                if kill {
                    a.kill(); // the value comes back to the channel
                } else {
                    a.resume().unwrap(); // A takes it
                }
            });
            loop {
                let line = select! {
                    recv(rx) -> v => format!("{v:?} at {:?}", os::uptime()),
                    timeout(secs(5)) => format!("timeout at {:?}", os::uptime()),
                };
                o.print(line);
                if line_is_final(&o) {
                    break;
                }
            }
        });
        let expected: &[&str] = if kill {
            &["Ok(1) at 1s", "Err(RecvError) at 1s"]
        } else {
            &["A Ok(1)", "Err(RecvError) at 1s"]
        };
        assert_eq!(lines, expected, "kill: {kill}");
    }
}

/// Whether the last line printed is a disconnect or a timeout.
fn line_is_final(o: &Out) -> bool {
    o.lines().last().is_some_and(|l| l.starts_with("Err") || l.starts_with("timeout"))
}

#[test]
fn a_send_case_fires_when_there_is_room_or_a_receiver_waits_at_a_rendezvous() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<&str>(1);
        tx.send("first").unwrap(); // full
        let (rtx, rrx) = sync::channel::<&str>(0); // a rendezvous
        let o2 = o.clone();
        thread::create(move || {
            os::sleep(secs(1));
            o2.print(format!("took {}", rx.recv().unwrap()));
            os::sleep(secs(1));
            o2.print(format!("met {}", rrx.recv().unwrap()));
        });
        let sent = select! {
            send(tx, "second") -> r => { r.unwrap(); format!("room at {:?}", os::uptime()) }
        };
        o.print(sent);
        let met = select! {
            send(rtx, "hand") -> r => { r.unwrap(); format!("receiver at {:?}", os::uptime()) }
        };
        o.print(met);
        os::sleep(secs(1));
    });
    assert_eq!(lines, ["took first", "room at 1s", "receiver at 2s", "met hand"]);
}

type Program = Box<dyn FnOnce()>;

#[test]
fn a_sending_select_and_a_receiving_select_meet_at_a_rendezvous_whichever_waits_first() {
    for receiver_first in [true, false] {
        let lines = printed(move |o| {
            let (tx, rx) = sync::channel::<u32>(0);
            let (o1, o2) = (o.clone(), o.clone());
            let receiver = move || {
                let line = select! {
                    recv(rx) -> v => format!("got {v:?} at {:?}", os::uptime()),
                    timeout(secs(5)) => "receiver timed out".to_string(),
                };
                o1.print(line);
            };
            let sender = move || {
                let line = select! {
                    send(tx, 7) -> r => format!("sent {r:?} at {:?}", os::uptime()),
                    timeout(secs(5)) => "sender timed out".to_string(),
                };
                o2.print(line);
            };
            let (receiver, sender): (Program, Program) = (Box::new(receiver), Box::new(sender));
            let (first, second) =
                if receiver_first { (receiver, sender) } else { (sender, receiver) };
            let a = thread::create(first);
            os::sleep(secs(1));
            let b = thread::create(second);
            let _ = (a.join(None), b.join(None));
        });
        let mut lines = lines;
        lines.sort();
        assert_eq!(
            lines,
            ["got Ok(7) at 1s", "sent Ok(()) at 1s"],
            "receiver first: {receiver_first}"
        );
    }
}

#[test]
fn a_value_sent_to_a_selects_offer_is_received_once_even_when_an_earlier_case_wins() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<u32>(0);
        let (urgent_tx, urgent) = sync::unbounded::<&str>();
        let o2 = o.clone();
        thread::create(move || {
            os::sleep(secs(1));
            // Both in one run: the receiving select wakes to find both ready.
            let r = select! { send(tx, 7) -> r => r, timeout(secs(1)) => unreachable!() };
            urgent_tx.send("urgent").unwrap();
            o2.print(format!("sent {r:?}"));
            os::sleep(secs(10)); // both senders live on
        });
        for _ in 0..3 {
            let line = select! {
                recv(urgent) -> v => format!("urgent {v:?} at {:?}", os::uptime()),
                recv(rx) -> v => format!("rx {v:?} at {:?}", os::uptime()),
                timeout(secs(2)) => format!("timeout at {:?}", os::uptime()),
            };
            o.print(line);
        }
        o.print(format!("left {:?}", rx.try_recv()));
    });
    assert_eq!(
        lines,
        [
            "sent Ok(())",
            "urgent Ok(\"urgent\") at 1s",
            "rx Ok(7) at 1s",
            "timeout at 3s",
            "left Err(Empty)",
        ]
    );
}

#[test]
fn an_offer_withdrawn_by_a_timeout_or_a_kill_loses_and_duplicates_nothing() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<u32>(0);
        // A receiving select that times out leaves no offer behind.
        let line =
            select! { recv(rx) -> v => format!("{v:?}"), timeout(secs(1)) => "timeout".into() };
        o.print(format!("{line}; try_send: {:?}", tx.try_send(1)));
        // One killed after a value was handed to its offer: the value goes
        // to the receiver waiting in `recv`, once.
        let rx2 = rx.clone();
        let selecting = thread::create(move || {
            select! { recv(rx2) -> v => v.unwrap(), timeout(secs(5)) => 0 }
        });
        let (rx3, o3) = (rx.clone(), o.clone());
        let plain = thread::create(move || o3.print(format!("plain got {:?}", rx3.recv())));
        o.print(format!("send: {:?}", tx.try_send(2))); // to the select's offer
        selecting.kill();
        plain.join(None).unwrap();
        // With nobody else receiving, it waits in the channel for the next.
        let rx4 = rx.clone();
        let selecting = thread::create(move || {
            select! { recv(rx4) -> v => v.unwrap(), timeout(secs(5)) => 0 }
        });
        o.print(format!("send: {:?}", tx.try_send(3)));
        selecting.kill();
        let _ = selecting.join(None);
        o.print(format!("left {:?}, then {:?}", rx.try_recv(), rx.try_recv()));
    });
    assert_eq!(
        lines,
        [
            "timeout; try_send: Err(Full(..))",
            "send: Ok(())",
            "plain got Ok(2)",
            "send: Ok(())",
            "left Ok(3), then Err(Empty)",
        ]
    );
}

#[test]
fn a_suspended_selects_offer_takes_its_value_at_the_resume() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<u32>(0);
        let o1 = o.clone();
        let r = thread::create(move || {
            let line = select! {
                recv(rx) -> v => format!("got {v:?} at {:?}", os::uptime()),
                timeout(secs(10)) => "timed out".to_string(),
            };
            o1.print(line);
        });
        r.suspend().unwrap();
        let sent =
            select! { send(tx, 4) -> r => format!("{r:?}"), timeout(secs(1)) => "no".into() };
        o.print(format!("sent {sent} at {:?}", os::uptime()));
        os::sleep(secs(1));
        r.resume().unwrap();
        r.join(None).unwrap();
    });
    assert_eq!(lines, ["sent Ok(()) at 0ns", "got Ok(4) at 1s"]);
}

#[test]
fn receiving_selects_do_not_wake_each_other_and_a_select_does_not_meet_itself() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<u32>(0);
        let readers: Vec<_> = ["r1", "r2"]
            .into_iter()
            .map(|name| {
                let (rx, o) = (rx.clone(), o.clone());
                thread::create(move || {
                    let line = select! {
                        recv(rx) -> v => format!("{name} got {v:?} at {:?}", os::uptime()),
                        timeout(secs(3)) => format!("{name} timed out at {:?}", os::uptime()),
                    };
                    o.print(line);
                })
            })
            .collect();
        os::sleep(secs(1));
        tx.send(5).unwrap(); // to the first offer
        thread::wait_for_all(&readers, None).unwrap();
        // Both sides of one rendezvous in one select: it does not meet itself.
        let line = select! {
            send(tx, 6) -> r => format!("sent {r:?}"),
            recv(rx) -> v => format!("got {v:?}"),
            timeout(secs(1)) => format!("alone at {:?}", os::uptime()),
        };
        o.print(line);
    });
    assert_eq!(lines, ["r1 got Ok(5) at 1s", "r2 timed out at 3s", "alone at 4s"]);
}

#[test]
fn a_select_on_a_plain_os_thread_meets_a_sending_select_of_a_kernel_at_a_rendezvous() {
    let (tx, rx) = sync::channel::<u32>(0);
    let receiver = std::thread::spawn(move || {
        select! {
            recv(rx) -> v => v,
            timeout(Duration::from_secs(20)) => Err(RecvError),
        }
    });
    let sent = Kernel::new()
        .run(move || {
            select! {
                send(tx, 9) -> r => r.is_ok(),
                timeout(Duration::from_secs(20)) => false,
            }
        })
        .unwrap();
    assert!(sent);
    assert_eq!(receiver.join().unwrap(), Ok(9));
}

#[test]
fn a_send_arm_hands_its_value_back_when_every_receiver_is_gone() {
    let (lines, drops) = {
        let drops = Drops::new();
        let d = drops.clone();
        let lines = printed(move |o| {
            let (tx, rx) = sync::channel(1);
            drop(rx);
            let guard = d.guard();
            let back = select! {
                send(tx, guard) -> r => match r {
                    Err(SendError(value)) => value,
                    Ok(()) => unreachable!(),
                },
            };
            o.print(format!("back, {} dropped", d.count()));
            drop(back);
            o.print(format!("{} dropped", d.count()));
        });
        (lines, drops.count())
    };
    assert_eq!(lines, ["back, 0 dropped", "1 dropped"]);
    assert_eq!(drops, 1);
}

#[test]
fn a_send_arm_that_did_not_fire_drops_its_value_once() {
    let drops = Drops::new();
    let d = drops.clone();
    let lines = printed(move |o| {
        let (tx, _rx) = sync::channel(0); // nobody receives: never ready
        let (ready_tx, ready_rx) = sync::unbounded::<u8>();
        ready_tx.send(1).unwrap();
        let which = select! {
            send(tx, d.guard()) -> _r => "send",
            recv(ready_rx) -> _v => "recv",
        };
        o.print(format!("{which}, {} dropped", d.count()));
    });
    assert_eq!(lines, ["recv, 1 dropped"]);
    assert_eq!(drops.count(), 1);
}

#[test]
fn a_pull_case_gets_the_signal_pushed_while_it_waits() {
    let lines = printed(|o| {
        thread::create(|| {
            os::sleep(secs(1));
            event::push(Signal::new("other"));
            event::push(Signal::new("key_down").with("q"));
        });
        let mut sel = Select::new();
        let key = sel.pull(Filter::name("key_down"));
        let tick = sel.pull("tick");
        let op = sel.wait();
        assert_eq!(op, key);
        assert_ne!(op, tick);
        let signal = sel.signal().unwrap();
        o.print(format!("{} {} at {:?}", signal.name(), signal.arg(0), os::uptime()));
        assert!(sel.signal().is_none(), "handed out once");
    });
    assert_eq!(lines, ["key_down q at 1s"]);
}

#[test]
fn a_signal_that_comes_as_an_earlier_case_is_ready_is_kept_for_the_next_wait() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded::<u8>();
        let tx2 = tx.clone();
        thread::create(move || {
            os::sleep(secs(1));
            // In one round: the value and the signal.
            tx2.send(1).unwrap();
            event::push(Signal::new("ping"));
        });
        let mut sel = Select::new();
        let got = sel.recv(&rx);
        let ping = sel.pull("ping");
        for _ in 0..2 {
            let op = sel.wait();
            if op == got {
                o.print(format!("value {} at {:?}", rx.try_recv().unwrap(), os::uptime()));
            } else if op == ping {
                o.print(format!("{} at {:?}", sel.signal().unwrap().name(), os::uptime()));
            }
        }
        drop(tx);
    });
    assert_eq!(lines, ["value 1 at 1s", "ping at 1s"]);
}

#[test]
fn a_join_case_fires_when_the_thread_ends_or_is_suspended() {
    let lines = printed(|o| {
        let worker = thread::create(|| os::sleep(secs(3)));
        let sleeper = thread::create(|| {
            os::sleep(secs(1));
            thread::current().unwrap().suspend().unwrap();
        });
        let mut sel = Select::new();
        let w = sel.join(&worker);
        let s = sel.join(&sleeper);
        assert_eq!(sel.wait(), s);
        o.print(format!("sleeper {} at {:?}", sleeper.status(), os::uptime()));
        let mut sel = Select::new();
        let w2 = sel.join(&worker);
        assert_eq!(sel.wait(), w2);
        o.print(format!("worker {} at {:?}", worker.status(), os::uptime()));
        let _ = w;
        sleeper.kill();
    });
    assert_eq!(lines, ["sleeper suspended at 1s", "worker dead at 3s"]);
}

#[test]
fn a_job_case_fires_when_the_run_ends() {
    let lines = printed(|o| {
        let j = job::spawn(|_: &JobContext<u8>| {
            os::sleep(secs(2));
            Ok::<_, String>(9)
        });
        let outcome = select! {
            job(j) => format!("{} {:?} at {:?}", j.state(), j.value(), os::uptime()),
            timeout(secs(5)) => "late".to_string(),
        };
        o.print(outcome);
        assert_eq!(j.state(), JobState::Finished);
    });
    assert_eq!(lines, ["finished Some(9) at 2s"]);
}

#[test]
fn a_timeout_fires_on_the_virtual_clock_and_a_ready_case_beats_a_zero_timeout() {
    let lines = printed(|o| {
        let (tx, rx) = sync::channel::<u8>(1);
        let quiet = select! {
            recv(rx) -> _v => "value",
            timeout(secs(4)) => "quiet",
        };
        o.print(format!("{quiet} at {:?}", os::uptime()));
        tx.send(1).unwrap();
        let ready = select! {
            timeout(Duration::ZERO) => "timeout",
            recv(rx) -> _v => "value",
        };
        // A passed timeout is a ready case too: listed first, it wins.
        o.print(ready);
        // The value is still there (the timeout won); listed first, it wins.
        let ready = select! {
            recv(rx) -> v => format!("value {}", v.unwrap()),
            timeout(Duration::ZERO) => "timeout".to_string(),
        };
        o.print(ready);
    });
    assert_eq!(lines, ["quiet at 4s", "timeout", "value 1"]);
}

/// A wait that ends otherwise than by a channel leaves no watcher behind: a
/// select that times out a thousand times on a quiet channel, then the
/// channel's only sender is dropped, and the kernel, with nothing left
/// that could wake anyone, reports the deadlock of the one thread still
/// waiting instead of waiting for ever for a leftover wake-up handle.
#[test]
fn timed_out_selects_leave_no_watcher_behind() {
    let mut k = kernel();
    let result = k.run(|| {
        let (tx, rx) = sync::channel::<u8>(1);
        for _ in 0..1000 {
            let mut sel = Select::new();
            sel.recv(&rx);
            let late = sel.timeout(Duration::from_millis(1));
            assert_eq!(sel.wait(), late);
        }
        thread::create(|| {
            event::pull(None, "never");
        });
        drop(tx);
        let _keep = rx;
        event::pull(None, "never either");
    });
    match result {
        Err(Error::Deadlock(report)) => {
            assert!(report.iter().any(|line| line.contains("never either")), "{report:?}")
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

#[test]
fn a_killed_select_leaves_its_queues_and_drops_its_frames_once() {
    let drops = Drops::new();
    let d = drops.clone();
    let lines = printed(move |o| {
        let (tx, rx) = sync::channel::<u8>(1);
        let rx = Rc::new(rx);
        let r2 = rx.clone();
        let guard = d.guard();
        let t = thread::create(move || {
            let _guard = guard;
            let mut sel = Select::new();
            sel.recv(&r2);
            sel.pull("never");
            sel.wait();
            unreachable!("killed in its wait");
        });
        os::sleep(secs(1));
        t.kill();
        o.print(format!("{:?}, {} dropped", t.wait(), d.count()));
        // The channel goes on: a value sent now is there for the next taker.
        tx.send(5).unwrap();
        o.print(format!("{:?}", rx.try_recv()));
    });
    assert_eq!(lines, ["Err(Killed), 1 dropped", "Ok(5)"]);
    assert_eq!(drops.count(), 1);
}

#[test]
fn an_interrupt_ends_a_select_with_its_cause() {
    let lines = printed(|o| {
        let (_tx, rx) = sync::channel::<u8>(1);
        let o2 = o.clone();
        let t = thread::create(move || {
            let got = os::catch_interrupt(|| {
                let mut sel = Select::new();
                sel.recv(&rx);
                sel.pull("never");
                sel.wait()
            });
            o2.print(format!("{got:?} at {:?}", os::uptime()));
        });
        os::sleep(secs(2));
        assert!(t.interrupt("reroute"));
        t.join(None).unwrap();
    });
    assert_eq!(lines, ["Err(Interrupted(Str(\"reroute\"))) at 2s"]);
}

#[test]
fn a_suspended_select_keeps_its_wait_and_finds_what_came_meanwhile_at_its_resume() {
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded::<u8>();
        let o2 = o.clone();
        let t = thread::create(move || {
            let v = select! { recv(rx) -> v => v.unwrap() };
            o2.print(format!("got {v} at {:?}", os::uptime()));
        });
        os::sleep(secs(1));
        t.suspend().unwrap();
        tx.send(3).unwrap();
        os::sleep(secs(1));
        o.print(format!("still {}", t.status()));
        t.resume().unwrap();
        t.join(None).unwrap();
    });
    assert_eq!(lines, ["still suspended", "got 3 at 2s"]);
}

#[test]
fn threads_show_a_select_with_its_pull_filters() {
    let mut k = kernel();
    let (_tx, rx) = sync::channel::<u8>(1);
    let t = k.spawn(move || {
        let mut sel = Select::new();
        sel.recv(&rx);
        sel.pull(&["key_down", "key_up"]);
        sel.wait();
    });
    k.run_until_idle();
    let info = k.threads();
    let shown: Vec<String> = info.iter().map(|t| t.waiting.to_string()).collect();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].starts_with("sync::Select::wait (pull "), "{shown:?}");
    assert!(shown[0].contains("key_down") && shown[0].contains("key_up"), "{shown:?}");
    let at = info[0].waiting_at.expect("a wait site");
    assert!(at.to_string().starts_with("tests/select.rs:"), "{at}");
    t.kill();
}

#[test]
fn a_select_with_a_pull_wakes_on_a_host_push_indexed_by_name() {
    let mut k = kernel();
    let out = Out::new();
    let o = out.clone();
    k.spawn(move || {
        for _ in 0..2 {
            let s = select! { pull(&["a", "b"]) -> s => s };
            o.print(s.name());
        }
    });
    k.run_until_idle();
    k.push_signal(Signal::new("c"));
    k.push_signal(Signal::new("b"));
    k.run_until_idle();
    k.push_signal(Signal::new("a"));
    k.run_until_idle();
    assert_eq!(out.lines(), ["b", "a"]);
}

#[test]
fn a_select_in_a_destructor_during_a_kill_returns_its_timeout_at_once() {
    struct SelectOnDrop(Out);
    impl Drop for SelectOnDrop {
        fn drop(&mut self) {
            let (_tx, rx) = sync::channel::<u8>(1);
            let outcome = select! {
                recv(rx) -> _v => "value",
                timeout(secs(10)) => "timeout",
            };
            self.0.print(format!("{outcome} at {:?}", os::uptime()));
        }
    }
    let lines = printed(|o| {
        let on_drop = SelectOnDrop(o.clone());
        let t = thread::create(move || {
            let _d = on_drop;
            event::pull(None, "never");
        });
        os::sleep(secs(1));
        t.kill();
        o.print(format!("{:?}", t.wait()));
    });
    assert_eq!(lines, ["timeout at 1s", "Err(Killed)"]);
}

#[test]
fn a_select_waits_for_a_send_from_another_os_thread() {
    let mut k = Kernel::new(); // the real clock: the sender really sleeps
    let got = k
        .run(|| {
            let (tx, rx) = sync::channel::<u64>(1);
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send(11).unwrap();
            });
            let got = select! {
                recv(rx) -> v => v,
                timeout(Duration::from_secs(60)) => Err(RecvError),
            };
            sender.join().unwrap();
            got
        })
        .unwrap();
    assert_eq!(got, Ok(11));
}

#[test]
fn on_a_plain_os_thread_a_select_waits_for_channels_and_its_timeout() {
    let (tx, rx) = sync::channel::<u8>(1);
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        tx.send(4).unwrap();
    });
    let got = select! {
        recv(rx) -> v => v.unwrap(),
        timeout(Duration::from_secs(60)) => 0,
    };
    assert_eq!(got, 4);
    sender.join().unwrap();
    let late = select! {
        recv(rx) -> v => format!("{v:?}"),
        timeout(Duration::from_millis(1)) => "late".to_string(),
    };
    // The sender is gone: a disconnect is ready, and beats the timeout.
    assert_eq!(late, "Err(RecvError)");
}

#[test]
fn bad_uses_panic_with_a_message_saying_why() {
    let message = |f: Box<dyn FnOnce()>| text(catch_unwind(AssertUnwindSafe(f)).unwrap_err());
    let on_os = message(Box::new(|| {
        let mut sel = Select::new();
        sel.pull("x");
        sel.wait();
    }));
    assert!(on_os.contains("waits only in a green thread"), "{on_os}");

    let mut other = kernel();
    let foreign = other.spawn(|| event::pull(None, "never"));
    other.run_until_idle();
    let foreign_thread = foreign.thread();
    let mut k = kernel();
    let text = k
        .run(move || {
            let got = catch_unwind(AssertUnwindSafe(|| {
                let mut sel = Select::new();
                sel.join(&foreign_thread);
                sel.wait();
            }));
            text(got.unwrap_err())
        })
        .unwrap();
    assert!(text.contains("of its own kernel only"), "{text}");
    drop(other);
}

#[test]
fn a_select_on_a_value_keeps_working_across_many_waits_without_growing() {
    // Readiness and re-arming in a long loop: each round a value, a signal
    // and a timeout race; the counts prove each fired as it should.
    let lines = printed(|o| {
        let (tx, rx) = sync::unbounded::<u32>();
        thread::create(move || {
            for n in 0..300u32 {
                os::sleep(Duration::from_millis(10));
                match n % 3 {
                    0 => tx.send(n).unwrap(),
                    1 => event::push(Signal::new("tick").with(Value::from(n as i64))),
                    _ => {}
                }
            }
        });
        let (mut values, mut ticks, mut timeouts, mut ended) = (0, 0, 0, false);
        while !ended {
            select! {
                recv(rx) -> v => match v {
                    Ok(_) => values += 1,
                    Err(RecvError) => ended = true,
                },
                pull("tick") -> _s => ticks += 1,
                timeout(Duration::from_millis(15)) => timeouts += 1,
            }
        }
        o.print(format!("{values} values, {ticks} ticks, {timeouts} timeouts"));
    });
    assert_eq!(lines, ["100 values, 100 ticks, 99 timeouts"]);
}

/// A select killed in its wait takes its channel watchers out as it
/// unwinds: a watcher left behind holds a wake-up handle, and a kernel with
/// nothing else to do waits in the OS for such a handle for ever instead of
/// reporting a deadlock. Here the channel outlives the run (as one kept by
/// the host does), and the program, left waiting for a signal nobody can
/// push, must be reported as deadlocked. On a helper OS
/// thread, so that a hang fails the test instead of stalling it.
#[test]
fn a_killed_select_leaves_no_watcher_behind() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (tx, rx) = sync::channel::<u8>(1);
        let rx = Rc::new(rx);
        let r2 = rx.clone();
        let out = kernel().run(move || {
            let t = thread::create(move || {
                let mut sel = Select::new();
                sel.recv(&r2);
                sel.wait();
            });
            t.kill();
            event::pull(None, "never");
        });
        let out = if matches!(out, Err(Error::Deadlock(_))) {
            "deadlock".into()
        } else {
            format!("{out:?}")
        };
        let _ = done.send(out);
        drop((tx, rx));
    });
    let out = finished.recv_timeout(Duration::from_secs(10));
    assert_eq!(out.as_deref(), Ok("deadlock"), "the kernel hung");
}
