//! The stack pool: coroutine stacks are reused, so creating a thread costs no
//! `mmap`/`mprotect`/`munmap` once the pool is warm, and no allocation either:
//! each stack is pooled with the home its coroutine lived in.

use std::io;

use corosensei::stack::DefaultStack;

use crate::process::Home;

/// Stacks of one size, kept for reuse up to a bound; beyond it, stacks go back
/// to the OS.
pub(crate) struct StackPool {
    free: Vec<(DefaultStack, Home)>,
    stack_size: usize,
    max_pooled: usize,
}

impl StackPool {
    pub(crate) fn new(stack_size: usize, max_pooled: usize) -> StackPool {
        StackPool { free: Vec::new(), stack_size, max_pooled }
    }

    /// A stack and an empty home from the pool, or fresh ones (a fresh stack
    /// has one guard page below it). A size other than the pool's gets a fresh
    /// stack of its own, which [`give`](StackPool::give) must not be handed:
    /// say so with `pooled`.
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<(DefaultStack, Home, bool)> {
        match size {
            Some(size) if size != self.stack_size => {
                Ok((DefaultStack::new(size)?, Home::default(), false))
            }
            _ => match self.free.pop() {
                Some((stack, home)) => Ok((stack, home, true)),
                None => Ok((DefaultStack::new(self.stack_size)?, Home::default(), true)),
            },
        }
    }

    /// Returns a stack whose coroutine has finished, and its emptied home.
    pub(crate) fn give(&mut self, stack: DefaultStack, home: Home) {
        debug_assert!(home.is_none(), "a home is pooled empty");
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
    fn a_given_stack_is_taken_again() {
        let mut pool = StackPool::new(64 * 1024, 4);
        let (stack, home, _) = pool.take(None).unwrap();
        let base = stack.base();
        pool.give(stack, home);
        assert_eq!(pool.pooled(), 1);
        assert_eq!(pool.take(None).unwrap().0.base(), base);
    }

    #[test]
    fn stacks_beyond_the_bound_are_released() {
        let mut pool = StackPool::new(16 * 1024, 2);
        let stacks: Vec<_> = (0..5).map(|_| pool.take(None).unwrap()).collect();
        for (stack, home, _) in stacks {
            pool.give(stack, home);
        }
        assert_eq!(pool.pooled(), 2);
        assert_eq!(pool.stack_size(), 16 * 1024);
    }
}
