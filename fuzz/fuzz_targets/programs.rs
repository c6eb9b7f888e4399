//! Fuzzes the operation language of `benches/tests/model.rs`: each input is decoded
//! into a program (three bytes an operation, see `Program::decode`), run on the
//! runtime and on the reference model, and any disagreement, or any panic that
//! escapes the runtime, is a crash. Run it from the repository's root with
//! nightly, without AddressSanitizer (it misreads corosensei's stack switches;
//! docs/reliability.md, "Fuzzing"):
//!
//! ```sh
//! cargo +nightly fuzz run programs -s none -- -max_total_time=600
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../benches/tests/model/ops.rs"]
#[allow(dead_code)]
mod ops;
#[path = "../../benches/tests/model/reference.rs"]
mod reference;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts on every panic, also on the ones the
    // scripts raise on purpose (and the runtime catches): let those through.
    ops::quiet_script_panics();
    let program = ops::Program::decode(data);
    if let Err(diff) = ops::check(&program) {
        panic!("the runtime and the model disagree on\n{program:?}\n{diff}");
    }
});
