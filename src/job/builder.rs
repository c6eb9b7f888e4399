//! The [`Builder`] of a job: its cancel mode and dependencies, set before it
//! starts, and the start itself.

use std::cell::RefCell;
use std::fmt;
use std::hash::Hash;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::host::KernelRef;
use crate::park::WaitQueue;

use super::run::{launcher, GreenWork, JobCore, Work};
use super::workers::JobLayer;
use super::{hash_of, Job, JobContext, JobState};

/// Configures a job before it starts: its cancel mode and dependencies.
///
/// # Examples
///
/// ```
/// use cothread::{job, Kernel};
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// let j = job::Builder::new()
///     .dependencies(&("user", 42))
///     .spawn_on(&mut kernel, |_: &job::JobContext<&str>| Ok::<_, String>("loaded"));
/// assert_eq!(j.value(), Some("loaded"));
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    intrusive: bool,
    dependencies: Option<u64>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder { intrusive: true, dependencies: None }
    }
}

impl Builder {
    /// A builder for a job with intrusive cancel and no dependencies.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::job::Builder::new();
    /// # drop(builder);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Cooperative cancel for a green job: `cancel` only sets the token, and
    /// the run goes on (and a retry waits) until the work returns. Blocking
    /// jobs are always cooperative.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::job::Builder::new().cooperative();
    /// # drop(builder);
    /// ```
    pub fn cooperative(mut self) -> Builder {
        self.intrusive = false;
        self
    }

    /// The job's initial dependency key (see [`Job::set_dependencies`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = cothread::job::Builder::new().dependencies(&[1, 2, 3]);
    /// # drop(builder);
    /// ```
    pub fn dependencies(mut self, key: &impl Hash) -> Builder {
        self.dependencies = Some(hash_of(key));
        self
    }

    /// Starts a green job from inside a kernel (see [`spawn`](super::spawn)).
    ///
    /// # Panics
    ///
    /// Outside a kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let j = job::Builder::new().spawn(|_: &job::JobContext<i32>| Ok::<_, String>(7));
    ///     j.join(None).unwrap();
    ///     assert_eq!(j.value(), Some(7));
    /// }).unwrap();
    /// ```
    pub fn spawn<T: 'static, E: fmt::Display>(
        self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
    ) -> Job<T> {
        let shared = KernelRef::current("job::spawn");
        self.start(shared, Work::Green(Rc::new(move |ctx| work(ctx).map_err(|e| e.to_string()))))
    }

    /// Starts a blocking job from inside a kernel (see [`spawn_blocking`](super::spawn_blocking)).
    ///
    /// # Panics
    ///
    /// Outside a kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     let j = job::Builder::new()
    ///         .spawn_blocking(|_: &job::JobContext<i32>| Ok::<_, String>(6 * 7));
    ///     j.join(None).unwrap();
    ///     assert_eq!(j.value(), Some(42));
    /// }).unwrap();
    /// ```
    pub fn spawn_blocking<T: Send + 'static, E: fmt::Display>(
        self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Job<T> {
        let shared = KernelRef::current("job::spawn_blocking");
        self.start(shared, Work::Blocking(launcher(work)))
    }

    /// Starts a green job from the host.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let j = job::Builder::new().spawn_on(&mut kernel, |_: &job::JobContext<u8>| {
    ///     Err::<u8, _>("no network")
    /// });
    /// assert_eq!(j.state(), job::JobState::Error);
    /// assert_eq!(j.error().as_deref(), Some("no network"));
    /// ```
    pub fn spawn_on<T: 'static, E: fmt::Display>(
        self,
        kernel: &mut crate::Kernel,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
    ) -> Job<T> {
        let work: GreenWork<T> = Rc::new(move |ctx| work(ctx).map_err(|e| e.to_string()));
        self.start(KernelRef::of(kernel), Work::Green(work))
    }

    /// Starts a blocking job from the host.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let j = job::Builder::new()
    ///     .spawn_blocking_on(&mut kernel, |_: &job::JobContext<u8>| Ok::<_, String>(1));
    /// while !j.state().is_done() {
    ///     kernel.run_forever().unwrap();
    /// }
    /// assert_eq!(j.value(), Some(1));
    /// ```
    pub fn spawn_blocking_on<T: Send + 'static, E: fmt::Display>(
        self,
        kernel: &mut crate::Kernel,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Job<T> {
        self.start(KernelRef::of(kernel), Work::Blocking(launcher(work)))
    }

    fn start<T: 'static>(self, kernel: KernelRef, work: Work<T>) -> Job<T> {
        let id = kernel.with_layer(|layer: &mut JobLayer| layer.next_id()).unwrap_or(0);
        let core = JobCore {
            id,
            state: JobState::Starting,
            value: None,
            error: None,
            run: 0,
            token: Arc::new(AtomicBool::new(false)),
            driver: None,
            dependencies: self.dependencies,
            intrusive: self.intrusive,
            work,
            kernel,
            joiners: WaitQueue::default(),
        };
        let job = Job { core: Rc::new(RefCell::new(core)) };
        job.start_run();
        job
    }
}
