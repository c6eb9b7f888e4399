//! The `tracing` feature: each green thread runs inside a span of its own
//! (name, id), and the kernel's events are `tracing` events, seen here by a
//! subscriber written for the test.
#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cothread::{event, os, thread, Kernel, Signal};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// What the subscriber saw, as lines: `new <span fields>`, `enter <id>`,
/// `exit <id>`, `event <message> in <innermost entered span's id field>`.
#[derive(Default)]
struct Seen {
    lines: Mutex<Vec<String>>,
    /// Each span's `id` field, by the subscriber's span id.
    threads: Mutex<Vec<(u64, u64)>>,
    /// The spans entered, innermost last (one OS thread here).
    entered: Mutex<Vec<u64>>,
    /// The spans closed (their last handle dropped).
    closed: Mutex<Vec<u64>>,
    next: AtomicU64,
}

struct Fields(String, Option<u64>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "id" {
            self.1 = Some(value);
        }
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

struct Probe(Arc<Seen>);

impl Subscriber for Probe {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "cothread"
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields(String::new(), None);
        span.record(&mut fields);
        self.0.lines.lock().unwrap().push(format!("new {}{}", span.metadata().name(), fields.0));
        self.0.threads.lock().unwrap().push((id, fields.1.unwrap_or(0)));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new(), None);
        event.record(&mut fields);
        let inside = self.0.entered.lock().unwrap().last().copied();
        let thread = inside.and_then(|span| {
            self.0.threads.lock().unwrap().iter().find(|(s, _)| *s == span).map(|(_, t)| *t)
        });
        let inside = thread.map_or("none".to_string(), |t| format!("#{t}"));
        self.0.lines.lock().unwrap().push(format!("event{} in {inside}", fields.0));
    }
    fn enter(&self, span: &Id) {
        self.0.entered.lock().unwrap().push(span.into_u64());
    }
    fn try_close(&self, span: Id) -> bool {
        self.0.closed.lock().unwrap().push(span.into_u64());
        true
    }
    fn exit(&self, span: &Id) {
        let mut entered = self.0.entered.lock().unwrap();
        let at = entered.iter().rposition(|&s| s == span.into_u64()).expect("entered");
        entered.remove(at);
    }
}

#[test]
fn each_green_thread_runs_in_its_span_and_the_kernels_events_are_tracing_events() {
    let seen = Arc::new(Seen::default());
    let _default = tracing::subscriber::set_default(Probe(seen.clone()));
    let mut kernel = Kernel::builder().virtual_time(true).build();
    kernel.on_error(|_| {});
    kernel
        .run(|| {
            let t = thread::Builder::new()
                .name("npc42")
                .spawn(|| {
                    event::pull(None, "go");
                    tracing::info!(target: "cothread", "inside npc42");
                    panic!("boom")
                })
                .unwrap();
            event::push(Signal::new("go"));
            os::sleep(std::time::Duration::ZERO);
            tracing::info!(target: "cothread", "inside the program");
            let _ = t.join(None);
        })
        .unwrap();
    let lines = seen.lines.lock().unwrap();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("new green_thread id=1 program=true"), "{lines:#?}");
    assert!(has("new green_thread id=2 name=npc42 program=false"), "{lines:#?}");
    assert!(has("message=inside npc42 in #2"), "{lines:#?}");
    assert!(has("message=inside the program in #1"), "{lines:#?}");
    assert!(has("message=spawn thread=2 name=npc42 parent=1 in #1"), "{lines:#?}");
    assert!(has("message=deliver signal=go receivers=1"), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("[thread npc42 spawned at tests/tracing.rs:")
            && l.contains("origin=thread")),
        "the error report: {lines:#?}"
    );
    assert!(seen.entered.lock().unwrap().is_empty(), "every span exited");
    let threads = seen.threads.lock().unwrap().clone();
    let span_of = |thread: u64| threads.iter().find(|&&(_, t)| t == thread).unwrap().0;
    let closed = seen.closed.lock().unwrap().clone();
    assert!(closed.contains(&span_of(2)), "the span of a thread that ended is closed: {closed:?}");
    drop(kernel);
    let closed = seen.closed.lock().unwrap().clone();
    assert!(closed.contains(&span_of(1)), "the program's span too: {closed:?}");
}
