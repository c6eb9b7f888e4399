//! An automation host on tokio's current-thread runtime: scripts are green
//! threads that read lines from TCP connections as plain sequential code,
//! and the host drives the kernel from an async loop.
//!
//! - A tokio task of the same process serves 127.0.0.1 (a port the OS
//!   picks): each connection gets a few readings, 10 ms apart, then is
//!   closed. It serves three connections and ends.
//! - Three scripts (`thermo`, `hygro`, `baro`) each connect and read lines
//!   until the connection closes, with `future::block_on` on tokio's
//!   futures: each blocks only itself.
//! - A fourth script ticks every 20 ms, to show that nothing freezes the
//!   kernel while the others wait for the network.
//! - The host loop waits with `kernel.ready()` (woken by tokio's I/O through
//!   the futures' wakers, and by a tokio timer for the kernel's deadlines),
//!   then runs a step. A tokio task awaits the scripts' `JoinHandle`s and
//!   prints what each read.
//!
//! The whole run is bounded: it gives up after 10 s. The lines of the three
//! scripts interleave as the network decides; a run prints, for instance:
//!
//! ```text
//! $ cargo run --example async_host
//! thermo: connected
//! hygro: connected
//! baro: connected
//! thermo: reading 1 of 3 from the server
//! hygro: reading 1 of 3 from the server
//! ...
//! baro: reading 3 of 3 from the server
//! host: thermo read 3 lines
//! host: hygro read 3 lines
//! host: baro read 3 lines
//! ticker: 5 ticks, the longest gap 21 ms
//! host: done
//! ```
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cothread::{future, os, Budget, Kernel};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const SCRIPTS: [&str; 3] = ["thermo", "hygro", "baro"];
const READINGS: usize = 3;

/// The server: one task per connection, each writes its readings and closes.
async fn serve(listener: TcpListener) {
    for _ in 0..SCRIPTS.len() {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        tokio::spawn(async move {
            for i in 1..=READINGS {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let line = format!("reading {i} of {READINGS} from the server\n");
                if socket.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A script: sequential code that blocks on its reads.
fn script(name: &'static str, server: SocketAddr) -> usize {
    let stream = match future::block_on(TcpStream::connect(server)) {
        Ok(stream) => stream,
        Err(error) => {
            println!("{name}: cannot connect: {error}");
            return 0;
        }
    };
    println!("{name}: connected");
    let mut lines = BufReader::new(stream).lines();
    let mut read = 0;
    while let Ok(Some(line)) = future::block_on(lines.next_line()) {
        println!("{name}: {line}");
        read += 1;
    }
    read
}

/// Ticks every 20 ms while the scripts read; says how regular it was.
fn ticker() {
    let mut longest = Duration::ZERO;
    let mut last = Instant::now();
    for _ in 0..5 {
        os::sleep(Duration::from_millis(20));
        longest = longest.max(last.elapsed());
        last = Instant::now();
    }
    println!("ticker: 5 ticks, the longest gap {} ms", longest.as_millis());
}

async fn host() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let server = listener.local_addr()?;
    tokio::spawn(serve(listener));

    let mut kernel = Kernel::new();
    let scripts = SCRIPTS.map(|name| (name, kernel.spawn(move || script(name, server))));
    let tick = kernel.spawn(ticker);
    // A tokio task awaits the scripts (on this OS thread: the handles stay here).
    let report = tokio::task::spawn_local(async move {
        for (name, handle) in scripts {
            match handle.await {
                Ok(lines) => println!("host: {name} read {lines} lines"),
                Err(error) => println!("host: {name} failed: {error}"),
            }
        }
    });

    // The host loop: wait for work, run a step, until every script is done.
    loop {
        kernel.ready().with_timer(|at| tokio::time::sleep_until(at.into())).await;
        if !kernel.step_for(Budget::Resumes(256)).alive {
            break;
        }
    }
    report.await.expect("the report task ends");
    tick.wait().expect("the ticker ends");
    println!("host: done");
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    let outcome = local
        .block_on(&runtime, async { tokio::time::timeout(Duration::from_secs(10), host()).await });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            eprintln!("host: {error}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("host: gave up after 10 s");
            std::process::exit(1);
        }
    }
}
