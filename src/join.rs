//! The join wait source: a thread waiting for others to end (or be
//! suspended), as OpenOS's `waitForDeath`. Behind `join`, `wait_for_all`,
//! `wait_for_any` and a closing process's wait for its children; it parks
//! on the joined threads' `WaitQueue`s.

use std::time::Duration;

use crate::error::Error;
use crate::id::{Status, ThreadId};
use crate::kernel::{Core, Shared};
use crate::park::{TaskKey, Wait, Woke};

impl Shared {
    /// The loop behind `join`, `wait_for_all`, `wait_for_any` and a process's
    /// close: as OpenOS's `waitForDeath`.
    #[track_caller]
    pub(crate) fn wait_for(
        &self,
        me: TaskKey,
        targets: &[(TaskKey, ThreadId)],
        all: bool,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.wait_for_from(Some(me), targets, all, timeout)
    }

    #[track_caller]
    pub(crate) fn wait_for_from(
        &self,
        me: Option<TaskKey>,
        targets: &[(TaskKey, ThreadId)],
        all: bool,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        let deadline = timeout.map(|t| self.core().now().saturating_add(t));
        let mut done = Vec::new();
        loop {
            let living: Vec<TaskKey> = {
                let core = self.core();
                let mut living = Vec::new();
                for &(key, serial) in targets {
                    match core.task(key, serial) {
                        Some(t) if t.status == Status::Running => living.push(key),
                        Some(_) => done.push(key),
                        None => {}
                    }
                }
                living
            };
            let finished = if all { living.is_empty() } else { living.len() < targets.len() };
            let now = self.core().now();
            let timed_out = !finished && deadline.is_some_and(|d| now >= d);
            if finished || timed_out {
                // OpenOS's mortician: the threads found done (suspended) are killed.
                for key in done {
                    self.kill(key);
                }
                self.check_interrupts();
                return if finished { Ok(()) } else { Err(Error::Timeout) };
            }
            if me.is_none() {
                panic!(
                    "cothread: joining a running thread must wait, which only a program or \
                     thread of that thread's own kernel can do"
                );
            }
            let register = |core: &mut Core, parker| {
                for &target in &living {
                    core.wake_at_end(target, parker);
                }
            };
            if let Woke::Shutdown = self.park(Wait::Join(living.clone()), deadline, register) {
                return Err(Error::Killed);
            }
        }
    }
}
