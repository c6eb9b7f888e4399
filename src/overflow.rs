//! Stack overflow in a green thread ends that thread only.
//!
//! Every green thread runs on a stack carved out of a chunk (`stack::chunks`)
//! with a guard page below it (a guard region, or a `PROT_NONE` page where the
//! kernel has no guard regions), so running off the bottom of the stack
//! faults (`SIGSEGV`, or `SIGBUS` on some kernels) instead of corrupting
//! memory. A fault handler, installed once per process, runs on the OS thread's
//! alternate signal stack (the faulting stack has no room left). When the fault
//! is an access to the guard page of the green thread now on the CPU, and the
//! faulting stack pointer is inside that thread's stack, the handler uses
//! corosensei's [`CoroutineTrapHandler`] to make the coroutine return
//! [`Exit::Overflow`] at once: its stack is reset and its frames are discarded.
//! `switch_to`, back on the resumer's stack, then ends the task as the body's own
//! `finish` would have. Every other fault is passed on to the handler that was
//! installed before ours (or to the default action), untouched.
//!
//! What this can and cannot recover from, and why the unsafe parts are sound, is
//! written up in `docs/reliability.md`. In short: the discarded frames run no
//! destructors, so the thread's locals leak and any lock or `RefCell` borrow it
//! held stays held; if the kernel's own state was borrowed, or the kernel was in
//! the middle of a switch, the process is aborted with a message, because the
//! kernel's tables may be half updated.
//!
//! Supported on Linux on x86_64 and aarch64. Elsewhere [`prepare_thread`] and
//! [`guard`] do nothing and an overflow still ends the process (the guard page
//! keeps it from corrupting memory).

use std::sync::OnceLock;

use corosensei::trap::CoroutineTrapHandler;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) mod hijack;

/// How a green thread's coroutine returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Its body ran to its end (whether it returned, panicked or was killed:
    /// the body catches its own unwinds and records which).
    Normal,
    /// It overflowed its stack: the trap handler discarded its frames, and its
    /// death bookkeeping is still to be done by the resumer.
    Overflow,
}

/// The handle through which the fault handler ends a green thread.
pub(crate) type Trap = CoroutineTrapHandler<Exit>;

/// The panic payload that unwinds a thread that ran into its stack's
/// emergency zone (see [`EMERGENCY`]): at its next kernel call, or from a
/// hijacked return.
pub(crate) struct OverflowUnwind;

/// What the trap asks of the kernel above it. The kernel installs them
/// ([`install`]) before any green thread runs; the trap names nothing of the
/// crate above it.
#[derive(Clone, Copy)]
pub(crate) struct KernelHooks {
    /// Whether the kernel's state is borrowed for writing: an unwind started
    /// then would leave it half updated. Must only read (it runs in the
    /// fault handler).
    pub(crate) state_borrowed: fn() -> bool,
    /// The kernel's operations of several steps that run on a green stack,
    /// by address: no unwind is started with one of them on the stack.
    #[cfg_attr(not(all(target_os = "linux", target_arch = "x86_64")), allow(dead_code))]
    pub(crate) kernel_frames: fn() -> [usize; 4],
}

static HOOKS: OnceLock<KernelHooks> = OnceLock::new();

/// Gives the trap the kernel's [`KernelHooks`] (the first call's are kept:
/// they are the same functions every time).
pub(crate) fn install(hooks: KernelHooks) {
    let _ = HOOKS.set(hooks);
}

/// The kernel's hooks; `None` before any kernel was built. A plain atomic
/// load: safe in the fault handler.
#[cfg_attr(not(all(target_os = "linux", target_arch = "x86_64")), allow(dead_code))]
fn hooks() -> Option<&'static KernelHooks> {
    HOOKS.get()
}

pub(crate) use imp::{guard, prepare_thread, take_tripped, tripped};

/// The emergency zone: bytes of stack below every green thread's usable
/// stack, above its guard page, kept inaccessible until the thread first
/// runs into them. Then the fault handler opens them and lets the thread go
/// on (whatever it was doing finishes: a `println!`, an allocation, a kernel
/// call), and the thread is ended by an ordinary unwind at its next kernel
/// call. Only a thread that runs through this zone too reaches the guard
/// page, and has its frames discarded. Address space only: pages are
/// committed when touched.
pub(crate) const EMERGENCY: usize = 64 * 1024;

/// Forgets what the overflow trap noted about the stack `[low, high)`, which
/// is about to be freed or quarantined; returns whether its emergency zone
/// was opened.
#[inline]
pub(crate) fn forget_stack(low: usize, high: usize) -> bool {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    if hijack::any() {
        hijack::forget(|slot| (low..high).contains(&slot));
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let _ = high;
    take_tripped(low)
}

/// Ends the process after an overflow the kernel cannot recover from. Writes to
/// stderr directly: the kernel's reporter and the `log` backend are user code
/// that may be what was interrupted.
pub(crate) fn fatal(what: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "cothread: fatal: {what}; the kernel's state may be half updated, aborting \
         (see docs/reliability.md)"
    );
    std::process::abort()
}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::cell::Cell;
    use std::io;
    use std::mem;
    use std::ptr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Once, OnceLock};

    use corosensei::trap::TrapHandlerRegs;
    use libc::{c_int, c_void, siginfo_t, ucontext_t};

    use super::{Exit, Trap};

    /// What the fault handler needs of an alternate signal stack beyond the
    /// kernel's signal frame: its walk of the interrupted stack with the
    /// system unwinder takes several KiB in an unoptimised build. Only touched
    /// pages take memory.
    const HANDLER_STACK: usize = 64 * 1024;

    thread_local! {
        /// The trap handler of the green thread on the CPU of this OS thread,
        /// read by the fault handler. `const`-initialised and without a
        /// destructor, so reading it is a plain load, safe in a signal handler.
        static RUNNING: Cell<Option<Trap>> = const { Cell::new(None) };

        /// The lowest addresses of the stacks whose emergency zones the
        /// fault handler opened on this OS thread, until the kernel takes
        /// them (0: a free place), and how many there are. Several can be
        /// pending: a thread that trips inside a kernel call may switch to
        /// others before its next one. Written by the handler: `const`, no
        /// destructor.
        static TRIPPED: [Cell<usize>; 8] = const { [const { Cell::new(0) }; 8] };
        static TRIPPED_COUNT: Cell<usize> = const { Cell::new(0) };

        /// The alternate signal stack this OS thread uses, once checked.
        static ALT_STACK: AltStack = const {
            AltStack { checked: Cell::new(false), ours: Cell::new(None) }
        };
    }

    /// The handlers that were installed before ours, to chain to. Set once,
    /// before ours is installed.
    static PREVIOUS: OnceLock<Previous> = OnceLock::new();
    static INSTALL: Once = Once::new();
    /// The page size, read once outside the handler (`sysconf` is not on the
    /// async-signal-safe list).
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

    struct Previous {
        segv: libc::sigaction,
        bus: libc::sigaction,
    }

    /// Makes this OS thread ready to run green threads that may overflow: the
    /// process-wide fault handler is installed (once) and this thread has an
    /// alternate signal stack. Called on every entry into a kernel; after the
    /// first on a thread it costs two loads.
    pub(crate) fn prepare_thread() {
        INSTALL.call_once(install);
        // `try_with`: a kernel dropped by another thread-local's destructor may
        // enter after this one is gone; it then runs without the trap.
        let _ = ALT_STACK.try_with(AltStack::ensure);
    }

    /// Runs `resume` (a coroutine's resume) with `trap` as the running green
    /// thread's trap handler, restoring the previous one after: switches nest
    /// when a thread starts or kills another.
    ///
    /// `trap` must come from the coroutine that `resume` resumes, which must
    /// stay alive until `resume` returns (it is borrowed by it).
    #[inline]
    pub(crate) fn guard<R>(trap: Trap, resume: impl FnOnce() -> R) -> R {
        struct Restore(Option<Trap>);
        impl Drop for Restore {
            #[inline]
            fn drop(&mut self) {
                RUNNING.set(self.0);
            }
        }
        let _restore = Restore(RUNNING.replace(Some(trap)));
        resume()
    }

    /// How many stacks had their emergency zone opened and are not yet
    /// taken by the kernel. One thread-local load: called on kernel calls.
    #[inline]
    pub(crate) fn tripped() -> usize {
        TRIPPED_COUNT.try_with(Cell::get).unwrap_or(0)
    }

    /// Whether the stack whose lowest address is `low` had its emergency zone
    /// opened; if so, the kernel now knows, and the mark is cleared.
    pub(crate) fn take_tripped(low: usize) -> bool {
        tripped() != 0 && untrip(low)
    }

    /// Clears `low`'s mark, if it has one; async-signal-safe.
    fn untrip(low: usize) -> bool {
        let Ok(Some(place)) = TRIPPED.try_with(|t| t.iter().position(|p| p.get() == low)) else {
            return false;
        };
        TRIPPED.with(|t| t[place].set(0));
        TRIPPED_COUNT.with(|n| n.set(n.get().saturating_sub(1)));
        true
    }

    /// The page size, read on first use.
    fn page_size() -> usize {
        match PAGE_SIZE.load(Ordering::Relaxed) {
            0 => {
                // SAFETY: `sysconf` has no preconditions.
                let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) });
                let page = page.unwrap_or(4096);
                PAGE_SIZE.store(page, Ordering::Relaxed);
                page
            }
            page => page,
        }
    }

    fn install() {
        page_size();
        #[cfg(target_arch = "x86_64")]
        super::hijack::find_text();
        // SAFETY: a null new action only reads the current one into a
        // zero-initialised `sigaction`, which is a valid value of that type.
        let previous = unsafe {
            let mut segv: libc::sigaction = mem::zeroed();
            let mut bus: libc::sigaction = mem::zeroed();
            if libc::sigaction(libc::SIGSEGV, ptr::null(), &mut segv) != 0
                || libc::sigaction(libc::SIGBUS, ptr::null(), &mut bus) != 0
            {
                log::warn!(
                    "cothread: cannot read the fault handlers ({}); a green thread's \
                     stack overflow will end the process",
                    io::Error::last_os_error()
                );
                return;
            }
            Previous { segv, bus }
        };
        // Recorded before ours is installed, so that the handler always finds it.
        let previous = PREVIOUS.get_or_init(|| previous);
        // SAFETY: `on_fault` has the signature `SA_SIGINFO` requires and is
        // async-signal-safe (see its comments); the mask blocks every signal
        // while it runs, so nothing else runs on the alternate stack meanwhile.
        unsafe {
            let mut action: libc::sigaction = mem::zeroed();
            let handler: unsafe extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = on_fault;
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigfillset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGSEGV, &action, ptr::null_mut()) != 0
                || libc::sigaction(libc::SIGBUS, &action, ptr::null_mut()) != 0
            {
                log::warn!(
                    "cothread: cannot install the fault handler ({}); a green thread's \
                     stack overflow will end the process",
                    io::Error::last_os_error()
                );
                // Put back what was there, for both signals.
                libc::sigaction(libc::SIGSEGV, &previous.segv, ptr::null_mut());
                libc::sigaction(libc::SIGBUS, &previous.bus, ptr::null_mut());
            }
        }
    }

    /// The `SIGSEGV`/`SIGBUS` handler. It runs on the alternate signal stack
    /// with every signal blocked. It touches only a `const` thread-local, two
    /// statics, the stack of the faulting green thread and the interrupted
    /// register context: no allocation, no lock.
    unsafe extern "C" fn on_fault(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
        // SAFETY: the kernel passes a valid `siginfo_t` and `ucontext_t` to a
        // `SA_SIGINFO` handler, and nothing else refers to them while it runs.
        let overflow = unsafe { trap_overflow(&*info, &mut *context.cast::<ucontext_t>()) };
        if !overflow {
            // SAFETY: forwards exactly what the kernel gave us.
            unsafe { chain(signal, info, context) }
        }
    }

    /// Ends the running green thread if this fault is its stack overflow: makes
    /// the interrupted context "return" from the coroutine with
    /// [`Exit::Overflow`]. Returns whether it did.
    fn trap_overflow(info: &siginfo_t, context: &mut ucontext_t) -> bool {
        // Only a fault the kernel raised has a meaningful address (`kill` and
        // `sigqueue` give `si_code <= 0`, and their `si_addr` overlaps other fields).
        if info.si_code <= 0 {
            return false;
        }
        let Ok(Some(trap)) = RUNNING.try_with(Cell::get) else { return false };
        // SAFETY: a kernel-raised SIGSEGV/SIGBUS carries the fault address.
        let fault = unsafe { info.si_addr() } as usize;
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        let in_bounds = |address: usize| trap.stack_ptr_in_bounds(address);
        if !in_bounds(fault) || !in_bounds(stack_pointer(context)) {
            return false;
        }
        // The trap handler's bounds span the whole slot of a stack, whose
        // lowest page is its guard page, with the emergency zone above:
        // the addresses in bounds whose address that much lower is not.
        let within = |len: usize| fault.checked_sub(len).map_or(true, |below| !in_bounds(below));
        // No place left to note an opened zone (never in practice): the
        // overflow is taken as one at the guard page.
        let place = TRIPPED.with(|t| t.iter().position(|p| p.get() == 0));
        let in_guard_page = within(page);
        if !in_guard_page && !within(page + super::EMERGENCY) {
            // Above the zone: not an overflow.
            return false;
        }
        if let (false, Some(place)) = (in_guard_page, place) {
            // The emergency zone: open it and let the thread go on.
            let mut low = fault & !(page - 1);
            while low.checked_sub(page).is_some_and(in_bounds) {
                low -= page;
            }
            let zone = (low + page) as *mut c_void;
            // SAFETY: the zone is part of the running green thread's stack
            // slot (checked above: in bounds, above the guard page), made
            // inaccessible by the stack allocator, with a guard region or
            // `PROT_NONE` (the handler does not know which: it undoes both;
            // each is a no-op on a zone made the other way, and the guard
            // region's removal fails harmlessly on a kernel without them).
            // Giving the zone back its access changes no memory. `madvise`
            // and `mprotect` are plain system calls.
            // The interrupted code's `errno` is put back: a failed call sets it.
            let opened = unsafe {
                let errno = libc::__errno_location();
                let saved = *errno;
                let removed =
                    libc::madvise(zone, super::EMERGENCY, crate::stack::chunks::MADV_GUARD_REMOVE)
                        == 0
                        || *errno == libc::EINVAL;
                let opened = removed
                    && libc::mprotect(zone, super::EMERGENCY, libc::PROT_READ | libc::PROT_WRITE)
                        == 0;
                *errno = saved;
                opened
            };
            if opened {
                TRIPPED.with(|t| t[place].set(low));
                TRIPPED_COUNT.with(|n| n.set(n.get() + 1));
                // Not while the thread unwinds: the unwinder may be what was
                // interrupted, and the unwind under way ends the thread.
                // Nor while the kernel's state is borrowed: an unwind there
                // would leave it half updated (the walk also refuses to
                // start one across the kernel's own multi-step operations).
                #[cfg(target_arch = "x86_64")]
                if !std::thread::panicking()
                    && super::hooks().is_some_and(|h| !(h.state_borrowed)())
                {
                    let ip = context.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
                    super::hijack::hijack(trap, ip);
                }
            }
            return opened;
        }
        // SAFETY: `setup_trap_handler` requires (1) that the trap handler's
        // coroutine be alive: `RUNNING` holds it only while `guard` resumes that
        // coroutine, which borrows it; (2) that the interrupted stack pointer be
        // inside the coroutine's stack: checked just above; (3) that every
        // register in `TrapHandlerRegs` be written to the interrupted context:
        // `set_registers` does, destructuring all of them; and (4) that the
        // coroutine not write memory outside its stack except through volatile
        // operations, so that abandoning it mid-instruction leaves nothing half
        // written. We cannot promise (4) for user code and accept the
        // consequence: the fault is a stack access by the green thread's own code
        // at its guard page (a function prologue or stack probe), so it happened
        // between, not inside, its writes; what is lost is the rest of the
        // thread's execution, i.e. its destructors and the release of any lock
        // or borrow it held. `switch_to` checks the kernel's own state for that
        // and aborts if it was caught mid-update; docs/reliability.md lists the
        // rest. The closure runs on the reset coroutine stack, captures nothing
        // and cannot fault.
        let registers = unsafe { trap.setup_trap_handler(|| Exit::Overflow) };
        // Its emergency zone, if it opened it, is gone with its frames (the
        // mapping's lowest page is the guard page, where this fault is, or
        // the zone's first page, if no place was left to note it).
        let mut low = fault & !(page - 1);
        while low.checked_sub(page).is_some_and(in_bounds) {
            low -= page;
        }
        untrip(low);
        #[cfg(target_arch = "x86_64")]
        super::hijack::forget(in_bounds);
        set_registers(context, registers);
        true
    }

    #[cfg(target_arch = "x86_64")]
    fn stack_pointer(context: &ucontext_t) -> usize {
        context.uc_mcontext.gregs[libc::REG_RSP as usize] as usize
    }

    #[cfg(target_arch = "x86_64")]
    fn set_registers(context: &mut ucontext_t, registers: TrapHandlerRegs) {
        let TrapHandlerRegs { rip, rsp, rbp, rdi, rsi } = registers;
        let gregs = &mut context.uc_mcontext.gregs;
        gregs[libc::REG_RIP as usize] = rip as i64;
        gregs[libc::REG_RSP as usize] = rsp as i64;
        gregs[libc::REG_RBP as usize] = rbp as i64;
        gregs[libc::REG_RDI as usize] = rdi as i64;
        gregs[libc::REG_RSI as usize] = rsi as i64;
    }

    #[cfg(target_arch = "aarch64")]
    fn stack_pointer(context: &ucontext_t) -> usize {
        context.uc_mcontext.sp as usize
    }

    #[cfg(target_arch = "aarch64")]
    fn set_registers(context: &mut ucontext_t, registers: TrapHandlerRegs) {
        let TrapHandlerRegs { pc, sp, x0, x1, x29, lr } = registers;
        let mcontext = &mut context.uc_mcontext;
        mcontext.pc = pc;
        mcontext.sp = sp;
        mcontext.regs[0] = x0;
        mcontext.regs[1] = x1;
        mcontext.regs[29] = x29;
        mcontext.regs[30] = lr;
    }

    /// Passes a fault that is not ours to the handler installed before ours,
    /// as if ours were not there.
    ///
    /// # Safety
    ///
    /// Called only from `on_fault`, with the arguments it was given.
    unsafe fn chain(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
        let previous =
            PREVIOUS.get().map(|p| if signal == libc::SIGBUS { &p.bus } else { &p.segv });
        match previous {
            Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
                if p.sa_flags & libc::SA_SIGINFO != 0 {
                    // SAFETY: with `SA_SIGINFO` the field holds a three-argument
                    // handler; its installer vouched for it when installing it.
                    let handler: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
                        unsafe { mem::transmute(p.sa_sigaction) };
                    handler(signal, info, context);
                } else {
                    // SAFETY: without `SA_SIGINFO` the field holds a one-argument
                    // handler.
                    let handler: extern "C" fn(c_int) = unsafe { mem::transmute(p.sa_sigaction) };
                    handler(signal);
                }
            }
            // No handler before ours (an ignored fault signal is fatal anyway:
            // the kernel forces the default action on an ignored fault). Restore
            // the default action and raise the signal again: it is blocked while
            // we run, so it is delivered, and ends the process as it would have
            // without us, as soon as we return. A hardware fault would also
            // recur on return.
            _ => {
                // SAFETY: `sigaction` and `raise` are async-signal-safe; a
                // zeroed `sigaction` with `SIG_DFL` is a valid action.
                unsafe {
                    let mut default: libc::sigaction = mem::zeroed();
                    default.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(signal, &default, ptr::null_mut());
                    libc::raise(signal);
                }
            }
        }
    }

    /// This OS thread's alternate signal stack: whether it has been checked,
    /// and the one we made, if the thread had none large enough.
    struct AltStack {
        checked: Cell<bool>,
        /// `(mapping, mapping length)`; the stack is the mapping above its
        /// lowest page, which is a guard page.
        ours: Cell<Option<(*mut c_void, usize)>>,
    }

    impl AltStack {
        fn ensure(&self) {
            if self.checked.replace(true) {
                return;
            }
            let page = PAGE_SIZE.load(Ordering::Relaxed);
            // SAFETY: `getauxval` has no preconditions (0 for an unknown key).
            let kernel_min = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
            // The signal frame grows with the CPU's register state (several
            // KiB with AVX-512), so Rust's runtime's stack of `SIGSTKSZ` (8 KiB)
            // is too small for the handler's walk: it is replaced.
            let needed = HANDLER_STACK + libc::SIGSTKSZ.max(kernel_min);
            // SAFETY: a null new stack only reads the current one.
            let current = unsafe {
                let mut current: libc::stack_t = mem::zeroed();
                libc::sigaltstack(ptr::null(), &mut current);
                current
            };
            // Keep one that is installed and large enough, and never change it
            // while running on it.
            if current.ss_flags & libc::SS_ONSTACK != 0
                || (current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= needed)
            {
                return;
            }
            let size = needed.next_multiple_of(page);
            let len = size + page;
            // SAFETY: a fresh anonymous mapping; nothing else refers to it.
            let mapping = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if mapping == libc::MAP_FAILED {
                log::warn!(
                    "cothread: cannot map an alternate signal stack ({}); a green thread's \
                     stack overflow will end the process",
                    io::Error::last_os_error()
                );
                return;
            }
            // SAFETY: `mapping` is ours and `len` long; the stack is the part
            // above the guard page, made accessible here. The kernel uses it only
            // while a signal is handled on this thread, and `Drop` uninstalls it
            // before unmapping it.
            let installed = unsafe {
                let stack = mapping.cast::<u8>().add(page).cast::<c_void>();
                libc::mprotect(stack, size, libc::PROT_READ | libc::PROT_WRITE) == 0 && {
                    let new = libc::stack_t { ss_sp: stack, ss_flags: 0, ss_size: size };
                    libc::sigaltstack(&new, ptr::null_mut()) == 0
                }
            };
            if installed {
                self.ours.set(Some((mapping, len)));
            } else {
                log::warn!(
                    "cothread: cannot install an alternate signal stack ({}); a green \
                     thread's stack overflow will end the process",
                    io::Error::last_os_error()
                );
                // SAFETY: not installed, so nothing uses it.
                unsafe { libc::munmap(mapping, len) };
            }
        }
    }

    impl Drop for AltStack {
        fn drop(&mut self) {
            let Some((mapping, len)) = self.ours.get() else { return };
            let page = PAGE_SIZE.load(Ordering::Relaxed);
            // SAFETY: if the installed alternate stack is still ours, it is
            // disabled first (the thread is exiting, and is not on it: this runs
            // as a thread-local destructor, not in a handler); then nothing can
            // use the mapping, which is ours to unmap.
            unsafe {
                let mut current: libc::stack_t = mem::zeroed();
                libc::sigaltstack(ptr::null(), &mut current);
                if current.ss_sp == mapping.cast::<u8>().add(page).cast::<c_void>()
                    && current.ss_flags & libc::SS_DISABLE == 0
                {
                    let disable = libc::stack_t {
                        ss_sp: ptr::null_mut(),
                        ss_flags: libc::SS_DISABLE,
                        ss_size: 0,
                    };
                    libc::sigaltstack(&disable, ptr::null_mut());
                }
                libc::munmap(mapping, len);
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod imp {
    use super::Trap;

    /// No fault handler on this platform: an overflow ends the process.
    pub(crate) fn prepare_thread() {}

    /// No emergency zone either: nothing ever trips.
    pub(crate) fn tripped() -> usize {
        0
    }

    pub(crate) fn take_tripped(_low: usize) -> bool {
        false
    }

    pub(crate) fn guard<R>(_trap: Trap, resume: impl FnOnce() -> R) -> R {
        resume()
    }
}

#[cfg(all(test, target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use crate::{thread, Kernel};

    const CHILD: &str = "COTHREAD_UNIT_OVERFLOW_CHILD";

    fn recurse(depth: u64) -> u64 {
        let frame = std::hint::black_box([depth as u8; 512]);
        if depth == u64::MAX {
            return 0;
        }
        recurse(depth + 1).wrapping_add(u64::from(frame[0]))
    }

    #[test]
    #[ignore = "run in a child process"]
    fn child_overflow_while_the_kernel_is_borrowed() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let mut kernel = Kernel::builder().virtual_time(true).stack_size(64 * 1024).build();
        let _ = kernel.run(|| {
            thread::create(|| {
                let shared = crate::kernel::current("test");
                let _core = shared.core();
                recurse(0)
            })
            .wait()
        });
        println!("child finished");
    }

    /// The discarded frames would hold the kernel's state borrowed forever:
    /// the process is aborted with a message instead of going on with tables
    /// that may be half updated.
    #[test]
    fn an_overflow_inside_the_kernel_aborts_with_a_message() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "overflow::tests::child_overflow_while_the_kernel_is_borrowed",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{output:?}");
        assert!(
            stderr
                .contains("cothread: fatal: a green thread overflowed its stack inside the kernel"),
            "stderr:\n{stderr}"
        );
        assert!(!String::from_utf8_lossy(&output.stdout).contains("child finished"));
    }
}
