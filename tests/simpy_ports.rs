//! The ports of SimPy's documented examples print exactly what SimPy prints
//! for the same fixed inputs. The expected lines were recorded by running the
//! scripts in `examples/simpy/` with SimPy 4.1.2 (CI has no SimPy: the lines
//! are kept here).

#[allow(dead_code)]
#[path = "../examples/bank_renege.rs"]
mod bank_renege;

#[test]
fn bank_renege_prints_what_simpy_prints() {
    assert_eq!(
        bank_renege::run(),
        [
            "Bank renege",
            " 0.0000 Customer00: Here I am",
            " 0.0000 Customer00: Waited  0.000",
            " 3.8600 Customer00: Finished",
            "10.2010 Customer01: Here I am",
            "10.2010 Customer01: Waited  0.000",
            "12.7270 Customer02: Here I am",
            "13.6010 Customer03: Here I am",
            "14.3140 Customer01: Finished",
            "14.3140 Customer02: Waited  1.587",
            "14.7740 Customer03: RENEGED after  1.173",
            "23.7560 Customer02: Finished",
            "35.8740 Customer04: Here I am",
            "35.8740 Customer04: Waited  0.000",
            "38.5340 Customer04: Finished",
            "41.3550 Customer05: Here I am",
            "41.3550 Customer05: Waited  0.000",
            "42.6620 Customer06: Here I am",
            "44.0710 Customer06: RENEGED after  1.409",
            "44.1420 Customer05: Finished",
        ]
    );
}
