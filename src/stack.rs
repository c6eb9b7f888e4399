//! The stack pool: coroutine stacks are reused, so creating a thread costs no
//! `mmap`/`mprotect`/`munmap` once the pool is warm, and no allocation either:
//! each stack is pooled with the home its coroutine lived in. And the count of
//! stacks in the process, which keeps them within `vm.max_map_count`.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use corosensei::stack::DefaultStack;

use crate::overflow::EMERGENCY;

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

/// What is pooled with each stack: the box its coroutine lives in, made once
/// per stack, holding the stack's place in the process's count ([`Mapped`]).
pub(crate) trait Home: 'static {
    /// A new, empty home for a new stack.
    fn new(mapped: Mapped) -> Box<Self>;
    /// Whether no coroutine lives in it (a home is pooled empty).
    fn is_empty(&self) -> bool;
}

/// Stacks alive in this process, in every kernel on every OS thread.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// One stack's place in the count of the process's stacks. Each stack is two
/// memory mappings (the stack and the guard page below it), and Linux lets a
/// process hold `vm.max_map_count` mappings in all: past that, not only stacks
/// but every `mmap` fails, the allocator's included, and a program that is
/// told it has run out of stacks could not even panic (printing a backtrace
/// allocates). So a stack is refused while the process still has a reserve of
/// mappings for everything else: running out of stacks stays an error the
/// program can handle.
pub(crate) struct Mapped(());

impl Mapped {
    /// A place for one more stack, unless the process has as many as the
    /// limit leaves room for.
    pub(crate) fn claim() -> io::Result<Mapped> {
        let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
        match map_limit() {
            Some(limit) if live > stacks_within(limit) => {
                LIVE.fetch_sub(1, Ordering::Relaxed);
                Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "this process holds {} stacks, all that vm.max_map_count ({limit}) \
                         leaves room for at 2 mappings each",
                        live - 1
                    ),
                ))
            }
            _ => Ok(Mapped(())),
        }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Linux's `vm.max_map_count`, read once; `None` where there is none to read.
fn map_limit() -> Option<usize> {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
    })
}

/// The most stacks a process may hold under a limit of `max_map_count`
/// mappings: two each, with 1/64 of the limit (at least 1 024 mappings) left
/// for the rest of the process. With Linux's default (65 530), 32 253 stacks.
pub(crate) fn stacks_within(max_map_count: usize) -> usize {
    let reserve = (max_map_count / 64).max(1024);
    max_map_count.saturating_sub(reserve) / 2
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

/// Quarantines a finished coroutine's stack (see [`quarantine`]).
pub(crate) fn quarantine_stack<H: Home>(stack: DefaultStack, home: Box<H>) {
    std::mem::forget(stack);
    quarantine(home);
}

/// Stacks of one size, kept for reuse up to a bound; beyond it, stacks go back
/// to the OS.
pub(crate) struct StackPool<H> {
    free: Vec<(DefaultStack, Box<H>)>,
    stack_size: usize,
    max_pooled: usize,
}

impl<H: Home> StackPool<H> {
    pub(crate) fn new(stack_size: usize, max_pooled: usize) -> StackPool<H> {
        StackPool { free: Vec::new(), stack_size: stack_size.max(MIN_STACK_SIZE), max_pooled }
    }

    /// A stack and an empty home from the pool, or fresh ones (a fresh stack
    /// has one guard page below it). A size other than the pool's gets a fresh
    /// stack of its own, which [`give`](StackPool::give) must not be handed:
    /// say so with `pooled`.
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<(DefaultStack, Box<H>, bool)> {
        match size.map(|size| size.max(MIN_STACK_SIZE)) {
            Some(size) if size != self.stack_size => self.fresh(size).map(|(s, h)| (s, h, false)),
            _ => match self.free.pop() {
                Some((stack, home)) => Ok((stack, home, true)),
                None => self.fresh(self.stack_size).map(|(s, h)| (s, h, true)),
            },
        }
    }

    /// A new stack of `size` usable bytes (and the emergency zone and guard
    /// page below them) and a home counting it.
    fn fresh(&mut self, size: usize) -> io::Result<(DefaultStack, Box<H>)> {
        // Beyond this, the address space could not hold it anyway.
        let total = size
            .checked_add(EMERGENCY)
            .filter(|&total| total <= isize::MAX as usize / 2)
            .ok_or_else(|| {
            io::Error::new(io::ErrorKind::OutOfMemory, "larger than the address space")
        })?;
        let mapped = match Mapped::claim() {
            Ok(mapped) => mapped,
            // At the limit, an idle pooled stack (of the pool's size, so not
            // the one asked for) gives its place up first.
            Err(_) if self.free.pop().is_some() => Mapped::claim()?,
            Err(err) => return Err(err),
        };
        let stack = DefaultStack::new(total)?;
        crate::overflow::arm(&stack)?;
        Ok((stack, H::new(mapped)))
    }

    /// Returns a stack whose coroutine has finished, and its emptied home.
    pub(crate) fn give(&mut self, stack: DefaultStack, home: Box<H>) {
        debug_assert!(home.is_empty(), "a home is pooled empty");
        if self.free.len() < self.max_pooled {
            self.free.push((stack, home));
        }
    }

    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size
    }

    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
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
    struct Empty {
        _mapped: Mapped,
    }

    impl Home for Empty {
        fn new(mapped: Mapped) -> Box<Empty> {
            Box::new(Empty { _mapped: mapped })
        }

        fn is_empty(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_given_stack_is_taken_again() {
        let mut pool = StackPool::<Empty>::new(64 * 1024, 4);
        let (stack, home, _) = pool.take(None).unwrap();
        let base = stack.base();
        pool.give(stack, home);
        assert_eq!(pool.pooled(), 1);
        assert_eq!(pool.take(None).unwrap().0.base(), base);
    }

    #[test]
    fn the_stack_limit_leaves_a_reserve_of_mappings() {
        // Linux's default: 1 024 mappings kept back, two per stack.
        assert_eq!(stacks_within(65_530), 32_253);
        // A raised limit keeps back 1/64 of it.
        assert_eq!(stacks_within(2_097_152), (2_097_152 - 32_768) / 2);
        assert_eq!(stacks_within(1_000), 0);
    }

    #[test]
    fn stacks_beyond_the_bound_are_released() {
        let mut pool = StackPool::<Empty>::new(16 * 1024, 2);
        let stacks: Vec<_> = (0..5).map(|_| pool.take(None).unwrap()).collect();
        for (stack, home, _) in stacks {
            pool.give(stack, home);
        }
        assert_eq!(pool.pooled(), 2);
        assert_eq!(pool.stack_size(), 16 * 1024);
    }
}
