//! Panic messages that name the green thread: a panic hook, installed once
//! for the process when the first kernel is built, that prints which program
//! or thread was running on the panicking OS thread, then hands the panic to
//! the hook it replaced (std's default, or the host's own).
//!
//! std keeps one panic hook for the whole process, while kernels run on many
//! OS threads and nest. So the hook is never swapped around runs (a kernel
//! on another OS thread would put back a stale hook and lose the host's);
//! it is installed once, keeps the previous hook for ever, and finds the
//! running green thread through this OS thread's pointer to its current
//! kernel, which is non-null only while that kernel is alive.

use std::cell::Ref;
use std::io::Write;
use std::sync::Once;

use super::{current_ptr_checked, Core, Shared};
use crate::task::Kind;

/// Installs the hook, once for the process. Not while this OS thread
/// panics (std refuses to change the hook then): a later kernel's build
/// installs it.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    if INSTALL.is_completed() || std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(line) = running_thread() {
                // Errors ignored: a panic raised in a panic hook aborts.
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            previous(info);
        }));
    });
}

/// Kernels nested one in another's green thread are at most this deep, as
/// far as the hook looks.
const MAX_NESTING: usize = 16;

/// The line naming the program or thread that runs on this OS thread, if
/// one does: the innermost kernel's running task, or, where that kernel
/// runs its own host code (a listener, a `step` called from a green thread
/// of another kernel), the task of the kernel it was entered from.
fn running_thread() -> Option<String> {
    let mut at = current_ptr_checked();
    for _ in 0..MAX_NESTING {
        if at.is_null() {
            return None;
        }
        // SAFETY: a kernel's pointer is current on this OS thread only while
        // an `Enter` guard holds the kernel alive, and the kernel it was
        // entered from (`Shared::outer`) only while that kernel's own guard,
        // deeper on the same stack, does: both outlive this panic's hook,
        // which runs before any unwinding. Nothing here writes to the kernel.
        let shared: &Shared = unsafe { &*at };
        // Not borrowed if the panic came from inside the kernel's own
        // bookkeeping: then nothing is read.
        let core = shared.core.try_borrow().ok()?;
        if let Some(line) = describe(&core) {
            return Some(line);
        }
        drop(core);
        let outer = shared.outer.get();
        if std::ptr::eq(outer, at) {
            return None;
        }
        at = outer;
    }
    None
}

/// The running (or calling-back) task of `core`, as the hook prints it.
fn describe(core: &Ref<'_, Core>) -> Option<String> {
    let key = core.running.or(core.context)?;
    let task = core.tasks.get(key).filter(|t| t.kind != Kind::Root)?;
    let mut line = format!("cothread: in {}", task.label());
    if core.running.is_none() {
        line.push_str("'s callback");
    }
    if let Some(at) = task.spawned_at {
        line.push_str(&format!(", spawned at {}:{}", at.file(), at.line()));
    }
    if let Some(at) = task.waiting_at {
        line.push_str(&format!(", last waiting at {}:{}", at.file(), at.line()));
    }
    line.push_str(":\n");
    Some(line)
}
