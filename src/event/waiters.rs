//! The waiter index: which blocked threads a signal can wake, found without
//! looking at the others.

use std::collections::HashMap;

use super::filter::{Filter, NameTest};
use super::name::{FastHash, Name};
use super::signal::Signal;
use crate::park::Parker;
use crate::process::frozen;
use crate::task::Tasks;

/// Threads parked in `event::pull`, in the order they began waiting. A filter
/// of one name is indexed under that name, and one of several names under
/// each of them; every other filter (any name, a pattern, a predicate) sits
/// in one list that every signal scans. So a push costs in proportion to the
/// threads that can match it, whatever the number of names they wait on.
#[derive(Default)]
pub(crate) struct Waiters {
    /// Each name's list in `lists`. A list stays when it empties (a name is
    /// waited for again and again: keeping it saves a removal, an insertion
    /// and an allocation per pull); lists left empty are swept when the map
    /// reaches `sweep_at` names.
    by_name: HashMap<Name, usize, FastHash>,
    lists: Vec<WaitList>,
    /// Places in `lists` that a sweep emptied, for the next new names.
    free: Vec<usize>,
    /// By task key, the name its last wait on one name was filed under and
    /// that name's list, so that a thread pulling the same name again and
    /// again finds its list without hashing the name. Good while `sweeps`
    /// has not moved past `sweeps` of the entry (a sweep frees places).
    recent: Vec<Option<Recent>>,
    sweeps: u64,
    sweep_at: usize,
    other: WaitList,
}

struct Recent {
    name: Name,
    list: usize,
    sweeps: u64,
}

/// The fewest names at which emptied lists are swept.
const SWEEP_MIN: usize = 64;

#[derive(Default)]
struct WaitList {
    entries: Entries,
    /// Entries whose wait ended another way (timeout, kill): dropped in bulk
    /// once they are half the list, so a list never grows without bound.
    stale: usize,
}

impl WaitList {
    fn forget(&mut self, tasks: &Tasks) {
        self.stale += 1;
        if self.stale * 2 > self.entries.len() {
            self.entries.retain(|p| p.is_parked(tasks));
            self.stale = 0;
        }
    }
}

/// A wait list's parkers in wait order, the first kept inline:
/// most names have one waiter at a time, and a push to it then reads no
/// memory beyond the map's own slot (with 100 000 names, one cache miss less).
#[derive(Default)]
struct Entries {
    /// Set whenever the list is not empty.
    first: Option<Parker>,
    rest: Vec<Parker>,
}

impl Entries {
    fn push(&mut self, entry: Parker) {
        match self.first {
            None => self.first = Some(entry),
            Some(_) => self.rest.push(entry),
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Keeps the entries `keep` returns true for, calling it on each in order.
    fn retain(&mut self, mut keep: impl FnMut(&Parker) -> bool) {
        let Some(first) = self.first else { return };
        let first_kept = keep(&first);
        self.rest.retain(&mut keep);
        if !first_kept {
            self.first = (!self.rest.is_empty()).then(|| self.rest.remove(0));
        }
    }
}

impl Waiters {
    /// Makes room for `names` distinct names without rehashing.
    pub(crate) fn reserve(&mut self, names: usize) {
        self.by_name.reserve(names);
        self.sweep_at = self.sweep_at.max(names);
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.by_name.capacity()
    }

    pub(crate) fn add(&mut self, filter: &Filter, parker: Parker) {
        match &filter.name {
            NameTest::Exact(name) => self.add_recent(name, parker),
            NameTest::OneOf(names) => names.iter().for_each(|name| {
                let list = self.list_of(name);
                self.lists[list].entries.push(parker);
            }),
            _ => self.other.entries.push(parker),
        }
    }

    /// Files a wait on one name, through the waiting task's recent name
    /// when it is this one.
    #[inline]
    fn add_recent(&mut self, name: &Name, parker: Parker) {
        let recent = self.recent.get(parker.key.0).and_then(Option::as_ref);
        let list = match recent {
            Some(r) if r.sweeps == self.sweeps && r.name == *name => r.list,
            _ => self.note_recent(name, parker.key.0),
        };
        self.lists[list].entries.push(parker);
    }

    /// Looks `name`'s list up and makes it task `key`'s recent one.
    fn note_recent(&mut self, name: &Name, key: usize) -> usize {
        let list = self.list_of(name);
        if self.recent.len() <= key {
            self.recent.resize_with(key + 1, || None);
        }
        self.recent[key] = Some(Recent { name: name.clone(), list, sweeps: self.sweeps });
        list
    }

    /// `name`'s list, made if there is none.
    fn list_of(&mut self, name: &Name) -> usize {
        // One lookup for a name already waited for (the usual case).
        if let Some(&list) = self.by_name.get(name) {
            return list;
        }
        self.sweep();
        let list = match self.free.pop() {
            Some(list) => list,
            None => {
                self.lists.push(WaitList::default());
                self.lists.len() - 1
            }
        };
        self.by_name.insert(name.clone(), list);
        list
    }

    /// `name`'s list, if it has one.
    fn list(&mut self, name: &[u8]) -> Option<&mut WaitList> {
        let list = *self.by_name.get(name)?;
        Some(&mut self.lists[list])
    }

    /// Before a name is added: drops the lists left empty once the map has
    /// reached `sweep_at` names, so that names waited for once do not pile up.
    /// Amortised O(1): the next sweep waits until the map has doubled.
    fn sweep(&mut self) {
        if self.by_name.len() < self.sweep_at.max(SWEEP_MIN) {
            return;
        }
        let (lists, free) = (&mut self.lists, &mut self.free);
        self.by_name.retain(|_, &mut list| {
            let keep = !lists[list].entries.is_empty();
            if !keep {
                // Emptied, it keeps only its capacity, which is let go.
                lists[list] = WaitList::default();
                free.push(list);
            }
            keep
        });
        self.by_name.shrink_to_fit();
        // What tasks noted as their recent lists may now be free places.
        self.sweeps += 1;
        self.sweep_at = 2 * self.by_name.len();
    }

    /// Whether a signal named `name` could wake anyone: someone waits for that
    /// name, or with a filter that is not an exact name.
    pub(crate) fn may_want(&self, name: &str) -> bool {
        !self.other.entries.is_empty()
            || self
                .by_name
                .get(name.as_bytes())
                .is_some_and(|&list| !self.lists[list].entries.is_empty())
    }

    /// Notes that a wait with `filter` has ended: without a delivery, or
    /// with one, for a filter filed under several names (the lists of the
    /// names that did not deliver keep its entry until they drop it).
    pub(crate) fn forget(&mut self, filter: &Filter, tasks: &Tasks) {
        let mut forget_under = |name: &Name| {
            if let Some(list) = self.list(name.as_bytes()) {
                list.forget(tasks);
            }
        };
        match &filter.name {
            NameTest::Exact(name) => forget_under(name),
            NameTest::OneOf(names) => names.iter().for_each(forget_under),
            _ => self.other.forget(tasks),
        }
    }

    /// Finds the waiters `signal` wakes. Those whose filter matches go to `woken`
    /// (and leave the index); those with a predicate, which must run outside the
    /// kernel's borrow, go to `undecided` (and stay until they are woken). Frozen
    /// threads miss the signal but keep waiting.
    pub(crate) fn collect(
        &mut self,
        signal: &Signal,
        tasks: &Tasks,
        woken: &mut Vec<Parker>,
        undecided: &mut Vec<(Parker, Filter)>,
    ) {
        // A filter that runs user code is left to the caller; the others are
        // plain data, tested here.
        let matches =
            |filters: &[Filter]| filters.iter().any(|f| !f.runs_user_code() && f.matches(signal));
        if let Some(list) = self.list(signal.name().as_bytes()) {
            list.entries.retain(|&parker| {
                let key = parker.key;
                let Some(task) = tasks.get(key).filter(|t| t.token == parker.token) else {
                    return false;
                };
                let filters = task.wait.filters();
                if filters.is_empty() {
                    return false;
                }
                // Filed under this name, a wait's one filter has passed its
                // name test; a select's several filters are tested whole.
                let matched = match filters {
                    [filter] => !filter.runs_user_code() && filter.matches_filed(signal),
                    _ => matches(filters),
                };
                if frozen(tasks, key) || !matched {
                    return true;
                }
                woken.push(parker);
                false
            });
            list.stale = 0;
        }
        let first_other = woken.len();
        self.other.entries.retain(|&parker| {
            let key = parker.key;
            let Some(task) = tasks.get(key).filter(|t| t.token == parker.token) else {
                return false;
            };
            let filters = task.wait.filters();
            if filters.is_empty() {
                return false;
            }
            if frozen(tasks, key) {
                return true;
            }
            if matches(filters) {
                woken.push(parker);
                return false;
            }
            for filter in filters.iter().filter(|f| f.runs_user_code()) {
                undecided.push((parker, filter.clone()));
            }
            true
        });
        self.other.stale = 0;
        // Both lists are in wait order; merge them. A select filed under
        // both (or under several predicates) is woken once.
        if first_other > 0 && woken.len() > first_other {
            woken.sort_unstable();
            woken.dedup();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::park::{TaskKey, WaitToken};

    /// A parker of task 0 with `token`.
    fn at(token: u64) -> Parker {
        Parker { token: WaitToken(token), key: TaskKey(0) }
    }

    #[test]
    fn entries_keep_wait_order_through_removals() {
        let mut entries = Entries::default();
        assert!(entries.is_empty());
        for token in 1..=5 {
            entries.push(at(token));
        }
        let order = |e: &mut Entries| {
            let mut seen = Vec::new();
            e.retain(|p| {
                seen.push(p.token.0);
                true
            });
            seen
        };
        assert_eq!(order(&mut entries), [1, 2, 3, 4, 5]);
        entries.retain(|p| p.token.0 % 2 == 0); // the first one goes
        assert_eq!((order(&mut entries), entries.len()), (vec![2, 4], 2));
        entries.push(at(6));
        entries.retain(|p| p.token.0 != 4);
        assert_eq!(order(&mut entries), [2, 6]);
        entries.retain(|_| false);
        assert_eq!((entries.is_empty(), entries.len()), (true, 0));
        entries.push(at(7));
        assert_eq!(order(&mut entries), [7]);
    }

    /// A wait on several names is filed under each, and its ends (a
    /// delivery through one name, or a timeout) do not pile up entries in the
    /// others.
    #[test]
    fn a_wait_on_several_names_is_filed_under_each_and_leaves_none_behind() {
        let tasks = Tasks::default();
        let mut waiters = Waiters::default();
        let filter = Filter::names(&["a", "b", "a"]);
        for i in 0..10_000 {
            waiters.add(&filter, at(i));
            assert!(waiters.may_want("a") && waiters.may_want("b") && !waiters.may_want("c"));
            assert!(waiters.other.entries.is_empty(), "no scanned entry");
            waiters.forget(&filter, &tasks);
            for name in ["a", "b"] {
                let kept = waiters.list(name.as_bytes()).map_or(0, |l| l.entries.len());
                assert!(kept <= 2, "{kept} entries kept under {name}");
            }
        }
    }

    /// A task's recent list is its name's only until a sweep frees lists:
    /// a name waited for again after its list was swept and the place reused
    /// by another name is filed under its own new list.
    #[test]
    fn a_recent_list_freed_by_a_sweep_is_not_used_again() {
        let tasks = Tasks::default();
        let mut waiters = Waiters::default();
        let own = |key| Parker { token: WaitToken(0), key: TaskKey(key) };
        let x = Filter::name("x");
        waiters.add(&x, own(0));
        waiters.forget(&x, &tasks);
        waiters.list(b"x").expect("x has a list").entries.retain(|_| false);
        // Other names come and go: x's emptied list is swept, its place reused.
        for i in 0..1_000 {
            let filter = Filter::name(format!("n{i}"));
            waiters.add(&filter, own(1));
            waiters.list(filter_name(&filter)).expect("a list").entries.retain(|_| false);
        }
        assert!(waiters.sweeps > 0 && waiters.by_name.len() < 1_000);
        waiters.add(&x, own(0));
        let filed: Vec<_> = waiters
            .by_name
            .iter()
            .filter(|(_, &list)| !waiters.lists[list].entries.is_empty())
            .map(|(name, _)| name.as_str().to_string())
            .collect();
        assert_eq!(filed, ["x"]);
        assert!(waiters.may_want("x"));
    }

    fn filter_name(filter: &Filter) -> &[u8] {
        match &filter.name {
            NameTest::Exact(name) => name.as_bytes(),
            _ => unreachable!("an exact name"),
        }
    }

    #[test]
    fn lists_of_names_waited_for_once_do_not_pile_up() {
        let tasks = Tasks::default();
        let mut waiters = Waiters::default();
        for i in 0..10_000 {
            let filter = Filter::name(format!("reply_{i}"));
            waiters.add(&filter, at(i));
            // The wait ends without a delivery (a timeout): its list empties.
            waiters.forget(&filter, &tasks);
            assert!(waiters.by_name.len() <= SWEEP_MIN, "{} names kept", waiters.by_name.len());
        }
        // A name waited for again and again keeps its list.
        let filter = Filter::name("tick");
        waiters.add(&filter, at(1));
        waiters.forget(&filter, &tasks);
        assert!(waiters.by_name.contains_key("tick".as_bytes()));
        assert!(!waiters.may_want("tick"));
    }
}
