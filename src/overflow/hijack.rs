//! Ending a thread that ran into its emergency zone at a call that may
//! unwind, even if it never makes another kernel call.
//!
//! The first touch of the emergency zone is made by whatever is deepest on
//! the stack at that moment: often library code holding a lock (`malloc`'s
//! arena, `println!`'s stdout). The fault handler opens the zone and lets that
//! code go on; a thread that makes a kernel call soon after is unwound there.
//! A thread that only recurses (with an allocation or a print at each level)
//! never does, and would run on into its guard page, where its frames are
//! discarded wherever it is, a lock perhaps still held.
//!
//! So the handler also walks the interrupted stack with the system unwinder
//! and finds the innermost frame from which an unwind can reach the thread's
//! body through frames that all allow it: Rust frames whose call site is in
//! their unwind table (a call that may panic), with no frame of another
//! object (the C library) among them. It replaces the return address through
//! which control comes back to that frame with [`TRAMPOLINE`]'s. When the
//! frames below it return (`malloc` releases its lock, the print its
//! borrow), the trampoline runs instead, and starts the overflow's unwind as
//! if the call had panicked: destructors run, the thread ends with
//! `Error::StackOverflow`, and its stack can be freed.
//!
//! Everything here runs in the fault handler, except the trampoline and
//! [`hijack_return`], which run on the green thread as it returns.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many hijacked returns one OS thread can have pending at once (one a
/// tripped thread, until it returns or is unwound).
const SLOTS: usize = 8;

/// The most frames the handler walks: past that it leaves the thread to its
/// next kernel call (or its guard page).
const MOST_FRAMES: usize = 200_000;

thread_local! {
    /// Pending hijacks of this OS thread: (address of the return-address
    /// slot, the return address it held). `const`, no destructor: written
    /// from the fault handler.
    static PENDING: [Cell<(usize, usize)>; SLOTS] = const {
        [const { Cell::new((0, 0)) }; SLOTS]
    };

    /// How many of `PENDING` are in use: what the kernel checks (one load)
    /// before it frees a stack or starts an unwind.
    static IN_USE: Cell<usize> = const { Cell::new(0) };
}

/// The executable segments of the object this code is in (Rust's standard
/// library and the program's crates are linked into it), as `[start, end)`.
/// Set once before the fault handler is installed.
static TEXT: [(AtomicUsize, AtomicUsize); 8] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 8];

extern "C" {
    fn _Unwind_Backtrace(
        trace: extern "C" fn(*mut c_void, *mut c_void) -> c_int,
        data: *mut c_void,
    ) -> c_int;
    fn _Unwind_GetIPInfo(context: *mut c_void, ip_before_insn: *mut c_int) -> usize;
    fn _Unwind_GetCFA(context: *mut c_void) -> usize;
    fn _Unwind_GetLanguageSpecificData(context: *mut c_void) -> *const u8;
    fn _Unwind_GetRegionStart(context: *mut c_void) -> usize;
}

/// `_URC_NO_REASON` and `_URC_NORMAL_STOP`, what a trace callback returns.
const GO_ON: c_int = 0;
const STOP: c_int = 4;

/// Records the executable segments of the object holding this code.
pub(super) fn find_text() {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        _data: *mut c_void,
    ) -> c_int {
        // SAFETY: `dl_iterate_phdr` hands a valid `dl_phdr_info` whose
        // `dlpi_phdr` points to `dlpi_phnum` program headers.
        let (base, headers) = unsafe {
            let info = &*info;
            (
                info.dlpi_addr as usize,
                std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()),
            )
        };
        let here = find_text as *const () as usize;
        let segments = headers
            .iter()
            .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_X != 0)
            .map(|h| (base + h.p_vaddr as usize, base + (h.p_vaddr + h.p_memsz) as usize));
        if !segments.clone().any(|(start, end)| (start..end).contains(&here)) {
            return 0;
        }
        for ((start, end), slot) in segments.zip(&TEXT) {
            slot.0.store(start, Ordering::Relaxed);
            slot.1.store(end, Ordering::Relaxed);
        }
        1
    }
    // SAFETY: the callback has the signature `dl_iterate_phdr` expects and
    // only reads what it is given.
    unsafe { libc::dl_iterate_phdr(Some(each), std::ptr::null_mut()) };
}

fn in_our_text(ip: usize) -> bool {
    TEXT.iter().any(|(start, end)| {
        let (start, end) = (start.load(Ordering::Relaxed), end.load(Ordering::Relaxed));
        start <= ip && ip < end
    })
}

/// What the walk of the interrupted stack found.
struct Walk {
    /// The faulting instruction: frames above the handler's are skipped
    /// until this one, the interrupted frame.
    fault_ip: usize,
    /// The running green thread's: a frame outside its stack ends the walk.
    trap: super::Trap,
    /// The kernel's operations that an unwind must not cut short: a frame of
    /// one of them gives the walk up.
    kernel: [usize; 4],
    /// Frames seen since the interrupted one (it is 0).
    depth: usize,
    /// The slot holding the return address of the frame to hijack, and that
    /// return address, once its caller has been seen.
    slot: usize,
    expected: usize,
    /// The frame's caller has been seen and is a safe place to unwind from.
    ready: bool,
    ended: bool,
}

extern "C" fn visit(context: *mut c_void, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Walk` that `hijack` passed, alive for the walk;
    // `context` is the unwinder's, valid during this callback.
    let (walk, ip, before, cfa) = unsafe {
        let mut before = 0;
        let ip = _Unwind_GetIPInfo(context, &mut before);
        (&mut *data.cast::<Walk>(), ip, before != 0, _Unwind_GetCFA(context))
    };
    if walk.depth == 0 && !walk.ready {
        // Still in the handler's frames (or the signal frame).
        walk.ready = before && ip == walk.fault_ip;
        return GO_ON;
    }
    walk.depth += 1;
    // SAFETY: as above.
    let function = unsafe { _Unwind_GetRegionStart(context) };
    // The unwinder reports each frame by its return address (`ip`, in this
    // frame) and the stack pointer it returns with (`cfa`): the address is
    // stored just below.
    let slot = cfa.wrapping_sub(8);
    if walk.kernel.contains(&function) {
        return STOP;
    }
    if !walk.trap.stack_ptr_in_bounds(slot) {
        // Past the thread's own frames without meeting their end: not a
        // thread body's stack as the kernel lays it out.
        return STOP;
    }
    if walk.expected == 0 {
        // The frame below could not be unwound through, or is the
        // interrupted one: the return into this frame is the one to hijack.
        walk.slot = slot;
        walk.expected = ip;
    }
    let call = if before { ip } else { ip.wrapping_sub(1) };
    let through = if in_our_text(ip) {
        // SAFETY: `context` is the unwinder's for this frame, as above.
        unsafe { through(context, function, call) }
    } else {
        Through::No
    };
    match through {
        Through::Yes => {}
        // The unwind ends here (the thread body's catch, or one of its own).
        Through::Caught => {
            walk.ended = true;
            return STOP;
        }
        // An unwind would stop here: wait for this frame to return.
        Through::No => walk.expected = 0,
    }
    if walk.depth >= MOST_FRAMES {
        return STOP;
    }
    GO_ON
}

/// What an unwind does at a frame's call site.
enum Through {
    /// Goes on through it (running its cleanup, if it has one).
    Yes,
    /// Is caught there.
    Caught,
    /// Cannot pass: the call is one that must not unwind, and unwinding into
    /// it aborts the process.
    No,
}

/// What an unwind from the call at `call` in the function starting at
/// `function` does: a frame with no unwind table has no cleanup; a gap in the
/// table is a call that cannot unwind.
///
/// # Safety
///
/// `context` is the unwinder's context for this frame.
unsafe fn through(context: *mut c_void, function: usize, call: usize) -> Through {
    // SAFETY: per the caller.
    let lsda = unsafe { _Unwind_GetLanguageSpecificData(context) };
    if lsda.is_null() {
        return Through::Yes;
    }
    // SAFETY: an LSDA is a well-formed table the compiler wrote; the reader
    // stays within the call-site table it declares.
    unsafe { call_site(lsda, call.wrapping_sub(function)) }
}

/// Reads the call-site table of a GCC-style LSDA (what LLVM emits for Rust)
/// for the call at `offset`.
///
/// # Safety
///
/// `lsda` points to a well-formed LSDA.
unsafe fn call_site(lsda: *const u8, offset: usize) -> Through {
    let mut at = lsda;
    // SAFETY: the whole body reads within the table, per the caller.
    unsafe {
        let landing_pad_encoding = read_u8(&mut at);
        if landing_pad_encoding != 0xff {
            // A landing-pad base of its own: Rust never emits one.
            return Through::No;
        }
        let type_encoding = read_u8(&mut at);
        if type_encoding != 0xff {
            read_uleb(&mut at);
        }
        let encoding = read_u8(&mut at);
        let length = read_uleb(&mut at);
        let end = at.add(length);
        while at < end {
            let (Some(start), Some(len), Some(_pad)) = (
                read_encoded(&mut at, encoding),
                read_encoded(&mut at, encoding),
                read_encoded(&mut at, encoding),
            ) else {
                return Through::No;
            };
            let action = read_uleb(&mut at);
            if offset < start {
                return Through::No;
            }
            if offset < start + len {
                if action == 0 {
                    return Through::Yes;
                }
                // The action table follows the call-site table. A first
                // filter above zero is a catch (Rust's `catch_unwind` catches
                // everything); below zero, an exception specification that
                // allows nothing: how a function that must not unwind
                // aborts when something unwinds into it.
                let mut record = end.add(action - 1);
                return match read_sleb(&mut record) {
                    filter if filter > 0 => Through::Caught,
                    0 => Through::Yes,
                    _ => Through::No,
                };
            }
        }
    }
    Through::No
}

/// # Safety
///
/// `at` points to a complete SLEB128 number.
unsafe fn read_sleb(at: &mut *const u8) -> isize {
    // SAFETY: per the caller.
    let (bits, shift, last) = unsafe { read_leb(at) };
    let value = bits as isize;
    // The last byte's sign bit extends into the bits above it.
    if shift < isize::BITS && last & 0x40 != 0 {
        value | (-1 << shift)
    } else {
        value
    }
}

/// # Safety
///
/// `at` points to a readable byte.
unsafe fn read_u8(at: &mut *const u8) -> u8 {
    // SAFETY: per the caller.
    unsafe {
        let byte = **at;
        *at = at.add(1);
        byte
    }
}

/// # Safety
///
/// `at` points to a complete ULEB128 number.
unsafe fn read_uleb(at: &mut *const u8) -> usize {
    // SAFETY: per the caller.
    unsafe { read_leb(at) }.0
}

/// The bits of a LEB128 number (what fits in a word), how many bits it
/// spans, and its last byte.
///
/// # Safety
///
/// `at` points to a complete LEB128 number.
unsafe fn read_leb(at: &mut *const u8) -> (usize, u32, u8) {
    let (mut value, mut shift) = (0usize, 0u32);
    loop {
        // SAFETY: per the caller.
        let byte = unsafe { read_u8(at) };
        if shift < usize::BITS {
            value |= usize::from(byte & 0x7f) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            return (value, shift, byte);
        }
    }
}

/// A value in one of the plain DWARF encodings call-site tables use; `None`
/// for any other.
///
/// # Safety
///
/// `at` points to a complete value in that encoding.
unsafe fn read_encoded(at: &mut *const u8, encoding: u8) -> Option<usize> {
    // SAFETY: per the caller.
    unsafe {
        let value = match encoding & 0x0f {
            0x01 => read_uleb(at),
            0x02 => usize::from(at.cast::<u16>().read_unaligned()),
            0x03 => at.cast::<u32>().read_unaligned() as usize,
            0x00 | 0x04 => at.cast::<u64>().read_unaligned() as usize,
            _ => return None,
        };
        *at = at.add(match encoding & 0x0f {
            0x01 => 0,
            0x02 => 2,
            0x03 => 4,
            _ => 8,
        });
        // Call-site entries are offsets, never relative to anything else.
        (encoding & 0x70 == 0).then_some(value)
    }
}

/// Called from the fault handler once the emergency zone of `trap`'s stack is
/// open, with the interrupted instruction: hijacks the return into the
/// innermost frame from which the overflow's unwind reaches a catch (the
/// thread body's) through frames that all let it pass. Does nothing if there
/// is no such frame, or no room to note it.
pub(super) fn hijack(trap: super::Trap, fault_ip: usize) {
    let Some(free) = PENDING.with(|pending| pending.iter().position(|p| p.get().0 == 0)) else {
        return;
    };
    let mut walk = Walk {
        fault_ip,
        trap,
        // Without the kernel's hooks, no frame is known safe: no hijack.
        kernel: match super::hooks() {
            Some(hooks) => (hooks.kernel_frames)(),
            None => return,
        },
        depth: 0,
        slot: 0,
        expected: 0,
        ready: false,
        ended: false,
    };
    // SAFETY: `visit` matches the callback type and reads only `walk`.
    unsafe { _Unwind_Backtrace(visit, (&mut walk as *mut Walk).cast()) };
    if !walk.ended || walk.expected == 0 || !trap.stack_ptr_in_bounds(walk.slot) {
        return;
    }
    let slot = walk.slot as *mut usize;
    // SAFETY: the slot is a word inside the running green thread's stack,
    // in a live frame (above the interrupted one), 8-aligned as return
    // address slots are; it holds the return address just read by the
    // unwinder, checked before it is replaced.
    unsafe {
        if slot.read() != walk.expected {
            return;
        }
        slot.write(trampoline_address());
    }
    PENDING.with(|pending| pending[free].set((walk.slot, walk.expected)));
    IN_USE.set(IN_USE.get() + 1);
}

/// Puts back the return addresses hijacked in the stack `[low, high)`: the
/// thread is about to be unwound another way (or its stack freed), and an
/// unwinder must find the real ones.
pub(crate) fn restore(low: usize, high: usize) {
    PENDING.with(|pending| {
        for p in pending {
            let (slot, original) = p.get();
            if slot != 0 && (low..high).contains(&slot) {
                // SAFETY: a pending slot is in a live frame of that stack
                // (its frame has not returned: the trampoline clears it).
                unsafe { (slot as *mut usize).write(original) };
                take(p);
            }
        }
    });
}

/// Forgets the hijacks in the stack that `within` bounds, without touching
/// it (its frames are gone).
pub(super) fn forget(within: impl Fn(usize) -> bool) {
    let _ = PENDING.try_with(|pending| {
        for p in pending {
            let slot = p.get().0;
            if slot != 0 && within(slot) {
                take(p);
            }
        }
    });
}

/// Whether any return is hijacked on this OS thread.
pub(crate) fn any() -> bool {
    IN_USE.try_with(Cell::get).is_ok_and(|n| n != 0)
}

/// Empties one entry of `PENDING`, returning it.
fn take(entry: &Cell<(usize, usize)>) -> (usize, usize) {
    IN_USE.set(IN_USE.get().saturating_sub(1));
    entry.replace((0, 0))
}

fn trampoline_address() -> usize {
    extern "C" {
        fn cothread_overflow_trampoline();
    }
    cothread_overflow_trampoline as *const () as usize
}

/// What the trampoline does next.
#[repr(C)]
struct Next {
    /// The real return address.
    original: usize,
    /// Non-zero: start the overflow's unwind from there; zero: return there.
    unwind: usize,
}

/// Called by the trampoline with the stack pointer the hijacked frame
/// returned with (its return-address slot is just below).
extern "C" fn cothread_overflow_return(sp: usize) -> Next {
    let slot = sp.wrapping_sub(8);
    let original = PENDING
        .try_with(|pending| pending.iter().find(|p| p.get().0 == slot).map(|p| take(p).1))
        .ok()
        .flatten();
    match original {
        // A second unwind from a destructor would abort: return as usual,
        // and the kernel ends the thread at its next call.
        Some(original) => Next { original, unwind: usize::from(!std::thread::panicking()) },
        // Cannot happen: the slot was noted before it was replaced.
        None => std::process::abort(),
    }
}

/// Starts the overflow's unwind, as if called from the hijacked return
/// address (the trampoline puts it where a call would have).
extern "C-unwind" fn cothread_overflow_unwind() -> ! {
    std::panic::resume_unwind(Box::new(super::OverflowUnwind))
}

// Entered by a `ret` with `rsp` = the hijacked frame's return stack pointer,
// which the ABI keeps 16-aligned at a call's return. It keeps the return
// value registers, asks `cothread_overflow_return` what to do, and then
// either returns to the real return address or makes the stack look like a
// call from it into `cothread_overflow_unwind` and jumps there. It is never
// on the stack as a frame of its own, so it needs no unwind information.
std::arch::global_asm!(
    ".pushsection .text.cothread_overflow_trampoline,\"ax\",@progbits",
    ".globl cothread_overflow_trampoline",
    ".type cothread_overflow_trampoline,@function",
    "cothread_overflow_trampoline:",
    "sub rsp, 64",
    "mov [rsp + 48], rax",
    "mov [rsp + 40], rdx",
    "movdqu [rsp + 24], xmm0",
    "movdqu [rsp + 8], xmm1",
    "lea rdi, [rsp + 64]",
    "call {back}",
    "mov [rsp + 56], rax",
    "test rdx, rdx",
    "jnz 2f",
    "mov rax, [rsp + 48]",
    "mov rdx, [rsp + 40]",
    "movdqu xmm0, [rsp + 24]",
    "movdqu xmm1, [rsp + 8]",
    "add rsp, 56",
    "ret",
    "2:",
    "add rsp, 56",
    "jmp {unwind}",
    ".size cothread_overflow_trampoline, . - cothread_overflow_trampoline",
    ".popsection",
    back = sym cothread_overflow_return,
    unwind = sym cothread_overflow_unwind,
);

#[cfg(test)]
mod tests {
    use super::{read_sleb, read_uleb};

    fn uleb(bytes: &[u8]) -> usize {
        let mut at = bytes.as_ptr();
        // SAFETY: each test's bytes hold one complete number.
        unsafe { read_uleb(&mut at) }
    }

    fn sleb(bytes: &[u8]) -> isize {
        let mut at = bytes.as_ptr();
        // SAFETY: as above.
        unsafe { read_sleb(&mut at) }
    }

    /// The DWARF standard's own examples of both encodings.
    #[test]
    fn leb128_numbers_read_as_dwarf_encodes_them() {
        assert_eq!(uleb(&[2]), 2);
        assert_eq!(uleb(&[0x7f]), 127);
        assert_eq!(uleb(&[0x80, 1]), 128);
        assert_eq!(uleb(&[0xe5, 0x8e, 0x26]), 624_485);
        assert_eq!(sleb(&[2]), 2);
        assert_eq!(sleb(&[0x7e]), -2);
        assert_eq!(sleb(&[0xff, 0]), 127);
        assert_eq!(sleb(&[0x81, 0x7f]), -127);
        assert_eq!(sleb(&[0x80, 0x7f]), -128);
        assert_eq!(sleb(&[0xc0, 0xbb, 0x78]), -123_456);
    }
}
