//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use cothread::Kernel;

/// What a test program "prints": a shared list of lines.
#[derive(Clone, Default)]
pub struct Out(Rc<RefCell<Vec<String>>>);

impl Out {
    pub fn new() -> Out {
        Out::default()
    }

    /// Appends a line, like Lua's `print`.
    pub fn print(&self, line: impl ToString) {
        self.0.borrow_mut().push(line.to_string());
    }

    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// A kernel on the virtual clock, as every test uses.
pub fn kernel() -> Kernel {
    Kernel::builder().virtual_time(true).build()
}

/// Counts drops, to prove that unwinding ran every destructor once.
#[derive(Clone, Default)]
pub struct Drops(Rc<RefCell<usize>>);

impl Drops {
    pub fn new() -> Drops {
        Drops::default()
    }

    /// A value whose drop is counted.
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.clone())
    }

    pub fn count(&self) -> usize {
        *self.0.borrow()
    }
}

pub struct DropGuard(Drops);

impl Drop for DropGuard {
    fn drop(&mut self) {
        *(self.0).0.borrow_mut() += 1;
    }
}

impl Out {
    /// A value that prints `line` when it is dropped, to show the order in
    /// which stacks are unwound.
    pub fn on_drop(&self, line: impl ToString) -> PrintOnDrop {
        PrintOnDrop(self.clone(), line.to_string())
    }
}

pub struct PrintOnDrop(Out, String);

impl Drop for PrintOnDrop {
    fn drop(&mut self) {
        self.0.print(&self.1);
    }
}

/// `n` seconds.
pub fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

/// Set in a child process started by [`run_child`].
const CHILD: &str = "COTHREAD_TEST_CHILD";

/// Whether this process is a child started by [`run_child`]: the ignored
/// tests that crash on purpose do nothing unless it is.
pub fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the ignored test `name` of this test binary in a child process, so
/// that a crash (an abort, a signal) shows as that test's result instead of
/// taking the whole binary down.
pub fn run_child(name: &str) -> std::process::Output {
    // A child that hangs fails its test instead of holding the run.
    run_child_within(name, std::time::Duration::from_secs(120))
}

/// As [`run_child`], but the child gets at most `limit`: one still running
/// then is killed and the test fails saying that it hung, with what it had
/// printed. A guard for children whose failure mode is a hang; it asserts no
/// timing. Its output is read while it runs, so a child that prints a lot
/// cannot block on a full pipe.
pub fn run_child_within(name: &str, limit: std::time::Duration) -> std::process::Output {
    run_child_with(name, limit, &[])
}

/// As [`run_child_within`], with these variables added to the child's
/// environment.
pub fn run_child_with(
    name: &str,
    limit: std::time::Duration,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::Instant;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let start = text.char_indices().rev().nth(2000).map_or(0, |(at, _)| at);
            text[start..].to_string()
        };
        panic!(
            "{name} hung: killed after {limit:?}\nstdout (end):\n{}\nstderr (end):\n{}",
            tail(&stdout),
            tail(&stderr)
        );
    };
    std::process::Output { status, stdout, stderr }
}

/// Runs `body` on a new OS thread and waits for it for at most `limit`: a guard
/// for tests whose failure mode is a kernel (or a job's worker) that blocks
/// forever. It asserts no timing; it only turns a hang into a failure. A panic
/// in `body` fails the test with its own message.
pub fn within<T: Send + 'static>(
    limit: std::time::Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let (done, result) = channel();
    let test = std::thread::spawn(move || {
        let _ = done.send(body());
    });
    match result.recv_timeout(limit) {
        Ok(value) => value,
        Err(RecvTimeoutError::Disconnected) => match test.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the body ended without sending its value"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("the test hung: blocked forever"),
    }
}

/// Recurses until the stack runs out; 512 bytes a frame.
pub fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 512]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(u64::from(frame[0]))
}

/// How long a child of [`child_succeeds`] may run before it counts as hung.
const CHILD_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// What a child printed.
pub struct Printed {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `name` in a child process and checks that it exited 0 after it got to
/// its end ("child finished"); gives what it printed.
pub fn child_succeeds(name: &str) -> Printed {
    let output = run_child_within(name, CHILD_LIMIT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && stdout.contains("child finished"),
        "{name}: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        tail(&stdout),
        tail(&stderr)
    );
    Printed { stdout, stderr }
}

/// The end of a long output, for a failure message.
pub fn tail(text: &str) -> &str {
    let start = text.char_indices().rev().nth(3000).map_or(0, |(at, _)| at);
    &text[start..]
}

/// Allocates and frees many blocks of many sizes, and checks what they hold:
/// a heap that a destructor or an overflow corrupted fails here (glibc aborts
/// on a broken free list).
pub fn heap_is_intact() {
    let blocks: Vec<Vec<u8>> = (0..10_000).map(|i| vec![i as u8; 24 + i % 200]).collect();
    for (i, block) in blocks.iter().enumerate() {
        assert!(block.len() == 24 + i % 200 && block.iter().all(|&b| b == i as u8));
    }
    drop(blocks);
    println!("heap intact");
}
