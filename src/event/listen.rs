//! Listener and timer tables: event registrations that belong to a thread (or
//! program) and die with it.

use crate::park::TaskKey;
use crate::report::ErrorOrigin;
use std::any::Any;
use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use slab::Slab;

use super::name::FastHash;

/// An entry's neighbours in its group of a [`KeyIndex`]: the keys registered
/// just before and just after it that are still there. A missing one is
/// [`Neighbours::NONE`] (no slab holds `usize::MAX` entries), so that the
/// pair takes two words and a [`Timer`] fits one cache line.
#[derive(Debug, Clone, Copy)]
struct Neighbours {
    prev: usize,
    next: usize,
}

impl Default for Neighbours {
    fn default() -> Self {
        Neighbours::new(None, None)
    }
}

impl Neighbours {
    const NONE: usize = usize::MAX;

    fn new(prev: Option<usize>, next: Option<usize>) -> Self {
        Neighbours { prev: prev.unwrap_or(Self::NONE), next: next.unwrap_or(Self::NONE) }
    }

    fn prev(&self) -> Option<usize> {
        Some(self.prev).filter(|&key| key != Self::NONE)
    }

    fn next(&self) -> Option<usize> {
        Some(self.next).filter(|&key| key != Self::NONE)
    }

    fn set_prev(&mut self, prev: Option<usize>) {
        self.prev = prev.unwrap_or(Self::NONE);
    }

    fn set_next(&mut self, next: Option<usize>) {
        self.next = next.unwrap_or(Self::NONE);
    }
}

/// One way of grouping a table's entries (listeners by name, by owner...):
/// where an entry keeps its [`Neighbours`] in its group.
trait Grouping {
    type Entry;
    fn neighbours(entry: &Self::Entry) -> &Neighbours;
    fn neighbours_mut(entry: &mut Self::Entry) -> &mut Neighbours;
}

/// The oldest and the newest key of a group; a group is never empty.
#[derive(Debug, Clone, Copy)]
struct Ends {
    first: usize,
    last: usize,
}

/// The keys of a [`Slab`] grouped by some attribute (a name, an owner), each
/// group in insertion order, as a doubly linked list threaded through the
/// entries (the way a task links its children, `process::link_child`): a key
/// is added and removed in O(1), wherever it sits in its group, and a group
/// is walked in order without a copy. Empty groups are dropped.
struct KeyIndex<K, G> {
    groups: HashMap<K, Ends, FastHash>,
    grouping: PhantomData<G>,
}

impl<K, G> Default for KeyIndex<K, G> {
    fn default() -> Self {
        KeyIndex { groups: HashMap::default(), grouping: PhantomData }
    }
}

impl<K: Hash + Eq, G: Grouping> KeyIndex<K, G> {
    /// Appends `key`, an entry of `table` in no group yet, to `group`.
    fn link(&mut self, table: &mut Slab<G::Entry>, group: K, key: usize) {
        let prev = match self.groups.entry(group) {
            Entry::Occupied(mut ends) => {
                let prev = std::mem::replace(&mut ends.get_mut().last, key);
                G::neighbours_mut(&mut table[prev]).set_next(Some(key));
                Some(prev)
            }
            Entry::Vacant(slot) => {
                slot.insert(Ends { first: key, last: key });
                None
            }
        };
        *G::neighbours_mut(&mut table[key]) = Neighbours::new(prev, None);
    }

    /// Closes the gap that an entry taken out of `table` leaves in `group`;
    /// `removed` are the neighbours it had. Only its neighbours are touched,
    /// and the group's ends when it was one of them.
    fn unlink<Q>(&mut self, table: &mut Slab<G::Entry>, group: &Q, removed: Neighbours)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (prev, next) = (removed.prev(), removed.next());
        if let Some(prev) = prev {
            G::neighbours_mut(&mut table[prev]).set_next(next);
        }
        if let Some(next) = next {
            G::neighbours_mut(&mut table[next]).set_prev(prev);
        }
        match (prev, next) {
            (Some(_), Some(_)) => {}
            (None, Some(next)) => self.ends_mut(group).first = next,
            (Some(prev), None) => self.ends_mut(group).last = prev,
            (None, None) => {
                self.groups.remove(group);
            }
        }
    }

    fn ends_mut<Q>(&mut self, group: &Q) -> &mut Ends
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.groups.get_mut(group).expect("a linked entry's group is indexed")
    }

    fn first<Q>(&self, group: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Most tasks register nothing: skip the hashing then.
        if self.groups.is_empty() {
            return None;
        }
        self.groups.get(group).map(|ends| ends.first)
    }

    /// The keys of `group`, in insertion order.
    fn keys<'a, Q>(&self, table: &'a Slab<G::Entry>, group: &Q) -> impl Iterator<Item = usize> + 'a
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        std::iter::successors(self.first(group), |&key| G::neighbours(&table[key]).next())
    }

    /// Forgets `group` and returns its oldest key: the caller takes the whole
    /// group out of the table, following `next` (no neighbour is mended).
    fn detach(&mut self, group: &K) -> Option<usize> {
        if self.groups.is_empty() {
            return None;
        }
        self.groups.remove(group).map(|ends| ends.first)
    }
}

pub(crate) type ListenerFn = Box<dyn FnMut(&super::Signal) -> bool>;
pub(crate) type TimerFn = Box<dyn FnMut()>;

pub(crate) struct Listener {
    pub(crate) owner: TaskKey,
    pub(crate) serial: u64,
    pub(crate) name: Arc<str>,
    /// `None` while the callback runs.
    pub(crate) callback: Option<ListenerFn>,
    /// Its place among the listeners of its name, and of its owner.
    same_name: Neighbours,
    same_owner: Neighbours,
}

/// Listeners grouped by name.
struct ByName;

impl Grouping for ByName {
    type Entry = Listener;
    fn neighbours(listener: &Listener) -> &Neighbours {
        &listener.same_name
    }
    fn neighbours_mut(listener: &mut Listener) -> &mut Neighbours {
        &mut listener.same_name
    }
}

/// Listeners grouped by owner.
struct ListenersOf;

impl Grouping for ListenersOf {
    type Entry = Listener;
    fn neighbours(listener: &Listener) -> &Neighbours {
        &listener.same_owner
    }
    fn neighbours_mut(listener: &mut Listener) -> &mut Neighbours {
        &mut listener.same_owner
    }
}

/// Listeners by key, by name (in registration order) and by owner.
#[derive(Default)]
pub(crate) struct Listeners {
    pub(crate) table: Slab<Listener>,
    by_name: KeyIndex<Arc<str>, ByName>,
    owned: KeyIndex<TaskKey, ListenersOf>,
    next_serial: u64,
}

impl Listeners {
    pub(crate) fn add(
        &mut self,
        owner: TaskKey,
        name: Arc<str>,
        callback: ListenerFn,
    ) -> (usize, u64) {
        self.next_serial += 1;
        let serial = self.next_serial;
        let key = self.table.insert(Listener {
            owner,
            serial,
            name: name.clone(),
            callback: Some(callback),
            same_name: Neighbours::default(),
            same_owner: Neighbours::default(),
        });
        self.by_name.link(&mut self.table, name, key);
        self.owned.link(&mut self.table, owner, key);
        (key, serial)
    }

    pub(crate) fn get(&self, key: usize, serial: u64) -> Option<&Listener> {
        self.table.get(key).filter(|l| l.serial == serial)
    }

    pub(crate) fn get_mut(&mut self, key: usize, serial: u64) -> Option<&mut Listener> {
        self.table.get_mut(key).filter(|l| l.serial == serial)
    }

    /// The listeners of `name` as `(key, serial)`, in registration order.
    pub(crate) fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = (usize, u64)> + 'a {
        let table = &self.table;
        self.by_name.keys(table, name).map(move |key| (key, table[key].serial))
    }

    /// Whether any listener is registered for `name`.
    pub(crate) fn has_name(&self, name: &str) -> bool {
        self.by_name.first(name).is_some()
    }

    /// Removes a listener; its callback (user code) is returned to be dropped
    /// outside the kernel's borrow.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Box<dyn Any>> {
        let listener = self.table.try_remove(key)?;
        self.by_name.unlink(&mut self.table, &*listener.name, listener.same_name);
        self.owned.unlink(&mut self.table, &listener.owner, listener.same_owner);
        listener.callback.map(|cb| Box::new(cb) as Box<dyn Any>)
    }

    /// Removes every listener of `owner`, oldest first, in O(their number).
    pub(crate) fn drop_owner(&mut self, owner: TaskKey, graveyard: &mut Graveyard) {
        let mut next = self.owned.detach(&owner);
        while let Some(key) = next {
            let listener = self.table.try_remove(key).expect("an owner's group holds live keys");
            next = listener.same_owner.next();
            self.by_name.unlink(&mut self.table, &*listener.name, listener.same_name);
            graveyard.extend(
                listener.callback.map(|cb| (ErrorOrigin::Listener, Box::new(cb) as Box<dyn Any>)),
            );
        }
    }
}

/// Callbacks let go of, labelled with their kind, to be dropped with nothing
/// borrowed.
pub(crate) type Graveyard = Vec<(ErrorOrigin, Box<dyn Any>)>;

/// A timer, in one cache line: a program's timers fall due in no order of
/// their keys, and each firing reads and writes most of its timer.
#[repr(align(64))]
pub(crate) struct Timer {
    pub(crate) owner: TaskKey,
    pub(crate) serial: u64,
    /// The interval in nanoseconds, at most `u64::MAX` (about 584 years: a
    /// firing further off is at the deadline queue's last instant either way).
    interval: u64,
    /// `None` while the callback runs.
    pub(crate) callback: Option<TimerFn>,
    /// Its place among the timers of its owner.
    same_owner: Neighbours,
    /// Firings left, unless it fires for ever.
    remaining: u32,
    forever: bool,
    /// A zero-interval firing fell due while the owner was frozen: the timer
    /// waits out of the deadline queue (where it would fall due again at
    /// once, for ever) until the owner thaws.
    pub(crate) held: bool,
}

impl Timer {
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// Counts a firing off its firings left (none of one that fires for ever).
    pub(crate) fn count_firing(&mut self) {
        if !self.forever {
            self.remaining = self.remaining.saturating_sub(1);
        }
    }

    /// Whether it has no firing left.
    pub(crate) fn spent(&self) -> bool {
        !self.forever && self.remaining == 0
    }
}

/// Timers grouped by owner.
struct TimersOf;

impl Grouping for TimersOf {
    type Entry = Timer;
    fn neighbours(timer: &Timer) -> &Neighbours {
        &timer.same_owner
    }
    fn neighbours_mut(timer: &mut Timer) -> &mut Neighbours {
        &mut timer.same_owner
    }
}

/// Timers by key and by owner.
pub(crate) struct Timers {
    pub(crate) table: Slab<Timer>,
    owned: KeyIndex<TaskKey, TimersOf>,
    next_serial: u64,
    /// The owner whose timers are not listed by owner (the kernel's root:
    /// its timers are the host's, of which there can be very many, and they
    /// are only ever dropped all together, with the kernel). Listing them
    /// would cost each firing a visit to two unrelated timers.
    pub(crate) unlisted: TaskKey,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            table: Slab::new(),
            owned: KeyIndex::default(),
            next_serial: 0,
            unlisted: TaskKey(usize::MAX),
        }
    }
}

impl Timers {
    /// Tables whose timers of `owner` are not listed by owner (see
    /// [`unlisted`](Timers::unlisted)).
    pub(crate) fn unlisting(owner: TaskKey) -> Timers {
        Timers { unlisted: owner, ..Timers::default() }
    }

    pub(crate) fn add(
        &mut self,
        owner: TaskKey,
        interval: Duration,
        remaining: Option<u32>,
        callback: TimerFn,
    ) -> (usize, u64) {
        self.next_serial += 1;
        let serial = self.next_serial;
        let key = self.table.insert(Timer {
            owner,
            serial,
            interval: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            callback: Some(callback),
            same_owner: Neighbours::default(),
            remaining: remaining.unwrap_or(0),
            forever: remaining.is_none(),
            held: false,
        });
        if owner != self.unlisted {
            self.owned.link(&mut self.table, owner, key);
        }
        (key, serial)
    }

    pub(crate) fn get_mut(&mut self, key: usize, serial: u64) -> Option<&mut Timer> {
        self.table.get_mut(key).filter(|t| t.serial == serial)
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<Box<dyn Any>> {
        let timer = self.table.try_remove(key)?;
        if timer.owner != self.unlisted {
            self.owned.unlink(&mut self.table, &timer.owner, timer.same_owner);
        }
        timer.callback.map(|cb| Box::new(cb) as Box<dyn Any>)
    }

    /// Removes every timer of `owner`, oldest first, in O(their number)
    /// (the unlisted owner's in O(all timers), as the kernel goes).
    pub(crate) fn drop_owner(&mut self, owner: TaskKey, graveyard: &mut Graveyard) {
        if owner == self.unlisted {
            let keys: Vec<usize> =
                self.table.iter().filter(|(_, t)| t.owner == owner).map(|(key, _)| key).collect();
            for key in keys {
                let timer = self.table.remove(key);
                graveyard.extend(
                    timer.callback.map(|cb| (ErrorOrigin::Timer, Box::new(cb) as Box<dyn Any>)),
                );
            }
            return;
        }
        let mut next = self.owned.detach(&owner);
        while let Some(key) = next {
            let timer = self.table.try_remove(key).expect("an owner's group holds live keys");
            next = timer.same_owner.next();
            graveyard.extend(
                timer.callback.map(|cb| (ErrorOrigin::Timer, Box::new(cb) as Box<dyn Any>)),
            );
        }
    }

    /// Releases `owner`'s held timers (its owner thawed), as `(key, serial)`
    /// to schedule.
    pub(crate) fn release_held(
        &mut self,
        owner: TaskKey,
    ) -> impl Iterator<Item = (usize, u64)> + '_ {
        let Timers { table, owned, .. } = self;
        let mut next = owned.first(&owner);
        std::iter::from_fn(move || loop {
            let key = next?;
            let timer = &mut table[key];
            next = timer.same_owner.next();
            if std::mem::take(&mut timer.held) {
                return Some((key, timer.serial));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::fmt::Debug;
    use std::rc::Rc;

    /// Every group of `index` as its keys oldest first, after checking that
    /// the chain reads the same backwards, that its ends are right and that
    /// it holds only live keys, each once.
    fn groups<K, G>(index: &KeyIndex<K, G>, table: &Slab<G::Entry>) -> HashMap<K, Vec<usize>>
    where
        K: Hash + Eq + Clone + Debug,
        G: Grouping,
    {
        let mut seen = std::collections::HashSet::new();
        let mut groups = HashMap::new();
        for (group, ends) in &index.groups {
            let keys: Vec<usize> = index.keys(table, group).collect();
            let back: Vec<usize> =
                std::iter::successors(Some(ends.last), |&key| G::neighbours(&table[key]).prev())
                    .collect();
            assert_eq!(keys.first(), Some(&ends.first), "{group:?}: first");
            assert!(keys.iter().rev().eq(&back), "{group:?}: {keys:?} backwards is {back:?}");
            assert!(keys.iter().all(|&key| table.contains(key) && seen.insert(key)), "{group:?}");
            groups.insert(group.clone(), keys);
        }
        groups
    }

    thread_local! {
        /// How many times a [`Counted`] entry's neighbours were reached.
        static TOUCHED: Cell<usize> = const { Cell::new(0) };
    }

    struct Counted(Neighbours);

    impl Grouping for Counted {
        type Entry = Counted;
        fn neighbours(entry: &Counted) -> &Neighbours {
            &entry.0
        }
        fn neighbours_mut(entry: &mut Counted) -> &mut Neighbours {
            TOUCHED.with(|n| n.set(n.get() + 1));
            &mut entry.0
        }
    }

    /// The defect r11: removing a key scanned its whole group, so that
    /// emptying a group of n (n timers of one owner firing, n one-shot
    /// listeners of one name hearing a signal) cost O(n^2). Removing one now
    /// reaches its two neighbours at most, wherever it sits.
    #[test]
    fn removing_a_key_reaches_only_its_neighbours() {
        const N: usize = 10_000;
        let mut table = Slab::new();
        let mut index = KeyIndex::<u8, Counted>::default();
        for _ in 0..N {
            let key = table.insert(Counted(Neighbours::default()));
            index.link(&mut table, 0, key);
        }
        // A scrambled order (7919 is prime to N): ends and middles alike.
        let order: Vec<usize> = (0..N).map(|i| i * 7919 % N).collect();
        TOUCHED.with(|n| n.set(0));
        for (removed, &key) in order.iter().enumerate() {
            let Counted(neighbours) = table.remove(key);
            index.unlink(&mut table, &0, neighbours);
            let touched = TOUCHED.with(|n| n.get());
            assert!(
                touched <= 2 * (removed + 1),
                "{touched} entries reached by {removed} removals"
            );
            if removed == N / 2 {
                let mut left: Vec<usize> = order[removed + 1..].to_vec();
                left.sort_unstable();
                assert_eq!(groups(&index, &table)[&0], left, "the rest keep their order");
            }
        }
        assert!(index.groups.is_empty() && table.is_empty());
    }

    fn noop() -> ListenerFn {
        Box::new(|_| true)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Listen { owner: usize, name: u8 },
        Ignore(usize),
        Timer { owner: usize },
        Cancel(usize),
        DropOwner(usize),
    }

    fn op(rng: &mut crate::testing::Rng) -> Op {
        match rng.weighted(&[4, 3, 3, 2, 1]) {
            0 => Op::Listen { owner: rng.below(3), name: rng.below(3) as u8 },
            1 => Op::Ignore(rng.below(64)),
            2 => Op::Timer { owner: rng.below(3) },
            3 => Op::Cancel(rng.below(64)),
            _ => Op::DropOwner(rng.below(3)),
        }
    }

    /// Interleaved registrations and removals (one at a time or an owner's
    /// all at once) leave every group as a list in registration order would:
    /// the model is that list, filtered.
    #[test]
    fn groups_keep_registration_order() {
        crate::testing::cases(|rng, steps| {
            let mut listeners = Listeners::default();
            let mut timers = Timers::default();
            // (key, owner, name) and (key, owner), oldest first.
            let mut listened: Vec<(usize, usize, Arc<str>)> = Vec::new();
            let mut timed: Vec<(usize, usize)> = Vec::new();
            let mut graveyard = Graveyard::new();
            for op in (0..steps).map(|_| op(rng)) {
                match op {
                    Op::Listen { owner, name } => {
                        let name: Arc<str> = Arc::from(format!("n{name}"));
                        let (key, _) = listeners.add(TaskKey(owner), name.clone(), noop());
                        listened.push((key, owner, name));
                    }
                    Op::Ignore(i) if !listened.is_empty() => {
                        let (key, ..) = listened.remove(i % listened.len());
                        assert!(listeners.remove(key).is_some());
                    }
                    Op::Timer { owner } => {
                        let (key, _) = timers.add(
                            TaskKey(owner),
                            Duration::from_secs(1),
                            Some(1),
                            Box::new(|| {}),
                        );
                        timed.push((key, owner));
                    }
                    Op::Cancel(i) if !timed.is_empty() => {
                        let (key, _) = timed.remove(i % timed.len());
                        assert!(timers.remove(key).is_some());
                    }
                    Op::DropOwner(owner) => {
                        listeners.drop_owner(TaskKey(owner), &mut graveyard);
                        timers.drop_owner(TaskKey(owner), &mut graveyard);
                        listened.retain(|&(_, o, _)| o != owner);
                        timed.retain(|&(_, o)| o != owner);
                    }
                    _ => {}
                }
                let mut by_name: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
                let mut by_owner: HashMap<TaskKey, Vec<usize>> = HashMap::new();
                for (key, owner, name) in &listened {
                    by_name.entry(name.clone()).or_default().push(*key);
                    by_owner.entry(TaskKey(*owner)).or_default().push(*key);
                }
                let mut timers_of: HashMap<TaskKey, Vec<usize>> = HashMap::new();
                for &(key, owner) in &timed {
                    timers_of.entry(TaskKey(owner)).or_default().push(key);
                }
                assert_eq!(groups(&listeners.by_name, &listeners.table), by_name.clone());
                assert_eq!(groups(&listeners.owned, &listeners.table), by_owner);
                assert_eq!(groups(&timers.owned, &timers.table), timers_of);
                assert_eq!(listeners.table.len(), listened.len());
                assert_eq!(timers.table.len(), timed.len());
                for (name, keys) in &by_name {
                    let named: Vec<usize> = listeners.named(name).map(|(key, _)| key).collect();
                    assert_eq!(&named, keys);
                }
                assert!(!listeners.has_name("n9"));
            }
        });
    }

    /// Records its label when dropped.
    struct Tag(&'static str, Rc<RefCell<Vec<&'static str>>>);

    impl Drop for Tag {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    /// An owner's listeners and timers go oldest first (their callbacks are
    /// dropped in that order), and no one else's.
    #[test]
    fn drop_owner_removes_the_owners_registrations_oldest_first() {
        const LABELS: [&str; 6] = ["0", "1", "2", "3", "4", "5"];
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let mut listeners = Listeners::default();
        let mut timers = Timers::default();
        for (i, label) in LABELS.into_iter().enumerate() {
            let owner = i % 2;
            let name: Arc<str> = Arc::from(if i < 3 { "a" } else { "b" });
            let tag = Tag(label, dropped.clone());
            listeners.add(
                TaskKey(owner),
                name,
                Box::new(move |_| {
                    let _keep = &tag;
                    true
                }),
            );
            let tag = Tag(label, dropped.clone());
            timers.add(
                TaskKey(owner),
                Duration::from_secs(1),
                None,
                Box::new(move || {
                    let _keep = &tag;
                }),
            );
        }
        let mut graveyard = Graveyard::new();
        listeners.drop_owner(TaskKey(1), &mut graveyard);
        timers.drop_owner(TaskKey(1), &mut graveyard);
        let kinds: Vec<&str> = graveyard.iter().map(|&(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, ["listener", "listener", "listener", "timer", "timer", "timer"]);
        drop(graveyard);
        assert_eq!(dropped.take(), ["1", "3", "5", "1", "3", "5"]);
        let names = groups(&listeners.by_name, &listeners.table);
        assert_eq!((names["a"].len(), names["b"].len()), (2, 1));
        assert!(groups(&listeners.owned, &listeners.table).keys().eq([&TaskKey(0)]));
        assert!(groups(&timers.owned, &timers.table).keys().eq([&TaskKey(0)]));
        assert_eq!((listeners.table.len(), timers.table.len()), (3, 3));
    }

    /// Held timers are released oldest first, each once.
    #[test]
    fn release_held_releases_each_held_timer_of_the_owner_once() {
        let mut timers = Timers::default();
        let ids: Vec<(usize, u64)> = (0..5)
            .map(|i| timers.add(TaskKey(i % 2), Duration::ZERO, Some(1), Box::new(|| {})))
            .collect();
        for &(key, _) in &ids {
            timers.table[key].held = true;
        }
        let released: Vec<(usize, u64)> = timers.release_held(TaskKey(0)).collect();
        assert_eq!(released, [ids[0], ids[2], ids[4]]);
        assert_eq!(timers.release_held(TaskKey(0)).count(), 0);
        assert_eq!(timers.release_held(TaskKey(1)).count(), 2);
    }

    /// A firing reads the timer's key test, its callback and its count: on a
    /// 64-bit target they share one cache line, whichever the timer.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_timer_takes_one_cache_line() {
        let mut timers = Timers::default();
        let keys: Vec<usize> = (0..3)
            .map(|_| timers.add(TaskKey(0), Duration::from_millis(1), Some(1), Box::new(|| {})).0)
            .collect();
        let at = |key: usize| &timers.table[key] as *const Timer as usize;
        assert_eq!(at(keys[0]) % 64, 0);
        assert_eq!((at(keys[1]) - at(keys[0]), at(keys[2]) - at(keys[1])), (64, 64));
    }
}
