//! Listener and timer tables: event registrations that belong to a thread (or
//! program) and die with it.

use std::any::Any;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use slab::Slab;

use super::name::FastHash;

/// Table keys grouped by some attribute (a name, an owner), each group in
/// insertion order; empty groups are dropped.
pub(crate) struct KeyIndex<K> {
    groups: HashMap<K, Vec<usize>, FastHash>,
}

impl<K> Default for KeyIndex<K> {
    fn default() -> Self {
        KeyIndex { groups: HashMap::default() }
    }
}

impl<K: Hash + Eq> KeyIndex<K> {
    fn insert(&mut self, group: K, key: usize) {
        self.groups.entry(group).or_default().push(key);
    }

    fn remove<Q: Hash + Eq + ?Sized>(&mut self, group: &Q, key: usize)
    where
        K: Borrow<Q>,
    {
        if let Some(keys) = self.groups.get_mut(group) {
            keys.retain(|&k| k != key);
            if keys.is_empty() {
                self.groups.remove(group);
            }
        }
    }

    /// The keys of `group`, in insertion order.
    pub(crate) fn get<Q: Hash + Eq + ?Sized>(&self, group: &Q) -> Option<&[usize]>
    where
        K: Borrow<Q>,
    {
        self.groups.get(group).map(Vec::as_slice)
    }

    fn take(&mut self, group: &K) -> Vec<usize> {
        // Most tasks register nothing: skip the hashing then.
        if self.groups.is_empty() {
            return Vec::new();
        }
        self.groups.remove(group).unwrap_or_default()
    }
}

pub(crate) type ListenerFn = Box<dyn FnMut(&super::Signal) -> bool>;
pub(crate) type TimerFn = Box<dyn FnMut()>;

pub(crate) struct Listener {
    pub(crate) owner: usize,
    pub(crate) serial: u64,
    pub(crate) name: Arc<str>,
    /// `None` while the callback runs.
    pub(crate) callback: Option<ListenerFn>,
}

/// Listeners by key, by name (in registration order) and by owner.
#[derive(Default)]
pub(crate) struct Listeners {
    pub(crate) table: Slab<Listener>,
    pub(crate) by_name: KeyIndex<Arc<str>>,
    owned: KeyIndex<usize>,
    next_serial: u64,
}

impl Listeners {
    pub(crate) fn add(
        &mut self,
        owner: usize,
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
        });
        self.by_name.insert(name, key);
        self.owned.insert(owner, key);
        (key, serial)
    }

    pub(crate) fn get(&self, key: usize, serial: u64) -> Option<&Listener> {
        self.table.get(key).filter(|l| l.serial == serial)
    }

    pub(crate) fn get_mut(&mut self, key: usize, serial: u64) -> Option<&mut Listener> {
        self.table.get_mut(key).filter(|l| l.serial == serial)
    }

    /// Removes a listener; its callback (user code) is returned to be dropped
    /// outside the kernel's borrow.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Box<dyn Any>> {
        let listener = self.table.try_remove(key)?;
        self.by_name.remove(&*listener.name, key);
        self.owned.remove(&listener.owner, key);
        listener.callback.map(|cb| Box::new(cb) as Box<dyn Any>)
    }

    /// Removes every listener of `owner`.
    pub(crate) fn drop_owner(&mut self, owner: usize, graveyard: &mut Graveyard) {
        for key in self.owned.take(&owner) {
            graveyard.extend(self.remove(key).map(|cb| ("listener", cb)));
        }
    }
}

/// Callbacks let go of, labelled with their kind, to be dropped with nothing
/// borrowed.
pub(crate) type Graveyard = Vec<(&'static str, Box<dyn Any>)>;

pub(crate) struct Timer {
    pub(crate) owner: usize,
    pub(crate) serial: u64,
    pub(crate) interval: Duration,
    /// Firings left; `None` is forever.
    pub(crate) remaining: Option<u32>,
    /// `None` while the callback runs.
    pub(crate) callback: Option<TimerFn>,
    /// A zero-interval firing fell due while the owner was frozen: the timer
    /// waits out of the deadline queue (where it would fall due again at
    /// once, for ever) until the owner thaws.
    pub(crate) held: bool,
}

/// Timers by key and by owner.
#[derive(Default)]
pub(crate) struct Timers {
    pub(crate) table: Slab<Timer>,
    owned: KeyIndex<usize>,
    next_serial: u64,
}

impl Timers {
    pub(crate) fn add(
        &mut self,
        owner: usize,
        interval: Duration,
        remaining: Option<u32>,
        callback: TimerFn,
    ) -> (usize, u64) {
        self.next_serial += 1;
        let serial = self.next_serial;
        let key = self.table.insert(Timer {
            owner,
            serial,
            interval,
            remaining,
            callback: Some(callback),
            held: false,
        });
        self.owned.insert(owner, key);
        (key, serial)
    }

    pub(crate) fn get_mut(&mut self, key: usize, serial: u64) -> Option<&mut Timer> {
        self.table.get_mut(key).filter(|t| t.serial == serial)
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<Box<dyn Any>> {
        let timer = self.table.try_remove(key)?;
        self.owned.remove(&timer.owner, key);
        timer.callback.map(|cb| Box::new(cb) as Box<dyn Any>)
    }

    pub(crate) fn drop_owner(&mut self, owner: usize, graveyard: &mut Graveyard) {
        for key in self.owned.take(&owner) {
            graveyard.extend(self.remove(key).map(|cb| ("timer", cb)));
        }
    }

    /// Releases `owner`'s held timers (its owner thawed), as `(key, serial)`
    /// to schedule.
    pub(crate) fn release_held(&mut self, owner: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        let Timers { table, owned, .. } = self;
        owned.get(&owner).unwrap_or_default().iter().filter_map(move |&key| {
            let timer = &mut table[key];
            std::mem::take(&mut timer.held).then_some((key, timer.serial))
        })
    }
}
