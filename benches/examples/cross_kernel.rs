//! One stream of 20 000 messages between two OS threads, each running its
//! own scheduler, as `channel_cross` (benches/channel.rs) times it, but
//! once and outside Criterion: to count what it asks of the OS.
//!
//! ```sh
//! cargo build --release --example cross_kernel
//! strace -f -c -e trace=futex target/release/examples/cross_kernel cothread 1
//! strace -f -c -e trace=futex target/release/examples/cross_kernel tokio 1
//! ```
//!
//! Arguments: `cothread` (a `sync::channel` between two kernels) or `tokio`
//! (a `tokio::sync::mpsc::channel` between two current-thread runtimes),
//! then the channel's capacity. Prints the time a message.

use std::time::Instant;

use cothread::{sync, Kernel};

const MESSAGES: u64 = 20_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: cross_kernel cothread|tokio CAPACITY";
    let which = args.next().expect(usage);
    let capacity: usize = args.next().and_then(|c| c.parse().ok()).expect(usage);
    let expected = MESSAGES * (MESSAGES - 1) / 2;
    let start = Instant::now();
    let sum = match which.as_str() {
        "cothread" => {
            let (tx, rx) = sync::channel::<u64>(capacity);
            let sender = std::thread::spawn(move || {
                Kernel::new().run(move || (0..MESSAGES).for_each(|i| tx.send(i).unwrap()))
            });
            let receiver = std::thread::spawn(move || {
                Kernel::new().run(move || (0..MESSAGES).map(|_| rx.recv().unwrap()).sum::<u64>())
            });
            sender.join().unwrap().unwrap();
            receiver.join().unwrap().unwrap()
        }
        "tokio" => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(capacity);
            let runtime = || tokio::runtime::Builder::new_current_thread().build().unwrap();
            let sender = std::thread::spawn(move || {
                runtime().block_on(async move {
                    for i in 0..MESSAGES {
                        tx.send(i).await.unwrap();
                    }
                })
            });
            let receiver = std::thread::spawn(move || {
                runtime().block_on(async move {
                    let mut sum = 0;
                    for _ in 0..MESSAGES {
                        sum += rx.recv().await.unwrap();
                    }
                    sum
                })
            });
            sender.join().unwrap();
            receiver.join().unwrap()
        }
        _ => panic!("{usage}"),
    };
    assert_eq!(sum, expected, "every message arrived once");
    println!("{which}, capacity {capacity}: {:?} a message", start.elapsed() / MESSAGES as u32);
}
