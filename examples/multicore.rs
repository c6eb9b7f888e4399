//! Four kernels on four OS threads, thousands of green threads each, talking
//! over channels: the multi-core story of cothread. A kernel is
//! single-threaded; to use more cores, run one kernel per OS thread and link
//! them with `sync` channels, whose handles are `Send` when the values are.
//! A send from a green thread of one kernel wakes the green thread of another
//! kernel that waits to receive, through that kernel's remote wake-up path
//! (also when it is asleep in the OS waiting for work).
//!
//! Each kernel has a mailbox, a bounded channel, and runs two kinds of green
//! threads: talkers, which send numbered messages to the mailboxes of the
//! other kernels (parking while a mailbox is full), and listeners, which
//! share their kernel's mailbox and take its messages until every talker
//! everywhere is done. Every message has its own number; the host gathers
//! the numbers the listeners received and checks that each was received
//! exactly once.
//!
//! ```text
//! $ cargo run --example multicore
//! 4 kernels on 4 OS threads, 2000 green threads each (1000 talkers, 1000 listeners)
//! 40000 messages sent across kernels, 40000 received, each exactly once
//! kernel 0 received 10000, kernel 1 10000, kernel 2 10000, kernel 3 10000
//! ```

use std::thread as os_thread;

use cothread::sync::{self, Receiver, Sender};
use cothread::{thread, Kernel};

/// The sizes of a run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Kernels, each on an OS thread of its own.
    pub kernels: usize,
    /// Talkers on each kernel (and as many listeners).
    pub talkers: usize,
    /// Messages each talker sends.
    pub messages: usize,
    /// Capacity of each kernel's mailbox.
    pub mailbox: usize,
}

/// The example's sizes.
pub const SIZES: Sizes = Sizes { kernels: 4, talkers: 1000, messages: 10, mailbox: 64 };

/// What a run ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Messages sent, all kernels together.
    pub sent: usize,
    /// Messages received, all kernels together.
    pub received: usize,
    /// How many different messages were received (equal to `sent` when none
    /// was lost and none received twice).
    pub distinct: usize,
    /// Messages received by each kernel.
    pub per_kernel: Vec<usize>,
}

/// The message number `n` of talker `talker` on kernel `kernel`: every
/// message of a run has its own.
fn number(sizes: Sizes, kernel: usize, talker: usize, n: usize) -> u64 {
    ((kernel * sizes.talkers + talker) * sizes.messages + n) as u64
}

/// The kernel that message `n` of a talker on `kernel` goes to: any other.
fn destination(sizes: Sizes, kernel: usize, talker: usize, n: usize) -> usize {
    (kernel + 1 + (talker + n) % (sizes.kernels - 1)) % sizes.kernels
}

/// One kernel's program: its talkers and listeners; the message numbers its
/// listeners received.
fn node(sizes: Sizes, me: usize, mailboxes: Vec<Sender<u64>>, mailbox: Receiver<u64>) -> Vec<u64> {
    let talkers: Vec<_> = (0..sizes.talkers)
        .map(|talker| {
            let mailboxes = mailboxes.clone();
            thread::create(move || {
                for n in 0..sizes.messages {
                    let to = destination(sizes, me, talker, n);
                    mailboxes[to].send(number(sizes, me, talker, n)).expect("the listeners wait");
                }
            }) // its senders are dropped as it ends
        })
        .collect();
    let listeners: Vec<_> = (0..sizes.talkers)
        .map(|_| {
            let mailbox = mailbox.clone();
            // Until every talker of every other kernel has ended and the
            // mailbox is empty.
            thread::create(move || mailbox.iter().collect::<Vec<u64>>())
        })
        .collect();
    drop((mailboxes, mailbox));
    thread::wait_for_all(&talkers, None).expect("the talkers end");
    listeners.into_iter().flat_map(|l| l.wait().expect("a listener ends")).collect()
}

/// Runs `sizes.kernels` kernels, each on an OS thread, exchanging messages;
/// what they received.
pub fn run(sizes: Sizes) -> Tally {
    assert!(sizes.kernels >= 2, "messages go to another kernel");
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..sizes.kernels).map(|_| sync::channel::<u64>(sizes.mailbox)).unzip();
    let nodes: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(me, mailbox)| {
            let mailboxes = senders.clone();
            os_thread::spawn(move || {
                let mut kernel = Kernel::new();
                kernel
                    .run(move || node(sizes, me, mailboxes, mailbox))
                    .expect("the kernel's program ends")
            })
        })
        .collect();
    drop(senders); // the kernels hold the only ones now
    let received: Vec<Vec<u64>> =
        nodes.into_iter().map(|n| n.join().expect("a kernel's OS thread ends")).collect();
    let per_kernel: Vec<usize> = received.iter().map(Vec::len).collect();
    let mut all: Vec<u64> = received.into_iter().flatten().collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    let sent = sizes.kernels * sizes.talkers * sizes.messages;
    // Numbered 0..sent: distinct and in range means every one of them.
    let distinct = if all.last().is_some_and(|&n| n as usize >= sent) { 0 } else { all.len() };
    Tally { sent, received: total, distinct, per_kernel }
}

fn main() {
    let sizes = SIZES;
    let tally = run(sizes);
    println!(
        "{} kernels on {} OS threads, {} green threads each ({} talkers, {} listeners)",
        sizes.kernels,
        sizes.kernels,
        2 * sizes.talkers,
        sizes.talkers,
        sizes.talkers
    );
    let once = if tally.distinct == tally.sent && tally.received == tally.sent {
        "each exactly once"
    } else {
        "SOME LOST OR DOUBLED"
    };
    println!("{} messages sent across kernels, {} received, {once}", tally.sent, tally.received);
    let per_kernel: Vec<String> =
        tally
            .per_kernel
            .iter()
            .enumerate()
            .map(|(k, n)| {
                if k == 0 {
                    format!("kernel {k} received {n}")
                } else {
                    format!("kernel {k} {n}")
                }
            })
            .collect();
    println!("{}", per_kernel.join(", "));
}
