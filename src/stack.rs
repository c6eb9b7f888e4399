//! The stack pool: coroutine stacks are reused, so creating a thread costs no
//! `mmap`/`mprotect`/`munmap` once the pool is warm.

use std::io;

use corosensei::stack::DefaultStack;

/// Stacks of one size, kept for reuse up to a bound; beyond it, stacks go back
/// to the OS.
pub(crate) struct StackPool {
    free: Vec<DefaultStack>,
    stack_size: usize,
    max_pooled: usize,
}

impl StackPool {
    pub(crate) fn new(stack_size: usize, max_pooled: usize) -> StackPool {
        StackPool { free: Vec::new(), stack_size, max_pooled }
    }

    /// A stack from the pool, or a fresh one (one guard page below it). A size
    /// other than the pool's gets a fresh stack of its own, which
    /// [`give`](StackPool::give) must not be handed: say so with `pooled`.
    pub(crate) fn take(&mut self, size: Option<usize>) -> io::Result<(DefaultStack, bool)> {
        match size {
            Some(size) if size != self.stack_size => Ok((DefaultStack::new(size)?, false)),
            _ => match self.free.pop() {
                Some(stack) => Ok((stack, true)),
                None => Ok((DefaultStack::new(self.stack_size)?, true)),
            },
        }
    }

    /// Returns a stack whose coroutine has finished.
    pub(crate) fn give(&mut self, stack: DefaultStack) {
        if self.free.len() < self.max_pooled {
            self.free.push(stack);
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
        let stack = pool.take(None).unwrap().0;
        let base = stack.base();
        pool.give(stack);
        assert_eq!(pool.pooled(), 1);
        assert_eq!(pool.take(None).unwrap().0.base(), base);
    }

    #[test]
    fn stacks_beyond_the_bound_are_released() {
        let mut pool = StackPool::new(16 * 1024, 2);
        let stacks: Vec<_> = (0..5).map(|_| pool.take(None).unwrap().0).collect();
        for s in stacks {
            pool.give(s);
        }
        assert_eq!(pool.pooled(), 2);
        assert_eq!(pool.stack_size(), 16 * 1024);
    }
}
