//! The waiters of one primitive, in the order they are served: by priority
//! (smaller first), then by arrival. Every waiter keeps its [`Place`] for the
//! whole of its wait, so it can find its entry again (to store the waker of
//! its next park, to learn whether it was served) and take it out when its
//! wait ends otherwise (a timeout, a kill): the queue never keeps a waiter
//! that is gone.

use std::cell::Cell;
use std::collections::VecDeque;

/// One wait's place in a [`Queue`]: its priority and its arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Place {
    priority: i64,
    arrival: u64,
}

/// Entries sorted by [`Place`]; a FIFO queue is one of priority 0 only.
#[derive(Debug)]
pub(crate) struct Queue<E> {
    entries: VecDeque<(Place, E)>,
    arrivals: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<E> Queue<E> {
    pub(crate) const fn new() -> Self {
        Queue { entries: VecDeque::new(), arrivals: 0 }
    }

    /// Queues `entry` behind every entry of a `priority` as small or smaller.
    #[inline]
    pub(crate) fn push(&mut self, priority: i64, entry: E) -> Place {
        self.arrivals += 1;
        let place = Place { priority, arrival: self.arrivals };
        match self.entries.back() {
            Some(&(last, _)) if last > place => {
                let at = self.entries.partition_point(|&(p, _)| p < place);
                self.entries.insert(at, (place, entry));
            }
            // The common case, FIFO: at the back.
            _ => self.entries.push_back((place, entry)),
        }
        place
    }

    fn find(&self, place: Place) -> Option<usize> {
        // The common cases first: the newest waiter (it is registering), or
        // the oldest (it is being served).
        match (self.entries.front(), self.entries.back()) {
            (_, Some(&(last, _))) if last == place => Some(self.entries.len() - 1),
            (Some(&(first, _)), _) if first == place => Some(0),
            _ => self.entries.binary_search_by_key(&place, |&(p, _)| p).ok(),
        }
    }

    /// The entry at `place`, if it is still queued.
    pub(crate) fn get_mut(&mut self, place: Place) -> Option<&mut E> {
        let at = self.find(place)?;
        Some(&mut self.entries[at].1)
    }

    /// Whether the entry at `place` is still queued.
    pub(crate) fn contains(&self, place: Place) -> bool {
        self.find(place).is_some()
    }

    /// Takes out the entry at `place`, if it is still queued.
    pub(crate) fn remove(&mut self, place: Place) -> Option<E> {
        let at = self.find(place)?;
        self.entries.remove(at).map(|(_, e)| e)
    }

    /// The first entry.
    pub(crate) fn front(&self) -> Option<(Place, &E)> {
        self.entries.front().map(|(p, e)| (*p, e))
    }

    /// Takes out the first entry.
    pub(crate) fn pop_front(&mut self) -> Option<(Place, E)> {
        self.entries.pop_front()
    }

    /// Takes out the first entry whose place passes `keep`.
    pub(crate) fn remove_first(&mut self, keep: impl Fn(Place) -> bool) -> Option<(Place, E)> {
        let at = self.entries.iter().position(|&(p, _)| keep(p))?;
        self.entries.remove(at)
    }

    /// Takes out every entry, first first.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Place, E)> + '_ {
        self.entries.drain(..)
    }

    /// The entries, first first, to change in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut E> + '_ {
        self.entries.iter_mut().map(|(_, e)| e)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<W> Queue<Option<W>> {
    /// Files the `waker` of a waiter's park, first come first served: on
    /// its first park (`place` empty) it is queued and `place` set; on a
    /// later one it replaces the waker of its entry. The waker comes back if
    /// the entry has been taken out meanwhile (served, or dismissed): the
    /// waiter must not sleep.
    #[inline]
    pub(crate) fn file_waker(&mut self, place: &Cell<Option<Place>>, waker: W) -> Result<(), W> {
        match place.get() {
            None => {
                place.set(Some(self.push(0, Some(waker))));
                Ok(())
            }
            Some(at) => match self.get_mut(at) {
                Some(slot) => {
                    *slot = Some(waker);
                    Ok(())
                }
                None => Err(waker),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_priorities_first_and_arrival_order_among_equals() {
        let mut q = Queue::default();
        q.push(0, 'a');
        let b = q.push(5, 'b');
        q.push(-1, 'c');
        q.push(0, 'd');
        q.push(5, 'e');
        assert_eq!(q.remove(b), Some('b'));
        assert_eq!(q.remove(b), None, "taken once");
        let order: String = q.drain().map(|(_, e)| e).collect();
        assert_eq!(order, "cade");
    }

    #[test]
    fn an_entry_is_found_again_by_its_place() {
        let mut q = Queue::default();
        let places: Vec<_> = (0..10).map(|i| q.push(i % 3, i)).collect();
        for (i, &p) in places.iter().enumerate() {
            assert_eq!(q.get_mut(p).copied(), Some(i as i64));
        }
        assert_eq!(q.pop_front().map(|(_, e)| e), Some(0));
        assert!(!q.contains(places[0]) && q.contains(places[1]));
        assert_eq!(q.len(), 9);
    }

    #[test]
    fn remove_first_takes_the_first_entry_that_passes() {
        let mut q = Queue::default();
        let a = q.push(0, 'a');
        q.push(0, 'b');
        q.push(0, 'c');
        assert_eq!(q.remove_first(|p| p != a).map(|(_, e)| e), Some('b'));
        assert_eq!(q.remove_first(|_| false), None);
        assert_eq!(q.drain().map(|(_, e)| e).collect::<String>(), "ac");
    }

    #[test]
    fn a_waiter_files_itself_once_and_learns_when_it_was_taken_out() {
        let mut q: Queue<Option<&str>> = Queue::default();
        let place = Cell::new(None);
        assert_eq!(q.file_waker(&place, "first park"), Ok(()));
        assert_eq!(q.file_waker(&place, "second park"), Ok(()));
        assert_eq!(q.len(), 1, "one entry for the whole wait");
        assert_eq!(q.pop_front().map(|(_, w)| w), Some(Some("second park")));
        assert_eq!(q.file_waker(&place, "third park"), Err("third park"), "served: no sleep");
    }
}
