//! The kernel's own unwinds as panic payloads (a kill, `os::exit`, a hard
//! interrupt; a stack overflow's is the trap's), and reading and dropping a
//! panic's payload safely. A leaf: plain data and std only.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::event::Value;
use crate::overflow::OverflowUnwind;

/// The panic payload that unwinds a killed thread's stack. It is raised with
/// `resume_unwind`, so no panic hook runs and nothing is printed.
pub(crate) struct KillUnwind;

/// The panic payload of `os::exit`.
pub(crate) struct ExitUnwind;

/// The panic payload of an interrupt (`Thread::interrupt`, or
/// `Kernel::hard_interrupt` with a `Nil` cause), which `os::catch_interrupt`
/// catches.
pub(crate) struct InterruptUnwind(pub(crate) Value);

/// The panic payload that ends a thread the watchdog found running too long
/// without yielding, at its next checkpoint or blocking call.
pub(crate) struct OverrunUnwind;

/// Whether `payload` is one of the kernel's own unwinds (kill, exit, hard
/// interrupt, the watchdog's end).
pub(crate) fn is_kernel_unwind(payload: &(dyn Any + Send)) -> bool {
    payload.is::<KillUnwind>()
        || payload.is::<ExitUnwind>()
        || payload.is::<InterruptUnwind>()
        || payload.is::<OverrunUnwind>()
}

/// The message of the panic whose payload is `payload`, which is dropped here
/// (see [`drop_payload`]).
pub(crate) fn take_message(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(&*payload);
    drop_payload(payload);
    message
}

/// Drops a panic's payload, containing a panic in its destructor: the payload
/// of that second panic is leaked, rather than risk a third.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(nested) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(nested);
    }
}

/// The text of a panic payload (`&str` or `String`), as `std` prints it; the
/// kernel's own unwinds, caught where they cannot end a thread (a hook), by
/// name.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if payload.is::<ExitUnwind>() {
        "os::exit, which only a program or thread can call".to_string()
    } else if payload.is::<KillUnwind>() {
        "a kill of the running thread".to_string()
    } else if payload.is::<InterruptUnwind>() {
        "an interrupt".to_string()
    } else if payload.is::<OverflowUnwind>() {
        "a stack overflow".to_string()
    } else if payload.is::<OverrunUnwind>() {
        "too long without yielding".to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}
