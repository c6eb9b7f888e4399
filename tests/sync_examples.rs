//! The sync layer's example programs, run with the sizes they print and
//! with others: `examples/npc_questions.rs` (channels between the green
//! threads of one kernel, partners asleep) and `examples/multicore.rs`
//! (channels between kernels on OS threads). Each asserts its exact counts.

#[allow(dead_code)]
#[path = "../examples/npc_questions.rs"]
mod npc_questions;

#[allow(dead_code)]
#[path = "../examples/multicore.rs"]
mod multicore;

use std::time::Duration;

#[test]
fn npc_questions_are_all_answered() {
    let census = npc_questions::run(npc_questions::NPCS, npc_questions::QUESTIONS);
    assert_eq!(
        census,
        npc_questions::Census {
            npcs: 1000,
            asked: 5000,
            answered: 5000,
            received: 5000,
            to_sleepers: 1154,
            quiet_at: Duration::from_secs(15),
        }
    );
    assert_eq!(
        census.lines(),
        [
            "1000 NPCs asked 5000 questions: 5000 answered, 0 lost",
            "1154 of them were put to a partner asleep in os::sleep and waited in its inbox",
            "the town fell quiet at 15s (virtual clock)",
        ]
    );
}

#[test]
fn npc_questions_in_a_town_of_two() {
    let census = npc_questions::run(2, 40);
    assert_eq!((census.asked, census.answered, census.received), (80, 80, 80));
    assert!(census.to_sleepers > 0, "{census:?}");
}

#[test]
fn multicore_receives_every_message_once() {
    let tally = multicore::run(multicore::SIZES);
    assert_eq!(
        tally,
        multicore::Tally {
            sent: 40_000,
            received: 40_000,
            distinct: 40_000,
            per_kernel: vec![10_000; 4],
        }
    );
}

#[test]
fn multicore_through_rendezvous_mailboxes() {
    // Capacity 0: each send waits for a listener of the other kernel to take it.
    let sizes = multicore::Sizes { kernels: 3, talkers: 200, messages: 5, mailbox: 0 };
    let tally = multicore::run(sizes);
    assert_eq!((tally.sent, tally.received, tally.distinct), (3000, 3000, 3000));
    assert_eq!(tally.per_kernel, [1000; 3]);
}
