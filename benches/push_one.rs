//! `push_one`: one push reaching one of N threads that each wait for a signal
//! of their own name; one iteration pushes a signal for one of them (a
//! different one each time, in turn) and steps the kernel until that thread
//! has received it and waits again. So the figure is a push, a delivery, a
//! turn of the receiver and its next `event::pull`.
//!
//! - `push_one/cothread_1000`: N = 1 000.
//! - `push_one/cothread_100000`: N = 100 000. The cost must not grow with the
//!   threads that do not receive the signal (the target: under 2 µs,
//!   within 2x of N = 1 000).
//! - `push_one/corosensei_1000_stacks`, `push_one/corosensei_100000_stacks`:
//!   one resume and yield of one of N bare corosensei coroutines, each in turn:
//!   the floor once the receiver's stack is as cold as in the lines above (how
//!   much of the growth with N the hardware imposes).
//! - `push_one/index_and_stacks_1000`, `push_one/index_and_stacks_100000`:
//!   the memory floor of a push, each name in turn as above: its name looked
//!   up in a hash table shaped like the kernel's waiter index (names inline,
//!   80-byte slots, a word-at-a-time hash), one of N bare coroutines resumed,
//!   and the name looked up again as the receiver waits again. What
//!   `cothread_N` adds to it is the kernel's own work; what it grows by with
//!   N is what the caches and the TLB charge, whoever does the work.
//!
//! 100 000 threads need about 200 000 memory mappings (a stack and its guard
//! page each), more than Linux's default `vm.max_map_count` (65 530) allows;
//! the bench then measures as many as fit, names the figure after that number
//! and says how to raise the limit.
//!
//! Run with `cargo bench --bench push_one`. The threads are created once per
//! N, outside the measured loop, through the host-driven API
//! (`Kernel::spawn`, `Kernel::push_signal`, `Kernel::step`).

mod common;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;

use cothread::Signal;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use common::{
    config, feasible_threads, kernel, resume, start_receivers, yielding_coroutine, SMALL_STACK,
};

const RECEIVERS: [usize; 2] = [1_000, 100_000];

fn push_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("push_one");
    group.throughput(Throughput::Elements(1));
    for wanted in RECEIVERS {
        let receivers = feasible_threads(wanted, SMALL_STACK);
        let names: Vec<String> = (0..receivers).map(|i| format!("s{i}")).collect();
        let signals: Vec<Signal> = names.iter().map(|n| Signal::new(n.as_str())).collect();
        let mut kernel = kernel(SMALL_STACK);
        let program = start_receivers(&mut kernel, names);

        // The figure is only meaningful if each push wakes exactly its receiver.
        kernel.push_signal(signals[0].clone());
        let report = kernel.step();
        assert_eq!((report.signals, report.resumes), (1, 1), "one push must run one receiver");

        let mut next = 0;
        group.bench_function(format!("cothread_{receivers}"), |b| {
            b.iter(|| {
                kernel.push_signal(signals[next].clone());
                next = (next + 1) % signals.len();
                let report = kernel.step();
                assert_eq!(report.resumes, 1);
                black_box(report)
            })
        });
        // Free the stacks (and their mappings) before the next N.
        drop(program);
        drop(kernel);

        let mut coroutines: Vec<_> =
            (0..receivers).map(|_| yielding_coroutine(SMALL_STACK)).collect();
        let mut next = 0;
        group.bench_function(format!("corosensei_{receivers}_stacks"), |b| {
            b.iter(|| {
                resume(&mut coroutines[next]);
                next = (next + 1) % coroutines.len();
            })
        });

        // The waiter index's shape: a name of up to 22 bytes kept inline (24
        // bytes) and a 56-byte wait list whose first entry names the waiter.
        let names: Vec<[u8; 24]> = (0..receivers).map(|i| inline_name(&format!("s{i}"))).collect();
        let mut index: HashMap<[u8; 24], [usize; 7], BuildHasherDefault<WordHasher>> =
            HashMap::default();
        for (waiter, name) in names.iter().enumerate() {
            index.insert(*name, [waiter, 0, 0, 0, 0, 0, 0]);
        }
        let mut next = 0;
        group.bench_function(format!("index_and_stacks_{receivers}"), |b| {
            b.iter(|| {
                let name = &names[next];
                let list = index.get_mut(name).expect("every name is indexed");
                let waiter = std::mem::replace(&mut list[0], usize::MAX);
                resume(&mut coroutines[waiter]);
                index.get_mut(name).expect("every name is indexed")[0] = waiter;
                next = (next + 1) % names.len();
            })
        });
    }
    group.finish();
}

/// `name`'s bytes, zero-padded, as the kernel keeps a short name.
fn inline_name(name: &str) -> [u8; 24] {
    let mut bytes = [0; 24];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

/// A word at a time, a multiply and a rotate per word: the cost of the
/// kernel's own hash of a short name.
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5).rotate_left(26);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = push_one
}
criterion_main!(benches);
