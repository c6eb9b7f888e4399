//! `Signal` and `Value`: what `event::push` queues and `event::pull` returns.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// One argument of a [`Signal`]: the values a Lua signal can carry, plus an
/// opaque shared payload for host types.
///
/// Numbers compare as Lua compares them: `Int(2) == Float(2.0)`. A `Shared`
/// payload equals only itself (the same allocation).
///
/// # Examples
///
/// ```
/// use cothread::Value;
///
/// assert_eq!(Value::from(42), Value::Int(42));
/// assert_eq!(Value::from("a"), Value::Str("a".into()));
/// assert_eq!(Value::Int(2), Value::Float(2.0));
/// assert_eq!(Value::from(Some(true)), Value::Bool(true));
/// assert_eq!(Value::from(None::<i64>), Value::Nil);
/// ```
#[derive(Clone, Default)]
pub enum Value {
    /// Lua's `nil`.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// A byte string (Lua strings that are not text).
    Bytes(Arc<[u8]>),
    /// A host value shared by reference; see [`Value::shared`] and [`Value::downcast_ref`].
    Shared(Arc<dyn Any + Send + Sync>),
}

impl Value {
    /// Wraps a host value as an opaque shared payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Value;
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Item { id: u32 }
    /// let v = Value::shared(Item { id: 7 });
    /// assert_eq!(v.downcast_ref::<Item>(), Some(&Item { id: 7 }));
    /// ```
    pub fn shared<T: Any + Send + Sync>(value: T) -> Value {
        Value::Shared(Arc::new(value))
    }

    /// The shared payload as a `T`, if this is a `Shared` value of that type.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Value;
    ///
    /// assert_eq!(Value::shared(5u8).downcast_ref::<u8>(), Some(&5));
    /// assert_eq!(Value::Int(5).downcast_ref::<u8>(), None);
    /// ```
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Value::Shared(any) => (**any).downcast_ref(),
            _ => None,
        }
    }

    /// The value as an integer, if it is an `Int` (or a `Float` with no fraction).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Value;
    ///
    /// assert_eq!(Value::Int(3).as_int(), Some(3));
    /// assert_eq!(Value::Float(3.0).as_int(), Some(3));
    /// assert_eq!(Value::Float(3.5).as_int(), None);
    /// ```
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Float(f) => float_to_int(f),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Value;
    ///
    /// assert_eq!(Value::Int(3).as_float(), Some(3.0));
    /// assert_eq!(Value::Str("3".into()).as_float(), None);
    /// ```
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The value as a string slice, if it is a `Str`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Value;
    ///
    /// assert_eq!(Value::from("hi").as_str(), Some("hi"));
    /// assert_eq!(Value::Nil.as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean, if it is a `Bool`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::Value;
    ///
    /// assert_eq!(Value::from(true).as_bool(), Some(true));
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is `Nil`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cothread::Value::Nil.is_nil());
    /// ```
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Nil, Nil) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a == b,
            (Int(i), Float(f)) | (Float(f), Int(i)) => float_to_int(*f) == Some(*i),
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Shared(a), Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Values print as Lua's `print` shows them (`nil`, `true`, `42`, `0.5`, text).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => fmt_float(*x, f),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Value::Shared(_) => f.write_str("userdata"),
        }
    }
}

/// Floats as Lua 5.3 prints them: C's `%.14g` (`0.1 + 0.2` is `0.3`, `1e15` is
/// `1e+15`), then `.0` added when that looks like an integer (`2.0`, unlike the
/// integer `2`); infinities and NaN by name.
fn fmt_float(x: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if x.is_nan() {
        return f.write_str(if x.is_sign_negative() { "-nan" } else { "nan" });
    }
    if x.is_infinite() {
        return f.write_str(if x < 0.0 { "-inf" } else { "inf" });
    }
    const DIGITS: i32 = 14;
    // The exponent %g decides by is that of the value rounded to DIGITS digits.
    let scientific = format!("{:.*e}", (DIGITS - 1) as usize, x);
    let (mantissa, exponent) = scientific.split_once('e').expect("`e` formatting has an `e`");
    let exponent: i32 = exponent.parse().expect("`e` formatting has an integer exponent");
    let text = if !(-4..DIGITS).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), exponent.abs())
    } else {
        let decimals = (DIGITS - 1 - exponent) as usize;
        trim_fraction(&format!("{x:.decimals$}")).to_string()
    };
    f.write_str(&text)?;
    if text.bytes().all(|b| b == b'-' || b.is_ascii_digit()) {
        f.write_str(".0")?;
    }
    Ok(())
}

/// Drops trailing zeros after a decimal point, and the point if nothing is left.
fn trim_fraction(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// `f` as an integer if it is one exactly (Lua's `math.tointeger`).
fn float_to_int(f: f64) -> Option<i64> {
    // 2^63 is exact as a float; every integral float in [-2^63, 2^63) fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("Nil"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Float(x) => write!(f, "Float({x:?})"),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Bytes(b) => write!(f, "Bytes({b:?})"),
            Value::Shared(_) => f.write_str("Shared(..)"),
        }
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                Value::$variant((v $(as $cast)?).into())
            }
        }
    )*};
}

value_from! {
    bool => Bool,
    i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int,
    u8 => Int as i64, u16 => Int as i64, u32 => Int as i64,
    f32 => Float as f64, f64 => Float,
    &str => Str, String => Str, Arc<str> => Str,
    &[u8] => Bytes, Vec<u8> => Bytes,
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

/// An integer beyond `i64::MAX` becomes a float, as in Lua 5.3.
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
    }
}

/// An integer beyond `i64::MAX` becomes a float, as in Lua 5.3.
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Nil
    }
}

/// A named event with arguments, like the tuple `computer.pushSignal` takes.
///
/// A `Signal` is cheap to clone (one reference count) and `Send`: the kernel hands
/// the same allocation to every thread that receives it.
///
/// # Examples
///
/// ```
/// use cothread::{Signal, Value};
///
/// let s = Signal::new("key_down").with(42).with("a");
/// assert_eq!(s.name(), "key_down");
/// assert_eq!(s.args(), &[Value::Int(42), Value::from("a")]);
/// assert_eq!(s.arg(0), &Value::Int(42));
/// assert_eq!(s.arg(9), &Value::Nil);
/// assert_eq!(s.to_string(), "key_down 42 a");
/// ```
#[derive(Clone, PartialEq)]
pub struct Signal {
    inner: Arc<SignalInner>,
}

#[derive(Clone, PartialEq)]
struct SignalInner {
    name: Arc<str>,
    args: Vec<Value>,
}

static NIL: Value = Value::Nil;

impl Signal {
    /// A signal with this name and no arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cothread::Signal::new("touch").args().is_empty());
    /// ```
    pub fn new(name: impl Into<Arc<str>>) -> Signal {
        Signal { inner: Arc::new(SignalInner { name: name.into(), args: Vec::new() }) }
    }

    /// Appends an argument.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = cothread::Signal::new("modem_message").with("addr").with(80).with(1.5);
    /// assert_eq!(s.args().len(), 3);
    /// ```
    pub fn with(mut self, arg: impl Into<Value>) -> Signal {
        Arc::make_mut(&mut self.inner).args.push(arg.into());
        self
    }

    /// The signal's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cothread::Signal::new("touch").name(), "touch");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The signal's arguments, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(cothread::Signal::new("x").with(1).args().len(), 1);
    /// ```
    pub fn args(&self) -> &[Value] {
        &self.inner.args
    }

    /// The argument at `index`, or `Nil` past the end (as Lua's varargs give).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Signal, Value};
    /// assert_eq!(Signal::new("x").with(1).arg(1), &Value::Nil);
    /// ```
    pub fn arg(&self, index: usize) -> &Value {
        self.inner.args.get(index).unwrap_or(&NIL)
    }
}

/// Prints the name and the arguments separated by spaces, like Lua's
/// `print(event.pull())` would (with spaces where Lua puts tabs).
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        for arg in self.args() {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("name", &self.name()).field("args", &self.args()).finish()
    }
}

impl From<&str> for Signal {
    fn from(name: &str) -> Signal {
        Signal::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_and_value_are_send() {
        fn send<T: Send + Sync>() {}
        send::<Signal>();
        send::<Value>();
    }

    #[test]
    fn clones_share_one_allocation_until_changed() {
        let a = Signal::new("x").with(1);
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        let c = b.with(2);
        assert_eq!(a.args().len(), 1);
        assert_eq!(c.args().len(), 2);
    }

    #[test]
    fn numbers_compare_like_lua() {
        assert_eq!(Value::Int(1), Value::Float(1.0));
        assert_ne!(Value::Int(1), Value::Float(1.5));
        assert_ne!(Value::Int(1), Value::from("1"));
        let shared = Value::shared(3u32);
        assert_eq!(shared.clone(), shared);
        assert_ne!(shared, Value::shared(3u32));
    }
}
