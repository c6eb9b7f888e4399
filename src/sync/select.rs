//! [`Select`]: one wait over several sources of any kind.
//!
//! A select is readiness-based: its wait returns the first listed case that
//! would go through now, and the caller then makes that case's operation
//! (`try_recv`, `try_send`, ...), which cannot wait since no other green
//! thread runs in between. The [`select!`](crate::select!) macro does both.
//! Each case registers a wake-up with its source as the wait begins (a
//! channel's watchers, a thread's or job's joiners, the signal waiter index
//! under each pull filter's names, the deadline) and takes it out as the
//! wait ends, however it ends. A receive case on a rendezvous also queues an
//! offer to receive (see [`Select::recv`]), so that two selects can meet
//! there: readiness alone would leave each waiting for the other.

use std::fmt;
use std::time::{Duration, Instant};

use super::block::{Deadline, Waker};
use super::channel::{Receiver, Sender, Watch};
use super::queue::Place;
use crate::event::{Filter, Signal};
use crate::id::Status;
use crate::job::Job;
use crate::park::{cannot_wait, in_kernel, is_this_kernel, park_select, Registration, Woke};
use crate::thread::Thread;

/// One case of a [`Select`]: what its case method returned, and what
/// [`Select::wait`] returns when that case fires. Cases are numbered in the
/// order they were added, from 0.
///
/// # Examples
///
/// ```
/// use cothread::sync::{self, Select};
///
/// let (tx, rx) = sync::unbounded::<u8>();
/// let mut sel = Select::new();
/// let a = sel.recv(&rx);
/// let b = sel.send(&tx);
/// assert_eq!((a.index(), b.index()), (0, 1));
/// assert_ne!(a, b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Case(usize);

impl Case {
    /// The case's place in its select, from 0 in the order the cases were
    /// added.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Select;
    /// use std::time::Duration;
    ///
    /// let mut sel = Select::new();
    /// let key = sel.pull("key_down");
    /// let late = sel.timeout(Duration::from_secs(1));
    /// assert_eq!(key.index(), 0);
    /// assert_eq!(late.index(), 1);
    /// ```
    pub fn index(self) -> usize {
        self.0
    }
}

/// A job as a select sees it: whether its run has ended, and the wake-up at
/// its end.
trait JobEnd {
    fn is_done(&self) -> bool;
    fn wake_at_end(&self, r: &mut Registration<'_>);
}

impl<T: 'static> JobEnd for Job<T> {
    fn is_done(&self) -> bool {
        self.state().is_done()
    }

    fn wake_at_end(&self, r: &mut Registration<'_>) {
        Job::wake_at_end(self, r);
    }
}

enum Source<'a> {
    Recv(&'a dyn Watch),
    Send(&'a dyn Watch),
    Pull(Filter),
    Join(&'a Thread),
    Job(&'a dyn JobEnd),
    Timeout,
}

impl<'a> Source<'a> {
    /// The channel and side of a channel case.
    fn channel(&self) -> Option<(&'a dyn Watch, bool)> {
        match *self {
            Source::Recv(chan) => Some((chan, false)),
            Source::Send(chan) => Some((chan, true)),
            _ => None,
        }
    }
}

/// One wait over several sources: channel receives and sends, signals
/// (`pull` filters), a thread's end, a job's end and a timeout. Add the
/// cases, then [`wait`](Select::wait): it returns the case that fired, the
/// handle its method returned.
///
/// When several cases are ready, **the first listed wins**, every time: a
/// program replays the same way (Go picks at random, which breaks replay).
/// A case is ready when:
///
/// - [`recv`](Select::recv): a receive would not wait (a value is there, a
///   sender waits with one, or every sender is gone and no value is left,
///   none handed to a receiver yet to take it either). Take the value with
///   `try_recv`: between the wait's return and that call no other green
///   thread runs, so only a receiver shared with another OS thread can
///   find it gone (`TryRecvError::Empty`).
/// - [`send`](Select::send): a send would not wait (there is room, a
///   receiver waits, or every receiver is gone). Send with `try_send`. On a
///   rendezvous, a select waiting with a `recv` case counts as a waiting
///   receiver (see [`recv`](Select::recv)): two selects meet.
/// - [`pull`](Select::pull): a signal matching the filter was pushed while
///   the select waited (signals are broadcasts, missed while nobody waits,
///   as for [`event::pull`](crate::event::pull)); [`signal`](Select::signal)
///   gives it. A signal that came as an earlier listed case was ready too
///   is kept for this select's next wait, not lost.
/// - [`join`](Select::join): the thread has ended or is suspended (when
///   [`Thread::join`](crate::thread::Thread::join) would return; a select does not
///   kill a suspended thread as a join does).
/// - [`job`](Select::job): the job's current run has ended (its state is
///   done: [`Job::join`] would return).
/// - [`timeout`](Select::timeout): the time has passed since the wait
///   began, on the kernel's clock.
///
/// A select waits in a green thread. On a plain OS thread it can wait for
/// channel cases and a timeout only (it blocks the OS thread, as a
/// channel's `recv` does there). Kill, suspension and interrupts end its
/// wait as they end any blocking call; `Kernel::threads` shows it as
/// `sync::Select::wait`, with the pull cases' filters.
///
/// # Examples
///
/// ```
/// use cothread::sync::{self, Select};
/// use cothread::{event, os, thread, Kernel, Signal};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let (tx, rx) = sync::channel::<&str>(1);
///     thread::create(move || {
///         os::sleep(Duration::from_secs(1));
///         event::push(Signal::new("key_down").with("q"));
///         os::sleep(Duration::from_secs(1));
///         tx.send("done").unwrap();
///     });
///     let mut seen = Vec::new();
///     loop {
///         let mut sel = Select::new();
///         let msg = sel.recv(&rx);
///         let key = sel.pull("key_down");
///         let late = sel.timeout(Duration::from_secs(5));
///         let op = sel.wait();
///         if op == msg {
///             seen.push(format!("{} at {:?}", rx.try_recv().unwrap(), os::uptime()));
///             break;
///         } else if op == key {
///             seen.push(format!("key {} at {:?}", sel.signal().unwrap().arg(0), os::uptime()));
///         } else if op == late {
///             seen.push("timed out".to_string());
///             break;
///         }
///     }
///     assert_eq!(seen, ["key q at 1s", "done at 2s"]);
/// })
/// .unwrap();
/// ```
pub struct Select<'a> {
    sources: Vec<Source<'a>>,
    /// The timeout and its case.
    timeout: Option<(Duration, Case)>,
    /// A signal a pull case took, not handed out yet: it fires that case at
    /// the next wait.
    pending: Option<(Case, Signal)>,
    /// The signal of the pull case the last wait returned.
    fired: Option<Signal>,
}

impl<'a> Select<'a> {
    /// A select with no case. Waiting on it waits for ever (a deadlock the
    /// kernel reports, if nothing else can run).
    ///
    /// # Examples
    ///
    /// ```
    /// let sel = cothread::sync::Select::new();
    /// assert_eq!(sel.len(), 0);
    /// ```
    pub fn new() -> Select<'a> {
        Select { sources: Vec::new(), timeout: None, pending: None, fired: None }
    }

    /// The number of cases.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, Select};
    ///
    /// let (_tx, rx) = sync::unbounded::<()>();
    /// let mut sel = Select::new();
    /// sel.recv(&rx);
    /// sel.pull("tick");
    /// assert_eq!(sel.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether the select has no case.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cothread::sync::Select::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn add(&mut self, source: Source<'a>) -> Case {
        self.sources.push(source);
        Case(self.sources.len() - 1)
    }

    /// A case that fires when a receive on `rx` would not wait: take the
    /// value with [`Receiver::try_recv`], which then gives it (or tells that
    /// every sender is gone).
    ///
    /// On a rendezvous (capacity 0) the case, while the select waits, also
    /// offers to receive: it queues among the receivers waiting in `recv`,
    /// so a send (a blocking one, `try_send`, or a select's send case)
    /// finds a receiver waiting and completes, handing it the value. The
    /// offer is taken out as the wait ends, however it ends, and a value
    /// handed to it goes back as a killed receiver's does: to the next
    /// receiver waiting in `recv`, else to the front of the channel, where
    /// this case is then ready. So the value is received exactly once, but
    /// if an earlier listed case wins (or the select is killed or times
    /// out) it waits in the channel, over its capacity, for the next
    /// receive. A select does not offer on a channel it has a send case on
    /// (it would meet itself), and offers once per channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, Select};
    ///
    /// let (tx, rx) = sync::unbounded();
    /// tx.send(7).unwrap();
    /// let mut sel = Select::new();
    /// let got = sel.recv(&rx);
    /// assert_eq!(sel.wait(), got); // ready: no wait
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// ```
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> Case {
        self.add(Source::Recv(rx.watch()))
    }

    /// A case that fires when a send on `tx` would not wait: send with
    /// [`Sender::try_send`]. On a rendezvous, another select waiting with a
    /// [`recv`](Select::recv) case on the channel is a waiting receiver: the
    /// case is ready, and the `try_send` hands that select the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, Select};
    ///
    /// let (tx, rx) = sync::channel(1);
    /// let mut sel = Select::new();
    /// let room = sel.send(&tx);
    /// assert_eq!(sel.wait(), room);
    /// tx.try_send("hi").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("hi"));
    /// ```
    pub fn send<T>(&mut self, tx: &'a Sender<T>) -> Case {
        self.add(Source::Send(tx.watch()))
    }

    /// A case that fires when a signal matching `filter` is pushed while
    /// the select waits; [`signal`](Select::signal) gives it. The filter is
    /// one [`event::pull`](crate::event::pull) takes; a wait on names is
    /// filed under each of them, so a push costs the select no more than it
    /// costs a pull. Which pull case a signal fires is told again on the
    /// select's own stack, by the first filter that matches it: a predicate
    /// filter ([`Filter::new`]) runs a second time there, and one whose
    /// answer changes between the two calls may fire the first pull case.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Select;
    /// use cothread::{event, thread, Kernel, Signal};
    ///
    /// let mut kernel = Kernel::new();
    /// kernel.run(|| {
    ///     thread::create(|| event::push(Signal::new("beep").with(3)));
    ///     let mut sel = Select::new();
    ///     let beep = sel.pull(&["beep", "boop"]);
    ///     assert_eq!(sel.wait(), beep);
    ///     assert_eq!(sel.signal().unwrap().arg(0).as_int(), Some(3));
    /// })
    /// .unwrap();
    /// ```
    pub fn pull(&mut self, filter: impl Into<Filter>) -> Case {
        self.add(Source::Pull(filter.into()))
    }

    /// A case that fires when `thread` has ended or is suspended. Only a
    /// thread of the select's own kernel can be waited for (as for
    /// [`Thread::join`](crate::thread::Thread::join)).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Select;
    /// use cothread::{os, thread, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let worker = thread::create(|| os::sleep(Duration::from_secs(2)));
    ///     let mut sel = Select::new();
    ///     let done = sel.join(&worker);
    ///     sel.timeout(Duration::from_secs(10));
    ///     assert_eq!(sel.wait(), done);
    ///     assert_eq!(os::uptime(), Duration::from_secs(2));
    /// })
    /// .unwrap();
    /// ```
    pub fn join(&mut self, thread: &'a Thread) -> Case {
        self.add(Source::Join(thread))
    }

    /// A case that fires when `job`'s current run has ended: its state is
    /// `Finished`, `Error` or `Cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::Select;
    /// use cothread::job::{self, JobContext, JobState};
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let j = job::spawn(|_: &JobContext<u8>| {
    ///         os::sleep(Duration::from_secs(1));
    ///         Ok::<_, String>(4)
    ///     });
    ///     let mut sel = Select::new();
    ///     let done = sel.job(&j);
    ///     assert_eq!(sel.wait(), done);
    ///     assert_eq!((j.state(), j.value()), (JobState::Finished, Some(4)));
    /// })
    /// .unwrap();
    /// ```
    pub fn job<T: 'static>(&mut self, job: &'a Job<T>) -> Case {
        self.add(Source::Job(job))
    }

    /// A case that fires when `timeout` has passed since the wait began, on
    /// the kernel's clock (on a plain OS thread, the OS's). A select has one
    /// timeout: a second call changes it and returns the same case.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, Select};
    /// use cothread::{os, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let (_tx, rx) = sync::channel::<()>(1);
    ///     let mut sel = Select::new();
    ///     sel.recv(&rx);
    ///     let late = sel.timeout(Duration::from_secs(9));
    ///     assert_eq!(sel.timeout(Duration::from_secs(3)), late);
    ///     assert_eq!(sel.wait(), late);
    ///     assert_eq!(os::uptime(), Duration::from_secs(3));
    /// })
    /// .unwrap();
    /// ```
    pub fn timeout(&mut self, timeout: Duration) -> Case {
        let case = match self.timeout {
            Some((_, case)) => case,
            None => self.add(Source::Timeout),
        };
        self.timeout = Some((timeout, case));
        case
    }

    /// The signal that fired the pull case the last [`wait`](Select::wait)
    /// returned (`None` after any other case, or once taken).
    ///
    /// # Examples
    ///
    /// See [`pull`](Select::pull).
    pub fn signal(&mut self) -> Option<Signal> {
        self.fired.take()
    }

    /// The first listed case that is ready, if any, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, Select};
    ///
    /// let (tx, rx) = sync::channel::<u8>(1);
    /// let mut sel = Select::new();
    /// let got = sel.recv(&rx);
    /// assert_eq!(sel.try_wait(), None);
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_wait(), Some(got));
    /// ```
    pub fn try_wait(&mut self) -> Option<Case> {
        self.fired = None;
        let ready = self.ready(None)?;
        Some(self.fire(ready))
    }

    /// Waits until a case is ready and returns it: the first listed of
    /// those ready, every time. See [`Select`] for when each kind of case
    /// is ready.
    ///
    /// In a thread being unwound (a destructor run by a kill) it does not
    /// wait: it returns the timeout case at once, or, with no timeout,
    /// parks the thread for ever (it can neither wait nor panic there, see
    /// docs/reliability.md).
    ///
    /// # Panics
    ///
    /// Where nothing can wait (a listener or timer callback, the host's
    /// stack while a kernel runs); on a plain OS thread, with a pull, join
    /// or job case; with a join case for a running thread of another
    /// kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::sync::{self, Select};
    /// use cothread::{os, thread, Kernel};
    /// use std::time::Duration;
    ///
    /// let mut kernel = Kernel::builder().virtual_time(true).build();
    /// kernel.run(|| {
    ///     let (tx_a, rx_a) = sync::channel::<u8>(1);
    ///     let (tx_b, rx_b) = sync::channel::<u8>(1);
    ///     thread::create(move || {
    ///         os::sleep(Duration::from_secs(1));
    ///         tx_b.send(2).unwrap();
    ///         tx_a.send(1).unwrap();
    ///     });
    ///     os::sleep(Duration::from_secs(2));
    ///     // Both are ready: the first listed wins.
    ///     let mut sel = Select::new();
    ///     let a = sel.recv(&rx_a);
    ///     let _b = sel.recv(&rx_b);
    ///     assert_eq!(sel.wait(), a);
    /// })
    /// .unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&mut self) -> Case {
        self.fired = None;
        let deadline = self.timeout.map(|(timeout, _)| Deadline::after(timeout));
        if !in_kernel() {
            return self.wait_on_os(deadline);
        }
        for source in &self.sources {
            if let Source::Join(thread) = source {
                let (kernel, _, _) = thread.task();
                if !is_this_kernel(kernel) && thread.status() == Status::Running {
                    panic!(
                        "cothread: a `sync::Select` can wait for the end of a thread of its own \
                         kernel only"
                    );
                }
            }
        }
        loop {
            if let Some(ready) = self.ready(deadline) {
                return self.fire(ready);
            }
            let filters: Vec<Filter> = self
                .sources
                .iter()
                .filter_map(|source| match source {
                    Source::Pull(filter) => Some(filter.clone()),
                    _ => None,
                })
                .collect();
            let at = match deadline {
                Some(Deadline::Kernel(at)) => Some(at),
                _ => None,
            };
            // Taken out however the wait ends: a kill or an interrupt unwinds
            // through here, and a watcher left in a channel would keep its
            // wake-up handle (which a kernel with nothing to do waits for).
            let mut watching = Unwatch::default();
            let sources = &self.sources;
            let woke = park_select(filters, at, |r| {
                if watching.channels(self, || Waker::Green(r.remote_waker())) {
                    r.wake_now();
                }
                for source in sources {
                    match *source {
                        Source::Join(thread) => thread.wake_at_end(r),
                        Source::Job(job) => job.wake_at_end(r),
                        Source::Recv(_) | Source::Send(_) | Source::Pull(_) | Source::Timeout => {}
                    }
                }
            });
            drop(watching);
            match woke {
                Woke::Signal(signal) => {
                    let case = self.pull_case_for(&signal);
                    self.pending = Some((case, signal));
                }
                Woke::Shutdown => {
                    return match self.timeout {
                        Some((_, case)) => case,
                        None => cannot_wait("a `sync::Select` with no timeout"),
                    };
                }
                Woke::Nothing | Woke::Timeout | Woke::Woken => {}
            }
        }
    }

    /// The wait on a plain OS thread: channels and the timeout only.
    fn wait_on_os(&mut self, deadline: Option<Deadline>) -> Case {
        if self
            .sources
            .iter()
            .any(|s| matches!(s, Source::Pull(_) | Source::Join(_) | Source::Job(_)))
        {
            panic!(
                "cothread: a `sync::Select` with a pull, join or job case waits only in a green \
                 thread"
            );
        }
        let me = std::thread::current();
        loop {
            if let Some(ready) = self.ready(deadline) {
                return self.fire(ready);
            }
            let mut watching = Unwatch::default();
            if !watching.channels(self, || Waker::Os(me.clone())) {
                match deadline {
                    None => std::thread::park(),
                    Some(Deadline::Os(at)) => {
                        std::thread::park_timeout(at.saturating_duration_since(Instant::now()))
                    }
                    Some(Deadline::Kernel(_)) => {
                        unreachable!("a kernel's deadline on an OS thread")
                    }
                }
            }
            drop(watching);
        }
    }

    /// Whether the receive case at `i` offers to receive while the select
    /// waits (on a rendezvous: see [`Watch::offer`]): the first receive case
    /// of its channel, if the select has no send case on that channel (an
    /// offer would make that case ready, for the select to meet itself).
    fn offers_at(&self, i: usize) -> bool {
        let Some((chan, _)) = self.sources[i].channel() else { return false };
        let same = |(other, _): (&dyn Watch, bool)| {
            std::ptr::addr_eq(other as *const dyn Watch, chan as *const dyn Watch)
        };
        let mut others = self.sources.iter().enumerate().filter(|&(j, _)| j != i);
        !others.any(|(j, source)| {
            source.channel().is_some_and(|(other, send)| (send || j < i) && same((other, send)))
        })
    }

    /// The first listed case that is ready.
    fn ready(&self, deadline: Option<Deadline>) -> Option<Case> {
        let position = self.sources.iter().enumerate().position(|(i, source)| match source {
            Source::Recv(chan) => chan.ready(false),
            Source::Send(chan) => chan.ready(true),
            Source::Pull(_) => self.pending.as_ref().is_some_and(|(case, _)| case.0 == i),
            Source::Join(thread) => thread.status() != Status::Running,
            Source::Job(job) => job.is_done(),
            Source::Timeout => deadline.is_some_and(Deadline::passed),
        })?;
        Some(Case(position))
    }

    /// Returns `case` as the one that fired, handing out its signal.
    fn fire(&mut self, case: Case) -> Case {
        if matches!(self.sources[case.0], Source::Pull(_)) {
            self.fired = self.pending.take().map(|(_, signal)| signal);
        }
        case
    }

    /// The pull case a delivered signal is for: the first whose filter it
    /// matches (a predicate runs again here, on the select's own stack).
    fn pull_case_for(&self, signal: &Signal) -> Case {
        let mut pulls = self.sources.iter().enumerate().filter_map(|(i, source)| match source {
            Source::Pull(filter) => Some((i, filter)),
            _ => None,
        });
        let first = pulls.clone().next().map(|(i, _)| i);
        let matching = pulls.find(|(_, filter)| filter.matches(signal)).map(|(i, _)| i);
        Case(matching.or(first).expect("a signal ends only a select with a pull case"))
    }
}

/// The channel watchers and offers of one wait of a select, taken out when
/// it ends: the watchers first, so that a value an offer gives back to its
/// channel wakes no watcher of this select.
#[derive(Default)]
struct Unwatch<'a> {
    tickets: Vec<(&'a dyn Watch, u64)>,
    offers: Vec<(&'a dyn Watch, Place)>,
}

impl<'a> Unwatch<'a> {
    /// Files a watcher (and, where the select offers to receive, an offer)
    /// with each channel case of `select`, each with a waker `waker` makes;
    /// returns whether a channel case is ready already (then no watcher of
    /// it is filed).
    fn channels(&mut self, select: &Select<'a>, mut waker: impl FnMut() -> Waker) -> bool {
        let mut ready = false;
        for (i, source) in select.sources.iter().enumerate() {
            let Some((chan, send)) = source.channel() else { continue };
            if !send && select.offers_at(i) {
                if let Some(place) = chan.offer(waker()) {
                    self.offers.push((chan, place));
                }
            }
            match chan.watch(send, waker()) {
                Some(ticket) => self.tickets.push((chan, ticket)),
                None => ready = true,
            }
        }
        ready
    }
}

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        for (chan, ticket) in self.tickets.drain(..) {
            chan.unwatch(ticket);
        }
        for (chan, place) in self.offers.drain(..) {
            chan.withdraw(place);
        }
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self
            .sources
            .iter()
            .map(|source| match source {
                Source::Recv(_) => "recv",
                Source::Send(_) => "send",
                Source::Pull(_) => "pull",
                Source::Join(_) => "join",
                Source::Job(_) => "job",
                Source::Timeout => "timeout",
            })
            .collect();
        f.debug_struct("Select").field("cases", &kinds).finish_non_exhaustive()
    }
}

/// Waits on several sources at once and runs the arm of the one that fired:
/// a [`Select`] and the operation of its fired case in one. The arms, in
/// any number and order (the first listed wins when several are ready):
///
/// ```text
/// recv(rx) -> result => body     result: Result<T, RecvError>
/// send(tx, value) -> result => body   result: Result<(), SendError<T>>
/// pull(filter) -> signal => body signal: Signal
/// join(thread) => body
/// job(job) => body
/// timeout(duration) => body
/// ```
///
/// Each source expression, a send's value and a pull's filter are evaluated
/// once, before the wait; a send's value that is not sent is dropped at the
/// end. The patterns must be irrefutable; a body is a block, or an
/// expression followed by a comma. The macro is an expression whose value
/// is that of the body that ran. A receive or send that a thread of another
/// kernel got to first makes it wait again. Each use builds a new
/// [`Select`]: a signal pushed in the same round as an earlier listed arm
/// became ready is not kept for the next use, as a `Select` kept across
/// waits keeps it (use one in a loop where that matters).
///
/// # Examples
///
/// ```
/// use cothread::sync;
/// use cothread::{event, os, select, thread, Kernel, Signal};
/// use std::time::Duration;
///
/// let mut kernel = Kernel::builder().virtual_time(true).build();
/// kernel.run(|| {
///     let (tx, rx) = sync::channel::<u32>(1);
///     thread::create(move || {
///         event::push(Signal::new("hello"));
///         os::sleep(Duration::from_secs(1));
///         tx.send(42).unwrap();
///     });
///     let mut log = Vec::new();
///     for _ in 0..3 {
///         let line = select! {
///             recv(rx) -> n => format!("got {n:?}"),
///             pull("hello") -> s => format!("signal {}", s.name()),
///             timeout(Duration::from_secs(5)) => "quiet".to_string(),
///         };
///         log.push(line);
///     }
///     assert_eq!(log, ["signal hello", "got Ok(42)", "got Err(RecvError)"]);
/// })
/// .unwrap();
/// ```
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__select!(@parse [] $($arms)*)
    };
}

/// The workings of [`select!`]: each arm is parsed into
/// `[kind source case out (arguments) (binding) (body)]`, with identifiers
/// of its own, then the whole is emitted.
#[doc(hidden)]
#[macro_export]
macro_rules! __select {
    // ---- parse: one arm at a time ----
    (@parse [$($arms:tt)*]) => {
        $crate::__select!(@emit [$($arms)*])
    };
    (@parse [$($arms:tt)*] , $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] recv($rx:expr) -> $bind:pat => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)* [recv src case out ($rx) ($bind) ($body)]] $($rest)*)
    };
    (@parse [$($arms:tt)*] recv($rx:expr) -> $bind:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($arms)* [recv src case out ($rx) ($bind) ($body)]] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] send($tx:expr, $value:expr) -> $bind:pat => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)* [send src case out ($tx, $value) ($bind) ($body)]] $($rest)*)
    };
    (@parse [$($arms:tt)*] send($tx:expr, $value:expr) -> $bind:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($arms)* [send src case out ($tx, $value) ($bind) ($body)]] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] pull($filter:expr) -> $bind:pat => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)* [pull src case out ($filter) ($bind) ($body)]] $($rest)*)
    };
    (@parse [$($arms:tt)*] pull($filter:expr) -> $bind:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($arms)* [pull src case out ($filter) ($bind) ($body)]] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] $kind:ident($arg:expr) => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($arms)* [$kind src case out ($arg) (()) ($body)]] $($rest)*)
    };
    (@parse [$($arms:tt)*] $kind:ident($arg:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select!(@parse [$($arms)* [$kind src case out ($arg) (()) ($body)]] $($($rest)*)?)
    };

    // ---- emit: evaluate the sources, wait, complete, run the body ----
    (@emit [$([$kind:ident $src:ident $case:ident $out:ident ($($args:tt)*) ($bind:pat) ($($body:tt)*)])*]) => {{
        $( $crate::__select!(@prepare $kind $src ($($args)*)); )*
        $( let mut $out = ::core::option::Option::None; )*
        loop {
            let mut select = $crate::sync::Select::new();
            $( let $case = $crate::__select!(@register select $kind $src); )*
            let fired = select.wait();
            #[allow(unused_mut, unused_variables)]
            let mut signal = select.signal();
            ::core::mem::drop(select);
            $( if fired == $case { $crate::__select!(@complete $kind $src $out signal); } )*
            if false $( || $out.is_some() )* {
                break;
            }
        }
        $(
            if let ::core::option::Option::Some(fired) = $out {
                let $bind = fired;
                $($body)*
            } else
        )* {
            ::core::unreachable!("a select's fired case completed")
        }
    }};

    (@prepare recv $src:ident ($rx:expr)) => {
        let $src = &$rx;
    };
    (@prepare send $src:ident ($tx:expr, $value:expr)) => {
        let mut $src = (&$tx, ::core::option::Option::Some($value));
    };
    (@prepare pull $src:ident ($filter:expr)) => {
        let $src: $crate::Filter = ::core::convert::Into::into($filter);
    };
    (@prepare join $src:ident ($thread:expr)) => {
        let $src: &$crate::thread::Thread = &$thread;
    };
    (@prepare job $src:ident ($job:expr)) => {
        let $src = &$job;
    };
    (@prepare timeout $src:ident ($timeout:expr)) => {
        let $src: ::core::time::Duration = $timeout;
    };
    (@prepare $other:ident $src:ident ($($args:tt)*)) => {
        ::core::compile_error!(::core::concat!(
            "select!: no such arm `", ::core::stringify!($other),
            "` (recv, send, pull, join, job, timeout)"
        ));
    };

    (@register $select:ident recv $src:ident) => { $select.recv($src) };
    (@register $select:ident send $src:ident) => { $select.send($src.0) };
    (@register $select:ident pull $src:ident) => { $select.pull($src.clone()) };
    (@register $select:ident join $src:ident) => { $select.join($src) };
    (@register $select:ident job $src:ident) => { $select.job($src) };
    (@register $select:ident timeout $src:ident) => { $select.timeout($src) };
    (@register $select:ident $other:ident $src:ident) => { unreachable!() };

    (@complete recv $src:ident $out:ident $signal:ident) => {
        match $src.try_recv() {
            ::core::result::Result::Ok(value) => {
                $out = ::core::option::Option::Some(::core::result::Result::Ok(value));
            }
            ::core::result::Result::Err($crate::sync::TryRecvError::Disconnected) => {
                $out = ::core::option::Option::Some(::core::result::Result::Err(
                    $crate::sync::RecvError,
                ));
            }
            // Taken by another OS thread first: wait again.
            ::core::result::Result::Err($crate::sync::TryRecvError::Empty) => {}
        }
    };
    (@complete send $src:ident $out:ident $signal:ident) => {
        if let ::core::option::Option::Some(value) = $src.1.take() {
            match $src.0.try_send(value) {
                ::core::result::Result::Ok(()) => {
                    $out = ::core::option::Option::Some(::core::result::Result::Ok(()));
                }
                ::core::result::Result::Err($crate::sync::TrySendError::Disconnected(value)) => {
                    $out = ::core::option::Option::Some(::core::result::Result::Err(
                        $crate::sync::SendError(value),
                    ));
                }
                // Filled by another OS thread first: wait again.
                ::core::result::Result::Err($crate::sync::TrySendError::Full(value)) => {
                    $src.1 = ::core::option::Option::Some(value);
                }
            }
        }
    };
    (@complete pull $src:ident $out:ident $signal:ident) => {
        $out = $signal.take();
    };
    (@complete $kind:ident $src:ident $out:ident $signal:ident) => {
        $out = ::core::option::Option::Some(());
    };
}
