//! The host's entry points for jobs: [`Kernel::job`](crate::Kernel::job) and
//! [`Kernel::blocking_job`](crate::Kernel::blocking_job).

use std::fmt;

use super::{Job, JobContext};

impl crate::Kernel {
    /// Starts a green job from the host (see [`job`](crate::job)): `work`
    /// runs as a green thread at once, up to its first yield point. Intrusive
    /// cancel; use [`job::Builder`](crate::job::Builder) for other options.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::{JobContext, JobState}, os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let j = kernel.job(|ctx: &JobContext<u32>| {
    ///     for i in 1..=3 {
    ///         os::sleep(Duration::from_secs(1));
    ///         ctx.emit(i);
    ///     }
    ///     Ok::<_, String>(3)
    /// });
    /// kernel.advance(Duration::from_millis(2500));
    /// assert_eq!((j.state(), j.value()), (JobState::Running, Some(2)));
    /// kernel.advance(Duration::from_secs(1));
    /// assert_eq!(j.state(), JobState::Finished);
    /// ```
    pub fn job<T: 'static, E: fmt::Display>(
        &mut self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + 'static,
    ) -> Job<T> {
        crate::job::Builder::new().spawn_on(self, work)
    }

    /// Starts a blocking job from the host: `work` runs on one of the kernel's
    /// OS worker threads and reports back as signals (see [`job`](crate::job)).
    /// If the OS refuses to start the workers, the run ends in
    /// [`JobState::Error`](crate::job::JobState::Error) with the text of
    /// [`Error::WorkerThread`](crate::Error::WorkerThread), its work unrun.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{job::JobContext, Kernel};
    ///
    /// let mut kernel = Kernel::new();
    /// let j = kernel.blocking_job(|_: &JobContext<usize>| {
    ///     Ok::<_, String>(std::thread::current().name().unwrap_or("").len())
    /// });
    /// while !j.state().is_done() {
    ///     kernel.run_forever().unwrap();
    /// }
    /// assert_eq!(j.value(), Some("cothread-worker-0".len()));
    /// ```
    pub fn blocking_job<T: Send + 'static, E: fmt::Display>(
        &mut self,
        work: impl Fn(&JobContext<T>) -> Result<T, E> + Send + Sync + 'static,
    ) -> Job<T> {
        crate::job::Builder::new().spawn_blocking_on(self, work)
    }
}
