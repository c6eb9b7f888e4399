//! The job layer's state in a kernel: its job ids and the pool of OS worker
//! threads that runs blocking jobs.

use std::sync::{mpsc, Arc, Mutex};

use crate::error::Error;
use crate::host::WorkerSettings;

/// The job layer's state in one kernel (see `KernelRef::with_layer`): the
/// last job id given, and the worker pool, started on first use.
#[derive(Default)]
pub(super) struct JobLayer {
    last_id: u64,
    workers: Option<Workers>,
}

impl JobLayer {
    /// A fresh job id (from 1).
    pub(super) fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// The worker pool, started on first use.
    ///
    /// # Errors
    ///
    /// [`Error::WorkerThread`] if the OS refuses a worker thread; nothing is
    /// kept, and the next call tries again.
    pub(super) fn workers(&mut self, settings: &WorkerSettings) -> Result<&Workers, Error> {
        if self.workers.is_none() {
            self.workers = Some(Workers::start(settings.workers, settings.stack_size)?);
        }
        Ok(self.workers.as_ref().expect("started above"))
    }
}

/// The kernel's pool of OS worker threads for blocking jobs, started on first
/// use. Dropping it closes the queue and joins every worker.
pub(super) struct Workers {
    queue: Option<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers (at least one), with stacks of `stack_size`
    /// bytes (`None`: std's default).
    ///
    /// # Errors
    ///
    /// [`Error::WorkerThread`] with the OS's text if it refuses a thread; the
    /// workers already started are stopped and joined.
    fn start(count: usize, stack_size: Option<usize>) -> Result<Workers, Error> {
        let (queue, tasks) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let tasks = Arc::new(Mutex::new(tasks));
        // Built as it goes, so that an early return drops (stops and joins)
        // the workers started so far.
        let mut workers = Workers { queue: Some(queue), threads: Vec::new() };
        for n in 0..count.max(1) {
            let tasks = tasks.clone();
            let mut builder = std::thread::Builder::new().name(format!("cothread-worker-{n}"));
            if let Some(bytes) = stack_size {
                builder = builder.stack_size(bytes);
            }
            let thread = builder
                .spawn(move || loop {
                    let task = tasks.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match task {
                        Ok(task) => task(),
                        Err(_) => return, // the kernel is gone
                    }
                })
                .map_err(|e| Error::WorkerThread(e.to_string()))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub(super) fn submit(&self, task: Box<dyn FnOnce() + Send>) {
        if let Some(queue) = &self.queue {
            // The workers outlive the queue's sender, so this cannot fail.
            let _ = queue.send(task);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.queue = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::host::{KernelRef, WorkerSettings};
    use crate::job::{JobContext, JobState};
    use crate::Kernel;

    /// A worker pool the OS refuses to start ends the run that needed it in
    /// `Error`, with the OS's text, and its work unrun; a retry, once the OS
    /// gives the threads, starts the pool and runs the work. The refusal is
    /// forced with a worker stack of 1 EiB, which no 64-bit address space has
    /// room for; the size does not fit a 32-bit `usize`, so there the test is
    /// skipped.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_worker_pool_the_os_refuses_ends_the_run_in_error_and_a_retry_runs_the_work() {
        let mut kernel = Kernel::new();
        KernelRef::of(&kernel).with_layer(|s: &mut WorkerSettings| s.stack_size = Some(1 << 60));
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let job = kernel.blocking_job(move |_: &JobContext<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(42)
        });
        assert_eq!(job.state(), JobState::Error);
        let error = job.error().expect("the run says why it ended");
        assert!(error.starts_with("cannot start a job worker thread: "), "{error}");
        assert_eq!((job.value(), runs.load(Ordering::SeqCst)), (None, 0));

        KernelRef::of(&kernel).with_layer(|s: &mut WorkerSettings| s.stack_size = None);
        job.retry().unwrap();
        while !job.state().is_done() {
            kernel.run_forever().unwrap();
        }
        assert_eq!((job.state(), job.value()), (JobState::Finished, Some(42)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
