//! `Signal` and `Value`: what a signal carries, how its values convert,
//! compare (as Lua 5.3 numbers do) and print (as Lua's `print` shows them).
//! docs/signals.md, and the rustdoc of `Value` and `Signal`. How signals are
//! delivered is in tests/events.rs.

use std::sync::Arc;

use cothread::{Signal, Value};

#[test]
fn a_signal_is_a_name_and_its_arguments() {
    let s = Signal::new("modem_message").with("addr").with(80).with(1.5);
    assert_eq!(s.name(), "modem_message");
    assert_eq!(s.args(), &[Value::from("addr"), Value::Int(80), Value::Float(1.5)]);
    assert_eq!(s.arg(0).as_str(), Some("addr"));
    assert_eq!(s.arg(1).as_int(), Some(80));
    assert_eq!(s.arg(7), &Value::Nil); // past the end: nil, as Lua's varargs
    assert!(Signal::new("touch").args().is_empty());
    assert_eq!(Signal::from("touch"), Signal::new("touch"));
    assert_ne!(Signal::new("n").with(1), Signal::new("n").with(2));
    assert_eq!(Signal::new("n").with(1), Signal::new("n").with(1.0)); // Lua numbers
}

/// A clone is the same signal; `with` on a clone leaves the original alone.
#[test]
fn a_cloned_signal_is_unchanged_by_with_on_the_clone() {
    let a = Signal::new("x").with(1);
    let b = a.clone().with(2);
    assert_eq!(a.to_string(), "x 1");
    assert_eq!(b.to_string(), "x 1 2");
}

#[test]
fn signal_and_value_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Signal>();
    send_sync::<Value>();
}

/// A signal prints as its name and arguments separated by spaces, each value
/// as Lua's `print` shows it.
#[test]
fn a_signal_displays_as_its_name_and_arguments() {
    assert_eq!(Signal::new("touch").to_string(), "touch");
    assert_eq!(Signal::new("key_down").with(42).with("a").to_string(), "key_down 42 a");
    let s = Signal::new("all")
        .with(())
        .with(true)
        .with(false)
        .with(-3)
        .with(2.0)
        .with(0.5)
        .with("text")
        .with(&b"bytes"[..])
        .with(Value::shared(7u8));
    assert_eq!(s.to_string(), "all nil true false -3 2.0 0.5 text bytes userdata");
}

/// An integral float keeps its `.0` (Lua 5.3 `print(2.0)` is `2.0`, `print(2)`
/// is `2`); infinities print by name.
#[test]
fn values_display_as_lua_prints_them() {
    assert_eq!(Value::Nil.to_string(), "nil");
    assert_eq!(Value::Int(2).to_string(), "2");
    assert_eq!(Value::Float(2.0).to_string(), "2.0");
    assert_eq!(Value::Float(-0.5).to_string(), "-0.5");
    assert_eq!(Value::Float(100.0).to_string(), "100.0");
    assert_eq!(Value::Float(f64::INFINITY).to_string(), "inf");
    assert_eq!(Value::Float(f64::NEG_INFINITY).to_string(), "-inf");
    assert_eq!(Value::from("é").to_string(), "é");
}

/// Lua 5.3 prints a float with `"%.14g"` (adding `.0` when that looks like an
/// integer): 14 significant digits, and an exponent from 1e14 up. The rustdoc
/// of `Value`'s `Display` promises "Floats as Lua 5.3 prints them".
#[test]
fn floats_display_with_lua_53s_fourteen_significant_digits() {
    let cases = [
        (0.1 + 0.2, "0.3"),
        (1.0 / 3.0, "0.33333333333333"),
        (1e13, "10000000000000.0"),
        (1e15, "1e+15"),
        (2f64.powi(53), "9.007199254741e+15"),
        (1e100, "1e+100"),
        (1e-5, "1e-05"),
    ];
    for (x, lua) in cases {
        assert_eq!(Value::Float(x).to_string(), lua, "{x:?}");
    }
}

/// Every documented `From` conversion, and the accessors.
#[test]
fn values_convert_from_rust_types() {
    assert_eq!(Value::from(true), Value::Bool(true));
    assert!(matches!(Value::from(-8i8), Value::Int(-8)));
    assert!(matches!(Value::from(-16i16), Value::Int(-16)));
    assert!(matches!(Value::from(-32i32), Value::Int(-32)));
    assert!(matches!(Value::from(-64i64), Value::Int(-64)));
    assert!(matches!(Value::from(8u8), Value::Int(8)));
    assert!(matches!(Value::from(16u16), Value::Int(16)));
    assert!(matches!(Value::from(32u32), Value::Int(32)));
    assert!(matches!(Value::from(64u64), Value::Int(64)));
    assert!(matches!(Value::from(7usize), Value::Int(7)));
    // Beyond i64::MAX an integer becomes a float, as in Lua 5.3.
    assert!(matches!(Value::from(u64::MAX), Value::Float(f) if f == u64::MAX as f64));
    assert!(matches!(Value::from(0.5f32), Value::Float(f) if f == 0.5));
    assert!(matches!(Value::from(0.25f64), Value::Float(f) if f == 0.25));
    assert_eq!(Value::from("a"), Value::Str("a".into()));
    assert_eq!(Value::from(String::from("b")), Value::Str("b".into()));
    assert_eq!(Value::from(Arc::<str>::from("c")), Value::Str("c".into()));
    assert_eq!(Value::from(&b"\xff\x00"[..]), Value::Bytes(Arc::from(&b"\xff\x00"[..])));
    assert_eq!(Value::from(vec![1u8, 2]), Value::Bytes(Arc::from(&[1u8, 2][..])));
    assert_eq!(Value::from(Some(3)), Value::Int(3));
    assert_eq!(Value::from(None::<i64>), Value::Nil);
    assert_eq!(Value::from(()), Value::Nil);
    assert_eq!(Value::default(), Value::Nil);

    assert_eq!(Value::Int(3).as_int(), Some(3));
    assert_eq!(Value::Float(3.0).as_int(), Some(3));
    assert_eq!(Value::Float(3.5).as_int(), None);
    assert_eq!(Value::from("3").as_int(), None);
    assert_eq!(Value::Int(3).as_float(), Some(3.0));
    assert_eq!(Value::Float(0.5).as_float(), Some(0.5));
    assert_eq!(Value::from("3").as_float(), None);
    assert_eq!(Value::from("hi").as_str(), Some("hi"));
    assert_eq!(Value::from(&b"hi"[..]).as_str(), None);
    assert_eq!(Value::from(true).as_bool(), Some(true));
    assert_eq!(Value::Int(1).as_bool(), None);
    assert!(Value::Nil.is_nil());
    assert!(!Value::Bool(false).is_nil());
}

/// A shared host value reads back as its type and equals only itself.
#[test]
fn a_shared_value_downcasts_and_equals_only_itself() {
    #[derive(Debug, PartialEq)]
    struct Item {
        id: u32,
    }
    let v = Value::shared(Item { id: 7 });
    assert_eq!(v.downcast_ref::<Item>(), Some(&Item { id: 7 }));
    assert_eq!(v.downcast_ref::<u32>(), None);
    assert_eq!(Value::Int(7).downcast_ref::<Item>(), None);
    assert_eq!(v.clone(), v);
    assert_ne!(v, Value::shared(Item { id: 7 }));
    assert_eq!(format!("{v:?}"), "Shared(..)");
}

/// Lua 5.3 equality: numbers compare by value across integer and float; no
/// other pair of types is ever equal (`0 ~= false`, `1 ~= "1"`, `nil ~= false`).
#[test]
fn values_compare_as_lua_values() {
    assert_eq!(Value::Int(1), Value::Float(1.0));
    assert_eq!(Value::Float(1.0), Value::Int(1));
    assert_eq!(Value::Int(0), Value::Float(-0.0));
    assert_ne!(Value::Int(1), Value::Float(1.5));
    assert_ne!(Value::Float(1.5), Value::Int(1));
    assert_ne!(Value::Int(1), Value::from("1"));
    assert_ne!(Value::Int(0), Value::Bool(false));
    assert_ne!(Value::Nil, Value::Bool(false));
    assert_eq!(Value::Nil, Value::Nil);
    assert_ne!(Value::Float(f64::NAN), Value::Float(f64::NAN));
    assert_eq!(Value::from("a"), Value::from(String::from("a")));
    assert_ne!(Value::from("a"), Value::from("b"));
}

/// Lua 5.3 compares an integer with a float exactly (`luaV_equalobj`: the
/// float must convert to that very integer); it never rounds the integer to
/// a float first. `math.maxinteger == 2^63` and `2^53 + 1 == 2.0^53` are false.
#[test]
fn large_integers_and_floats_compare_exactly_as_in_lua() {
    let two_53 = 9_007_199_254_740_992_i64;
    assert_eq!(Value::Int(two_53), Value::Float(two_53 as f64));
    assert_ne!(Value::Int(two_53 + 1), Value::Float(two_53 as f64));
    assert_ne!(Value::Float(two_53 as f64), Value::Int(two_53 + 1));
    assert_ne!(Value::Int(i64::MAX), Value::Float(9_223_372_036_854_775_808.0));
    assert_eq!(Value::Int(i64::MIN), Value::Float(-9_223_372_036_854_775_808.0));
}

/// `as_int` of a float "with no fraction" must still be that number: a float
/// outside the `i64` range has no integer (Lua's `math.tointeger(1e19)` is nil),
/// it must not saturate to `i64::MAX`.
#[test]
fn as_int_refuses_floats_outside_the_integer_range() {
    assert_eq!(Value::Float(1e19).as_int(), None);
    assert_eq!(Value::Float(-1e19).as_int(), None);
    assert_eq!(Value::Float(9_223_372_036_854_775_808.0).as_int(), None);
    assert_eq!(Value::Float(-9_223_372_036_854_775_808.0).as_int(), Some(i64::MIN));
    assert_eq!(Value::Float(f64::INFINITY).as_int(), None);
    assert_eq!(Value::Float(f64::NAN).as_int(), None);
}
