//! The kernel's clock (real or virtual) and its deadline queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// The kernel's clock. Times are `Duration`s since the kernel started, so a
/// virtual clock starts at zero and a real one at the kernel's creation.
#[derive(Debug)]
pub(crate) enum Clock {
    Real { start: Instant },
    Virtual { now: Duration },
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        if virtual_time {
            Clock::Virtual { now: Duration::ZERO }
        } else {
            Clock::Real { start: Instant::now() }
        }
    }

    pub(crate) fn now(&self) -> Duration {
        match self {
            Clock::Real { start } => start.elapsed(),
            Clock::Virtual { now } => *now,
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
/// Entries that are already due when added (a `sleep(ZERO)`, a wake-up
/// scheduled for "now") come in time order, so they skip the heap: they wait
/// in a FIFO, and popping takes the earlier of the two fronts.
#[derive(Debug)]
pub(crate) struct DeadlineQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    /// Due entries in (at, seq) order.
    due: VecDeque<Entry<T>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<T> {
    at: Duration,
    seq: u64,
    item: T,
}

// Ordered by (at, seq) only: the payload takes no part in the order.
impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A point in the deadline order: everything strictly before it is "due".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cutoff {
    at: Duration,
    seq: u64,
}

impl<T> DeadlineQueue<T> {
    pub(crate) fn new() -> Self {
        DeadlineQueue { heap: BinaryHeap::new(), due: VecDeque::new(), next_seq: 0 }
    }

    pub(crate) fn push(&mut self, at: Duration, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { at, seq, item }));
    }

    /// Adds an entry that is due already (`at` is not after the clock's now):
    /// O(1) when it is not earlier than the last such entry, as is the case
    /// for everything pushed "now".
    pub(crate) fn push_due(&mut self, at: Duration, item: T) {
        if self.due.back().is_some_and(|last| last.at > at) {
            return self.push(at, item);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.due.push_back(Entry { at, seq, item });
    }

    /// Whether the FIFO's front comes before the heap's.
    fn due_first(&self) -> Option<bool> {
        match (self.due.front(), self.heap.peek()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(d), Some(Reverse(h))) => Some((d.at, d.seq) < (h.at, h.seq)),
        }
    }

    fn front(&self) -> Option<&Entry<T>> {
        match self.due_first()? {
            true => self.due.front(),
            false => self.heap.peek().map(|Reverse(e)| e),
        }
    }

    fn pop_front(&mut self) -> Option<Entry<T>> {
        match self.due_first()? {
            true => self.due.pop_front(),
            false => self.heap.pop().map(|Reverse(e)| e),
        }
    }

    /// The cutoff for a round that starts at `now`: entries due by `now` and
    /// added before this call.
    pub(crate) fn cutoff(&self, now: Duration) -> Cutoff {
        Cutoff { at: now, seq: self.next_seq }
    }

    /// Removes and returns the earliest entry if it lies before `cutoff`.
    pub(crate) fn pop_due(&mut self, cutoff: Cutoff) -> Option<T> {
        let due_first = self.due_first()?;
        let first = match due_first {
            true => self.due.front(),
            false => self.heap.peek().map(|Reverse(e)| e),
        }?;
        if (first.at, first.seq) >= (cutoff.at, cutoff.seq) {
            return None;
        }
        match due_first {
            true => self.due.pop_front().map(|e| e.item),
            false => self.heap.pop().map(|Reverse(e)| e.item),
        }
    }

    /// The earliest entry, stale or not.
    pub(crate) fn peek(&self) -> Option<(Duration, &T)> {
        self.front().map(|e| (e.at, &e.item))
    }

    /// Every entry, in no particular order.
    pub(crate) fn items(&self) -> impl Iterator<Item = &T> {
        self.heap.iter().map(|Reverse(e)| &e.item).chain(self.due.iter().map(|e| &e.item))
    }

    /// Drops the earliest entry.
    pub(crate) fn pop(&mut self) {
        self.pop_front();
    }

    /// Drops every entry for which `keep` returns false (stale wake-ups), so the
    /// queue never holds more dead entries than live ones for long.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.heap.retain(|Reverse(e)| keep(&e.item));
        self.due.retain(|e| keep(&e.item));
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len() + self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn virtual_clock_only_moves_forward() {
        let mut c = Clock::new(true);
        assert_eq!(c.now(), Duration::ZERO);
        c.advance_to(ms(7));
        c.advance_to(ms(3));
        assert_eq!(c.now(), ms(7));
        assert!(c.is_virtual());
    }
}
