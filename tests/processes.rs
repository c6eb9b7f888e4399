//! Processes: who owns a thread, what its owner's end does to it (close, panic,
//! `os::exit`, kill), attach and detach, and what dropping the kernel unwinds.
//! Each test is a program and the exact lines or values it must produce
//! (docs/semantics.md; docs/processes.md where OpenOS leaves the choice to
//! cothread). Drop counters prove that every stack is unwound, once.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{kernel, secs, Drops, Out};
use cothread::{event, os, thread, Error, Signal, Status};

/// Kills a thread when dropped: a destructor that kills.
struct KillOnDrop(thread::Thread);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// A handle passed between threads after they have started.
type HandleCell = Rc<RefCell<Option<thread::Thread>>>;

/// Starts a thread that holds four counted values when it blocks for good:
/// one captured by its closure, one local, one in a nested call's frame, and
/// one in a child thread of its own.
fn worker(d: &Drops) -> thread::JoinHandle<()> {
    let captured = d.guard();
    let d = d.clone();
    thread::create(move || {
        let _captured = captured;
        let _local = d.guard();
        let d2 = d.clone();
        thread::create(move || {
            let _child = d2.guard();
            event::pull(None, "never");
        });
        blocked_in_a_nested_frame(&d);
    })
}

const WORKER_VALUES: usize = 4;

fn blocked_in_a_nested_frame(d: &Drops) {
    let _nested = d.guard();
    event::pull(None, "never");
}

// ---------------------------------------------------------------------------
// Closing: a process whose body returns joins its threads
// ---------------------------------------------------------------------------

#[test]
fn a_program_ends_only_once_its_threads_have_ended() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let value = k.run(move || {
        let o2 = o.clone();
        thread::create(move || {
            os::sleep(secs(3));
            o2.print(format!("child done at {}s", os::uptime().as_secs()));
        });
        o.print("main body done");
        "value"
    });
    assert_eq!(value, Ok("value"));
    assert_eq!(out.lines(), ["main body done", "child done at 3s"]);
    assert_eq!(k.uptime(), secs(3));
    assert!(k.threads().is_empty());
}

/// The close joins the most recently attached thread first. A join kills a
/// suspended thread, so the order in which the two suspended threads are
/// unwound is the order of the joins.
#[test]
fn a_close_joins_the_most_recently_attached_thread_first() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            for name in ["a", "b", "c"] {
                let guard = o.on_drop(format!("{name} unwound"));
                let t = thread::create(move || {
                    let _g = guard;
                    event::pull(None, "never");
                });
                t.suspend().unwrap();
            }
        })
        .unwrap();
    assert_eq!(out.lines(), ["c unwound", "b unwound", "a unwound"]);
}

/// Detaching and attaching again makes a thread the most recently attached.
#[test]
fn a_reattached_thread_is_the_most_recently_attached() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let mut threads = Vec::new();
            for name in ["a", "b"] {
                let guard = o.on_drop(format!("{name} unwound"));
                let t = thread::create(move || {
                    let _g = guard;
                    event::pull(None, "never");
                });
                t.suspend().unwrap();
                threads.push(t);
            }
            threads[0].detach().unwrap();
            threads[0].attach(0).unwrap();
        })
        .unwrap();
    assert_eq!(out.lines(), ["a unwound", "b unwound"]);
}

/// A thread whose function returned still shows "running" while it waits for
/// its own children; its value comes once it has closed.
#[test]
fn a_thread_whose_function_returned_runs_until_its_children_end() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let parent = thread::create(move || {
                let o2 = o1.clone();
                thread::create(move || {
                    let o3 = o2.clone();
                    thread::create(move || {
                        os::sleep(secs(5));
                        o3.print("grandchild done");
                    });
                    o2.print("child returns");
                });
                o1.print("parent returns");
                "parent's value"
            });
            os::sleep(secs(1));
            o.print(format!("parent {} at 1s", parent.status()));
            o.print(format!("{:?} at {}s", parent.wait(), os::uptime().as_secs()));
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "child returns",
            "parent returns",
            "parent running at 1s",
            "grandchild done",
            "Ok(\"parent's value\") at 5s"
        ]
    );
}

// ---------------------------------------------------------------------------
// Aborting: a panic, os::exit or a kill kills the attached threads
// ---------------------------------------------------------------------------

#[test]
fn a_panic_in_the_program_kills_its_threads_and_run_returns_the_message() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let result = k.run(move || -> () {
        let _mine = d.guard();
        let (d1, o1) = (d.clone(), o.clone());
        thread::create(move || {
            let _g = d1.guard();
            os::sleep(secs(1));
            o1.print("sleeper woke");
        });
        let frozen = worker(&d);
        frozen.suspend().unwrap();
        worker(&d);
        os::sleep(Duration::ZERO);
        panic!("program abort");
    });
    assert_eq!(result, Err(Error::Panicked("program abort".into())));
    assert_eq!(result.unwrap_err().to_string(), "thread panicked: program abort");
    assert_eq!(drops.count(), 2 + 2 * WORKER_VALUES);
    assert!(out.lines().is_empty());
    assert_eq!(k.uptime(), Duration::ZERO); // nothing waited for the sleeper
    assert!(k.threads().is_empty());
    drop(k);
    assert_eq!(drops.count(), 2 + 2 * WORKER_VALUES);
}

#[test]
fn os_exit_in_the_program_kills_its_threads_and_nothing_after_it_runs() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let result = k.run(move || {
        let _mine = d.guard();
        worker(&d);
        worker(&d).suspend().unwrap();
        o.print("before exit");
        os::exit();
        #[allow(unreachable_code)]
        o.print("after exit");
    });
    assert_eq!(result, Err(Error::Exited));
    assert_eq!(result.unwrap_err().to_string(), "process exited");
    assert_eq!(out.lines(), ["before exit"]);
    assert_eq!(drops.count(), 1 + 2 * WORKER_VALUES);
    assert!(k.threads().is_empty());
    drop(k);
    assert_eq!(drops.count(), 1 + 2 * WORKER_VALUES);
}

/// `os::exit()` ends the current process: in a thread, that thread (and its
/// threads), not the program.
#[test]
fn os_exit_in_a_thread_ends_that_thread_and_its_children_only() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    let result = kernel().run(move || {
        let o1 = o.clone();
        let sibling = thread::create(move || {
            os::sleep(secs(1));
            o1.print("sibling goes on");
        });
        let d1 = d.clone();
        let quitter = thread::create(move || -> () {
            let _g = d1.guard();
            worker(&d1);
            os::sleep(Duration::ZERO);
            os::exit();
        });
        o.print(format!("{:?}, drops {}", quitter.wait(), d.count()));
        sibling.join(None).unwrap();
        o.print("program goes on");
        "ok"
    });
    assert_eq!(result, Ok("ok"));
    assert_eq!(out.lines(), ["Err(Exited), drops 5", "sibling goes on", "program goes on"]);
    assert_eq!(drops.count(), 1 + WORKER_VALUES);
}

/// A panic in a thread ends that thread (and kills its children); its sibling
/// and the program go on.
#[test]
fn a_panicking_thread_kills_its_own_children_only() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    let reports = Out::new();
    let r = reports.clone();
    let mut k = kernel();
    k.on_error(move |msg| r.print(msg));
    let result = k.run(move || {
        let o1 = o.clone();
        let sibling = thread::create(move || {
            os::sleep(secs(1));
            o1.print("sibling goes on");
        });
        let d1 = d.clone();
        let parent = thread::create(move || -> () {
            let _g = d1.guard();
            worker(&d1);
            event::pull(None, "go");
            panic!("parent abort");
        });
        event::push(Signal::new("go"));
        o.print(format!("{:?}, drops {}", parent.wait(), d.count()));
        sibling.join(None).unwrap();
        "program goes on"
    });
    assert_eq!(result, Ok("program goes on"));
    assert_eq!(out.lines(), ["Err(Panicked(\"parent abort\")), drops 5", "sibling goes on"]);
    assert_eq!(reports.lines(), ["[thread] parent abort"]);
    assert_eq!(drops.count(), 1 + WORKER_VALUES);
}

#[test]
fn killing_a_thread_kills_its_children_at_once() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let w = worker(&d);
            o.print(format!("before kill: {} drops", d.count()));
            w.kill();
            o.print(format!("after kill: {} drops", d.count()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["before kill: 0 drops", "after kill: 4 drops"]);
    assert_eq!(drops.count(), WORKER_VALUES);
}

/// A thread that kills its own owner is killed with it: nothing after the kill
/// runs.
#[test]
fn a_thread_that_kills_its_owner_dies_with_it() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let (d1, o1) = (d.clone(), o.clone());
            let parent = thread::create(move || {
                let _g = d1.guard();
                let me = thread::current().unwrap();
                let (d2, o2) = (d1.clone(), o1.clone());
                thread::create(move || {
                    let _g = d2.guard();
                    event::pull(None, "go");
                    o2.print("child kills its owner");
                    me.kill();
                    o2.print("child after kill");
                });
                event::pull(None, "never");
                o1.print("parent after pull");
            });
            event::push(Signal::new("go"));
            o.print(format!("{:?}, drops {}", parent.wait(), d.count()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["child kills its owner", "Err(Killed), drops 2"]);
    assert_eq!(drops.count(), 2);
}

/// A destructor that kills another thread, run while a kill unwinds its
/// thread: both stacks are unwound, once. A destructor that kills its own
/// (already dying) thread does nothing.
#[test]
fn a_destructor_may_kill_threads_while_a_kill_unwinds() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let d1 = d.clone();
            let victim = thread::create(move || {
                let _g = d1.guard();
                event::pull(None, "never");
            });
            let target = victim.thread();
            let d2 = d.clone();
            let killer = thread::create(move || {
                let _g = d2.guard();
                let _kills_victim = KillOnDrop(target);
                let _kills_itself = KillOnDrop(thread::current().unwrap());
                event::pull(None, "never");
            });
            killer.kill();
            o.print(format!(
                "killer {}, victim {}, drops {}",
                killer.status(),
                victim.status(),
                d.count()
            ));
            o.print(format!("{:?} {:?}", killer.wait(), victim.wait()));
        })
        .unwrap();
    assert_eq!(out.lines(), ["killer dead, victim dead, drops 2", "Err(Killed) Err(Killed)"]);
    assert_eq!(drops.count(), 2);
}

/// Blocking calls made by a destructor while its thread is being killed return
/// at once: a pull gives `None`, a sleep does not sleep.
#[test]
fn a_destructor_that_blocks_during_a_kill_returns_at_once() {
    struct BlockOnDrop(Out);
    impl Drop for BlockOnDrop {
        fn drop(&mut self) {
            let s = event::pull(None, "never");
            self.0.print(format!("pull in drop: {}", s.is_none()));
            os::sleep(secs(10));
            self.0.print(format!("sleep in drop until {}s", os::uptime().as_secs()));
        }
    }
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.run(move || {
        let o1 = o.clone();
        let t = thread::create(move || {
            let _b = BlockOnDrop(o1);
            event::pull(None, "never");
        });
        t.kill();
        o.print("killed");
    })
    .unwrap();
    assert_eq!(out.lines(), ["pull in drop: true", "sleep in drop until 0s", "killed"]);
    assert_eq!(k.uptime(), Duration::ZERO);
}

// ---------------------------------------------------------------------------
// Attach and detach
// ---------------------------------------------------------------------------

/// Attaching to the current owner again succeeds and changes nothing: not even
/// the close's order (b, the newer, is still joined first).
#[test]
fn attach_to_the_current_owner_is_a_no_op() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let mut threads = Vec::new();
            for name in ["a", "b"] {
                let guard = o.on_drop(format!("{name} unwound"));
                threads.push(thread::create(move || {
                    let _g = guard;
                    event::pull(None, "never");
                }));
            }
            o.print(format!("{:?}", threads[0].attach(0)));
            for t in &threads {
                t.suspend().unwrap();
            }
        })
        .unwrap();
    assert_eq!(out.lines(), ["Ok(())", "b unwound", "a unwound"]);
}

/// Level 1 is the current process's parent: a thread moves a child of its own
/// up to the program, so its close no longer waits for it, the program's does.
#[test]
fn attach_level_one_moves_a_thread_to_the_owners_parent() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let o1 = o.clone();
        let parent = thread::create(move || {
            let o2 = o1.clone();
            let child = thread::create(move || {
                os::sleep(secs(2));
                o2.print(format!("child done at {}s", os::uptime().as_secs()));
            });
            o1.print(format!("{:?}", child.attach(1)));
            child.thread()
        });
        o.print(format!("parent {}", parent.status()));
        let child = parent.wait().unwrap();
        o.print(format!("child {}", child.status()));
        child
    });
    let table = k.threads();
    let ids: Vec<_> = table.iter().map(|t| (t.id.as_u64(), t.parent.map(|p| p.as_u64()))).collect();
    assert_eq!(ids, [(1, None), (3, Some(1))]);
    while k.step().alive {
        k.advance(secs(1));
    }
    assert_eq!(program.wait().unwrap().id().as_u64(), 3);
    assert_eq!(out.lines(), ["Ok(())", "parent dead", "child running", "child done at 2s"]);
}

/// From a program, level 1 is the root: the thread is detached.
#[test]
fn attach_level_one_from_a_program_is_the_root() {
    let mut k = kernel();
    let t = k
        .run(|| {
            let t = thread::create(|| {
                event::pull(None, "never");
            });
            t.attach(1).unwrap();
            t.thread()
        })
        .unwrap();
    let table = k.threads();
    assert_eq!(table.len(), 1);
    assert_eq!((table[0].id, table[0].parent), (t.id(), None));
    assert_eq!(t.status(), Status::Running);
}

#[test]
fn attach_to_a_level_with_no_process_fails_and_moves_nothing() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    k.run(move || {
        let t = thread::create(|| os::sleep(secs(1)));
        // 0: the program, 1: the root, 2: nothing.
        let from_program = t.attach(2);
        o.print(format!("{from_program:?}: {}", from_program.clone().unwrap_err()));
        let t2 = t.thread();
        let from_thread = thread::create(move || t2.attach(3)).wait().unwrap();
        o.print(format!("{from_thread:?}"));
    })
    .unwrap();
    assert_eq!(
        out.lines(),
        [
            "Err(ProcessNotFound): thread failed to attach, process not found",
            "Err(ProcessNotFound)"
        ]
    );
    // It stayed the program's: the close waited for it.
    assert_eq!(k.uptime(), secs(1));
}

/// A thread cannot own itself or one of its ancestors.
#[test]
fn attach_that_would_make_a_cycle_fails() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let o1 = o.clone();
            let parent = thread::create(move || {
                let me = thread::current().unwrap();
                let itself = me.attach(0);
                o1.print(format!("{itself:?}: {}", itself.clone().unwrap_err()));
                let o2 = o1.clone();
                thread::create(move || {
                    o2.print(format!("{:?}", me.attach(0)));
                    o2.print(format!("{:?}", me.attach(1)));
                });
            });
            parent.join(None).unwrap();
        })
        .unwrap();
    assert_eq!(
        out.lines(),
        [
            "Err(AttachCycle): thread failed to attach, a thread cannot own itself or its ancestors",
            "Err(AttachCycle)",
            "Err(AttachCycle)"
        ]
    );
}

#[test]
fn attach_and_detach_of_a_dead_thread_fail() {
    let (attach, detach) = kernel()
        .run(|| {
            let t = thread::create(|| ());
            (t.attach(0), t.detach())
        })
        .unwrap();
    assert_eq!(attach, Err(Error::DeadThread));
    assert_eq!(detach, Err(Error::DeadThread));
    assert_eq!(Error::DeadThread.to_string(), "thread is dead");
}

/// A detached thread outlives its program, runs on in later `step`s and
/// `run`s, and is unwound when the kernel is dropped.
#[test]
fn a_detached_thread_outlives_its_program_and_runs_in_later_runs_and_steps() {
    let drops = Drops::new();
    let d = drops.clone();
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let ticker = k
        .run(move || {
            let t = thread::create(move || -> () {
                let _g = d.guard();
                loop {
                    let s = event::pull(None, "tick").unwrap();
                    o.print(s);
                }
            });
            t.detach().unwrap();
            t.thread()
        })
        .unwrap();
    assert_eq!(ticker.status(), Status::Running);
    k.push_signal(Signal::new("tick").with(1));
    k.step();
    k.run(|| {
        event::push(Signal::new("tick").with(2));
        os::sleep(Duration::ZERO);
    })
    .unwrap();
    assert_eq!(out.lines(), ["tick 1", "tick 2"]);
    let table = k.threads();
    assert_eq!(table.len(), 1);
    assert_eq!((table[0].id, table[0].parent), (ticker.id(), None));
    assert_eq!(drops.count(), 0);
    drop(k);
    assert_eq!(drops.count(), 1);
    assert_eq!(ticker.status(), Status::Dead);
}

/// A detached thread no longer belongs to the program: the program's panic or
/// exit does not kill it.
#[test]
fn a_detached_thread_survives_its_programs_panic_and_exit() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let d1 = d.clone();
    let panicked = k.run(move || -> thread::Thread {
        let t = worker(&d1);
        t.detach().unwrap();
        panic!("program abort");
    });
    assert_eq!(panicked.unwrap_err(), Error::Panicked("program abort".into()));
    let exited = k.run(move || -> () {
        worker(&d).detach().unwrap();
        os::exit();
    });
    assert_eq!(exited, Err(Error::Exited));
    assert_eq!(drops.count(), 0);
    let table = k.threads();
    let detached: Vec<_> = table.iter().filter(|t| t.parent.is_none()).collect();
    assert_eq!(detached.len(), 2);
    drop(k);
    assert_eq!(drops.count(), 2 * WORKER_VALUES);
}

/// docs/processes.md: a thread attached back under the program blocks its
/// close again.
#[test]
fn a_reattached_thread_blocks_the_close_again() {
    let mut k = kernel();
    k.run(|| {
        let t = thread::create(|| os::sleep(secs(4)));
        t.detach().unwrap();
        t.attach(0).unwrap();
    })
    .unwrap();
    assert_eq!(k.uptime(), secs(4));
    assert!(k.threads().is_empty());
}

/// docs/processes.md: "Moving a thread out from under a suspended process
/// thaws it; moving it under one freezes it."
#[test]
fn moving_a_thread_out_from_under_a_suspended_owner_thaws_it() {
    let out = Out::new();
    let o = out.clone();
    kernel()
        .run(move || {
            let cell: HandleCell = Rc::default();
            let c = cell.clone();
            let o1 = o.clone();
            let owner = thread::create(move || {
                let child = thread::create(move || -> () {
                    loop {
                        o1.print(event::pull(None, "tick").unwrap());
                    }
                });
                *c.borrow_mut() = Some(child.thread());
                event::pull(None, "never");
            });
            let child = cell.borrow_mut().take().unwrap();
            owner.suspend().unwrap();
            event::push(Signal::new("tick").with(1)); // missed: its owner is frozen
            os::sleep(Duration::ZERO);
            o.print(format!("child {}", child.status()));
            child.attach(0).unwrap(); // out from under the suspended owner
            event::push(Signal::new("tick").with(2));
            os::sleep(Duration::ZERO);
            // Moved under a thread that is then suspended, it is frozen again:
            // only a descendant of the new owner can attach it there (level 1).
            let (o2, c2) = (o.clone(), child.clone());
            let new_owner = thread::create(move || {
                let moved = thread::create(move || c2.attach(1)).wait().unwrap();
                o2.print(format!("{moved:?}"));
                event::pull(None, "never");
            });
            new_owner.suspend().unwrap();
            event::push(Signal::new("tick").with(3)); // missed
            os::sleep(Duration::ZERO);
            new_owner.kill(); // it owns the child now
            o.print(format!("child {}", child.status()));
            owner.kill();
        })
        .unwrap();
    assert_eq!(out.lines(), ["child running", "tick 2", "Ok(())", "child dead"]);
}

// ---------------------------------------------------------------------------
// Dropping the kernel
// ---------------------------------------------------------------------------

/// Dropping the kernel kills every program and thread still alive, detached
/// ones included, newest first.
#[test]
fn dropping_the_kernel_unwinds_what_is_left_newest_first() {
    let out = Out::new();
    let o = out.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let _p = o.on_drop("program unwound");
        for name in ["older detached", "newer detached"] {
            let guard = o.on_drop(format!("{name} unwound"));
            let t = thread::create(move || {
                let _g = guard;
                event::pull(None, "never");
            });
            t.detach().unwrap();
        }
        event::pull(None, "never");
    });
    k.step();
    assert!(out.lines().is_empty());
    drop(k);
    assert_eq!(
        out.lines(),
        ["newer detached unwound", "older detached unwound", "program unwound"]
    );
    assert_eq!(program.status(), Status::Dead);
    assert_eq!(program.wait(), Err(Error::Killed));
}

/// Every value on every stack is dropped exactly once when the kernel goes:
/// a program's, its threads' (running or suspended), a detached thread's and
/// their children's.
#[test]
fn dropping_the_kernel_drops_every_local_exactly_once() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let program = k.spawn(move || {
        let _mine = d.guard();
        worker(&d);
        worker(&d).suspend().unwrap();
        worker(&d).detach().unwrap();
        event::pull(None, "never");
    });
    k.step();
    assert_eq!(drops.count(), 0);
    drop(k);
    assert_eq!(drops.count(), 1 + 3 * WORKER_VALUES);
    assert_eq!(program.wait(), Err(Error::Killed));
    assert_eq!(drops.count(), 1 + 3 * WORKER_VALUES);
}

/// A destructor run by the kernel's drop may kill another thread (one the
/// drop has not reached yet): each is unwound once.
#[test]
fn a_destructor_may_kill_another_thread_while_the_kernel_drops() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    k.run(move || {
        let older = worker(&d);
        older.detach().unwrap();
        let target = older.thread();
        let d1 = d.clone();
        let newer = thread::create(move || {
            let _g = d1.guard();
            let _k = KillOnDrop(target);
            event::pull(None, "never");
        });
        newer.detach().unwrap();
    })
    .unwrap();
    assert_eq!(drops.count(), 0);
    drop(k);
    assert_eq!(drops.count(), 1 + WORKER_VALUES);
}

/// A thread's value is dropped once, whether or not anyone waits for it.
#[test]
fn a_threads_value_is_dropped_once_whether_or_not_it_is_waited_for() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let counted = k
        .run(move || {
            let d1 = d.clone();
            drop(thread::create(move || d1.guard())); // nobody waits
            let d2 = d.clone();
            let kept = thread::create(move || {
                os::sleep(Duration::ZERO);
                d2.guard()
            });
            let value = kept.wait().unwrap();
            let count = d.count();
            drop(value);
            (count, d.count())
        })
        .unwrap();
    assert_eq!(counted, (1, 2));
    drop(k);
    assert_eq!(drops.count(), 2);
}

/// The host may kill a detached thread between runs: its stack unwinds then.
#[test]
fn the_host_can_kill_a_detached_thread_between_runs() {
    let drops = Drops::new();
    let d = drops.clone();
    let mut k = kernel();
    let t = k
        .run(move || {
            let t = worker(&d);
            t.detach().unwrap();
            t.thread()
        })
        .unwrap();
    assert_eq!(drops.count(), 0);
    t.kill();
    assert_eq!(drops.count(), WORKER_VALUES);
    assert_eq!(t.status(), Status::Dead);
    assert!(k.threads().is_empty());
}
