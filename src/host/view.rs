//! What the host sees of a kernel (its threads, its dump, its clock, its
//! quarantined stacks) and the hooks it installs for traces and errors.

use std::time::Duration;

use super::Kernel;
use crate::inspect::{ThreadInfo, Trace};
use crate::report::ErrorReport;

impl Kernel {
    /// Every program and thread alive, oldest first, with what each waits for
    /// and its counters: OpenOS's `ps`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel, Waiting};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.spawn(|| os::sleep(Duration::from_secs(3)));
    /// let ps = kernel.threads();
    /// assert!(ps[0].program);
    /// assert_eq!(ps[0].waiting, Waiting::Sleep);
    /// assert_eq!(ps[0].deadline, Some(Duration::from_secs(3)));
    /// ```
    pub fn threads(&self) -> Vec<ThreadInfo> {
        self.shared.core().thread_table()
    }

    /// The process tree as text, as Go's goroutine dump or OpenOS's `ps`
    /// show it: `init`, then each program and thread indented under the one
    /// it is attached to, oldest first, one line each ([`ThreadInfo`]'s
    /// `Display`): its name, status, where it was spawned, what it waits on
    /// and where, its deadline and its counters. With
    /// [`KernelBuilder::backtraces`](crate::KernelBuilder::backtraces) on, each blocked thread's line is
    /// followed by the backtrace of its blocking call, indented under it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, thread, Kernel};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.spawn(|| {
    ///     thread::Builder::new().name("npc42").spawn(|| event::pull(None, "hello")).unwrap();
    ///     event::pull(None, "quit");
    /// });
    /// let dump = kernel.dump();
    /// let lines: Vec<&str> = dump.lines().collect();
    /// assert_eq!(lines[0], "init");
    /// assert!(lines[1].starts_with("  program #1, spawned at "), "{dump}");
    /// assert!(lines[2].starts_with("    thread #2 (npc42), spawned at "), "{dump}");
    /// assert!(lines[2].contains(": pull \"hello\" at "), "{dump}");
    /// ```
    pub fn dump(&self) -> String {
        self.shared.core().dump()
    }

    /// Installs a hook that sees each thing the kernel does (spawns, switches,
    /// deliveries, timers, ends) with the time on its clock, replacing any
    /// previous one. On the virtual clock the same program fed the same signals
    /// at the same points gives the same trace on every run, so a host can
    /// record runs and compare them. Steps cut by a [`Budget::Time`](crate::Budget::Time) end by the
    /// wall clock, so where a host's pushes between them land varies; a
    /// [`Budget::Resumes`](crate::Budget::Resumes) cuts them the same way every run. The hook must not call into the kernel; one that panics is
    /// reported through the error reporter and removed.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, Kernel, Trace};
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    ///
    /// let resumes = Rc::new(RefCell::new(Vec::new()));
    /// let r = resumes.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.on_trace(move |at, event| {
    ///     if let Trace::Resume { .. } = event { r.borrow_mut().push(at.as_secs()); }
    /// });
    /// kernel.run(|| os::sleep(Duration::from_secs(2))).unwrap();
    /// assert_eq!(*resumes.borrow(), [0, 2]);
    /// ```
    pub fn on_trace(&mut self, hook: impl FnMut(Duration, &Trace) + 'static) {
        let old = self.shared.core().on_trace.replace(Box::new(hook));
        self.shared.set_tracing(true);
        drop(old);
    }

    /// How many stacks this kernel has quarantined: never freed nor reused,
    /// because frames on them were discarded (a thread that ran through its
    /// stack's emergency zone to its guard page) or abandoned (a thread that
    /// caught its kill, see `docs/reliability.md`), and memory they held may
    /// still be referred to. Each keeps its address space and the pages it had
    /// touched for the rest of the process.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{event, Kernel};
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.on_error(|_| {});
    /// let stubborn = kernel.spawn(|| loop {
    ///     // Catches every unwind, its kill's too: it is parked for ever.
    ///     let _ = catch_unwind(AssertUnwindSafe(|| event::pull(None, "job")));
    /// });
    /// stubborn.kill();
    /// assert_eq!(kernel.quarantined_stacks(), 1);
    /// ```
    pub fn quarantined_stacks(&self) -> usize {
        self.shared.core().quarantined
    }

    /// The time on the kernel's clock (zero at its creation).
    ///
    /// # Examples
    ///
    /// ```
    /// let kernel = cothread::Kernel::builder().virtual_time(true).build();
    /// assert_eq!(kernel.uptime(), std::time::Duration::ZERO);
    /// ```
    pub fn uptime(&self) -> Duration {
        self.shared.core().now()
    }

    /// Replaces the kernel's error reporter that gets OpenOS's text (without
    /// it, and without [`on_error_report`](Kernel::on_error_report), reports
    /// go to `log::error!`). Thread panics arrive as `"[thread] <message>"` and `"[program] <message>"`,
    /// stack overflows as `"[thread] stack overflow"` and `"[program] stack overflow"`;
    /// listener, timer and pull-predicate panics as `"[listener] ..."`,
    /// `"[timer] ..."` and `"[filter] ..."`; a panicking trace hook as `"[trace] ..."`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// let sink = log.clone();
    /// kernel.on_error(move |msg| sink.borrow_mut().push(msg.to_string()));
    /// kernel.run(|| { thread::create(|| -> () { panic!("boom") }); }).unwrap();
    /// assert_eq!(log.borrow().as_slice(), ["[thread] boom"]);
    /// ```
    pub fn on_error(&mut self, handler: impl FnMut(&str) + 'static) {
        self.shared.set_error_hook(Box::new(handler));
    }

    /// Installs a reporter that gets each error as an [`ErrorReport`]: the
    /// thread it was raised for (id, name, where it was spawned, where it
    /// waits or last waited) and the message, replacing any previous one.
    /// It works beside [`on_error`](Kernel::on_error): each error goes to
    /// this reporter first, then OpenOS's text to that one. While neither is
    /// installed, the kernel logs each report's `Display`
    /// (`[thread npc42 spawned at src/npc.rs:40] boom, waiting at
    /// src/npc.rs:88`) at `log::error!`. A reporter that panics is kept, and
    /// the report is logged.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{os, thread, Kernel};
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    ///
    /// let lines = Rc::new(RefCell::new(Vec::new()));
    /// let sink = lines.clone();
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.on_error_report(move |report| sink.borrow_mut().push(report.to_string()));
    /// kernel.run(|| {
    ///     thread::Builder::new()
    ///         .name("npc42")
    ///         .spawn(|| -> () {
    ///             os::sleep(Duration::from_secs(1));
    ///             panic!("boom")
    ///         })
    ///         .unwrap();
    /// }).unwrap();
    /// let line = &lines.borrow()[0];
    /// assert!(line.starts_with("[thread npc42 spawned at src/"), "{line}");
    /// assert!(line.contains("] boom, waiting at src/"), "{line}");
    /// ```
    pub fn on_error_report(&mut self, handler: impl FnMut(&ErrorReport) + 'static) {
        self.shared.set_report_hook(Box::new(handler));
    }
}
