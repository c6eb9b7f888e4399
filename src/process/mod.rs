//! Processes: the task tree. Every program and every thread is a process; each
//! has a parent (the root, "init", at the top) and the children attached to it.
//! A process that returns closes (joins its children, newest first); one that
//! panics, exits or is killed kills them.

mod life;
mod switch;

use std::sync::{Arc, OnceLock};

pub(crate) use life::{kernel_frames, SpawnOptions};

use crate::error::Error;
use crate::id::Status;
use crate::kernel::{Due, Shared};
use crate::park::{Parker, TaskKey, Wait};
use crate::task::Tasks;

/// Whether `key` misses signals and deadlines: it, or a thread it belongs to,
/// is suspended (OpenOS: "a suspended thread's children behave as if suspended").
pub(crate) fn frozen(tasks: &Tasks, key: TaskKey) -> bool {
    if tasks.suspended == 0 {
        return false;
    }
    let mut at = Some(key);
    while let Some(k) = at {
        let task = &tasks[k];
        if task.status == Status::Suspended {
            return true;
        }
        at = task.parent;
    }
    false
}

/// Whether `ancestor` is `key` or one of its ancestors.
pub(crate) fn is_ancestor(tasks: &Tasks, ancestor: TaskKey, key: TaskKey) -> bool {
    let mut at = Some(key);
    while let Some(k) = at {
        if k == ancestor {
            return true;
        }
        at = tasks[k].parent;
    }
    false
}

/// The process `level` steps above `from` (0 = `from` itself).
pub(crate) fn ancestor_at(tasks: &Tasks, from: TaskKey, level: usize) -> Option<TaskKey> {
    let mut at = from;
    for _ in 0..level {
        at = tasks[at].parent?;
    }
    Some(at)
}

/// The name of the signal pushed for every thread that ends.
pub(crate) const THREAD_EXIT: &str = "thread_exit";

/// [`THREAD_EXIT`], allocated once.
pub(crate) fn thread_exit_name() -> Arc<str> {
    static NAME: OnceLock<Arc<str>> = OnceLock::new();
    NAME.get_or_init(|| Arc::from(THREAD_EXIT)).clone()
}

/// The ends of a task's list of children.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Siblings {
    first: Option<TaskKey>,
    last: Option<TaskKey>,
}

impl Siblings {
    /// The newest child.
    pub(crate) fn last(&self) -> Option<TaskKey> {
        self.last
    }
}

/// Appends `key` (not attached anywhere) to `parent`'s children.
pub(crate) fn link_child(tasks: &mut Tasks, parent: TaskKey, key: TaskKey) {
    let last = tasks[parent].children.last.replace(key);
    match last {
        Some(last) => tasks[last].next_sibling = Some(key),
        None => tasks[parent].children.first = Some(key),
    }
    let task = &mut tasks[key];
    task.parent = Some(parent);
    task.prev_sibling = last;
    task.next_sibling = None;
}

/// Detaches `key` from its parent, if it has one.
pub(crate) fn unlink_child(tasks: &mut Tasks, key: TaskKey) {
    let task = &mut tasks[key];
    let Some(parent) = task.parent.take() else { return };
    let (prev, next) = (task.prev_sibling.take(), task.next_sibling.take());
    match prev {
        Some(prev) => tasks[prev].next_sibling = next,
        None => tasks[parent].children.first = next,
    }
    match next {
        Some(next) => tasks[next].prev_sibling = prev,
        None => tasks[parent].children.last = prev,
    }
}

/// `parent`'s children, oldest first.
pub(crate) fn children(tasks: &Tasks, parent: TaskKey) -> impl Iterator<Item = TaskKey> + '_ {
    std::iter::successors(tasks[parent].children.first, |&k| tasks[k].next_sibling)
}

/// Moves `key` under `parent`, newest child last.
pub(crate) fn reparent(tasks: &mut Tasks, key: TaskKey, parent: TaskKey) {
    unlink_child(tasks, key);
    link_child(tasks, parent, key);
}

/// `key` and all its descendants, parents before children.
pub(crate) fn subtree(tasks: &Tasks, key: TaskKey) -> Vec<TaskKey> {
    let mut out = vec![key];
    let mut i = 0;
    while i < out.len() {
        out.extend(children(tasks, out[i]));
        i += 1;
    }
    out
}

impl Shared {
    /// `Thread::suspend`.
    #[track_caller]
    pub(crate) fn suspend(&self, key: TaskKey) -> Result<(), Error> {
        let own = {
            let mut core = self.core();
            let core = &mut *core;
            let task = &mut core.tasks[key];
            if task.status != Status::Running || task.dying {
                return Err(Error::CannotSuspend(task.status));
            }
            // A suspended thread counts as finished for joins.
            let mut joiners = std::mem::take(&mut task.joiners);
            core.tasks.set_status(key, Status::Suspended);
            joiners.wake_all(core);
            core.running == Some(key) && core.context == Some(key)
        };
        if own {
            self.park(Wait::Coma, None, |_, _| {});
        }
        Ok(())
    }

    /// `Thread::resume`: it runs again at the resumer's next blocking call, and
    /// any wake-up it (or a child) missed while frozen is delivered then.
    pub(crate) fn resume(&self, key: TaskKey) -> Result<(), Error> {
        let mut core = self.core();
        let core = &mut *core;
        let task = &mut core.tasks[key];
        if task.status != Status::Suspended {
            return Err(Error::CannotResume(task.status));
        }
        core.tasks.set_status(key, Status::Running);
        self.deliver_missed(core, key);
        Ok(())
    }

    /// Schedules the wake-ups that `key` and its descendants missed while frozen,
    /// now that they may not be, and their held zero-interval timers.
    pub(crate) fn deliver_missed(&self, core: &mut crate::kernel::Core, key: TaskKey) {
        let now = core.now();
        for k in subtree(&core.tasks, key) {
            if frozen(&core.tasks, k) {
                continue;
            }
            let task = &mut core.tasks[k];
            if task.missed || matches!(task.wait, Wait::Coma) {
                task.missed = false;
                let token = task.token;
                core.deadlines.push_due(now, Due::Task(Parker { token, key: k }));
            }
            for (key, serial) in core.timers.release_held(k) {
                core.deadlines.push_due(now, Due::Timer { key, serial });
            }
        }
    }

    /// `Thread::attach`: moves `key` under the process `level` steps above the
    /// current one (the host counts as the root).
    pub(crate) fn attach(&self, key: TaskKey, level: usize) -> Result<(), Error> {
        let mut core = self.core();
        let core = &mut *core;
        if core.tasks[key].status == Status::Dead {
            return Err(Error::DeadThread);
        }
        let from = core.context.unwrap_or(core.root);
        let target = ancestor_at(&core.tasks, from, level).ok_or(Error::ProcessNotFound)?;
        self.move_task(core, key, target)
    }

    /// `Thread::detach`: moves `key` under the root process.
    pub(crate) fn detach(&self, key: TaskKey) -> Result<(), Error> {
        let mut core = self.core();
        let core = &mut *core;
        if core.tasks[key].status == Status::Dead {
            return Err(Error::DeadThread);
        }
        let root = core.root;
        self.move_task(core, key, root)
    }

    fn move_task(
        &self,
        core: &mut crate::kernel::Core,
        key: TaskKey,
        target: TaskKey,
    ) -> Result<(), Error> {
        if core.tasks[key].parent == Some(target) {
            return Ok(());
        }
        if is_ancestor(&core.tasks, key, target) {
            return Err(Error::AttachCycle);
        }
        let was_frozen = frozen(&core.tasks, key);
        reparent(&mut core.tasks, key, target);
        if was_frozen && !frozen(&core.tasks, key) {
            self.deliver_missed(core, key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ThreadId;
    use crate::task::{Kind, Task};

    fn table(n: usize) -> (Tasks, Vec<TaskKey>) {
        let mut tasks = Tasks::default();
        let keys = (0..n)
            .map(|i| tasks.insert(|| Task::new(ThreadId(i as u64), Kind::Thread, None)))
            .collect();
        (tasks, keys)
    }

    #[test]
    fn the_task_table_reuses_freed_places_newest_first() {
        let (mut tasks, k) = table(3);
        assert_eq!((tasks.len(), k.as_slice()), (3, &[TaskKey(0), TaskKey(1), TaskKey(2)][..]));
        tasks.remove(k[0]);
        tasks.remove(k[2]);
        assert!(tasks.get(k[0]).is_none() && tasks.get_mut(k[2]).is_none());
        assert_eq!(
            tasks.iter().map(|(key, t)| (key, t.id.0)).collect::<Vec<_>>(),
            [(TaskKey(1), 1)]
        );
        let again = [3, 4, 5]
            .map(|serial| tasks.insert(|| Task::new(ThreadId(serial), Kind::Thread, None)));
        assert_eq!(again, [k[2], k[0], TaskKey(3)], "freed places first, the last freed first");
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks[k[0]].id.0, 4);
        assert!(tasks.get(TaskKey(6)).is_none());
    }

    #[test]
    #[should_panic(expected = "no task to remove at key 1")]
    fn removing_a_free_place_is_a_bug() {
        let (mut tasks, k) = table(2);
        tasks.remove(k[1]);
        tasks.remove(k[1]);
    }

    #[test]
    #[should_panic(expected = "no task to remove at key 7")]
    fn removing_past_the_end_is_a_bug() {
        table(2).0.remove(TaskKey(7));
    }

    #[test]
    fn a_suspended_task_removed_leaves_the_count() {
        let (mut tasks, k) = table(2);
        tasks.set_status(k[0], Status::Suspended);
        tasks.remove(k[0]);
        assert_eq!(tasks.suspended, 0);
        assert!(!frozen(&tasks, k[1]));
    }

    /// The table hands out and frees keys as `slab::Slab` does (which it
    /// replaced), and keeps its counts.
    #[test]
    fn the_task_table_agrees_with_a_slab() {
        crate::testing::cases(|rng, steps| {
            let mut tasks = Tasks::default();
            let mut model = slab::Slab::new();
            for n in 0..steps {
                let (op, at) = (rng.below(3), rng.below(40));
                match op {
                    0 => {
                        let key =
                            tasks.insert(|| Task::new(ThreadId(n as u64), Kind::Thread, None));
                        assert_eq!(key, TaskKey(model.insert(n as u64)));
                    }
                    1 if model.contains(at) => {
                        tasks.remove(TaskKey(at));
                        model.remove(at);
                    }
                    _ if model.contains(at) => tasks.set_status(TaskKey(at), Status::Suspended),
                    _ => {}
                }
                assert_eq!(tasks.len(), model.len());
                let keys: Vec<_> = tasks.iter().map(|(k, t)| (k, t.id.0)).collect();
                let expected: Vec<_> =
                    model.iter().map(|(k, &serial)| (TaskKey(k), serial)).collect();
                assert_eq!(keys, expected);
                for key in 0..45 {
                    assert_eq!(tasks.get(TaskKey(key)).map(|t| t.id.0), model.get(key).copied());
                }
                let suspended = tasks.iter().filter(|(_, t)| t.status == Status::Suspended).count();
                assert_eq!(tasks.suspended, suspended);
            }
        });
    }

    #[test]
    fn frozen_follows_suspensions_through_the_count() {
        let mut tasks = Tasks::default();
        let root = tasks.insert(|| Task::new(ThreadId(0), Kind::Root, None));
        let parent = tasks.insert(|| Task::new(ThreadId(1), Kind::Thread, None));
        let child = tasks.insert(|| Task::new(ThreadId(2), Kind::Thread, None));
        link_child(&mut tasks, root, parent);
        link_child(&mut tasks, parent, child);
        assert!(!frozen(&tasks, child));
        tasks.set_status(parent, Status::Suspended);
        assert!(frozen(&tasks, child) && frozen(&tasks, parent) && !frozen(&tasks, root));
        tasks.set_status(parent, Status::Suspended); // twice: counted once
        tasks.set_status(parent, Status::Running);
        assert!(!frozen(&tasks, child));
        tasks.set_status(child, Status::Suspended);
        tasks.set_status(child, Status::Dead); // a suspended thread killed
        assert_eq!(tasks.suspended, 0);
        assert!(!frozen(&tasks, child));
    }

    #[test]
    fn children_keep_their_order_through_links_unlinks_and_moves() {
        let (mut tasks, k) = table(6);
        for &child in &k[1..5] {
            link_child(&mut tasks, k[0], child);
        }
        let list = |tasks: &Tasks, p| children(tasks, p).collect::<Vec<_>>();
        assert_eq!(list(&tasks, k[0]), [k[1], k[2], k[3], k[4]]);
        unlink_child(&mut tasks, k[2]); // middle
        unlink_child(&mut tasks, k[1]); // first
        assert_eq!(list(&tasks, k[0]), [k[3], k[4]]);
        assert_eq!(tasks[k[0]].children.last(), Some(k[4]));
        reparent(&mut tasks, k[4], k[5]); // last, to another parent
        assert_eq!(list(&tasks, k[0]), [k[3]]);
        assert_eq!(list(&tasks, k[5]), [k[4]]);
        assert_eq!(tasks[k[4]].parent, Some(k[5]));
        link_child(&mut tasks, k[0], k[1]);
        assert_eq!(list(&tasks, k[0]), [k[3], k[1]]);
        unlink_child(&mut tasks, k[3]);
        unlink_child(&mut tasks, k[1]);
        assert_eq!(list(&tasks, k[0]), []);
        assert_eq!(tasks[k[0]].children.last(), None);
        unlink_child(&mut tasks, k[1]); // not attached: nothing to do
        assert_eq!(subtree(&tasks, k[5]), [k[5], k[4]]);
    }
}
