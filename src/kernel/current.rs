//! The one thread-local that reaches the kernel's state: which kernel runs on
//! this OS thread, entered for the span of a host call.

use std::cell::Cell;
use std::rc::Rc;

use super::Shared;

thread_local! {
    /// The kernel running on this OS thread, if any. Set by `Enter` for the span
    /// of `run`, `step`, a host-side handle call that switches stacks, and `drop`.
    static CURRENT: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };

    /// Green threads on this OS thread (of any kernel) parked for ever in the
    /// middle of an unwind: each holds a part of std's count of unwinds under
    /// way that will never be given back.
    static STUCK_UNWINDS: Cell<usize> = const { Cell::new(0) };
}

/// Whether the current kernel's state is borrowed for writing, read without
/// taking a borrow: for the fault handler, which must not write it.
pub(crate) fn state_borrowed() -> bool {
    let ptr = CURRENT.try_with(Cell::get).unwrap_or(std::ptr::null());
    // SAFETY: CURRENT is non-null only while an `Enter` guard keeps the
    // `Shared` alive (see `try_current`); `try_borrow_unguarded` only reads
    // the borrow flag, and the reference it may return is dropped at once.
    !ptr.is_null() && unsafe { (*ptr).core.try_borrow_unguarded().is_err() }
}

/// See `STUCK_UNWINDS`.
pub(crate) fn stuck_unwinds() -> usize {
    STUCK_UNWINDS.with(Cell::get)
}

/// Counts a green thread parked for ever mid-unwind (see `STUCK_UNWINDS`).
pub(crate) fn add_stuck_unwind() {
    STUCK_UNWINDS.with(|c| c.set(c.get() + 1));
}

/// A kernel's link to the kernel that was current on this OS thread when it
/// was entered (null: none), kept by `Enter` for the span of the entry, so
/// that the panic hook can look out through nested kernels.
pub(crate) struct Outer(Cell<*const Shared>);

impl Default for Outer {
    fn default() -> Outer {
        Outer(Cell::new(std::ptr::null()))
    }
}

impl Outer {
    pub(crate) fn get(&self) -> *const Shared {
        self.0.get()
    }

    fn replace(&self, outer: *const Shared) -> *const Shared {
        self.0.replace(outer)
    }

    fn set(&self, outer: *const Shared) {
        self.0.set(outer)
    }
}

/// Makes `shared` the current kernel until dropped, then restores the previous one.
pub(crate) struct Enter {
    _keep: Rc<Shared>,
    prev: *const Shared,
    prev_outer: *const Shared,
    prev_host_panicking: bool,
}

pub(crate) fn enter(shared: &Rc<Shared>) -> Enter {
    // This OS thread may now run green threads: a stack overflow in one must
    // find the fault handler and an alternate signal stack.
    crate::overflow::prepare_thread();
    let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(shared)));
    // Entered again while current: the kernel it was entered from stays the
    // outer one (it must never point at itself).
    let outer = if std::ptr::eq(prev, Rc::as_ptr(shared)) { shared.outer.get() } else { prev };
    let prev_outer = shared.outer.replace(outer);
    let prev_host_panicking = shared.host_panicking.replace(std::thread::panicking());
    shared.sample_log();
    Enter { _keep: shared.clone(), prev, prev_outer, prev_host_panicking }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        self._keep.host_panicking.set(self.prev_host_panicking);
        self._keep.outer.set(self.prev_outer);
        CURRENT.with(|c| c.set(self.prev));
        let leaving = !std::ptr::eq(self.prev, Rc::as_ptr(&self._keep));
        if leaving {
            // Back in the host (or another kernel): none of this kernel's
            // green threads runs.
            self._keep.unwatched();
        }
        if leaving && self._keep.orphaned.replace(false) {
            // Dropped during this call: torn down now that it is over.
            self._keep.shut_down();
        }
        if !self.prev.is_null() && leaving {
            back_in_another_kernel();
        }
    }
}

/// Back in a green thread of another kernel, which the one just left ran on
/// top of: what that kernel's own threads did to it meanwhile (a kill from a
/// nested kernel's thread) takes effect now, in its own frames.
#[cold]
fn back_in_another_kernel() {
    if let Some(outer) = try_current() {
        if !std::thread::panicking() {
            outer.check_interrupts();
        }
    }
}

/// The current kernel, if any (see [`current`]).
#[inline]
pub(crate) fn try_current() -> Option<&'static Shared> {
    let ptr = current_ptr();
    // SAFETY: CURRENT is non-null only while an `Enter` guard lives, and the guard
    // keeps the `Shared` alive (it holds an `Rc`). Green threads and callbacks run
    // only inside such a span, and `Kernel::drop` unwinds every green thread before
    // its guard ends, so no caller can keep using this reference after the `Shared`
    // is freed. The `'static` lifetime never leaves the crate.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

#[inline]
pub(crate) fn current_ptr() -> *const Shared {
    CURRENT.with(|c| c.get())
}

/// [`current_ptr`], or null once this OS thread's thread-locals are being
/// destroyed (for the panic hook, which may run then).
pub(crate) fn current_ptr_checked() -> *const Shared {
    CURRENT.try_with(Cell::get).unwrap_or(std::ptr::null())
}

/// The current kernel.
///
/// # Panics
///
/// Outside a kernel, with a message naming `what` was called.
pub(crate) fn current(what: &str) -> &'static Shared {
    match try_current() {
        Some(shared) => {
            shared.check_stack();
            shared
        }
        None => panic!(
            "cothread: `{what}` called outside a kernel; call it from a program or thread run by `Kernel::run`"
        ),
    }
}

/// The current kernel if there is one and it is `shared`.
pub(crate) fn is_current(shared: &Rc<Shared>) -> bool {
    std::ptr::eq(current_ptr(), Rc::as_ptr(shared))
}
