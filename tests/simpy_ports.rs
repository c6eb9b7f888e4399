//! The ports of SimPy's documented examples print exactly what SimPy prints
//! for the same fixed inputs. The expected lines were recorded by running the
//! scripts in `examples/simpy/` with SimPy 4.1.2 (CI has no SimPy: the lines
//! are kept here).

#[allow(dead_code)]
#[path = "../examples/bank_renege.rs"]
mod bank_renege;

#[allow(dead_code)]
#[path = "../examples/machine_shop.rs"]
mod machine_shop;

#[allow(dead_code)]
#[path = "../examples/gas_station_refuel.rs"]
mod gas_station_refuel;

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

#[test]
fn machine_shop_prints_what_simpy_prints() {
    assert_eq!(
        machine_shop::run(),
        [
            "Machine shop",
            "Machine shop results after 4 weeks",
            "Machine 0 made 3358 parts.",
            "Machine 1 made 3323 parts.",
            "Machine 2 made 3331 parts.",
            "Machine 3 made 3540 parts.",
            "Machine 4 made 3548 parts.",
            "Machine 5 made 3276 parts.",
            "Machine 6 made 3470 parts.",
            "Machine 7 made 3293 parts.",
            "Machine 8 made 3406 parts.",
            "Machine 9 made 3517 parts.",
        ]
    );
}

#[test]
fn gas_station_refuel_prints_what_simpy_prints() {
    assert_eq!(
        gas_station_refuel::run(),
        [
            "Gas Station refuelling",
            "  87.0 s: Car 0 arrived at gas station",
            " 103.5 s: Car 0 refueled with 33.0L",
            " 128.0 s: Car 1 arrived at gas station",
            " 150.0 s: Car 1 refueled with 44.0L",
            " 191.0 s: Car 2 arrived at gas station",
            " 210.5 s: Car 2 refueled with 39.0L",
            " 325.0 s: Car 3 arrived at gas station",
            " 338.5 s: Car 3 refueled with 27.0L",
            " 377.0 s: Car 4 arrived at gas station",
            " 380.0 s: Calling tank truck",
            " 398.0 s: Car 4 refueled with 42.0L",
            " 593.0 s: Car 5 arrived at gas station",
            " 631.0 s: Car 6 arrived at gas station",
            " 666.0 s: Car 7 arrived at gas station",
            " 680.0 s: Tank truck arrived and refuelled station with 185.0L",
            " 698.0 s: Car 5 refueled with 36.0L",
            " 702.5 s: Car 6 refueled with 45.0L",
            " 713.0 s: Car 7 refueled with 30.0L",
            " 837.0 s: Car 8 arrived at gas station",
            " 840.0 s: Calling tank truck",
            " 857.5 s: Car 8 refueled with 41.0L",
            " 932.0 s: Car 9 arrived at gas station",
            " 951.0 s: Car 9 refueled with 38.0L",
        ]
    );
}
