//! A town of 1 000 NPCs, each a green thread, asking each other questions;
//! now and then one takes a nap (`os::sleep`), and the questions put to it
//! meanwhile wait in its inbox, a `sync::unbounded` channel, until it wakes
//! and answers them. Nothing is lost: every question gets its answer.
//!
//! Each NPC has one inbox for everything sent to it (questions, answers, the
//! closing "goodbye"), and does one thing at a time: it puts a question to a
//! partner, then takes what arrives in order, answering the questions of
//! others, until its own answer comes; then it may nap, and asks the next.
//! Sent as signals (an OpenOS broadcast, delivered only to threads waiting
//! for it at that moment), the questions put to a napping NPC would be gone
//! when it woke; a channel keeps them.
//!
//! ```text
//! $ cargo run --example npc_questions
//! 1000 NPCs asked 5000 questions: 5000 answered, 0 lost
//! 1154 of them were put to a partner asleep in os::sleep and waited in its inbox
//! the town fell quiet at 15s (virtual clock)
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use cothread::sync::{self, Receiver, Sender};
use cothread::{os, thread, Kernel};

/// How many NPCs live in the town.
pub const NPCS: usize = 1000;
/// How many questions each of them asks.
pub const QUESTIONS: usize = 5;

/// What goes into an NPC's inbox.
enum Message {
    Question {
        from: usize,
        topic: u64,
    },
    Answer {
        topic: u64,
        answer: u64,
    },
    /// Every NPC has its answers: the town goes to bed.
    Goodbye,
}

/// What every NPC can see of the others: their inboxes, and who is napping.
struct Town {
    inboxes: Vec<Sender<Message>>,
    napping: Vec<Cell<bool>>,
    /// Questions sent to an NPC that was napping at that moment.
    to_sleepers: Cell<usize>,
}

/// What an NPC did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Deeds {
    asked: usize,
    answered: usize,
    got_answers: usize,
}

/// The count the town ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    /// NPCs in the town.
    pub npcs: usize,
    /// Questions asked, all NPCs together.
    pub asked: usize,
    /// Questions answered by the partners they were put to.
    pub answered: usize,
    /// Answers received by the NPCs that asked (each checked).
    pub received: usize,
    /// Questions that found their partner napping.
    pub to_sleepers: usize,
    /// The virtual time when the last NPC went to bed.
    pub quiet_at: Duration,
}

impl Census {
    /// The lines the example prints.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "{} NPCs asked {} questions: {} answered, {} lost",
                self.npcs,
                self.asked,
                self.received,
                self.asked - self.received
            ),
            format!(
                "{} of them were put to a partner asleep in os::sleep and waited in its inbox",
                self.to_sleepers
            ),
            format!("the town fell quiet at {:?} (virtual clock)", self.quiet_at),
        ]
    }
}

/// The partner NPC `me` asks its `k`th question: anyone but itself, spread
/// over the town.
fn partner(me: usize, k: usize, npcs: usize) -> usize {
    (me + 1 + (me * 7 + k * 131) % (npcs - 1)) % npcs
}

/// The right answer to a question.
fn answer_to(topic: u64) -> u64 {
    topic.wrapping_mul(topic) % 1_000_003
}

/// How long NPC `me` naps after its `k`th answer, if it does.
fn nap(me: usize, k: usize) -> Option<Duration> {
    ((me + k) % 4 == 0).then(|| Duration::from_secs(1 + ((me + k) % 5) as u64))
}

impl Town {
    fn ask(&self, me: usize, k: usize, questions: usize) -> u64 {
        let to = partner(me, k, self.inboxes.len());
        let topic = (me * questions + k) as u64;
        if self.napping[to].get() {
            self.to_sleepers.set(self.to_sleepers.get() + 1);
        }
        self.inboxes[to].send(Message::Question { from: me, topic }).expect("every NPC listens");
        topic
    }
}

/// One NPC's life.
fn npc(
    me: usize,
    questions: usize,
    inbox: Receiver<Message>,
    town: Rc<Town>,
    done: Sender<usize>,
) -> Deeds {
    let mut deeds = Deeds::default();
    let mut waiting_for = (questions > 0).then(|| town.ask(me, 0, questions));
    if waiting_for.is_some() {
        deeds.asked += 1;
    } else {
        done.send(me).expect("the town counts");
    }
    for message in &inbox {
        match message {
            Message::Question { from, topic } => {
                let answer = Message::Answer { topic, answer: answer_to(topic) };
                town.inboxes[from].send(answer).expect("every NPC listens");
                deeds.answered += 1;
            }
            Message::Answer { topic, answer } => {
                assert_eq!(waiting_for, Some(topic), "NPC {me} got an answer it did not ask for");
                assert_eq!(answer, answer_to(topic), "NPC {me} got a wrong answer");
                deeds.got_answers += 1;
                waiting_for = None;
                if let Some(nap) = nap(me, deeds.got_answers) {
                    town.napping[me].set(true);
                    os::sleep(nap); // questions put to it now wait in its inbox
                    town.napping[me].set(false);
                }
                if deeds.got_answers == questions {
                    done.send(me).expect("the town counts");
                } else {
                    waiting_for = Some(town.ask(me, deeds.got_answers, questions));
                    deeds.asked += 1;
                }
            }
            Message::Goodbye => break,
        }
    }
    assert_eq!(waiting_for, None, "NPC {me} went to bed without its answer");
    deeds
}

/// Runs a town of `npcs` NPCs (at least 2) that ask `questions` questions
/// each, on the virtual clock; the count it ends with.
pub fn run(npcs: usize, questions: usize) -> Census {
    assert!(npcs >= 2, "an NPC needs someone to ask");
    let mut kernel = Kernel::builder().virtual_time(true).build();
    kernel
        .run(move || {
            let (inboxes, receivers): (Vec<_>, Vec<_>) =
                (0..npcs).map(|_| sync::unbounded()).unzip();
            let town = Rc::new(Town {
                inboxes,
                napping: (0..npcs).map(|_| Cell::new(false)).collect(),
                to_sleepers: Cell::new(0),
            });
            let (done, finished) = sync::unbounded();
            let npcs_threads: Vec<_> = receivers
                .into_iter()
                .enumerate()
                .map(|(me, inbox)| {
                    let (town, done) = (town.clone(), done.clone());
                    thread::create(move || npc(me, questions, inbox, town, done))
                })
                .collect();
            // Once every NPC has all its answers, none will ask again.
            for _ in 0..npcs {
                finished.recv().expect("every NPC reports");
            }
            for inbox in &town.inboxes {
                inbox.send(Message::Goodbye).expect("every NPC listens");
            }
            let quiet_at = os::uptime();
            let mut census = Census {
                npcs,
                asked: 0,
                answered: 0,
                received: 0,
                to_sleepers: town.to_sleepers.get(),
                quiet_at,
            };
            for t in npcs_threads {
                let deeds = t.wait().expect("an NPC lives its life");
                census.asked += deeds.asked;
                census.answered += deeds.answered;
                census.received += deeds.got_answers;
            }
            census
        })
        .expect("the town falls quiet")
}

fn main() {
    for line in run(NPCS, QUESTIONS).lines() {
        println!("{line}");
    }
}
