//! The crate's layering (docs/internals.md), checked on its own source: every
//! file's `crate::` paths outside comments and unit tests are read, each file
//! and each path is given its layer, and a path that reaches a layer its file
//! may not use fails the test, naming the file, the line and the rule.
//!
//! Layers, bottom up: leaves (plain data, the clock, stacks, the overflow
//! trap) use only leaves; the kernel core (task table, the one thread-local,
//! park/wake, rounds, signal delivery, remote wake-ups, introspection) uses
//! leaves and itself; façades (`thread`, `event`, `os`, the host's `Kernel`)
//! use anything below them; layers on the runtime (`job`, `sync`) use public items
//! and the core's park/wake API.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Leaf,
    Core,
    Facade,
    Runtime,
}

/// The layer of a source file, by its path under `src/`.
fn file_layer(file: &str) -> Option<Layer> {
    Some(match file {
        "lib.rs" => return None,
        "id.rs" | "error.rs" | "time.rs" | "stack.rs" | "stack/chunks.rs" | "overflow.rs"
        | "overflow/hijack.rs" | "event/signal.rs" | "event/filter.rs" | "event/pattern.rs"
        | "event/name.rs" | "event/ids.rs" | "unwind.rs" | "testing.rs" | "report.rs" => {
            Layer::Leaf
        }
        "kernel/mod.rs" | "kernel/current.rs" | "kernel/remote.rs" | "kernel/deliver.rs"
        | "kernel/panic.rs" | "watchdog.rs" | "park.rs" | "round.rs" | "join.rs" | "inspect.rs"
        | "process/mod.rs" | "process/life.rs" | "process/switch.rs" | "task.rs"
        | "event/listen.rs" | "event/waiters.rs" => Layer::Core,
        "thread.rs" | "event/mod.rs" | "os.rs" | "host/mod.rs" | "host/run.rs"
        | "host/builder.rs" | "host/view.rs" | "host/kernel_ref.rs" => Layer::Facade,
        "job/mod.rs" | "job/builder.rs" | "job/host.rs" | "job/mailbox.rs" | "job/run.rs"
        | "job/workers.rs" | "future.rs" | "sync/mod.rs" | "sync/barrier.rs" | "sync/block.rs"
        | "sync/channel.rs" | "sync/error.rs" | "sync/mutex.rs" | "sync/notify.rs"
        | "sync/queue.rs" | "sync/select.rs" | "sync/semaphore.rs" => Layer::Runtime,
        other => panic!("src/{other} has no layer: give it one in tests/architecture.rs"),
    })
}

/// Items of `crate::event` that are leaves (the plain data it re-exports).
const EVENT_LEAVES: &[&str] = &[
    "Signal",
    "Value",
    "Filter",
    "MAX_PATTERN_LEN",
    "MAX_PATTERN_STEPS",
    "ListenerId",
    "TimerId",
    "Times",
    "ListenerResult",
    "signal",
    "filter",
    "ids",
];

/// The layer a `crate::` path reaches: `module` is its first segment, `item`
/// the next one (for `crate::event::X`).
fn path_layer(module: &str, item: &str) -> Layer {
    match module {
        "id" | "error" | "time" | "stack" | "overflow" | "unwind" | "testing" | "report" => {
            Layer::Leaf
        }
        "kernel" | "park" | "round" | "join" | "inspect" | "process" | "task" | "watchdog" => {
            Layer::Core
        }
        "event" if EVENT_LEAVES.contains(&item) || item == "pattern" || item == "name" => {
            Layer::Leaf
        }
        "event" if item == "listen" || item == "waiters" => Layer::Core,
        "thread" | "event" | "os" | "host" => Layer::Facade,
        "job" | "sync" | "future" => Layer::Runtime,
        // `crate::Kernel`, `crate::Error`, ...: the crate's public face.
        _ => Layer::Facade,
    }
}

/// Uses that break a rule today, each with the reason it is still there: the
/// test fails if one disappears (strike it) or a new one appears. Empty: a
/// new exception needs a reason written here, and a plan to remove it.
const KNOWN: &[(&str, &str, &str)] = &[];

/// One file's code with comments, string and character literals blanked
/// (newlines kept, so lines still count) and unit tests (an item under a
/// `#[cfg(..test..)]` attribute: a `mod` block, a function) left out.
fn code_of(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, b: u8| out.push(if b == b'\n' { '\n' } else { ' ' });
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                blank(&mut out, bytes[i]);
                i += 1;
            }
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(bytes.len(), |e| i + e + 2);
            while i < end {
                blank(&mut out, bytes[i]);
                i += 1;
            }
        } else if bytes[i] == b'"' {
            blank(&mut out, bytes[i]);
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                let step = if bytes[i] == b'\\' { 2 } else { 1 };
                for _ in 0..step.min(bytes.len() - i) {
                    blank(&mut out, bytes[i]);
                    i += 1;
                }
            }
            if i < bytes.len() {
                blank(&mut out, bytes[i]);
                i += 1;
            }
        } else if rest.starts_with("#[cfg(") && {
            let attr = &rest[..rest.find(']').unwrap_or(rest.len())];
            attr.contains("test") && !attr.contains("not(test")
        } {
            // The attribute and the item under it: to its `;` or the end of
            // its first `{ .. }` block, whichever comes first.
            let mut depth = 0usize;
            let mut started = false;
            while i < bytes.len() {
                let b = bytes[i];
                blank(&mut out, b);
                i += 1;
                match b {
                    b'{' => {
                        depth += 1;
                        started = true;
                    }
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' if !started && depth == 0 => break,
                    _ => {}
                }
            }
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// The module path of a file under `src/` (`event/waiters.rs` is
/// `["event", "waiters"]`, `kernel/mod.rs` is `["kernel"]`).
fn module_of(file: &str) -> Vec<String> {
    let path = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The inline `mod name { .. }` blocks of some code, as the range of each
/// body and the module's name, outermost first.
fn inline_modules(code: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("mod ") {
        let start = at + found;
        at = start + 4;
        if start > 0 && code.as_bytes()[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String =
            code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let after = code[at + name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0;
        let mut end = code.len();
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((open..end, name));
    }
    out
}

/// The paths a `use` tree names, each as its segments: `a::{b, c::d}` is
/// `[a, b]` and `[a, c, d]`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("");
        return vec![path
            .split("::")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()];
    };
    let prefix: Vec<String> =
        tree[..open].split("::").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|tail| prefix.iter().cloned().chain(tail).collect())
        .collect()
}

/// A path's segments made absolute (`super::` resolved from `module`), or
/// `None` for a path outside the crate.
fn absolute(segments: &[String], module: &[String]) -> Option<Vec<String>> {
    match segments.first().map(String::as_str) {
        Some("crate") => Some(segments[1..].to_vec()),
        Some("super") => {
            let mut base = module.to_vec();
            let mut rest = segments;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            Some(base.into_iter().chain(rest.iter().cloned()).collect())
        }
        Some("self") => Some(module.iter().cloned().chain(segments[1..].iter().cloned()).collect()),
        _ => None,
    }
}

/// The crate paths of one file's code: `(line, module, item, re-exported)`,
/// from its `use` trees (`super::` resolved) and from `crate::` paths in
/// its code.
fn crate_paths(file: &str, text: &str) -> Vec<(usize, String, String, bool)> {
    let code = code_of(text);
    let file_module = module_of(file);
    let inline = inline_modules(&code);
    // The module a position is in: the file's, and the inline `mod x { .. }`
    // blocks around it.
    let module_at = |at: usize| -> Vec<String> {
        let mut module = file_module.clone();
        module.extend(inline.iter().filter(|(r, _)| r.contains(&at)).map(|(_, n)| n.clone()));
        module
    };
    let line_at = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut push = |line: usize, path: Vec<String>, exported: bool| {
        if let Some(first) = path.first() {
            let item = path.get(1).cloned().unwrap_or_default();
            out.push((line, first.clone(), item, exported));
        }
    };
    let mut covered = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("use ") {
        let start = at + found;
        at = start + 4;
        let before = code[..start].trim_end();
        let word_start = start == 0 || !code.as_bytes()[start - 1].is_ascii_alphanumeric();
        let statement = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('}')
            || before.ends_with('{')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')');
        if !word_start || !statement {
            continue;
        }
        let Some(end) = code[start..].find(';').map(|e| start + e) else { break };
        let exported = before.ends_with("pub") || before.ends_with("pub(crate)");
        for path in expand(&code[start + 4..end]) {
            if let Some(path) = absolute(&path, &module_at(start)) {
                push(line_at(start), path, exported);
            }
        }
        covered.push(start..end);
        at = end;
    }
    let mut at = 0;
    while let Some(found) = code[at..].find("crate::") {
        let start = at + found;
        at = start + "crate::".len();
        if covered.iter().any(|r| r.contains(&start)) {
            continue;
        }
        let segments: Vec<String> = code[at..]
            .split("::")
            .take(2)
            .map(|s| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
            .collect();
        push(line_at(start), segments, false);
    }
    out
}

/// Whether a file of `from` may use a path of `to` (`module` named).
fn allowed(from: Layer, to: Layer, module: &str) -> bool {
    match from {
        Layer::Leaf => to == Layer::Leaf,
        Layer::Core => to <= Layer::Core,
        Layer::Facade => to <= Layer::Facade,
        // Public items (façades) and the core's park/wake API only.
        Layer::Runtime => to != Layer::Core || module == "park",
    }
}

fn sources(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
            out.push((name, fs::read_to_string(&path).unwrap()));
        }
    }
}

fn all_sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    files.sort();
    files
}

#[test]
fn every_layer_uses_only_the_layers_it_may() {
    let mut broken = Vec::new();
    let mut known_seen = BTreeSet::new();
    for (file, text) in all_sources() {
        let Some(from) = file_layer(&file) else { continue };
        for (line, module, item, exported) in crate_paths(&file, &text) {
            let to = path_layer(&module, &item);
            if exported && from != Layer::Core && to == Layer::Core {
                broken.push(format!(
                    "src/{file}:{line}: a {from:?} file re-exports crate::{module}::{item} from the core"
                ));
                continue;
            }
            if allowed(from, to, &module) {
                continue;
            }
            if let Some(known) = KNOWN.iter().find(|(f, m, _)| *f == file && *m == module.as_str())
            {
                known_seen.insert((known.0, known.1));
                continue;
            }
            broken.push(format!(
                "src/{file}:{line}: a {from:?} file uses crate::{module}::{item} ({to:?})"
            ));
        }
    }
    assert!(broken.is_empty(), "layer rules broken:\n{}", broken.join("\n"));
    let gone: Vec<_> = KNOWN.iter().filter(|(f, m, _)| !known_seen.contains(&(*f, *m))).collect();
    assert!(gone.is_empty(), "known exceptions no longer needed, strike them: {gone:?}");
}

/// The kernel's state and its methods are the core's: a file outside it
/// that added methods to `Shared` or `Core` would be core code the import
/// rules cannot see.
#[test]
fn only_the_core_adds_to_the_kernels_state() {
    let outside: Vec<String> = all_sources()
        .into_iter()
        .filter(|(file, _)| file_layer(file).is_some_and(|layer| layer != Layer::Core))
        .filter(|(_, text)| {
            let code = code_of(text);
            ["impl Shared", "impl Core", "impl crate::kernel::Shared", "impl crate::kernel::Core"]
                .iter()
                .any(|form| code.contains(form))
        })
        .map(|(file, _)| file)
        .collect();
    assert!(outside.is_empty(), "methods of the kernel's state outside the core: {outside:?}");
}

#[test]
fn one_thread_local_reaches_the_kernel() {
    let holders: Vec<String> = all_sources()
        .into_iter()
        .filter(|(_, text)| text.contains("Cell<*const Shared>"))
        .map(|(file, _)| file)
        .collect();
    assert_eq!(holders, ["kernel/current.rs"]);
}

#[test]
fn the_reader_sees_paths_in_code_and_not_in_comments_strings_or_tests() {
    let text = "use crate::kernel::Core; // crate::job\n/// [`x`](crate::thread::X)\n\
                fn f() { crate::event::listen::f(\"http://crate::os\") }\n\
                use crate::{event::{Filter, pull}, park};\n\
                /* crate::job */ use super::filter::Name;\n\
                #[cfg(all(test, unix))]\nmod tests { use crate::os; }\n\
                pub(crate) use crate::round::Budget;\n\
                #[cfg(test)]\npub(crate) fn shared() -> u8 { crate::job::x() }\n\
                use crate::process::{\n    Kind, \n    Task, \n};\n";
    let paths = crate_paths("event/waiters.rs", text);
    let path = |line, module: &str, item: &str, exported| {
        (line, module.to_string(), item.to_string(), exported)
    };
    assert_eq!(
        paths,
        [
            path(1, "kernel", "Core", false),
            path(4, "event", "Filter", false),
            path(4, "event", "pull", false),
            path(4, "park", "", false),
            path(5, "event", "filter", false),
            path(8, "round", "Budget", true),
            path(11, "process", "Kind", false),
            path(11, "process", "Task", false),
            path(3, "event", "listen", false),
        ]
    );
    assert!(!allowed(Layer::Leaf, path_layer("kernel", "Core"), "kernel"));
    assert!(allowed(Layer::Core, path_layer("event", "listen"), "event"));
    assert!(!allowed(Layer::Core, path_layer("event", "pull"), "event"));
    assert!(allowed(Layer::Runtime, path_layer("park", "Parker"), "park"));
    assert!(!allowed(Layer::Runtime, path_layer("kernel", "Core"), "kernel"));
    // The job module's own files are the runtime's, and their `super::` paths
    // reach the job module itself, not the crate's root.
    let job = crate_paths("job/run.rs", "use super::mailbox::Sink;\nuse crate::task::Tasks;\n");
    assert_eq!(job, [path(1, "job", "mailbox", false), path(2, "task", "Tasks", false)]);
    let from = file_layer("job/run.rs").unwrap();
    assert!(allowed(from, path_layer("job", "mailbox"), "job"));
    assert!(!allowed(from, path_layer("task", "Tasks"), "task"));
}
