//! How many idle threads fit, and what each costs: creates N threads blocked in
//! `event::pull`, then prints the time to create them (wall and CPU time), the
//! resident memory per thread (the growth of `/proc/self/statm` over the
//! creation, divided by N), the page tables per thread (`VmPTE`), and the
//! memory mappings per thread. A run on a 2-core VM (AMD EPYC, Linux 6.18):
//!
//! ```text
//! $ cargo run --release --example scale
//! scale: 10000 idle threads blocked in event::pull (distinct names), 16 KiB stacks
//! created 10000 threads in 146.7ms (14.67 µs each; CPU time 35.5ms, 3.55 µs each)
//! resident memory: +45.4 MiB, 4.65 KiB per thread (/proc/self/statm)
//! page tables: +1.6 MiB, 0.17 KiB per thread; with resident memory, 4.81 KiB per thread (/proc/self/status, VmPTE)
//! memory mappings: +2, 0.00 per thread (vm.max_map_count: 65530)
//! one push woke 1 thread(s) in 11.7µs
//! dropped the kernel (every thread unwound) in 134.4ms (CPU time 101.3ms)
//! ```
//!
//! The figures are a release build's: run it with `--release`. A debug build
//! (`cargo run --example scale`) runs the same, but its frames are larger and
//! its code slower, so it shows about twice the resident memory per thread
//! and slower creation, pushes and drops. On a shared machine the CPU time
//! is the steadier figure.
//!
//! Its arguments:
//!
//! ```text
//! cargo run --release --example scale -- [N] [--one-name] [--stack-kib K] [--no-hint]
//! ```
//!
//! N defaults to 10 000. Each thread waits for a signal of its own name
//! (`--one-name`: all wait for the same one). Stacks are K KiB (default 16):
//! only the pages a thread touches take memory, so what an idle thread costs
//! is its resident memory, not its stack size (but its page tables grow with
//! the stack's address space, 4 KiB per 2 MiB). The kernel is built with
//! `KernelBuilder::expected_threads(N)` (`--no-hint`: without it).
//!
//! On Linux 6.13 and later the stacks are carved out of large mappings with
//! guard regions, and a million threads take a handful of mappings. On older
//! kernels each stack is two mappings, and cothread keeps 1/64 of Linux's
//! `vm.max_map_count` (at least 1 024 mappings) for the rest of the process,
//! so the default limit (65 530) allows about 32 000 threads; past it
//! `thread::Builder::spawn` returns
//! [`Error::StackAlloc`](cothread::Error::StackAlloc), whose text names the
//! limit and how to raise it, and the example stops there. Such a kernel's
//! behaviour can be had on any (`COTHREAD_STACK_GUARDS=mprotect`):
//!
//! ```text
//! $ COTHREAD_STACK_GUARDS=mprotect cargo run --release --example scale -- 40000
//! scale: 40000 idle threads blocked in event::pull (distinct names), 16 KiB stacks
//! created 32231 threads in 322.9ms (10.02 µs each; CPU time 188.2ms, 5.84 µs each)
//! stopped at 32231 threads of 40000: cannot allocate a thread stack: 16384 bytes: this process's stacks hold 64506 memory mappings, all that vm.max_map_count (65530) leaves room for; without guard regions (Linux 6.13 and later) each stack takes 2: raise vm.max_map_count (docs/performance.md, "Memory mappings"), use fewer threads, or run on Linux 6.13 or later
//!   out of stacks: the error says which limit was reached, and the fix
//! resident memory: +146.5 MiB, 4.65 KiB per thread (/proc/self/statm)
//! page tables: +5.2 MiB, 0.17 KiB per thread; with resident memory, 4.82 KiB per thread (/proc/self/status, VmPTE)
//! memory mappings: +64473, 2.00 per thread (vm.max_map_count: 65530)
//! one push woke 1 thread(s) in 13.2µs
//! dropped the kernel (every thread unwound) in 661.9ms (CPU time 378.0ms)
//! ```
//!
//! `docs/performance.md` ("Stacks") has the runs with 30 000 and 1 000 000
//! threads of 256 KiB stacks.

use std::cell::RefCell;
use std::fs::File;
use std::io::Read;
use std::rc::Rc;
use std::time::{Duration, Instant};

use cothread::{event, thread, Error, Kernel, Signal};

struct Options {
    threads: usize,
    one_name: bool,
    stack_kib: usize,
    hint: bool,
}

fn options() -> Options {
    let mut options = Options { threads: 10_000, one_name: false, stack_kib: 16, hint: true };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--one-name" => options.one_name = true,
            "--no-hint" => options.hint = false,
            "--stack-kib" => {
                options.stack_kib = args.next().and_then(|k| k.parse().ok()).unwrap_or_else(|| {
                    usage("--stack-kib takes a number of KiB");
                })
            }
            n => options.threads = n.replace('_', "").parse().unwrap_or_else(|_| usage(n)),
        }
    }
    options
}

fn usage(bad: &str) -> ! {
    eprintln!("scale: unexpected argument `{bad}`");
    eprintln!("usage: cargo run --release --example scale -- [N] [--one-name] [--stack-kib K] [--no-hint]");
    std::process::exit(2)
}

/// The page size, from the auxiliary vector the kernel gave the process
/// (`AT_PAGESZ`); 4 KiB if it cannot be read.
fn page_size() -> usize {
    const AT_PAGESZ: u64 = 6;
    let mut auxv = Vec::new();
    if File::open("/proc/self/auxv").and_then(|mut f| f.read_to_end(&mut auxv)).is_ok() {
        let words: Vec<u64> = auxv
            .chunks_exact(8)
            .map(|w| u64::from_ne_bytes(w.try_into().expect("8-byte chunks")))
            .collect();
        if let Some(pair) = words.chunks_exact(2).find(|pair| pair[0] == AT_PAGESZ) {
            return pair[1] as usize;
        }
    }
    4096
}

/// Resident memory in bytes (the second field of `/proc/self/statm`, in pages).
fn resident_bytes(page: usize) -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page)
}

/// The process's memory mappings (lines of `/proc/self/maps`), counted through
/// a small buffer: near the limit, a large allocation could need a mapping of
/// its own.
fn mappings() -> Option<usize> {
    let mut maps = File::open("/proc/self/maps").ok()?;
    let mut buf = [0u8; 64 * 1024];
    let mut lines = 0;
    loop {
        match maps.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            Err(_) => return None,
        }
    }
}

/// The memory the process's page tables take, in bytes (`VmPTE` in
/// `/proc/self/status`).
fn page_tables() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPTE:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

/// The CPU time this process has used, in user and system mode together
/// (on a shared machine, a steadier measure than the wall clock).
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` writes the `rusage` it is given; zeroes are a
    // valid value of it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn per_item(total: Duration, n: usize) -> String {
    let ns = total.as_nanos() as f64 / n.max(1) as f64;
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// What the creating program found.
#[derive(Default)]
struct Created {
    threads: usize,
    error: Option<Error>,
}

fn main() {
    let options = options();
    let n = options.threads;
    let page = page_size();
    let names = if options.one_name { "one name" } else { "distinct names" };
    println!(
        "scale: {n} idle threads blocked in event::pull ({names}), {} KiB stacks",
        options.stack_kib
    );

    let maps_before = mappings();
    let tables_before = page_tables();
    let kernel = Kernel::builder()
        .stack_size(options.stack_kib * 1024)
        .expected_threads(if options.hint { n } else { 0 });
    let mut kernel = kernel.build();
    let created = Rc::new(RefCell::new(Created::default()));
    let resident_before = resident_bytes(page);
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let report = Rc::clone(&created);
    let one_name = options.one_name;
    let program = kernel.spawn(move || {
        for i in 0..n {
            let name = if one_name { "wake".to_string() } else { format!("s{i}") };
            let spawned = thread::Builder::new()
                .spawn(move || while event::pull(None, name.as_str()).is_some() {});
            match spawned {
                Ok(_) => report.borrow_mut().threads += 1,
                Err(error) => {
                    report.borrow_mut().error = Some(error);
                    break;
                }
            }
        }
        // Stay alive (a program that returns would join its threads).
        event::pull(None, "quit");
    });
    let (took, cpu) = (start.elapsed(), cpu_time() - cpu_start);
    let resident_after = resident_bytes(page);
    let maps_after = mappings();
    let tables_after = page_tables();

    let Created { threads, error } = std::mem::take(&mut *created.borrow_mut());
    println!(
        "created {threads} threads in {took:.1?} ({} each; CPU time {cpu:.1?}, {} each)",
        per_item(took, threads),
        per_item(cpu, threads)
    );
    if let Some(error) = error {
        println!("stopped at {threads} threads of {n}: {error}");
        if matches!(error, Error::StackAlloc(_)) {
            println!("  out of stacks: the error says which limit was reached, and the fix");
        }
    }
    if let (Some(before), Some(after)) = (resident_before, resident_after) {
        let grown = after.saturating_sub(before);
        println!(
            "resident memory: +{:.1} MiB, {:.2} KiB per thread (/proc/self/statm)",
            grown as f64 / (1024.0 * 1024.0),
            grown as f64 / 1024.0 / threads.max(1) as f64
        );
    }
    if let (Some(before), Some(after), Some(resident)) =
        (tables_before, tables_after, resident_after)
    {
        let grown = after.saturating_sub(before);
        let all = resident.saturating_sub(resident_before.unwrap_or(0)) + grown;
        println!(
            "page tables: +{:.1} MiB, {:.2} KiB per thread; with resident memory, {:.2} KiB \
             per thread (/proc/self/status, VmPTE)",
            grown as f64 / (1024.0 * 1024.0),
            grown as f64 / 1024.0 / threads.max(1) as f64,
            all as f64 / 1024.0 / threads.max(1) as f64
        );
    }
    if let (Some(before), Some(after)) = (maps_before, maps_after) {
        let grown = after.saturating_sub(before);
        let limit =
            max_map_count().map_or_else(String::new, |l| format!(" (vm.max_map_count: {l})"));
        println!(
            "memory mappings: +{grown}, {:.2} per thread{limit}",
            grown as f64 / threads.max(1) as f64
        );
    }

    // The threads are alive: a push reaches its receivers (one, or all).
    if threads > 0 {
        let name = if one_name { "wake".to_string() } else { format!("s{}", threads / 2) };
        kernel.push_signal(Signal::new(name.as_str()));
        let start = Instant::now();
        let woke = kernel.step().resumes;
        println!("one push woke {woke} thread(s) in {:.1?}", start.elapsed());
    }

    let (start, cpu_start) = (Instant::now(), cpu_time());
    drop(program);
    drop(kernel);
    let (took, cpu) = (start.elapsed(), cpu_time() - cpu_start);
    println!("dropped the kernel (every thread unwound) in {took:.1?} (CPU time {cpu:.1?})");
}
