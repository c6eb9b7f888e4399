//! The stack allocator: green threads' stacks carved out of large chunks of
//! address space, with a guard page (and the overflow trap's emergency zone)
//! below every stack.
//!
//! A chunk is one anonymous `MAP_NORESERVE` mapping holding a row of slots
//! of one size. A slot, from its lowest address up, is the guard page, the
//! emergency zone ([`EMERGENCY`]) and the stack proper; the stack's base (its
//! highest address) is the slot's top. How the guard page and the zone are
//! made inaccessible is the chunk's [`Guards`]:
//!
//! - [`Guards::Regions`] (Linux 6.13 and later): the chunk is mapped readable
//!   and writable, and `madvise(MADV_GUARD_INSTALL)` marks the guard page and
//!   the zone in the page tables: an access faults as if they were unmapped,
//!   and the chunk stays one mapping, however many stacks it holds (adjacent
//!   chunks even merge into one).
//! - [`Guards::Protect`] (older kernels, other systems): the chunk is mapped
//!   inaccessible and each stack made accessible with `mprotect`, two
//!   mappings a stack, as many as a stack of its own would take. The count of
//!   the process's mappings is kept within `vm.max_map_count` ([`Mapped`]).
//!
//! A slot is carved the first time it is used. Its guards are installed, a
//! batch of slots ahead at a time ([`BATCH`]), where the kernel takes advice
//! on many ranges in one call, with their top pages committed in the same
//! way: two system calls for up to 64 new stacks. A stack
//! that ends goes back to its chunk's free slots, its pages still committed
//! ("dirty"), and is reused before a new slot is carved. Dirty slots beyond
//! [`DIRTY_SLOTS`] give their pages back (`MADV_DONTNEED`); a chunk whose
//! stacks have all ended is unmapped at once, unless it is the one being
//! carved, and every empty chunk goes when the allocator is closed. A
//! stack kept for ever (see [`ThreadStack::keep`]) keeps its chunk mapped for
//! ever: nothing on it is ever unmapped.

use std::cell::RefCell;
use std::io;
use std::mem::ManuallyDrop;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};
use libc::c_void;

use crate::overflow::EMERGENCY;

/// `madvise` advice that installs guard regions (Linux 6.13), and the one
/// that removes them; not in the `libc` crate yet.
#[cfg(target_os = "linux")]
pub(crate) const MADV_GUARD_INSTALL: libc::c_int = 102;
#[cfg(target_os = "linux")]
pub(crate) const MADV_GUARD_REMOVE: libc::c_int = 103;

/// `process_madvise`'s name for the calling process (Linux 6.15): advice
/// on many ranges in one system call, with no file descriptor to keep.
#[cfg(target_os = "linux")]
const PIDFD_SELF: libc::c_int = -10_000;

/// The most slots whose guards are installed (and whose top pages are made
/// ready) in one go: the next slots of a chunk, when the one before them is
/// carved. Batches start at one slot and double, so that a kernel of a few
/// threads prepares few.
const BATCH: usize = 64;

/// The environment variable that makes every stack of the process use
/// [`Guards::Protect`] when set to `mprotect`: to compare the two kinds, or
/// to go round a kernel whose guard regions misbehave.
pub(crate) const GUARDS_VAR: &str = "COTHREAD_STACK_GUARDS";

/// A chunk's address space, about: at 256 KiB stacks, about 200 stacks a chunk.
const CHUNK_BYTES: usize = 64 << 20;

/// Freed slots of live chunks whose pages stay committed, at most (or two
/// chunks' worth, if more); past it they are given back to the OS, all at
/// once.
pub(crate) const DIRTY_SLOTS: usize = 256;

/// How the guard page and the emergency zone below each stack are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guards {
    /// Guard regions in a readable, writable chunk: no mapping a stack.
    Regions,
    /// `mprotect`: the chunk is inaccessible but for its stacks, two
    /// mappings a stack.
    Protect,
}

impl Guards {
    /// The best this process's kernel offers, found out once (a guard region
    /// installed in a scratch mapping), unless [`GUARDS_VAR`] asks for
    /// `mprotect`.
    pub(crate) fn detect() -> Guards {
        static FOUND: AtomicU8 = AtomicU8::new(0);
        match FOUND.load(Ordering::Relaxed) {
            1 => Guards::Regions,
            2 => Guards::Protect,
            _ => {
                let forced = std::env::var_os(GUARDS_VAR).is_some_and(|v| v == "mprotect");
                let guards =
                    if !forced && regions_supported() { Guards::Regions } else { Guards::Protect };
                FOUND.store(if guards == Guards::Regions { 1 } else { 2 }, Ordering::Relaxed);
                guards
            }
        }
    }

    /// The mappings a slot adds to its chunk's one when it is carved.
    fn mappings_per_slot(self) -> usize {
        match self {
            Guards::Regions => 0,
            Guards::Protect => 2,
        }
    }
}

/// Whether `madvise(MADV_GUARD_INSTALL)` works here.
#[cfg(target_os = "linux")]
fn regions_supported() -> bool {
    let page = page_size();
    let Ok(scratch) = map(2 * page, Guards::Regions) else { return false };
    // SAFETY: the first page of a mapping of our own, which nothing uses.
    let installed = unsafe { libc::madvise(scratch as *mut c_void, page, MADV_GUARD_INSTALL) == 0 };
    unmap(scratch, 2 * page);
    installed
}

#[cfg(not(target_os = "linux"))]
fn regions_supported() -> bool {
    false
}

/// The page size, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: `sysconf` has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) });
            let page = page.ok().filter(|p| p.is_power_of_two()).unwrap_or(4096);
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// Maps `len` bytes of fresh address space for a chunk: accessible for
/// [`Guards::Regions`], not for [`Guards::Protect`]; never charged against
/// the commit limit up front where the OS honours `MAP_NORESERVE`.
fn map(len: usize, guards: Guards) -> io::Result<usize> {
    let prot = match guards {
        Guards::Regions => libc::PROT_READ | libc::PROT_WRITE,
        Guards::Protect => libc::PROT_NONE,
    };
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: a new anonymous mapping at an address of the OS's choosing
    // touches no memory the program has.
    let address = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, -1, 0) };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // A stack's first touch must commit one page, not a huge page of 2 MiB
    // (where transparent huge pages are always on). The whole mapping is
    // marked, so that it still merges with its neighbours.
    #[cfg(target_os = "linux")]
    // SAFETY: advice on a mapping of our own that nothing uses yet.
    unsafe {
        libc::madvise(address, len, libc::MADV_NOHUGEPAGE)
    };
    Ok(address as usize)
}

/// Unmaps a chunk's mapping (or a scratch one).
fn unmap(address: usize, len: usize) {
    // SAFETY: callers pass a mapping of their own that nothing refers to any
    // more (a chunk whose stacks have all ended).
    let result = unsafe { libc::munmap(address as *mut c_void, len) };
    debug_assert_eq!(result, 0, "munmap of a chunk: {}", io::Error::last_os_error());
}

/// Gives the pages of `[low, low + len)` back to the OS: they read as zeros
/// when next touched. Guard regions stay.
pub(crate) fn discard(low: usize, len: usize) {
    // SAFETY: callers pass part of a stack that no coroutine runs on (a
    // pooled or freed one): nothing refers to what it holds.
    unsafe { libc::madvise(low as *mut c_void, len, libc::MADV_DONTNEED) };
}

/// Makes the guard page and the emergency zone of the slot at `low`
/// inaccessible (again: after an overflow opened the zone), or, for
/// [`Guards::Protect`] on a fresh slot, the stack above them accessible.
fn arm(low: usize, slot: usize, guards: Guards, fresh: bool) -> io::Result<()> {
    let page = page_size();
    let result = match guards {
        #[cfg(target_os = "linux")]
        // SAFETY: the guard page and the zone of a slot of our own on which
        // no coroutine runs: nothing refers to what they hold.
        Guards::Regions => unsafe {
            libc::madvise(low as *mut c_void, page + EMERGENCY, MADV_GUARD_INSTALL)
        },
        #[cfg(not(target_os = "linux"))]
        Guards::Regions => unreachable!("guard regions are never detected here"),
        // SAFETY: as above; a fresh slot's stack is made accessible, its
        // zone of an opened one inaccessible again.
        Guards::Protect if fresh => unsafe {
            let stack = low + page + EMERGENCY;
            libc::mprotect(
                stack as *mut c_void,
                slot - (stack - low),
                libc::PROT_READ | libc::PROT_WRITE,
            )
        },
        // SAFETY: as above.
        Guards::Protect => unsafe {
            libc::mprotect((low + page) as *mut c_void, EMERGENCY, libc::PROT_NONE)
        },
    };
    match result {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Arms `n` fresh slots from `low` on ([`arm`]), and, with guard regions,
/// commits each one's top page, which its first thread touches at once: in
/// two system calls for all of them where the kernel takes advice on many
/// ranges at once (`process_madvise`, Linux 6.15), else one a slot.
fn arm_batch(low: usize, n: usize, slot: usize, guards: Guards) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if guards == Guards::Regions && n > 1 {
        let page = page_size();
        let ranges = |offset: usize, len: usize| {
            let mut ranges = [libc::iovec { iov_base: ptr::null_mut(), iov_len: 0 }; BATCH];
            for (i, range) in ranges.iter_mut().take(n).enumerate() {
                *range = libc::iovec {
                    iov_base: (low + i * slot + offset) as *mut c_void,
                    iov_len: len,
                };
            }
            ranges
        };
        let advise = |ranges: &[libc::iovec; BATCH], advice: libc::c_int| {
            // SAFETY: `process_madvise` reads `n` ranges, each inside a fresh
            // slot of our own on which no coroutine runs yet: its guard page
            // and emergency zone, or its top page.
            unsafe {
                libc::syscall(libc::SYS_process_madvise, PIDFD_SELF, ranges.as_ptr(), n, advice, 0)
            }
        };
        let guard = page + EMERGENCY;
        if advise(&ranges(0, guard), MADV_GUARD_INSTALL) == (n * guard) as libc::c_long {
            // A hint: a page it cannot commit now is committed when touched.
            advise(&ranges(slot - page, page), libc::MADV_POPULATE_WRITE);
            return Ok(());
        }
    }
    (0..n).try_for_each(|i| arm(low + i * slot, slot, guards, true))
}

/// Memory mappings held by stacks in this process, in every kernel on
/// every OS thread.
static MAPPINGS: AtomicUsize = AtomicUsize::new(0);

/// A chunk's share of the count of the process's memory mappings. Linux
/// lets a process hold `vm.max_map_count` mappings in all: past that not
/// only stacks but every `mmap` fails, the allocator's included, and a
/// program told it has run out of stacks could not even panic (printing a
/// backtrace allocates). So stacks are refused while the process still has
/// a reserve of mappings for everything else: running out stays an error
/// the program can handle.
struct Mapped(usize);

impl Mapped {
    /// `n` more mappings, unless the process's stacks hold as many as the
    /// limit leaves room for.
    fn claim(&mut self, n: usize, guards: Guards) -> io::Result<()> {
        let held = MAPPINGS.fetch_add(n, Ordering::Relaxed) + n;
        match map_limit() {
            Some(limit) if held > mappings_within(limit) => {
                MAPPINGS.fetch_sub(n, Ordering::Relaxed);
                let why = match guards {
                    Guards::Regions => "",
                    Guards::Protect => {
                        "; without guard regions (Linux 6.13 and later) each stack takes 2"
                    }
                };
                Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "this process's stacks hold {} memory mappings, all that \
                         vm.max_map_count ({limit}) leaves room for{why}: raise \
                         vm.max_map_count (docs/performance.md, \"Memory mappings\"), use fewer \
                         threads, or run on Linux 6.13 or later",
                        held - n
                    ),
                ))
            }
            _ => {
                self.0 += n;
                Ok(())
            }
        }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        MAPPINGS.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// Linux's `vm.max_map_count`, read once; `None` where there is none to read.
fn map_limit() -> Option<usize> {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
    })
}

/// The most mappings the process's stacks may hold under a limit of
/// `max_map_count`: 1/64 of the limit (at least 1 024 mappings) is left for
/// the rest of the process. With Linux's default (65 530), 64 506: 32 253
/// stacks with [`Guards::Protect`].
pub(crate) fn mappings_within(max_map_count: usize) -> usize {
    let reserve = (max_map_count / 64).max(1024);
    max_map_count.saturating_sub(reserve)
}

/// Refuses `len` more bytes of address space if the process's limit on it
/// (`RLIMIT_AS`, `ulimit -v`) would leave less than a reserve (1/64 of it,
/// at least 256 MiB) for the rest of the process: the allocator maps its
/// large blocks in the same address space.
fn check_address_space(len: usize) -> io::Result<()> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes the `rlimit` it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return Ok(());
    }
    let limit = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    // The first field of `/proc/self/statm`: the address space in use, in pages.
    let used = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .map_or(0, |pages| pages * page_size());
    let reserve = (limit / 64).max(256 << 20);
    if used.saturating_add(len).saturating_add(reserve) > limit {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "the process's address-space limit (RLIMIT_AS, `ulimit -v`: {limit} bytes, \
                 {used} in use) leaves no room for {len} more bytes of stacks beside a reserve \
                 of {reserve} for the rest of the process: raise `ulimit -v`, use smaller \
                 stacks, or create fewer threads"
            ),
        ));
    }
    Ok(())
}

/// One mapping of slots.
struct Chunk {
    low: usize,
    slots: usize,
    /// Slots carved so far, from the lowest up.
    carved: usize,
    /// Slots whose guards are installed, from the lowest up (at least
    /// `carved`).
    armed: usize,
    /// Stacks of this chunk that exist (in use, pooled, or kept for ever).
    live: usize,
    /// Carved slots no stack holds, by index, and whether their pages are
    /// still committed.
    free: Vec<(u32, bool)>,
    /// Whether the chunk is in [`Arena::open`].
    listed: bool,
    _mapped: Mapped,
}

/// The chunks of stacks of one size, shared by the pool that takes stacks
/// and the stacks, which give their slots back when dropped.
struct Arena {
    chunks: slab::Slab<Chunk>,
    /// The slot size: guard page, emergency zone, stack.
    slot: usize,
    slots_per_chunk: usize,
    guards: Guards,
    /// The chunk new slots are carved from.
    current: Option<usize>,
    /// Chunks that may have free slots (some entries stale).
    open: Vec<usize>,
    /// Free slots whose pages are committed, in all chunks.
    dirty: usize,
    /// How many slots the next batch arms.
    batch: usize,
    /// The pool is gone: an empty chunk is unmapped at once, whichever.
    closed: bool,
}

impl Drop for Arena {
    /// The chunks left hold stacks kept for ever: they stay mapped, and
    /// counted.
    fn drop(&mut self) {
        for chunk in self.chunks.drain() {
            std::mem::forget(chunk._mapped);
        }
    }
}

/// Stacks of one size, carved out of chunks (see the module's docs).
pub(crate) struct Chunks {
    arena: Rc<RefCell<Arena>>,
}

impl Chunks {
    /// An allocator of stacks of `size` usable bytes (rounded up to pages),
    /// `slots` to a chunk (at least one; `None`: about [`CHUNK_BYTES`]).
    pub(crate) fn new(size: usize, slots: Option<usize>, guards: Guards) -> io::Result<Chunks> {
        let page = page_size();
        // Beyond this, the address space could not hold it anyway.
        let slot = size
            .checked_next_multiple_of(page)
            .and_then(|size| size.checked_add(page + EMERGENCY))
            .filter(|&slot| slot <= isize::MAX as usize / 2)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::OutOfMemory, "larger than the address space")
            })?;
        let slots_per_chunk = slots.unwrap_or(CHUNK_BYTES / slot).clamp(1, u32::MAX as usize);
        let arena = Arena {
            chunks: slab::Slab::new(),
            slot,
            slots_per_chunk,
            guards,
            current: None,
            open: Vec::new(),
            dirty: 0,
            batch: 1,
            closed: false,
        };
        Ok(Chunks { arena: Rc::new(RefCell::new(arena)) })
    }

    /// A stack: a free slot if there is one, else a new one.
    pub(crate) fn take(&self) -> io::Result<ThreadStack> {
        let (chunk, slot, low) = self.arena.borrow_mut().take()?;
        let len = self.arena.borrow().slot;
        Ok(ThreadStack {
            base: StackPointer::new(low + len).expect("a slot's top is above zero"),
            limit: StackPointer::new(low).expect("a mapping is above zero"),
            chunk: chunk as u32,
            slot: slot as u32,
            arena: ManuallyDrop::new(Rc::clone(&self.arena)),
            valgrind: ManuallyDrop::new(ValgrindStackRegistration::new(low as *mut u8, len)),
        })
    }

    /// The chunks mapped now.
    #[cfg(test)]
    pub(crate) fn mapped_chunks(&self) -> usize {
        self.arena.borrow().chunks.len()
    }
}

impl Drop for Chunks {
    /// Unmaps every chunk whose stacks have all ended; the others go when
    /// their last stack does.
    fn drop(&mut self) {
        let mut arena = self.arena.borrow_mut();
        arena.closed = true;
        arena.current = None;
        let empty: Vec<usize> =
            arena.chunks.iter().filter(|(_, c)| c.live == 0).map(|(key, _)| key).collect();
        for key in empty {
            arena.unmap(key);
        }
    }
}

impl Arena {
    /// A slot for a new stack: `(chunk, slot index, lowest address)`.
    fn take(&mut self) -> io::Result<(usize, usize, usize)> {
        while let Some(&key) = self.open.last() {
            let Some(chunk) = self.chunks.get_mut(key) else {
                self.open.pop();
                continue;
            };
            match chunk.free.pop() {
                Some((slot, dirty)) => {
                    self.dirty -= usize::from(dirty);
                    chunk.live += 1;
                    let low = chunk.low + slot as usize * self.slot;
                    return Ok((key, slot as usize, low));
                }
                None => {
                    chunk.listed = false;
                    self.open.pop();
                }
            }
        }
        let key = match self.current.filter(|&key| {
            let chunk = &self.chunks[key];
            chunk.carved < chunk.slots
        }) {
            Some(key) => key,
            None => self.map_chunk()?,
        };
        let (guards, slot_len) = (self.guards, self.slot);
        let chunk = &mut self.chunks[key];
        let slot = chunk.carved;
        let low = chunk.low + slot * slot_len;
        chunk._mapped.claim(guards.mappings_per_slot(), guards)?;
        if chunk.armed == slot {
            // `mprotect` guards one slot at a time: each slot's mappings are
            // counted as it is carved.
            let n = match guards {
                Guards::Regions => self.batch.min(chunk.slots - slot),
                Guards::Protect => 1,
            };
            arm_batch(low, n, slot_len, guards)?;
            chunk.armed += n;
            self.batch = (2 * self.batch).min(BATCH);
        }
        chunk.carved += 1;
        chunk.live += 1;
        Ok((key, slot, low))
    }

    /// Maps a new chunk and makes it the one carved from.
    fn map_chunk(&mut self) -> io::Result<usize> {
        let len = self.slot * self.slots_per_chunk;
        let mut mapped = Mapped(0);
        mapped.claim(1, self.guards)?;
        check_address_space(len)?;
        let low = map(len, self.guards).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "the OS refused {len} bytes of address space for stacks ({err}): the \
                     process's address space or the system's memory is used up; use smaller \
                     stacks or create fewer threads"
                ),
            )
        })?;
        let key = self.chunks.insert(Chunk {
            low,
            slots: self.slots_per_chunk,
            carved: 0,
            armed: 0,
            live: 0,
            free: Vec::new(),
            listed: false,
            _mapped: mapped,
        });
        self.current = Some(key);
        Ok(key)
    }

    /// Takes back a slot whose stack has ended.
    fn give(&mut self, key: usize, slot: u32) {
        let chunk = &mut self.chunks[key];
        chunk.live -= 1;
        if chunk.live == 0 && (self.closed || self.current != Some(key)) {
            self.unmap(key);
            return;
        }
        chunk.free.push((slot, true));
        if !chunk.listed {
            chunk.listed = true;
            self.open.push(key);
        }
        self.dirty += 1;
        // Not while only the chunk being carved and one emptying hold them
        // (threads ending in the order they started, as when a kernel is
        // dropped): those go with their chunk.
        if self.dirty > DIRTY_SLOTS.max(2 * self.slots_per_chunk) {
            self.discard_dirty();
        }
    }

    /// Gives the pages of every dirty free slot back to the OS.
    fn discard_dirty(&mut self) {
        let page = page_size();
        for (_, chunk) in self.chunks.iter_mut() {
            for (slot, dirty) in chunk.free.iter_mut().filter(|(_, dirty)| *dirty) {
                let stack = chunk.low + *slot as usize * self.slot + page + EMERGENCY;
                discard(stack, self.slot - page - EMERGENCY);
                *dirty = false;
            }
        }
        self.dirty = 0;
    }

    /// Unmaps a chunk none of whose stacks exists.
    fn unmap(&mut self, key: usize) {
        let chunk = self.chunks.remove(key);
        debug_assert_eq!(chunk.live, 0, "a chunk is unmapped with no stack on it");
        self.dirty -= chunk.free.iter().filter(|(_, dirty)| *dirty).count();
        if self.current == Some(key) {
            self.current = None;
        }
        unmap(chunk.low, chunk.slots * self.slot);
    }
}

/// A green thread's stack: a slot of a chunk. Dropping it gives the slot
/// back; [`keep`](ThreadStack::keep) keeps it (and its chunk) for ever.
pub(crate) struct ThreadStack {
    base: StackPointer,
    limit: StackPointer,
    chunk: u32,
    slot: u32,
    arena: ManuallyDrop<Rc<RefCell<Arena>>>,
    valgrind: ManuallyDrop<ValgrindStackRegistration>,
}

impl ThreadStack {
    /// The usable part of the stack, as `(lowest address, length)`: above
    /// its guard page and emergency zone.
    pub(crate) fn usable(&self) -> (usize, usize) {
        let low = self.limit.get() + page_size() + EMERGENCY;
        (low, self.base.get() - low)
    }

    /// Makes the emergency zone inaccessible again after an overflow opened
    /// it. If that fails the stack is kept for ever (never reused).
    pub(crate) fn rearm(self) -> Option<ThreadStack> {
        let guards = self.arena.borrow().guards;
        let slot = self.base.get() - self.limit.get();
        match arm(self.limit.get(), slot, guards, false) {
            Ok(()) => Some(self),
            Err(err) => {
                log::warn!("cothread: a stack's emergency zone cannot be closed again ({err})");
                self.keep();
                None
            }
        }
    }

    /// Never frees or reuses this stack: what is on it may still be referred
    /// to. Its chunk stays mapped for ever.
    pub(crate) fn keep(self) {
        let mut stack = ManuallyDrop::new(self);
        // SAFETY: the fields are dropped once, here, and never used again:
        // `stack` is not dropped. The slot is never given back, so the
        // chunk's count of live stacks never reaches zero.
        unsafe {
            ManuallyDrop::drop(&mut stack.valgrind);
            ManuallyDrop::drop(&mut stack.arena);
        }
    }
}

impl Drop for ThreadStack {
    fn drop(&mut self) {
        // SAFETY: dropped once, here; `keep` never lets this run.
        let arena = unsafe {
            ManuallyDrop::drop(&mut self.valgrind);
            ManuallyDrop::take(&mut self.arena)
        };
        arena.borrow_mut().give(self.chunk as usize, self.slot);
    }
}

// SAFETY: `base` is a slot's top and `limit` its lowest address, both
// page-aligned (so aligned to `STACK_ALIGNMENT`); below the stack proper
// are the guard page and the emergency zone, inaccessible (`arm`), and the
// stack has at least `MIN_STACK_SIZE` usable bytes (the pool's minimum is
// larger). The memory stays mapped while the stack exists: its chunk is
// unmapped only once every stack on it has been dropped.
unsafe impl Stack for ThreadStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.base
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Vec<Guards> {
        let mut kinds = vec![Guards::Protect];
        if Guards::detect() == Guards::Regions {
            kinds.push(Guards::Regions);
        }
        kinds
    }

    #[test]
    fn stacks_are_carved_side_by_side_in_one_chunk() {
        for guards in both() {
            let chunks = Chunks::new(16 * 1024, Some(4), guards).unwrap();
            let a = chunks.take().unwrap();
            let b = chunks.take().unwrap();
            assert_eq!(b.limit().get(), a.base().get(), "{guards:?}");
            assert_eq!(a.usable().1, 16 * 1024);
            assert_eq!(chunks.mapped_chunks(), 1);
            // The stack is writable from its lowest usable byte to its top.
            let (low, len) = b.usable();
            // SAFETY: the usable part of a stack no coroutine runs on.
            unsafe {
                ptr::write_bytes(low as *mut u8, 7, len);
                assert_eq!(*((low + len - 1) as *const u8), 7);
            }
        }
    }

    #[test]
    fn a_freed_slot_is_reused_before_a_new_one_is_carved() {
        for guards in both() {
            let chunks = Chunks::new(16 * 1024, Some(4), guards).unwrap();
            let a = chunks.take().unwrap();
            let _b = chunks.take().unwrap();
            let base = a.base();
            drop(a);
            assert_eq!(chunks.take().unwrap().base(), base, "{guards:?}");
        }
    }

    #[test]
    fn a_chunk_is_unmapped_once_its_stacks_have_ended() {
        for guards in both() {
            let chunks = Chunks::new(16 * 1024, Some(2), guards).unwrap();
            let first: Vec<_> = (0..2).map(|_| chunks.take().unwrap()).collect();
            let second = chunks.take().unwrap();
            assert_eq!(chunks.mapped_chunks(), 2);
            drop(first);
            assert_eq!(chunks.mapped_chunks(), 1, "{guards:?}: the full chunk went");
            // The chunk being carved stays while the allocator does.
            drop(second);
            assert_eq!(chunks.mapped_chunks(), 1);
        }
    }

    #[test]
    fn a_kept_stack_keeps_its_chunk_mapped() {
        for guards in both() {
            let chunks = Chunks::new(16 * 1024, Some(1), guards).unwrap();
            let kept = chunks.take().unwrap();
            let (low, len) = kept.usable();
            kept.keep();
            drop(chunks);
            // SAFETY: the kept stack's memory is still mapped: that is what
            // is tested (a fault here would end the test process).
            unsafe { ptr::write_bytes(low as *mut u8, 1, len) };
        }
    }

    #[test]
    fn dirty_slots_beyond_the_bound_give_their_pages_back() {
        // Chunks of 8, one stack of each kept: the other 7 of 40 chunks are
        // dirty slots of live chunks, more than the bound.
        let chunks = Chunks::new(16 * 1024, Some(8), Guards::detect()).unwrap();
        let stacks: Vec<_> = (0..8 * 40).map(|_| chunks.take().unwrap()).collect();
        let (low, _) = stacks[1].usable();
        // SAFETY: the usable part of a stack no coroutine runs on.
        unsafe { ptr::write_bytes(low as *mut u8, 9, 64) };
        let (kept, freed): (Vec<_>, Vec<_>) =
            stacks.into_iter().enumerate().partition(|(i, _)| i % 8 == 0);
        assert!(freed.len() > DIRTY_SLOTS);
        drop(freed);
        assert_eq!(chunks.mapped_chunks(), 40);
        assert!(chunks.arena.borrow().dirty < DIRTY_SLOTS, "discarded past the bound");
        // The slot reads as zeros when reused.
        let again: Vec<_> = (0..7 * 40).map(|_| chunks.take().unwrap()).collect();
        let reused = again.iter().find(|s| s.usable().0 == low).expect("the slot is reused");
        // SAFETY: as above.
        assert_eq!(unsafe { *(reused.usable().0 as *const u8) }, 0);
        drop(kept);
    }

    /// Whether every page of `[low, low + len)` can be read: a guard region
    /// or a `PROT_NONE` page makes the kernel refuse to populate it.
    #[cfg(target_os = "linux")]
    fn readable(low: usize, len: usize) -> bool {
        // SAFETY: populating pages of a stack of our own reads nothing.
        unsafe { libc::madvise(low as *mut c_void, len, libc::MADV_POPULATE_READ) == 0 }
    }

    /// The guard page and the zone are inaccessible; a zone opened the way
    /// the overflow trap opens it is closed again by `rearm`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_stacks_guards_hold_and_an_opened_zone_is_closed_again() {
        for guards in both() {
            let chunks = Chunks::new(16 * 1024, Some(4), guards).unwrap();
            let _before = chunks.take().unwrap();
            let stack = chunks.take().unwrap();
            let (guard, page) = (stack.limit().get(), page_size());
            let (usable, len) = stack.usable();
            assert!(readable(usable, len), "{guards:?}");
            assert!(!readable(guard, page) && !readable(guard + page, EMERGENCY), "{guards:?}");
            // SAFETY: as the trap does, on the zone of a stack no coroutine runs on.
            unsafe {
                libc::madvise((guard + page) as *mut c_void, EMERGENCY, MADV_GUARD_REMOVE);
                let rw = libc::PROT_READ | libc::PROT_WRITE;
                assert_eq!(libc::mprotect((guard + page) as *mut c_void, EMERGENCY, rw), 0);
            }
            assert!(readable(guard + page, EMERGENCY) && !readable(guard, page), "{guards:?}");
            let stack = stack.rearm().expect("closed again");
            assert!(!readable(guard + page, EMERGENCY), "{guards:?}");
            assert!(readable(usable, len));
            drop(stack);
        }
    }

    #[test]
    fn the_mapping_limit_leaves_a_reserve() {
        // Linux's default: 1 024 mappings kept back, 32 253 stacks at two each.
        assert_eq!(mappings_within(65_530) / 2, 32_253);
        // A raised limit keeps back 1/64 of it.
        assert_eq!(mappings_within(2_097_152), 2_097_152 - 32_768);
        assert_eq!(mappings_within(1_000), 0);
    }

    #[test]
    fn an_impossible_size_is_refused() {
        let err = Chunks::new(usize::MAX - 4096, None, Guards::Protect).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
    }
}
