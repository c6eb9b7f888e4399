//! The kernel's clock (real or virtual) and its deadline queue.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The kernel's clock. Times are `Duration`s since the kernel started, so a
/// virtual clock starts at zero and a real one at the kernel's creation.
#[derive(Debug)]
pub(crate) enum Clock {
    /// `read` is the last time read: a lower bound of now that costs no
    /// call to the OS.
    Real {
        start: Instant,
        read: Cell<Duration>,
    },
    Virtual {
        now: Duration,
    },
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        if virtual_time {
            Clock::Virtual { now: Duration::ZERO }
        } else {
            Clock::Real { start: Instant::now(), read: Cell::new(Duration::ZERO) }
        }
    }

    pub(crate) fn now(&self) -> Duration {
        match self {
            Clock::Real { start, read } => {
                let now = start.elapsed();
                read.set(now);
                now
            }
            Clock::Virtual { now } => *now,
        }
    }

    /// Whether `at` has come: answered from the last time read when that
    /// suffices (a deadline computed from it, as a zero sleep's is), so that
    /// the real clock is read only when the answer may have changed since.
    pub(crate) fn reached(&self, at: Duration) -> bool {
        match self {
            Clock::Real { read, .. } => at <= read.get() || at <= self.now(),
            Clock::Virtual { now } => at <= *now,
        }
    }

    /// The instant on the OS's clock at which a real clock reads `at`;
    /// `None` on a virtual clock (or past what `Instant` can hold).
    pub(crate) fn instant(&self, at: Duration) -> Option<Instant> {
        match self {
            Clock::Real { start, .. } => start.checked_add(at),
            Clock::Virtual { .. } => None,
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }

    /// Moves a virtual clock forward to `at` (never backwards); a real clock
    /// moves by itself, so this does nothing to it.
    pub(crate) fn advance_to(&mut self, at: Duration) {
        if let Clock::Virtual { now } = self {
            *now = (*now).max(at);
        }
    }
}

/// A min-queue of deadlines. Ties wake in the order they were added: each entry
/// carries a sequence number, and the kernel's rounds use it to leave entries
/// added during a round (a `sleep(ZERO)` that is due "now") for the next one.
///
/// Most entries arrive in time order, and those skip the heap: entries already
/// due when added (a `sleep(ZERO)`, a wake-up scheduled for "now") wait in one
/// FIFO, and future entries no earlier than the last future one (threads or
/// timers that keep waiting the same interval) in another. Only the rest go to
/// the heap, and popping takes the earliest of the three fronts.
///
/// Deadlines are kept as whole nanoseconds, exact up to `u64::MAX` ns (about
/// 584 years). Later ones all share that last instant, wake in the order they
/// were added, and are reported as [`Duration::MAX`], so that no wait ever
/// appears to end before its deadline.
#[derive(Debug)]
pub(crate) struct DeadlineQueue<T> {
    /// Entries pushed out of order.
    heap: Heap<T>,
    /// Future entries in key order.
    later: VecDeque<Entry<T>>,
    /// Due entries in key order.
    due: VecDeque<Entry<T>>,
    next_seq: u64,
}

/// A place in the deadline order: the deadline in nanoseconds in the high
/// half, the sequence number in the low half, so that one integer comparison
/// orders by deadline, then by insertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key(u128);

impl Key {
    fn new(at: Duration, seq: u64) -> Key {
        let nanos = at
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(u64::from(at.subsec_nanos())))
            .unwrap_or(u64::MAX);
        Key(u128::from(nanos) << 64 | u128::from(seq))
    }

    /// The deadline, [`Duration::MAX`] for the saturated last instant.
    fn at(self) -> Duration {
        match (self.0 >> 64) as u64 {
            u64::MAX => Duration::MAX,
            nanos => Duration::from_nanos(nanos),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry<T> {
    key: Key,
    item: T,
}

/// An implicit 4-ary min-heap: node `i`'s children are `4i + 1` to `4i + 4`.
/// Half as deep as a binary heap. Items are `Copy` (the kernel's are two
/// integers), so entries move along a path by plain copies, without swaps.
/// Each entry keeps its key and item together: once the heap outgrows the
/// caches and the TLB, each level a hole sinks through costs one place in
/// memory (a node's children are 160 contiguous bytes with the kernel's
/// items), where keys kept apart from items cost two.
#[derive(Debug)]
struct Heap<T> {
    entries: Vec<Entry<T>>,
}

impl<T: Copy> Heap<T> {
    fn new() -> Self {
        Heap { entries: Vec::new() }
    }

    fn first_key(&self) -> Option<Key> {
        self.entries.first().map(|e| e.key)
    }

    fn first_item(&self) -> Option<&T> {
        self.entries.first().map(|e| &e.item)
    }

    fn items(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|e| &e.item)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn push(&mut self, entry: Entry<T>) {
        self.entries.push(entry);
        self.sift_up(self.entries.len() - 1, entry);
    }

    /// Removes the earliest entry.
    fn pop(&mut self) -> Option<T> {
        let first = self.entries.first()?.item;
        let last = self.entries.pop().expect("not empty");
        if !self.entries.is_empty() {
            // The last entry usually belongs near the bottom: the hole at the
            // root sinks all the way down first, and the entry climbs back up
            // from there, a step or two at most.
            let hole = self.sink_hole(0);
            self.sift_up(hole, last);
        }
        Some(first)
    }

    fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.entries.retain(|e| keep(&e.item));
        // Rebuilt bottom-up, O(n): each parent sinks its entry below the
        // heaps of its children.
        for i in (0..self.entries.len().div_ceil(4)).rev() {
            let entry = self.entries[i];
            let hole = self.sink_hole(i);
            self.sift_up_to(i, hole, entry);
        }
    }

    /// Moves `entry` into the hole at `i` or above it, moving parents down.
    fn sift_up(&mut self, i: usize, entry: Entry<T>) {
        self.sift_up_to(0, i, entry);
    }

    /// As `sift_up`, but no higher than `top`.
    fn sift_up_to(&mut self, top: usize, mut i: usize, entry: Entry<T>) {
        while i > top {
            let parent = (i - 1) / 4;
            if self.entries[parent].key <= entry.key {
                break;
            }
            self.entries[i] = self.entries[parent];
            i = parent;
        }
        self.entries[i] = entry;
    }

    /// Moves the hole at `i` down to a leaf, the least child up each level;
    /// returns where the hole ends.
    fn sink_hole(&mut self, mut i: usize) -> usize {
        let len = self.entries.len();
        loop {
            let first = 4 * i + 1;
            let child = match self.entries.get(first..first + 4) {
                Some(e) => {
                    let a = if e[1].key < e[0].key { 1 } else { 0 };
                    let b = if e[3].key < e[2].key { 3 } else { 2 };
                    first + if e[b].key < e[a].key { b } else { a }
                }
                None if first < len => {
                    let e = &self.entries[first..];
                    first
                        + (1..e.len())
                            .fold(0, |least, c| if e[c].key < e[least].key { c } else { least })
                }
                None => return i,
            };
            self.entries[i] = self.entries[child];
            i = child;
        }
    }
}

/// A point in the deadline order: everything strictly before it is "due".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cutoff(Key);

/// Where the earliest entry waits.
#[derive(Debug, Clone, Copy)]
enum Source {
    Due,
    Later,
    Heap,
}

impl<T: Copy> DeadlineQueue<T> {
    pub(crate) fn new() -> Self {
        DeadlineQueue {
            heap: Heap::new(),
            later: VecDeque::new(),
            due: VecDeque::new(),
            next_seq: 0,
        }
    }

    fn entry(&mut self, at: Duration, item: T) -> Entry<T> {
        let seq = self.next_seq;
        self.next_seq += 1;
        Entry { key: Key::new(at, seq), item }
    }

    /// Adds an entry: O(1) when it is not earlier than the last future entry
    /// added this way, as is the case when every wait is of the same length.
    pub(crate) fn push(&mut self, at: Duration, item: T) {
        let entry = self.entry(at, item);
        self.push_later(entry);
    }

    fn push_later(&mut self, entry: Entry<T>) {
        if self.later.back().is_some_and(|last| last.key > entry.key) {
            self.heap.push(entry);
        } else {
            self.later.push_back(entry);
        }
    }

    /// Adds an entry that is due already (`at` is not after the clock's now):
    /// O(1) when it is not earlier than the last such entry, as is the case
    /// for everything pushed "now".
    #[inline]
    pub(crate) fn push_due(&mut self, at: Duration, item: T) {
        let entry = self.entry(at, item);
        if self.due.back().is_some_and(|last| last.key > entry.key) {
            self.push_later(entry);
        } else {
            self.due.push_back(entry);
        }
    }

    /// Whether the list of entries that were due when added (by
    /// [`push_due`], in order) holds any, stale ones included.
    ///
    /// [`push_due`]: DeadlineQueue::push_due
    pub(crate) fn has_pushed_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// Where the earliest entry waits, and its key.
    fn first(&self) -> Option<(Key, Source)> {
        let mut first = self.heap.first_key().map(|key| (key, Source::Heap));
        for (front, source) in
            [(self.later.front(), Source::Later), (self.due.front(), Source::Due)]
        {
            match (front, first) {
                (Some(e), Some((key, _))) if e.key >= key => {}
                (Some(e), _) => first = Some((e.key, source)),
                (None, _) => {}
            }
        }
        first
    }

    fn front(&self, source: Source) -> Option<&T> {
        match source {
            Source::Due => self.due.front().map(|e| &e.item),
            Source::Later => self.later.front().map(|e| &e.item),
            Source::Heap => self.heap.first_item(),
        }
    }

    #[inline]
    fn take(&mut self, source: Source) -> Option<T> {
        match source {
            Source::Due => self.due.pop_front().map(|e| e.item),
            Source::Later => self.later.pop_front().map(|e| e.item),
            Source::Heap => self.heap.pop(),
        }
    }

    /// The cutoff for a round that starts at `now`: entries due by `now` and
    /// added before this call. From the last exact instant (`u64::MAX` ns,
    /// about 584 years) on, nothing there is due until `now` is
    /// `Duration::MAX` itself: such a deadline may be met late, never early.
    pub(crate) fn cutoff(&self, now: Duration) -> Cutoff {
        let key = Key::new(now, self.next_seq);
        if (key.0 >> 64) as u64 == u64::MAX && now != Duration::MAX {
            return Cutoff(Key(u128::from(u64::MAX) << 64));
        }
        Cutoff(key)
    }

    /// Removes and returns the earliest entry if it lies before `cutoff`.
    #[inline]
    pub(crate) fn pop_due(&mut self, cutoff: Cutoff) -> Option<T> {
        let (key, source) = self.first()?;
        if key >= cutoff.0 {
            return None;
        }
        self.take(source)
    }

    /// Whether an entry lies before `cutoff`: a length test alone when the
    /// queue is empty.
    #[inline]
    pub(crate) fn has_due(&self, cutoff: Cutoff) -> bool {
        self.len() != 0 && self.first().is_some_and(|(key, _)| key < cutoff.0)
    }

    /// The earliest entry, stale or not.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(Duration, &T)> {
        let (key, source) = self.first()?;
        self.front(source).map(|item| (key.at(), item))
    }

    /// The earliest deadline, stale or not: a few loads when the queue is
    /// empty, as it is between threads that only hand each other values.
    #[inline]
    pub(crate) fn first_at(&self) -> Option<Duration> {
        if self.len() == 0 {
            return None;
        }
        self.first().map(|(key, _)| key.at())
    }

    /// Every entry, in no particular order.
    pub(crate) fn items(&self) -> impl Iterator<Item = &T> {
        let queued = self.later.iter().chain(&self.due).map(|e| &e.item);
        self.heap.items().chain(queued)
    }

    /// Drops the earliest entry.
    pub(crate) fn pop(&mut self) {
        if let Some((_, source)) = self.first() {
            self.take(source);
        }
    }

    /// Drops every entry for which `keep` returns false (stale wake-ups), so the
    /// queue never holds more dead entries than live ones for long.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.heap.retain(&mut keep);
        self.later.retain(|e| keep(&e.item));
        self.due.retain(|e| keep(&e.item));
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len() + self.later.len() + self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pops_in_deadline_order_ties_by_insertion() {
        let mut q = DeadlineQueue::new();
        q.push(ms(5), "c");
        q.push(ms(1), "a");
        q.push(ms(5), "d");
        q.push(ms(1), "b");
        let cut = q.cutoff(ms(10));
        let order: Vec<_> = std::iter::from_fn(|| q.pop_due(cut)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn entries_added_after_the_cutoff_wait_for_the_next_round() {
        let mut q = DeadlineQueue::new();
        q.push(ms(0), 1);
        let cut = q.cutoff(ms(0));
        q.push(ms(0), 2);
        assert_eq!(q.pop_due(cut), Some(1));
        assert_eq!(q.pop_due(cut), None);
        assert_eq!(q.pop_due(q.cutoff(ms(0))), Some(2));
    }

    #[test]
    fn future_entries_are_not_due() {
        let mut q = DeadlineQueue::new();
        q.push(ms(3), ());
        assert_eq!(q.pop_due(q.cutoff(ms(2))), None);
        assert_eq!(q.peek().map(|(at, _)| at), Some(ms(3)));
        assert_eq!(q.pop_due(q.cutoff(ms(3))), Some(()));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn due_entries_merge_with_the_heap_in_deadline_order() {
        let mut q = DeadlineQueue::new();
        q.push(ms(2), "heap 2");
        q.push_due(ms(1), "due 1");
        q.push(ms(1), "heap 1 (later seq)");
        q.push_due(ms(3), "due 3");
        q.push_due(ms(2), "due 2 (out of order: goes to the heap)");
        let cut = q.cutoff(ms(10));
        let order: Vec<_> = std::iter::from_fn(|| q.pop_due(cut)).collect();
        assert_eq!(
            order,
            [
                "due 1",
                "heap 1 (later seq)",
                "heap 2",
                "due 2 (out of order: goes to the heap)",
                "due 3"
            ]
        );
        q.push_due(ms(4), "a");
        q.push(ms(4), "b");
        q.retain(|&item| item != "a");
        assert_eq!(q.len(), 1);
        assert_eq!(q.peek().map(|(at, &item)| (at, item)), Some((ms(4), "b")));
    }

    #[test]
    fn deadlines_past_u64_nanoseconds_share_the_last_instant() {
        let mut q = DeadlineQueue::new();
        q.push(Duration::MAX, "max");
        q.push(Duration::from_secs(u64::MAX / 2), "far");
        q.push(Duration::from_nanos(u64::MAX - 1), "exact");
        assert_eq!(q.peek().map(|(at, _)| at), Some(Duration::from_nanos(u64::MAX - 1)));
        q.pop();
        // Not before either deadline, so no wait ends early.
        assert_eq!(q.peek().map(|(at, &item)| (at, item)), Some((Duration::MAX, "max")));
        assert_eq!(q.pop_due(q.cutoff(Duration::from_nanos(u64::MAX - 1))), None);
        let cut = q.cutoff(Duration::MAX);
        let order: Vec<_> = std::iter::from_fn(|| q.pop_due(cut)).collect();
        assert_eq!(order, ["max", "far"]);
    }

    #[test]
    fn the_heap_keeps_its_order_through_retain() {
        let mut q = DeadlineQueue::new();
        // Decreasing deadlines: all but the first go to the heap.
        for i in (0..200u64).rev() {
            q.push(Duration::from_micros(i * 7 % 101), i);
        }
        q.retain(|&i| i % 3 != 0);
        let mut expected: Vec<_> = (0..200u64).rev().filter(|i| i % 3 != 0).collect();
        // Stable: ties keep the insertion order.
        expected.sort_by_key(|i| i * 7 % 101);
        let cut = q.cutoff(Duration::from_secs(1));
        let order: Vec<_> = std::iter::from_fn(|| q.pop_due(cut)).collect();
        assert_eq!(order, expected);
    }

    /// One step of a random use of the queue.
    #[derive(Debug, Clone)]
    enum Op {
        Push(Duration),
        PushDue(Duration),
        /// Takes a new cutoff at this `now`.
        Cutoff(Duration),
        PopDue,
        Pop,
        /// Drops the entries whose number is a multiple of this.
        Retain(u32),
    }

    fn deadline(rng: &mut Rng) -> Duration {
        match rng.weighted(&[8, 1, 1, 1, 1]) {
            0 => ms(rng.below(12) as u64),
            1 => Duration::MAX,
            2 => Duration::from_nanos(u64::MAX),
            3 => Duration::from_nanos(u64::MAX - 1),
            _ => Duration::from_secs(u64::MAX / 1_000_000_000 + 1),
        }
    }

    fn op(rng: &mut Rng) -> Op {
        match rng.weighted(&[4, 2, 1, 3, 1, 1]) {
            0 => Op::Push(deadline(rng)),
            1 => Op::PushDue(deadline(rng)),
            2 => Op::Cutoff(deadline(rng)),
            3 => Op::PopDue,
            4 => Op::Pop,
            _ => Op::Retain(2 + rng.below(3) as u32),
        }
    }

    /// The reference: a list sorted on demand, deadlines past `u64::MAX` ns
    /// cut down to it (and reported as `Duration::MAX`, due only then), ties
    /// by insertion.
    #[derive(Default)]
    struct Model {
        entries: Vec<(Duration, u64, u32)>,
        next_seq: u64,
    }

    impl Model {
        const LAST: Duration = Duration::from_nanos(u64::MAX);

        fn push(&mut self, at: Duration, id: u32) {
            self.entries.push((at.min(Self::LAST), self.next_seq, id));
            self.next_seq += 1;
        }

        fn first(&self) -> Option<usize> {
            (0..self.entries.len()).min_by_key(|&i| (self.entries[i].0, self.entries[i].1))
        }

        fn peek(&self) -> Option<(Duration, u32)> {
            let (at, _, id) = self.entries[self.first()?];
            Some((if at == Self::LAST { Duration::MAX } else { at }, id))
        }

        fn pop_due(&mut self, (now, seq): (Duration, u64)) -> Option<u32> {
            let i = self.first()?;
            let (at, s, _) = self.entries[i];
            // At or past the last exact instant, nothing there is due before
            // `Duration::MAX` itself.
            let cut = if now >= Self::LAST && now != Duration::MAX {
                (Self::LAST, 0)
            } else {
                (now.min(Self::LAST), seq)
            };
            ((at, s) < cut).then(|| self.entries.remove(i).2)
        }
    }

    #[test]
    fn agrees_with_a_sorted_list() {
        crate::testing::cases(|rng, steps| {
            let mut q = DeadlineQueue::new();
            let mut model = Model::default();
            let mut cut = (q.cutoff(Duration::ZERO), (Duration::ZERO, 0));
            for (id, op) in (0u32..).zip((0..steps).map(|_| op(rng))) {
                match op {
                    Op::Push(at) => {
                        q.push(at, id);
                        model.push(at, id);
                    }
                    Op::PushDue(at) => {
                        q.push_due(at, id);
                        model.push(at, id);
                    }
                    Op::Cutoff(now) => cut = (q.cutoff(now), (now, model.next_seq)),
                    Op::PopDue => assert_eq!(q.pop_due(cut.0), model.pop_due(cut.1)),
                    Op::Pop => {
                        q.pop();
                        if let Some(i) = model.first() {
                            model.entries.remove(i);
                        }
                    }
                    Op::Retain(m) => {
                        q.retain(|&id| id % m != 0);
                        model.entries.retain(|&(_, _, id)| id % m != 0);
                    }
                }
                assert_eq!(q.peek().map(|(at, &id)| (at, id)), model.peek());
                assert_eq!(q.len(), model.entries.len());
                let mut items: Vec<u32> = q.items().copied().collect();
                let mut expected: Vec<u32> = model.entries.iter().map(|e| e.2).collect();
                items.sort_unstable();
                expected.sort_unstable();
                assert_eq!(items, expected);
            }
        });
    }

    #[test]
    fn a_real_clock_answers_reached_from_its_last_reading_or_reads_again() {
        let c = Clock::new(false);
        let first = c.now();
        assert!(c.reached(first) && c.reached(Duration::ZERO));
        assert!(!c.reached(first + Duration::from_secs(3600)));
        // A reading moves the bound; asking about a later instant reads again.
        let later = c.now();
        assert!(later >= first && c.reached(later));
        let Clock::Real { read, .. } = &c else { unreachable!() };
        assert_eq!(read.get(), later);
        assert!(!c.reached(later + Duration::from_secs(3600)));
        assert!(read.get() >= later);
    }

    #[test]
    fn virtual_clock_only_moves_forward() {
        let mut c = Clock::new(true);
        assert_eq!(c.now(), Duration::ZERO);
        c.advance_to(ms(7));
        c.advance_to(ms(3));
        assert_eq!(c.now(), ms(7));
        assert!(c.is_virtual());
    }
}
