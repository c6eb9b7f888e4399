//! The crate's layering (docs/internals.md), checked on its own source: every
//! file's `crate::` paths outside comments and unit tests are read, each file
//! and each path is given its layer, and a path that reaches a layer its file
//! may not use fails the test, naming the file, the line and the rule.
//!
//! Layers, bottom up: leaves (plain data, the clock, stacks, the overflow
//! trap) use only leaves; the kernel core (task table, the one thread-local,
//! park/wake, rounds, signal delivery, remote wake-ups, introspection) uses
//! leaves and itself; façades (`thread`, `event`, `os`, the host's `Kernel`)
//! use anything below them; layers on the runtime (`job`) use public items
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
        "id.rs" | "error.rs" | "time.rs" | "stack.rs" | "overflow.rs" | "overflow/hijack.rs"
        | "event/signal.rs" | "event/filter.rs" | "event/pattern.rs" | "event/name.rs"
        | "testing.rs" => Layer::Leaf,
        "kernel/mod.rs" | "kernel/current.rs" | "kernel/remote.rs" | "park.rs" | "round.rs"
        | "inspect.rs" | "process.rs" | "event/listen.rs" | "event/waiters.rs" => Layer::Core,
        "thread.rs" | "event/mod.rs" | "os.rs" | "host.rs" => Layer::Facade,
        "job.rs" => Layer::Runtime,
        other => panic!("src/{other} has no layer: give it one in tests/architecture.rs"),
    })
}

/// Items of `crate::event` that are leaves (the plain data it re-exports).
const EVENT_LEAVES: &[&str] =
    &["Signal", "Value", "Filter", "MAX_PATTERN_LEN", "MAX_PATTERN_STEPS", "signal", "filter"];

/// The layer a `crate::` path reaches: `module` is its first segment, `item`
/// the next one (for `crate::event::X`).
fn path_layer(module: &str, item: &str) -> Layer {
    match module {
        "id" | "error" | "time" | "stack" | "overflow" | "testing" => Layer::Leaf,
        "kernel" | "park" | "round" | "inspect" | "process" => Layer::Core,
        "event" if EVENT_LEAVES.contains(&item) || item == "pattern" || item == "name" => {
            Layer::Leaf
        }
        "event" if item == "listen" || item == "waiters" => Layer::Core,
        "thread" | "event" | "os" | "host" => Layer::Facade,
        "job" => Layer::Runtime,
        // `crate::Kernel`, `crate::Error`, ...: the crate's public face.
        _ => Layer::Facade,
    }
}

/// Uses that break a rule today, each with the reason it is still there: the
/// test fails if one disappears (strike it) or a new one appears. Empty: a
/// new exception needs a reason written here, and a plan to remove it.
const KNOWN: &[(&str, &str, &str)] = &[];

/// The `crate::` paths of one file's code: `(line, module, item)`.
fn crate_paths(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(")
            && trimmed.contains("test")
            && !trimmed.contains("not(test")
        {
            // Unit tests may reach anything; they come last in every file.
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let module: String =
                after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let tail = after[module.len()..].strip_prefix("::").unwrap_or("");
            let ident = |s: &str| -> String {
                s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
            };
            // `crate::event::{Filter, Signal}`: each item of the group (on
            // this line) is a path of its own.
            let items: Vec<String> = match tail.strip_prefix('{') {
                Some(group) => {
                    group.split('}').next().unwrap_or("").split(',').map(ident).collect()
                }
                None => vec![ident(tail)],
            };
            if !module.is_empty() {
                for item in items {
                    out.push((n + 1, module.clone(), item));
                }
            }
            rest = after;
        }
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
        for (line, module, item) in crate_paths(&text) {
            let to = path_layer(&module, &item);
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
fn the_reader_sees_paths_in_code_and_not_in_comments_or_tests() {
    let text = "use crate::kernel::Core; // crate::job\n/// [`x`](crate::thread::X)\n\
                fn f() { crate::event::listen::f() }\nuse crate::event::{Filter, pull};\n\
                #[cfg(all(test, unix))]\nuse crate::os;\n";
    let paths = crate_paths(text);
    let path = |line, module: &str, item: &str| (line, module.to_string(), item.to_string());
    assert_eq!(
        paths,
        [
            path(1, "kernel", "Core"),
            path(3, "event", "listen"),
            path(4, "event", "Filter"),
            path(4, "event", "pull")
        ]
    );
    assert!(!allowed(Layer::Leaf, path_layer("kernel", "Core"), "kernel"));
    assert!(allowed(Layer::Core, path_layer("event", "listen"), "event"));
    assert!(!allowed(Layer::Core, path_layer("event", "pull"), "event"));
    assert!(allowed(Layer::Runtime, path_layer("park", "Parker"), "park"));
    assert!(!allowed(Layer::Runtime, path_layer("kernel", "Core"), "kernel"));
}
