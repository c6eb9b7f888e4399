//! The stack pool: coroutine stacks are reused, so creating a thread costs no
//! system call once the pool is warm, and no allocation either: each stack
//! is pooled with the home its coroutine lived in. Below it, the allocator
//! that carves stacks out of chunks ([`chunks`]).

use std::io;

pub(crate) mod chunks;

use chunks::Chunks;
pub(crate) use chunks::{Guards, ThreadStack};

/// The default size of a green thread's stack (usable bytes; a 64 KiB
/// emergency zone and a guard page are added below it, see
/// `docs/reliability.md`). Pages are committed only when touched.
///
/// # Examples
///
/// ```
/// let kernel = cothread::Kernel::builder().stack_size(cothread::DEFAULT_STACK_SIZE / 4).build();
/// # drop(kernel);
/// ```
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest usable stack a green thread gets: smaller sizes asked of
/// [`KernelBuilder::stack_size`](crate::KernelBuilder::stack_size) or
/// [`thread::Builder::stack_size`](crate::thread::Builder::stack_size) are
/// raised to it. A kernel call, a panic and its message need about this much.
///
/// # Examples
///
/// ```
/// let kernel = cothread::Kernel::builder().stack_size(cothread::MIN_STACK_SIZE).build();
/// # drop(kernel);
/// ```
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// What a pooled stack keeps committed: its top, where the next thread's
/// first frames go. The pages below are given back to the OS when the pool
/// holds more than [`POOL_BYTES`].
pub(crate) const KEEP: usize = 8 * 1024;

/// The most memory the pooled stacks that ran since the pool last gave
/// pages back may hold, each counted at its whole size: past it, the pages
/// below every pooled stack's top [`KEEP`] bytes are given back. (The others
/// hold [`KEEP`] each, at most 8 MiB for the default pool of 1 024.)
pub(crate) const POOL_BYTES: usize = 16 << 20;

/// What is pooled with each stack: the box its coroutine lives in, made once
/// per stack.
pub(crate) trait Home: 'static {
    /// A new, empty home for a new stack.
    fn new() -> Box<Self>;
    /// Whether no coroutine lives in it (a home is pooled empty).
    fn is_empty(&self) -> bool;
}

/// An address just below the caller's frame. Called as a thread blocks, it
/// tells how deep its stack is in use: the context switch's saved registers
/// are a few words further down. Not inlined, so that its frame is a callee's.
#[inline(never)]
pub(crate) fn below_here() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The part of a blocked thread's stack that resuming it touches: its frames,
/// from just below where it blocked (`low`, recorded as it blocks) up to the
/// stack's base (`end`), the lowest [`MOST`] bytes of them. Addresses only,
/// never read through; `low` is zero before the thread first blocks.
///
/// With many threads, each resume touches a stack page that has left the
/// caches and the TLB, and the frames a resume returns through are reached
/// one after the other, each a miss. [`Frames::prefetch`] fetches them ahead,
/// while another thread runs (docs/performance.md, "Prefetching the next
/// stack").
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Frames {
    pub(crate) low: usize,
    /// The stack's upper end (its base: stacks grow down), set when the
    /// thread starts. Nothing at or above it is fetched: the page there may be
    /// another stack's guard page, and a prefetch into it costs a page walk
    /// for nothing.
    pub(crate) end: usize,
}

const LINE: usize = 64;
/// Fetched below `low`: the context switch's return addresses and saved
/// registers, and the frames of what the thread calls on its way to its next
/// block (a pull's entry in the waiter index goes deeper than a sleep's
/// deadline). Each line more costs a sleeper's wake-up a few nanoseconds of
/// memory bandwidth; one fewer costs a signal's receiver more (measured with
/// 100 000 sleepers and 10 000 receivers).
const BELOW: usize = 4 * LINE;
/// At most this much is fetched: a thread deep in calls has its lowest
/// frames fetched, which a resume touches first.
const MOST: usize = 24 * LINE;

impl Frames {
    /// The addresses of the cache lines to fetch: from [`BELOW`] under the
    /// line of `low` up to the last line under `end`, at most [`MOST`] bytes'
    /// worth; none before the first block or for addresses out of order.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn lines(self) -> impl Iterator<Item = usize> {
        let start = (self.low & !(LINE - 1)).saturating_sub(BELOW);
        let len =
            if self.low == 0 || self.low >= self.end { 0 } else { (self.end - start).min(MOST) };
        (start..start + len).step_by(LINE)
    }

    /// Asks the CPU to bring these frames into its caches.
    #[inline]
    pub(crate) fn prefetch(self) {
        for line in self.lines() {
            prefetch_line(line);
        }
    }
}

/// Asks the CPU to bring the cache line at `address` into its caches: a
/// hint, never a read the program can observe.
#[inline]
pub(crate) fn prefetch_line(address: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: a prefetch is a hint that reads nothing the program can
    // observe and never faults, whatever the address (Intel SDM, PREFETCHh);
    // the pointer is made from an integer and never dereferenced. The
    // instruction is SSE, which the `cfg` checks.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address as *const i8)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = address;
}

/// Never frees or reuses `home`'s stack (nor, with it, anything its frames
/// hold): frames on it were discarded or abandoned, and memory they held may
/// still be referred to (a borrow given to another OS thread, a node linked
/// into a list elsewhere). The stack keeps its place in the count of the
/// process's stacks.
pub(crate) fn quarantine<H: Home>(home: Box<H>) {
    // Kept where a leak checker sees it (reachable, not lost): a pointer, as
    // the home is not `Send`, and it is never read back.
    let kept = Box::into_raw(home) as usize;
    QUARANTINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(kept);
}

/// The homes of quarantined stacks, as addresses (see [`quarantine`]).
static QUARANTINE: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

/// Quarantines a finished coroutine's stack (see [`quarantine`]): its
/// chunk stays mapped for ever.
pub(crate) fn quarantine_stack<H: Home>(stack: ThreadStack, home: Box<H>) {
    stack.keep();
    quarantine(home);
}

/// Frees a stack whose emergency zone an overflow opened, once the zone is
/// closed again (a stack whose zone cannot be closed is kept for ever).
pub(crate) fn free_tripped(stack: ThreadStack) {
    drop(stack.rearm());
}

/// Stacks of one size, kept for reuse up to a bound in stacks and in bytes;
/// beyond it, stacks go back to their chunks.
pub(crate) struct StackPool<H> {
    free: Vec<(ThreadStack, Box<H>)>,
    /// How many of `free`, from the first, have given back their pages below
    /// [`KEEP`] since they were last used.
    trimmed: usize,
    /// `None` if stacks of this size cannot exist.
    chunks: Option<Chunks>,
    /// The allocators of the other sizes threads asked for, by size.
    others: Vec<(usize, Chunks)>,
    stack_size: usize,
    max_pooled: usize,
    /// The most pooled stacks that may have run since the last trim:
    /// [`POOL_BYTES`] of them at their full size.
    untrimmed: usize,
    guards: Guards,
}

impl<H: Home> StackPool<H> {
    pub(crate) fn new(stack_size: usize, max_pooled: usize, guards: Guards) -> StackPool<H> {
        let stack_size = stack_size.max(MIN_STACK_SIZE);
        StackPool {
            free: Vec::new(),
            trimmed: 0,
            chunks: Chunks::new(stack_size, None, guards).ok(),
            others: Vec::new(),
            stack_size,
            max_pooled,
            untrimmed: POOL_BYTES / stack_size,
            guards,
        }
    }

    /// A stack and an empty home from the pool, or fresh ones. A size other
    /// than the pool's gets a fresh stack (from chunks of that size), which
    /// [`give`](StackPool::give) must not be handed: say so with `pooled`.
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<(ThreadStack, Box<H>, bool)> {
        match size.map(|size| size.max(MIN_STACK_SIZE)) {
            Some(size) if size != self.stack_size => {
                let stack = match self.other_size(size)?.take() {
                    // At the limit, the idle pooled stacks give their places up.
                    Err(_) if !self.free.is_empty() => {
                        self.free.clear();
                        self.trimmed = 0;
                        self.other_size(size)?.take()?
                    }
                    stack => stack?,
                };
                Ok((stack, H::new(), false))
            }
            _ => match self.free.pop() {
                Some((stack, home)) => {
                    self.trimmed = self.trimmed.min(self.free.len());
                    Ok((stack, home, true))
                }
                None => {
                    let chunks = self.chunks.as_ref().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::OutOfMemory, "larger than the address space")
                    })?;
                    Ok((chunks.take()?, H::new(), true))
                }
            },
        }
    }

    /// The allocator of stacks of `size` usable bytes, not the pool's.
    #[cold]
    fn other_size(&mut self, size: usize) -> io::Result<&Chunks> {
        let at = match self.others.iter().position(|(s, _)| *s == size) {
            Some(at) => at,
            None => {
                self.others.push((size, Chunks::new(size, None, self.guards)?));
                self.others.len() - 1
            }
        };
        Ok(&self.others[at].1)
    }

    /// Returns a stack whose coroutine has finished, and its emptied home.
    pub(crate) fn give(&mut self, stack: ThreadStack, home: Box<H>) {
        debug_assert!(home.is_empty(), "a home is pooled empty");
        if self.free.len() >= self.max_pooled {
            return;
        }
        self.free.push((stack, home));
        if self.free.len() - self.trimmed > self.untrimmed {
            self.trim();
        }
    }

    /// Gives back the pages below the top [`KEEP`] bytes of every pooled
    /// stack that ran since the last trim.
    #[cold]
    fn trim(&mut self) {
        for (stack, _) in &self.free[self.trimmed..] {
            let (low, len) = stack.usable();
            chunks::discard(low, len.saturating_sub(KEEP));
        }
        self.trimmed = self.free.len();
    }

    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// The guards of this pool's stacks.
    #[cfg(test)]
    pub(crate) fn guards(&self) -> Guards {
        self.guards
    }

    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
    }
}

impl<H> Drop for StackPool<H> {
    /// The pooled stacks first: then their chunks can go with the allocator.
    fn drop(&mut self) {
        self.free.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corosensei::stack::Stack;

    #[test]
    fn the_lines_fetched_run_from_below_the_blocked_frame_to_the_stack_base() {
        let end = 0x7000_0000;
        let lines = |low| Frames { low, end }.lines().collect::<Vec<_>>();
        // 0x1f0 below the base: its line, four below it, and those up to the base.
        let fetched = lines(end - 0x1f0);
        assert_eq!(fetched.first(), Some(&(end - 0x200 - 4 * 64)));
        assert_eq!(fetched.last(), Some(&(end - 64)));
        assert!(fetched.windows(2).all(|w| w[1] == w[0] + 64));
        assert_eq!(fetched.len(), 8 + 4);
        // Deep in calls: the lowest 24 lines only.
        let deep = lines(end - 0x4000);
        assert_eq!((deep.len(), deep[0]), (24, end - 0x4000 - 4 * 64));
        // Never blocked, out of order, or near zero: nothing, or nothing that wraps.
        assert!(lines(0).is_empty() && lines(end).is_empty() && lines(end + 64).is_empty());
        assert!(Frames { low: 100, end: 4096 }.lines().all(|line| line < 4096));
    }

    /// A home with nothing in it, as the pool sees every home.
    struct Empty;

    impl Home for Empty {
        fn new() -> Box<Empty> {
            Box::new(Empty)
        }

        fn is_empty(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_given_stack_is_taken_again() {
        for guards in [Guards::Protect, Guards::detect()] {
            let mut pool = StackPool::<Empty>::new(64 * 1024, 4, guards);
            let (stack, home, _) = pool.take(None).unwrap();
            let base = stack.base();
            pool.give(stack, home);
            assert_eq!(pool.pooled(), 1);
            assert_eq!(pool.take(None).unwrap().0.base(), base);
        }
    }

    #[test]
    fn stacks_beyond_the_bound_are_released() {
        let mut pool = StackPool::<Empty>::new(16 * 1024, 2, Guards::detect());
        let stacks: Vec<_> = (0..5).map(|_| pool.take(None).unwrap()).collect();
        for (stack, home, _) in stacks {
            pool.give(stack, home);
        }
        assert_eq!(pool.pooled(), 2);
        assert_eq!(pool.stack_size(), 16 * 1024);
    }

    /// Pooled stacks that ran, counted at their whole size, past
    /// `POOL_BYTES`: every one gives back its pages below its top.
    #[test]
    fn a_pool_past_its_byte_bound_keeps_only_its_stacks_tops() {
        let size = 1 << 20;
        let mut pool = StackPool::<Empty>::new(size, 64, Guards::detect());
        let over = POOL_BYTES / size + 1;
        let stacks: Vec<_> = (0..over).map(|_| pool.take(None).unwrap()).collect();
        for (stack, home, _) in stacks {
            let (low, len) = stack.usable();
            // SAFETY: the usable part of a stack no coroutine runs on.
            unsafe {
                *(low as *mut u8) = 1;
                *((low + len - 1) as *mut u8) = 2;
            }
            pool.give(stack, home);
        }
        assert_eq!(pool.trimmed, over);
        for (stack, _) in &pool.free {
            let (low, len) = stack.usable();
            // SAFETY: as above; pages given back read as zeros.
            let (bottom, top) = unsafe { (*(low as *const u8), *((low + len - 1) as *const u8)) };
            assert_eq!((bottom, top), (0, 2));
        }
        // One taken and given back counts as having run again.
        let (stack, home, _) = pool.take(None).unwrap();
        pool.give(stack, home);
        assert_eq!(pool.trimmed, over - 1);
    }

    #[test]
    fn a_size_of_its_own_gets_a_stack_of_that_size_outside_the_pool() {
        let mut pool = StackPool::<Empty>::new(16 * 1024, 2, Guards::detect());
        let (stack, _, pooled) = pool.take(Some(100 * 1024)).unwrap();
        assert!(!pooled);
        assert_eq!(stack.usable().1, 100 * 1024);
        assert!(pool.take(Some(usize::MAX)).is_err());
    }
}
