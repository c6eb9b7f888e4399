//! The watchdog: a monitor OS thread that notices a program or thread that
//! has run longer than a limit since it was resumed, reports it while it
//! still runs, and has it ended at its next checkpoint or blocking call.
//!
//! Nothing is done to the running code (Rust code cannot be preempted
//! safely). The kernel publishes each resume in a [`Watch`] it shares with
//! the monitor: one word naming the resume (the task's id and its count of
//! resumes, so that two resumes never look alike) and the wait site it was
//! resumed from, two plain stores; it clears the word when it leaves its
//! green threads for a while (an idle wait, a return to the host, a
//! listener or timer callback). The monitor samples the word; a word
//! unchanged for longer than the limit is a resume that has not yielded. It
//! then builds the report from what the kernel published (who each task is
//! was filed at its spawn), hands it to the host's hook on its own thread,
//! marks the resume, and asks the kernel, as another OS thread does (the
//! remote queue), to end the thread where it next blocks. `os::checkpoint`
//! reads the marks: past half the limit (the thread's slice) it yields, and
//! once marked it ends the thread there.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::event::Value;
use crate::id::{Site, Status, ThreadId};
use crate::kernel::{Core, Remote, Shared, WATCH};
use crate::park::TaskKey;
use crate::report::WatchdogReport;
use crate::task::{Kind, Parked, Task};
use crate::unwind::OverrunUnwind;

/// The host's hook for the watchdog's reports, run on the monitor thread.
pub(crate) type WatchdogHook = Arc<dyn Fn(&WatchdogReport) + Send + Sync>;

/// The watchdog's settings, as `KernelBuilder::watchdog` and `on_watchdog`
/// give them.
#[derive(Clone, Default)]
pub(crate) struct WatchdogSettings {
    /// `None`: no watchdog.
    pub(crate) limit: Option<Duration>,
    pub(crate) hook: Option<WatchdogHook>,
}

impl std::fmt::Debug for WatchdogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchdogSettings")
            .field("limit", &self.limit)
            .field("hook", &self.hook.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

/// Who a task is, filed at its spawn for the monitor's reports.
#[derive(Clone)]
struct Entry {
    key: TaskKey,
    id: ThreadId,
    name: Option<String>,
    program: bool,
    spawned_at: Option<Site>,
}

/// What the kernel and its monitor thread share.
pub(crate) struct Watch {
    /// The resume under way, [`resume_word`]; 0 while none is.
    running: AtomicU64,
    /// The blocking call that resume came back from (null: none). Only
    /// ever a `&'static Location<'static>` or null.
    site: AtomicPtr<Location<'static>>,
    /// The resume whose slice the monitor found over.
    slice_over: AtomicU64,
    /// The resume the monitor found over the limit.
    overrun: AtomicU64,
    /// Who each task is, by the low 32 bits of its id (as words carry it).
    registry: Mutex<HashMap<u64, Entry>>,
    /// The monitor's stop: set as the kernel goes, with `exited` for the
    /// monitor's answer.
    control: Mutex<Control>,
    signal: Condvar,
}

#[derive(Default)]
struct Control {
    stop: bool,
    exited: bool,
}

/// The word that names a resume of the task `id` that is its
/// `resumes`-th: never the same for two resumes in a row (of one task, the
/// count differs; of two, the id, which the kernel never reuses, where a
/// task's key in the table is), never 0 (the root, id 0, never runs).
#[inline(always)]
fn resume_word(id: ThreadId, resumes: u64) -> u64 {
    (id.0 << 32) | (resumes & 0xffff_ffff)
}

/// The id (its low 32 bits) a [`resume_word`] names.
fn id_bits(word: u64) -> u64 {
    word >> 32
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            running: AtomicU64::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
            slice_over: AtomicU64::new(0),
            overrun: AtomicU64::new(0),
            registry: Mutex::new(HashMap::new()),
            control: Mutex::new(Control::default()),
            signal: Condvar::new(),
        }
    }
}

impl Watch {
    fn registry(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        // A report is read and written whole under the lock: poisoning
        // (a panic between two of its statements) cannot leave it torn.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the task `id`, gone from the table.
    pub(crate) fn forget(&self, id: ThreadId) {
        self.registry().remove(&id_bits(resume_word(id, 0)));
    }

    /// Publishes the resume of `task` that is its `resumes`th: the
    /// switch's whole cost, two stores.
    #[inline(always)]
    pub(crate) fn resumed(&self, task: &Task, resumes: u64) {
        let site = task.waiting_at.map_or(std::ptr::null_mut(), |at| at as *const _ as *mut _);
        self.site.store(site, Ordering::Relaxed);
        self.running.store(resume_word(task.id, resumes), Ordering::Release);
    }

    /// No resume is under way: the kernel is idle, back in the host, or in
    /// a callback of its own.
    #[inline]
    pub(crate) fn paused(&self) {
        self.running.store(0, Ordering::Release);
    }

    /// The report of the resume `word`, if it still runs, and the key of
    /// its task.
    fn report(
        &self,
        word: u64,
        running_for: Duration,
        limit: Duration,
    ) -> Option<(WatchdogReport, TaskKey)> {
        let site = self.site.load(Ordering::Acquire);
        let entry = self.registry().get(&id_bits(word)).cloned()?;
        // The site read belongs to `word` only if no resume began since.
        if self.running.load(Ordering::Acquire) != word {
            return None;
        }
        // SAFETY: `site` is null or was stored from a `&'static
        // Location<'static>` (see `Watch::site`), which lives for ever.
        let waiting_at = unsafe { site.as_ref() };
        let report = WatchdogReport {
            thread: entry.id,
            name: entry.name,
            program: entry.program,
            spawned_at: entry.spawned_at,
            waiting_at,
            running_for,
            limit,
        };
        Some((report, entry.key))
    }
}

/// The monitor thread of a kernel, stopped and joined as the kernel goes.
pub(crate) struct Monitor {
    watch: Arc<Watch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts the monitor of a kernel whose remote queue is `remote`; `None`
    /// without a limit, or (logged) if the OS refuses the thread: the
    /// kernel runs unwatched.
    pub(crate) fn start(
        settings: WatchdogSettings,
        remote: Arc<Remote>,
    ) -> Option<(Arc<Watch>, Monitor)> {
        let limit = settings.limit?;
        let watch = Arc::new(Watch::default());
        let shared = watch.clone();
        let spawned = std::thread::Builder::new()
            .name("cothread-watchdog".into())
            .spawn(move || watch_over(&shared, &remote, limit, settings.hook));
        match spawned {
            Ok(thread) => Some((watch.clone(), Monitor { watch, thread: Some(thread) })),
            Err(err) => {
                log::error!("cothread: cannot start the watchdog's thread, running without: {err}");
                None
            }
        }
    }

    /// Stops the monitor and joins it. A host hook that does not return
    /// within a second is left to finish on its own (its thread ends after
    /// it): the kernel's drop must not hang on it.
    pub(crate) fn stop(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        let mut control = self.watch.control();
        control.stop = true;
        self.watch.signal.notify_all();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !control.exited {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            control = self
                .watch
                .signal
                .wait_timeout(control, left)
                .map_or_else(|p| p.into_inner().0, |(guard, _)| guard);
        }
        drop(control);
        let _ = thread.join();
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The monitor's loop: samples the resume word every eighth of the limit
/// (at least every millisecond) until told to stop.
fn watch_over(watch: &Watch, remote: &Remote, limit: Duration, hook: Option<WatchdogHook>) {
    /// Tells `Monitor::stop` that the loop is over, however it ends.
    struct Exited<'a>(&'a Watch);
    impl Drop for Exited<'_> {
        fn drop(&mut self) {
            self.0.control().exited = true;
            self.0.signal.notify_all();
        }
    }
    let _exited = Exited(watch);
    let tick = (limit / 8).max(Duration::from_millis(1));
    let slice = limit / 2;
    let (mut seen, mut since) = (0u64, Instant::now());
    let (mut sliced, mut reported) = (false, false);
    loop {
        {
            let control = watch.control();
            let (control, _) = watch
                .signal
                .wait_timeout_while(control, tick, |c| !c.stop)
                .unwrap_or_else(|p| p.into_inner());
            if control.stop {
                break;
            }
        }
        let now = Instant::now();
        let word = watch.running.load(Ordering::Acquire);
        if word != seen {
            (seen, since, sliced, reported) = (word, now, false, false);
            continue;
        }
        if word == 0 {
            continue;
        }
        // At least this long: it began before the sample that first saw it.
        let ran = now - since;
        if ran >= slice && !sliced {
            watch.slice_over.store(word, Ordering::Release);
            sliced = true;
        }
        if ran >= limit && !reported {
            // The slice (half the limit) is over too: marked above.
            reported = true;
            watch.overrun.store(word, Ordering::Release);
            if let Some((report, key)) = watch.report(word, ran, limit) {
                let id = report.thread;
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    target: "cothread",
                    thread = id.as_u64(),
                    name = report.name.as_deref(),
                    running_for_ms = report.running_for.as_millis() as u64,
                    "{report}"
                );
                match &hook {
                    Some(hook) => {
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                hook(&report)
                            }));
                        if let Err(payload) = outcome {
                            crate::unwind::drop_payload(payload);
                            log::error!("cothread watchdog: {report} (and its hook panicked)");
                        }
                    }
                    None => log::warn!("cothread watchdog: {report}"),
                }
                remote.end_overrun(key, id);
            }
        }
    }
}

impl Shared {
    /// Files who the task at `key` is, for the watchdog's reports.
    pub(crate) fn watch_spawned(&self, watch: &Watch, key: TaskKey) {
        let entry = {
            let core = self.core();
            let task = &core.tasks[key];
            Entry {
                key,
                id: task.id,
                name: task.name.as_deref().map(str::to_owned),
                program: task.kind == Kind::Program,
                spawned_at: task.spawned_at,
            }
        };
        watch.registry().insert(id_bits(resume_word(entry.id, 0)), entry);
    }

    /// `os::checkpoint`: yields if the running thread's slice is over, ends
    /// it if the watchdog marked it; a few loads otherwise.
    #[track_caller]
    #[inline]
    pub(crate) fn checkpoint(&self) {
        let watch = &*self.watch;
        let word = watch.running.load(Ordering::Relaxed);
        if word != 0 && watch.slice_over.load(Ordering::Relaxed) == word {
            self.slice_over(watch, word);
        }
    }

    #[cold]
    #[track_caller]
    fn slice_over(&self, watch: &Watch, word: u64) {
        let me = {
            let core = self.core();
            match (core.running, core.context) {
                (Some(me), Some(context))
                    if me == context
                        && resume_word(core.tasks[me].id, 0) >> 32 == id_bits(word) =>
                {
                    me
                }
                _ => return,
            }
        };
        let dying = self.core().tasks[me].dying;
        if dying || std::thread::panicking() {
            return;
        }
        if watch.overrun.load(Ordering::Acquire) == word {
            self.end_overrun(me);
        }
        self.yield_now();
    }

    /// Ends the running task `me`, which the watchdog marked: it unwinds
    /// from here, and dies as a killed thread does.
    #[cold]
    pub(crate) fn end_overrun(&self, me: TaskKey) -> ! {
        {
            let mut core = self.core();
            let task = &mut core.tasks[me];
            task.overrun = true;
            task.dying = true;
        }
        self.raise(me, Box::new(OverrunUnwind))
    }

    /// The kernel has left its green threads for a while.
    #[inline]
    pub(crate) fn unwatched(&self) {
        self.watch.paused();
    }

    /// Whether the watchdog is on.
    #[inline]
    pub(crate) fn watching(&self) -> bool {
        self.hooks.get() & WATCH != 0
    }

    /// Takes `key` out to resume it, under the caller's borrow: the fast
    /// path of a switch. `None` when the resume is traced: then
    /// [`switch_to`](Shared::switch_to) runs the trace hooks first, with
    /// nothing borrowed. The watchdog's publishing is the only work a
    /// switch does for it, and none when it is off: the one test of
    /// `hooks` is the one a switch made for tracing before.
    #[inline(always)]
    pub(crate) fn take_out(&self, core: &mut Core, key: TaskKey) -> Option<Parked> {
        if !self.hooked() {
            return Some(core.unpark(key));
        }
        self.take_out_hooked(core, key)
    }

    /// [`take_out`](Shared::take_out) of a traced or watched resume: only
    /// a watched one that is not traced takes the fast path.
    #[inline(always)]
    fn take_out_hooked(&self, core: &mut Core, key: TaskKey) -> Option<Parked> {
        (self.hooks.get() == WATCH).then(|| core.unpark_watched(key, &self.watch))
    }
}

impl Core {
    /// The watchdog asked for the end of the task `key` (serial `id`): it
    /// is ended where it next blocks or, if it is blocked now, where it is
    /// (its wait ends, as an interrupt's does).
    pub(crate) fn overrun(&mut self, key: TaskKey, id: ThreadId) {
        let live = self.task(key, id).is_some_and(|t| t.status != Status::Dead && !t.dying);
        if live {
            self.tasks[key].overrun = true;
            self.interrupt(key, Value::Nil);
        }
    }
}
