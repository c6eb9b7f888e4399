//! The kernel's round, as a resumable piece of work.
//!
//! A round is what one OpenOS `pull_signal` turn does, in order: deliver each
//! signal queued before the round (listeners, then the threads it wakes), run
//! what is due on the clock (sleepers, pull timeouts, timers), then run the
//! threads that their wait sources woke before the round began (joiners that
//! the previous round's deaths nudged, see [`Core::wake`]). A budgeted step
//! ([`Kernel::step_for`](crate::Kernel::step_for)) may stop between two units
//! of that work; the round keeps its place and the next call goes on from
//! there, so a ready thread is never overtaken by work that became ready after
//! it. A caller that runs rounds back to back (`run_until_idle`, `step_for`,
//! `advance`, `advance_for`) lets a round flow into the next when that one
//! would start with nothing queued and waits already due to run, as threads
//! looping on `os::sleep(Duration::ZERO)` give it: the same work in the same
//! order, without leaving and re-entering the round for every turn of them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::event::Signal;
use crate::kernel::{Core, Due, Queued, Shared, StepReport};
use crate::park::Woke;
use crate::park::{Parker, TaskKey};
use crate::process::frozen;
use crate::report::ErrorOrigin;
use crate::task::{Parked, Wake};
use crate::time::Cutoff;

/// How much a budgeted step may do before it returns.
///
/// # Examples
///
/// ```
/// use cothread::Budget;
/// use std::time::Duration;
///
/// assert_eq!(Budget::from(Duration::from_millis(2)), Budget::Time(Duration::from_millis(2)));
/// assert_eq!(Budget::from(100), Budget::Resumes(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Wall time: no thread is resumed once this much has passed since the step
    /// began. A thread already running is not interrupted (the kernel is
    /// cooperative), so a step can overrun by one thread's stretch.
    ///
    /// Even on the virtual clock this budget is read from the wall clock: how
    /// far a step gets depends on the machine's speed and load, so the number
    /// of steps a run takes varies from run to run, and with it where the
    /// host's pushes and advances between steps land in the run (and, with
    /// [`Kernel::advance_for`], the virtual time at which the clock stops
    /// short). A run that must repeat exactly is stepped with
    /// [`Budget::Resumes`].
    ///
    /// [`Kernel::advance_for`]: crate::Kernel::advance_for
    Time(Duration),
    /// At most this many units of work: thread resumes, listener runs and
    /// timer firings ([`StepReport::resumes`] plus [`StepReport::callbacks`]).
    /// A listener that pushes the signal it handles cannot hold a step for
    /// ever. The listeners of one signal run together, so a step can overrun
    /// by that signal's listeners.
    ///
    /// [`StepReport::resumes`]: crate::StepReport::resumes
    /// [`StepReport::callbacks`]: crate::StepReport::callbacks
    Resumes(usize),
}

impl From<Duration> for Budget {
    fn from(time: Duration) -> Budget {
        Budget::Time(time)
    }
}

impl From<usize> for Budget {
    fn from(resumes: usize) -> Budget {
        Budget::Resumes(resumes)
    }
}

/// A budget being spent.
pub(crate) enum Meter {
    Unlimited,
    Until(Instant),
    Resumes(usize),
}

impl Meter {
    pub(crate) fn new(budget: Budget) -> Meter {
        match budget {
            Budget::Time(time) => match Instant::now().checked_add(time) {
                Some(until) => Meter::Until(until),
                None => Meter::Unlimited,
            },
            Budget::Resumes(n) => Meter::Resumes(n),
        }
    }

    pub(crate) fn exhausted(&self, report: &StepReport) -> bool {
        match self {
            Meter::Unlimited => false,
            Meter::Until(until) => Instant::now() >= *until,
            Meter::Resumes(n) => report.resumes.saturating_add(report.callbacks) >= *n,
        }
    }
}

/// Where the current round is.
#[derive(Default)]
pub(crate) struct Round {
    phase: Phase,
    pub(crate) signals: VecDeque<Queued>,
    /// The signal being delivered.
    pub(crate) delivering: Option<Signal>,
    /// Its receivers not yet woken, in the order they began waiting. Kept
    /// between rounds so that delivery does not allocate.
    receivers: VecDeque<Parker>,
    /// The wake-ups queued before the round began ([`Core::wake`]).
    wakes: VecDeque<Parker>,
}

#[derive(Default, Clone, Copy)]
enum Phase {
    /// No round under way.
    #[default]
    Idle,
    /// Signals, then the deadlines due by the cutoff taken when the round
    /// began (a deadline set during the round waits for the next one).
    Signals(Cutoff),
    Deadlines(Cutoff),
    /// The tasks woken by their wait sources.
    Wakes,
}

/// How a caller runs rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roll {
    /// One round ([`Kernel::step`](crate::Kernel::step)).
    Once,
    /// Rounds back to back until nothing is ready now.
    Ready,
    /// As `Ready`, and then on the virtual clock to each deadline up to this
    /// instant, one round at each ([`Kernel::advance`](crate::Kernel::advance)).
    Until(Duration),
}

impl Roll {
    fn back_to_back(self) -> bool {
        self != Roll::Once
    }
}

/// How a call to [`Shared::round`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The round is complete; `busy` says whether it had anything to do.
    Done { busy: bool },
    /// The budget ran out with work left in the round.
    OutOfBudget,
}

impl Shared {
    /// Runs the current round (starting one if none is under way) until it is
    /// complete or `meter` runs out.
    ///
    /// With `roll`, for a caller that runs rounds back to back, a busy round
    /// flows into the next whenever that one would find work (a queued
    /// signal or wake-up, a deadline due): the same work in the same order
    /// as returning and starting it, and `Done` comes only once nothing is
    /// ready now. Two cases cost less still, as they flow without leaving
    /// their phase: a round whose successor would start with no signal
    /// queued and no joiner to wake, and with waits that were due already
    /// when they began (a zero sleep, a zero timeout) to run; and a round
    /// whose successor would have only wake-ups to run (no signal queued, no
    /// deadline due), as threads handing each other values give it.
    ///
    /// With `Roll::Until`, once nothing is ready now, a round whose successor
    /// the advancing caller would start after moving the clock to the next
    /// deadline (nothing queued, the budget not spent, that deadline not past
    /// the target) moves the clock there and goes on in its deadline phase:
    /// the same work in the same order, at the same instants.
    pub(crate) fn round(&self, report: &mut StepReport, meter: &Meter, roll: Roll) -> Progress {
        let starting = matches!(self.round.borrow().phase, Phase::Idle);
        if starting {
            self.begin_round();
        }
        // A round resumed after a budget cut had work left: it was busy.
        let mut busy = !starting;
        loop {
            let phase = self.round.borrow().phase;
            match phase {
                // With `roll`, the next round begins here if a caller
                // running rounds back to back would start it now
                // (`Shared::settle`): the same work in the same order.
                Phase::Idle if roll.back_to_back() && busy && self.core().has_work_now() => {
                    self.begin_round()
                }
                Phase::Idle => return Progress::Done { busy },
                // Checked before each unit of work: a resume, a delivery, a timer.
                _ if meter.exhausted(report) => return Progress::OutOfBudget,
                Phase::Signals(cutoff) => busy |= self.deliver_next(report, cutoff),
                Phase::Deadlines(cutoff) => {
                    busy |= self.run_deadlines(cutoff, report, meter, roll);
                }
                Phase::Wakes => busy |= self.run_wakes(report, meter, roll),
            }
        }
    }

    /// Starts a round: the signals and wake-ups queued so far are its own,
    /// and so are the deadlines due by now.
    fn begin_round(&self) {
        let mut core = self.core();
        core.drain_remote();
        let mut round = self.round.borrow_mut();
        // Swapped, not taken: both buffers keep their capacity. A round
        // leaves its own empty, so an empty queue has nothing to hand over.
        debug_assert!(round.signals.is_empty() && round.wakes.is_empty());
        if !core.queue.is_empty() {
            std::mem::swap(&mut round.signals, &mut core.queue);
        }
        if !core.wakes.is_empty() {
            std::mem::swap(&mut round.wakes, &mut core.wakes);
        }
        let cutoff = |core: &Core| core.deadlines.cutoff(core.now());
        round.phase = if !round.signals.is_empty() {
            Phase::Signals(cutoff(&core))
        } else if round.wakes.is_empty() {
            Phase::Deadlines(cutoff(&core))
        } else if core.deadlines.len() == 0 {
            // Nothing can be due: the deadline phase would end at once, and
            // the clock need not be read.
            Phase::Wakes
        } else {
            let cutoff = cutoff(&core);
            if core.deadlines.has_due(cutoff) {
                Phase::Deadlines(cutoff)
            } else {
                Phase::Wakes
            }
        };
    }

    /// The deadline phase: runs what is due by `cutoff`, in deadline order,
    /// until nothing is or `meter` runs out. Returns whether it ran anything.
    /// With `roll`, see [`round`](Shared::round).
    fn run_deadlines(
        &self,
        mut cutoff: Cutoff,
        report: &mut StepReport,
        meter: &Meter,
        roll: Roll,
    ) -> bool {
        enum Unit {
            Resume(TaskKey, Option<Parked>),
            Timer(usize, u64),
            Stale,
            End,
        }
        let mut busy = false;
        loop {
            // Popped, checked and, for a wait that is still on, unparked
            // under one borrow.
            let unit = {
                let mut core = self.core();
                let mut due = core.deadlines.pop_due(cutoff);
                // Only for waits that were due as they began (the queue's due
                // list): that a later deadline fell due meanwhile (on the real
                // clock) is left to the caller, who starts the next round at
                // once. The wake-ups of this round were taken when it began.
                if due.is_none()
                    && roll.back_to_back()
                    && core.nothing_queued()
                    && self.round.borrow().wakes.is_empty()
                {
                    let next = if core.deadlines.has_pushed_due() {
                        Some(core.now())
                    } else if let Roll::Until(target) = roll {
                        core.advance_to_next(target, meter, report)
                    } else {
                        None
                    };
                    if let Some(now) = next {
                        // The next round begins here: its cutoff is taken now.
                        cutoff = core.deadlines.cutoff(now);
                        self.round.borrow_mut().phase = Phase::Deadlines(cutoff);
                        due = core.deadlines.pop_due(cutoff);
                    }
                }
                match due {
                    Some(Due::Task(parker)) => {
                        if core.ready(parker, Woke::Timeout) {
                            core.prefetch_next_due();
                            let key = parker.key;
                            Unit::Resume(key, self.take_out(&mut core, key))
                        } else {
                            Unit::Stale
                        }
                    }
                    Some(Due::Timer { key, serial }) => {
                        core.prefetch_next_timer();
                        Unit::Timer(key, serial)
                    }
                    None => Unit::End,
                }
            };
            match unit {
                Unit::Resume(key, parked) => self.run_ready(key, parked, report),
                Unit::Timer(key, serial) => {
                    report.callbacks += usize::from(self.fire_timer(key, serial));
                }
                Unit::Stale => {}
                Unit::End => {
                    let mut round = self.round.borrow_mut();
                    round.phase = if round.wakes.is_empty() { Phase::Idle } else { Phase::Wakes };
                    return busy;
                }
            }
            busy = true;
            if meter.exhausted(report) {
                return busy;
            }
        }
    }

    /// The wake phase: runs the tasks woken before the round began, in the
    /// order they were woken, until none is left or `meter` runs out.
    /// Returns whether it ran anything. With `roll`, see
    /// [`round`](Shared::round).
    fn run_wakes(&self, report: &mut StepReport, meter: &Meter, roll: Roll) -> bool {
        let mut busy = false;
        loop {
            let next = {
                let mut round = self.round.borrow_mut();
                match round.wakes.pop_front() {
                    // With `roll`, a round that would start with nothing but
                    // wake-ups begins here, and so does one that would start
                    // with the waits that were due as they began.
                    None if roll.back_to_back() => {
                        let core = &mut *self.core();
                        let next = core.roll_wakes(&mut round.wakes);
                        if next.is_none() {
                            if let Some(cutoff) = core.roll_deadlines() {
                                round.phase = Phase::Deadlines(cutoff);
                                return busy;
                            }
                        }
                        next
                    }
                    next => next,
                }
            };
            let Some(parker) = next else {
                self.round.borrow_mut().phase = Phase::Idle;
                return busy;
            };
            busy = true;
            self.wake_waiting(parker, Woke::Woken, report);
            if meter.exhausted(report) {
                return busy;
            }
        }
    }

    /// Whether a round is under way (a budgeted call stopped inside it).
    pub(crate) fn round_pending(&self) -> bool {
        !matches!(self.round.borrow().phase, Phase::Idle)
    }

    /// One unit of the signal phase: wakes the next receiver of the signal being
    /// delivered, or starts delivering the next signal, or ends the phase.
    /// Returns whether it did anything.
    fn deliver_next(&self, report: &mut StepReport, cutoff: Cutoff) -> bool {
        enum Unit {
            Wake(Signal, Parker),
            Delivered(Option<Signal>),
            Start(Queued),
            End,
        }
        let unit = {
            let mut round = self.round.borrow_mut();
            let round = &mut *round;
            match &round.delivering {
                Some(signal) => match round.receivers.pop_front() {
                    Some(receiver) => {
                        // The next receiver's stack is fetched while this one runs.
                        if let Some(next) = round.receivers.front() {
                            self.core().prefetch(next.key);
                        }
                        Unit::Wake(signal.clone(), receiver)
                    }
                    None => Unit::Delivered(round.delivering.take()),
                },
                None => round.signals.pop_front().map_or(Unit::End, Unit::Start),
            }
        };
        match unit {
            Unit::Wake(signal, parker) => {
                self.wake_waiting(parker, Woke::Signal(signal), report);
            }
            Unit::Delivered(signal) => {
                // The last copy, if no receiver took one: its payloads'
                // destructors are user code.
                let root = self.core().root;
                self.drop_user(root, ErrorOrigin::Signal, signal);
            }
            Unit::Start(queued) => {
                report.signals += 1;
                let signal = self.core().unqueue(queued, self.trace_on());
                // `None`: a "thread_exit" that nothing can receive.
                if let Some(signal) = signal {
                    let mut receivers = std::mem::take(&mut self.round.borrow_mut().receivers);
                    report.callbacks += self.begin_delivery(&signal, &mut receivers);
                    if let Some(first) = receivers.front() {
                        self.core().prefetch(first.key);
                    }
                    let mut round = self.round.borrow_mut();
                    round.receivers = receivers;
                    round.delivering = Some(signal);
                }
            }
            Unit::End => {
                self.round.borrow_mut().phase = Phase::Deadlines(cutoff);
                return false;
            }
        }
        true
    }

    /// Runs the task `parker` names with `woke` if that wait is still on and
    /// the task is not frozen (a frozen task gets the wake-up when it is
    /// resumed).
    #[inline(always)]
    pub(crate) fn wake_waiting(&self, parker: Parker, woke: Woke, report: &mut StepReport) {
        let parked = {
            let mut core = self.core();
            if !core.ready(parker, woke) {
                return;
            }
            self.take_out(&mut core, parker.key)
        };
        self.run_ready(parker.key, parked, report);
    }

    /// Runs `key`, made ready by [`Core::ready`]: from `parked` if the caller
    /// took it out already, else through [`switch_to`](Shared::switch_to)
    /// (a traced resume calls its hook first, with nothing borrowed).
    fn run_ready(&self, key: TaskKey, parked: Option<Parked>, report: &mut StepReport) {
        report.resumes += 1;
        match parked {
            Some(parked) => self.resume_parked(key, parked, Wake::Run),
            None => self.switch_to(key, Wake::Run),
        }
    }
}

impl Core {
    /// The first wake-up of the next round, taken into `wakes` (the round's
    /// own, empty), if that round would have nothing else to do before them:
    /// no signal queued (here or from another OS thread) and no deadline due.
    /// Then it runs the same work in the same order as a round started anew.
    fn roll_wakes(&mut self, wakes: &mut VecDeque<Parker>) -> Option<Parker> {
        if self.wakes.is_empty()
            || !self.queue.is_empty()
            || self.remote_pending()
            || self.deadlines.first_at().is_some_and(|at| self.clock.reached(at))
        {
            return None;
        }
        std::mem::swap(wakes, &mut self.wakes);
        wakes.pop_front()
    }

    /// Moves the clock to the next live deadline if it is not after `target`
    /// and `meter` is not spent, as `Kernel::advance` would, and returns it.
    /// `meter` is tested again for a time budget, which may run out between
    /// two units (a count is tested after every unit).
    #[inline(never)]
    fn advance_to_next(
        &mut self,
        target: Duration,
        meter: &Meter,
        report: &StepReport,
    ) -> Option<Duration> {
        if meter.exhausted(report) {
            return None;
        }
        let at = self.next_deadline().filter(|&at| at <= target)?;
        self.clock.advance_to(at);
        Some(at)
    }

    /// The cutoff of the next round, if it would start with the waits that
    /// were due as they began (a zero sleep) and nothing queued before them:
    /// its deadline phase can begin at once.
    fn roll_deadlines(&self) -> Option<Cutoff> {
        (self.deadlines.has_pushed_due() && self.nothing_queued())
            .then(|| self.deadlines.cutoff(self.now()))
    }

    /// Ends the wait `parker` names with `woke` if it is still on; returns
    /// whether the task is to run now. A frozen task instead keeps the
    /// wake-up for its `resume`. Every end of a park but a kill's comes
    /// through here, whatever the wait's kind.
    #[inline(always)]
    pub(crate) fn ready(&mut self, parker: Parker, woke: Woke) -> bool {
        let key = parker.key;
        if self.tasks.suspended != 0 && parker.is_parked(&self.tasks) && frozen(&self.tasks, key) {
            self.tasks[key].missed = true;
            return false;
        }
        let Some(task) = self.tasks.get_mut(key).filter(|t| t.token == parker.token) else {
            return false;
        };
        let delivered = matches!(woke, Woke::Signal(_));
        task.signals += u64::from(delivered);
        task.woke = woke;
        if task.wait.holds_nothing() {
            // A sleep, the most common wait by far: nothing to undo or drop,
            // nothing to move out.
            task.end_wait_holding_nothing();
        } else {
            let wait = task.end_wait();
            self.forget_wait(wait, delivered);
        }
        true
    }
}
