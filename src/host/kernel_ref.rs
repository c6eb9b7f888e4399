//! [`KernelRef`], the weak handle through which a layer on the runtime
//! (jobs, futures) reaches the kernel it runs on.

use std::fmt;
use std::rc::{Rc, Weak};

use super::Kernel;
use crate::error::Error;
use crate::event::Signal;
use crate::kernel::*;
use crate::process::SpawnOptions;
use crate::task::Kind;

/// What a layer on the runtime (jobs, and the ones to come) may ask of the
/// kernel it runs on, without reaching its internals: a weak handle, since
/// the kernel may be gone by the time the layer uses it.
#[derive(Clone)]
pub(crate) struct KernelRef(Weak<Shared>);

impl fmt::Debug for KernelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelRef").field("gone", &self.is_gone()).finish()
    }
}

impl KernelRef {
    /// The kernel running on this OS thread.
    ///
    /// # Panics
    ///
    /// Outside a kernel; `what` names the call in the message.
    pub(crate) fn current(what: &str) -> KernelRef {
        KernelRef(current(what).weak())
    }

    /// `kernel`'s handle.
    pub(crate) fn of(kernel: &Kernel) -> KernelRef {
        KernelRef(kernel.shared.weak())
    }

    /// Whether the kernel has been dropped.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }

    /// The kernel `thread` belongs to.
    pub(crate) fn of_thread(thread: &crate::thread::Thread) -> KernelRef {
        KernelRef(thread.task().0.clone())
    }

    /// Whether the kernel has work now; if not, `waker` is woken by the next
    /// push or wake-up from another OS thread. `true` if it is gone (there
    /// is nothing left to wait for).
    pub(crate) fn poll_work(&self, waker: &std::task::Waker) -> bool {
        match self.0.upgrade() {
            Some(shared) => shared.poll_work(waker),
            None => true,
        }
    }

    /// When the kernel's nearest deadline falls due, on the OS's clock
    /// (`None`: no deadline, a virtual clock, or the kernel is gone).
    pub(crate) fn next_instant(&self) -> Option<std::time::Instant> {
        self.0.upgrade()?.next_instant()
    }

    /// Queues the signal `signal` makes for the kernel's next round, as
    /// `event::push` does from inside; nothing (and `signal` is not called)
    /// if the kernel is gone.
    pub(crate) fn push(&self, signal: impl FnOnce() -> Signal) {
        if let Some(shared) = self.0.upgrade() {
            shared.core().enqueue(signal());
        }
    }

    /// Runs `f` on the layer value of type `S` in this kernel: a layer's
    /// state, or the host's settings for it ([`WorkerSettings`](super::WorkerSettings)), given at
    /// build or made with `Default` on first use, dropped with the kernel;
    /// `None` if the kernel is gone. `f` runs with the kernel's state
    /// borrowed: it must not call into the kernel.
    pub(crate) fn with_layer<S: Default + 'static, R>(
        &self,
        f: impl FnOnce(&mut S) -> R,
    ) -> Option<R> {
        let shared = self.0.upgrade()?;
        let mut core = shared.core();
        let core = &mut *core;
        let at = match core.layers.iter().position(|layer| layer.is::<S>()) {
            Some(at) => at,
            None => {
                core.layers.push(Box::new(S::default()));
                core.layers.len() - 1
            }
        };
        let layer = core.layers[at].downcast_mut::<S>().expect("found by its type");
        Some(f(layer))
    }

    /// Starts a thread named `name`, owned by the root process (so that it
    /// outlives whoever started it), which runs `body` at once up to its
    /// first blocking call, from the host or from inside the kernel. `None`
    /// if the kernel is gone.
    #[track_caller]
    pub(crate) fn spawn_detached(
        &self,
        name: String,
        body: impl FnOnce() + 'static,
    ) -> Option<Result<crate::thread::JoinHandle<()>, Error>> {
        let shared = self.0.upgrade()?;
        let _enter = (!is_current(&shared)).then(|| enter(&shared));
        let root = shared.core().root;
        let site = Some(std::panic::Location::caller());
        let options = SpawnOptions { name: Some(Rc::from(name)), stack_size: None, site };
        let name = options.name.clone();
        let spawned = shared
            .spawn(root, Kind::Thread, options, body)
            .map(|spawned| crate::thread::JoinHandle::spawned(&shared, spawned, name));
        // From a thread: a kill or suspension the new thread made of it.
        shared.check_interrupts();
        Some(spawned)
    }
}
