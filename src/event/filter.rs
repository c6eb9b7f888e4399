//! `Filter`: which signals an `event::pull` accepts.

use std::fmt;
use std::rc::Rc;

use super::name::Name;
use super::pattern::{Pattern, MAX_PATTERN_LEN};
use super::signal::{Signal, Value};

/// Which signals a pull accepts: a name part, then optional argument tests.
///
/// - [`Filter::any()`] accepts every signal.
/// - A `&str` or [`Filter::name`] accepts signals with exactly that name
///   (OpenOS treats the name as a Lua pattern; cothread makes that explicit).
/// - [`Filter::names`] accepts any of several exact names (`event.pullMultiple`).
/// - [`Filter::pattern`] accepts names that an OpenOS (Lua) pattern finds a match in,
///   so `"key"` accepts `"key_down"` and `"^key_"` anchors at the start.
/// - [`Filter::new`] takes a predicate over the whole signal (`event.pullFiltered`).
///
/// [`Filter::arg`] adds "argument `i` must equal this value", as the extra
/// arguments of OpenOS's `event.pull(name, ...)` do.
///
/// The kernel indexes waiting threads by exact names, so a push costs in proportion
/// to the threads that wait for that name (plus those waiting with patterns,
/// predicates or [`Filter::any`]).
///
/// # Examples
///
/// ```
/// use cothread::{Filter, Signal};
///
/// let key = Signal::new("key_down").with(42);
/// assert!(Filter::any().matches(&key));
/// assert!(Filter::from("key_down").matches(&key));
/// assert!(!Filter::from("key").matches(&key));
/// assert!(Filter::pattern("key").matches(&key));
/// assert!(Filter::name("key_down").arg(0, 42).matches(&key));
/// assert!(!Filter::name("key_down").arg(0, 7).matches(&key));
/// assert!(Filter::names(&["touch", "key_down"]).matches(&key));
/// assert!(Filter::new(|s: &Signal| s.args().len() == 1).matches(&key));
/// ```
pub struct Filter {
    pub(crate) name: NameTest,
    /// `None` for a filter that tests no argument, as most do: a pull clones
    /// its filter into each wait, and an absent list is copied and dropped
    /// without a call into `Vec`.
    args: Option<Vec<(usize, Value)>>,
}

#[derive(Clone)]
pub(crate) enum NameTest {
    Any,
    Exact(Name),
    /// Distinct names.
    OneOf(Rc<[Name]>),
    Pattern(Pattern),
    Predicate(Rc<dyn Fn(&Signal) -> bool>),
}

impl Filter {
    /// Accepts every signal.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cothread::Filter::any().matches(&cothread::Signal::new("x")));
    /// ```
    pub fn any() -> Filter {
        Filter { name: NameTest::Any, args: None }
    }

    /// Accepts signals with exactly this name.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Filter, Signal};
    /// assert!(Filter::name("touch").matches(&Signal::new("touch")));
    /// assert!(!Filter::name("touch").matches(&Signal::new("touch2")));
    /// ```
    pub fn name(name: impl AsRef<str>) -> Filter {
        Filter { name: NameTest::Exact(Name::new(name.as_ref())), args: None }
    }

    /// Accepts signals whose name is one of `names` (OpenOS's `event.pullMultiple`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Filter, Signal};
    /// let f = Filter::names(&["touch", "drag"]);
    /// assert!(f.matches(&Signal::new("drag")));
    /// assert!(!f.matches(&Signal::new("drop")));
    /// ```
    pub fn names<S: AsRef<str>>(names: &[S]) -> Filter {
        // Each name once (the waiter index files a wait under each), in order.
        let mut seen = std::collections::HashSet::new();
        let names =
            names.iter().map(AsRef::as_ref).filter(|n| seen.insert(*n)).map(Name::new).collect();
        Filter { name: NameTest::OneOf(names), args: None }
    }

    /// Accepts signals whose name contains a match of the OpenOS (Lua) pattern
    /// `pattern` (a `&str` or a `String`), as `event.pull("key")` does in OpenOS.
    ///
    /// Testing one name costs at most [`MAX_PATTERN_STEPS`] steps, whatever the
    /// pattern and the name: a pattern whose matching would take more than
    /// `MAX_PATTERN_STEPS` steps is treated as not matching. Only heavy
    /// backtracking, long `[set]`s on long names, or a name of several kilobytes
    /// come near the bound.
    ///
    /// [`MAX_PATTERN_STEPS`]: crate::MAX_PATTERN_STEPS
    ///
    /// # Panics
    ///
    /// Panics if the pattern is malformed (for example `"[a"`) or longer than
    /// [`MAX_PATTERN_LEN`] bytes; use [`Filter::try_pattern`] for patterns that
    /// come from input.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Filter, Signal};
    /// assert!(Filter::pattern("key").matches(&Signal::new("key_up")));
    /// assert!(Filter::pattern("^key_%a+$").matches(&Signal::new("key_down")));
    /// assert!(!Filter::pattern("^down").matches(&Signal::new("key_down")));
    /// // Backtracking with no end in sight: given up on, so no match.
    /// let hopeless = format!("{}b", "a*".repeat(20));
    /// assert!(!Filter::pattern(hopeless).matches(&Signal::new("a".repeat(200).as_str())));
    /// ```
    pub fn pattern(pattern: impl AsRef<str>) -> Filter {
        let pattern = pattern.as_ref();
        match Filter::try_pattern(pattern) {
            Ok(filter) => filter,
            Err(msg) => panic!("cothread: bad pattern {pattern:?} for Filter::pattern: {msg}"),
        }
    }

    /// Like [`Filter::pattern`], but a malformed pattern is an `Err` with Lua's
    /// message, and a pattern longer than [`MAX_PATTERN_LEN`] bytes an `Err` too.
    ///
    /// As with [`Filter::pattern`], a pattern whose matching would take more than
    /// [`MAX_PATTERN_STEPS`] steps is treated as not matching, so a pattern that
    /// comes from an untrusted script costs every push a bounded time at most.
    ///
    /// [`MAX_PATTERN_STEPS`]: crate::MAX_PATTERN_STEPS
    ///
    /// # Errors
    ///
    /// The reason the pattern is malformed, for example
    /// `"malformed pattern (missing ']')"`, or
    /// `"pattern too long (300 bytes; the limit is 256)"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Filter, MAX_PATTERN_LEN};
    /// assert!(Filter::try_pattern("[a").is_err());
    /// assert!(Filter::try_pattern("[a]").is_ok());
    /// assert_eq!(
    ///     Filter::try_pattern(&"%w".repeat(150)).err().as_deref(),
    ///     Some("pattern too long (300 bytes; the limit is 256)")
    /// );
    /// assert!(Filter::try_pattern(&"%w".repeat(MAX_PATTERN_LEN / 2)).is_ok());
    /// ```
    pub fn try_pattern(pattern: impl AsRef<str>) -> Result<Filter, String> {
        let pattern = pattern.as_ref();
        // First, so that an oversized pattern is refused for its size whatever
        // else is wrong with it, and is never parsed.
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "pattern too long ({} bytes; the limit is {MAX_PATTERN_LEN})",
                pattern.len()
            ));
        }
        Ok(Filter { name: NameTest::Pattern(Pattern::new(pattern)?), args: None })
    }

    /// Accepts the signals for which `predicate` returns true (OpenOS's
    /// `event.pullFiltered`). The predicate runs on the kernel's stack when a
    /// signal is delivered; it must not block. A predicate that panics counts as
    /// "no match" and is reported through [`event::on_error`](crate::event::on_error).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Filter, Signal};
    /// let f = Filter::new(|s: &Signal| s.arg(0).as_int() > Some(10));
    /// assert!(f.matches(&Signal::new("x").with(11)));
    /// assert!(!f.matches(&Signal::new("x").with(9)));
    /// ```
    pub fn new(predicate: impl Fn(&Signal) -> bool + 'static) -> Filter {
        Filter { name: NameTest::Predicate(Rc::new(predicate)), args: None }
    }

    /// Also requires argument `index` to equal `value` (numbers compare as Lua does).
    ///
    /// # Examples
    ///
    /// ```
    /// use cothread::{Filter, Signal};
    /// let f = Filter::name("modem_message").arg(1, 80);
    /// assert!(f.matches(&Signal::new("modem_message").with("addr").with(80)));
    /// assert!(!f.matches(&Signal::new("modem_message").with("addr").with(81)));
    /// ```
    pub fn arg(mut self, index: usize, value: impl Into<Value>) -> Filter {
        self.args.get_or_insert_with(Vec::new).push((index, value.into()));
        self
    }

    /// Whether `signal` passes this filter.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(cothread::Filter::from("a").matches(&"a".into()));
    /// ```
    pub fn matches(&self, signal: &Signal) -> bool {
        let name_ok = match &self.name {
            NameTest::Any => true,
            NameTest::Exact(name) => name.is(signal.name()),
            NameTest::OneOf(names) => names.iter().any(|n| n.is(signal.name())),
            NameTest::Pattern(pattern) => pattern.is_match(signal.name()),
            NameTest::Predicate(predicate) => predicate(signal),
        };
        name_ok && self.args_match(signal)
    }

    /// [`matches`](Filter::matches) for a signal found under a name this
    /// filter's name test is made of (the waiter index files an exact name
    /// or a list of names under each): only the arguments are left to test.
    #[inline]
    pub(crate) fn matches_filed(&self, signal: &Signal) -> bool {
        match &self.name {
            NameTest::Exact(_) | NameTest::OneOf(_) => self.args_match(signal),
            _ => self.matches(signal),
        }
    }

    #[inline]
    fn args_match(&self, signal: &Signal) -> bool {
        match &self.args {
            None => true,
            Some(args) => args.iter().all(|(i, v)| signal.arg(*i) == v),
        }
    }

    /// Whether matching runs user code (a predicate), which the kernel must call
    /// without holding its own state borrowed.
    pub(crate) fn runs_user_code(&self) -> bool {
        matches!(self.name, NameTest::Predicate(_))
    }

    /// Whether the waiter index files a wait with this filter under several
    /// names.
    pub(crate) fn is_filed_under_several_names(&self) -> bool {
        matches!(&self.name, NameTest::OneOf(names) if names.len() > 1)
    }

    /// Whether the filter owns nothing to let go of (no argument list, and
    /// no name on the heap or predicate): an exact short name, as most
    /// pulls give, or any name. Dropping it may then be skipped.
    #[inline]
    pub(crate) fn holds_nothing(&self) -> bool {
        self.args.is_none()
            && matches!(&self.name, NameTest::Any | NameTest::Exact(Name::Inline { .. }))
    }

    /// Drops the filter, with a test instead of the drop glue when it
    /// [holds nothing](Filter::holds_nothing).
    #[inline]
    pub(crate) fn drop_cheaply(self) {
        if self.holds_nothing() {
            std::mem::forget(self);
        } else {
            drop(self);
        }
    }
}

impl Clone for Filter {
    /// A pull clones its filter into each wait: an exact short name without
    /// argument tests, as most are, is a copy.
    #[inline]
    fn clone(&self) -> Filter {
        match (&self.name, &self.args) {
            (NameTest::Exact(name @ Name::Inline { .. }), None) => {
                Filter { name: NameTest::Exact(name.clone()), args: None }
            }
            _ => self.clone_whole(),
        }
    }
}

impl Filter {
    fn clone_whole(&self) -> Filter {
        Filter { name: self.name.clone(), args: self.args.clone() }
    }
}

impl Default for Filter {
    fn default() -> Filter {
        Filter::any()
    }
}

impl From<&str> for Filter {
    fn from(name: &str) -> Filter {
        Filter::name(name)
    }
}

impl From<String> for Filter {
    fn from(name: String) -> Filter {
        Filter::name(name)
    }
}

impl From<&[&str]> for Filter {
    fn from(names: &[&str]) -> Filter {
        Filter::names(names)
    }
}

impl<const N: usize> From<&[&str; N]> for Filter {
    fn from(names: &[&str; N]) -> Filter {
        Filter::names(names)
    }
}

impl<F: Fn(&Signal) -> bool + 'static> From<F> for Filter {
    fn from(predicate: F) -> Filter {
        Filter::new(predicate)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Filter {
    /// A short human description, used in deadlock reports.
    pub(crate) fn describe(&self) -> String {
        let mut out = match &self.name {
            NameTest::Any => "any signal".to_string(),
            NameTest::Exact(name) => format!("{name:?}"),
            NameTest::OneOf(names) => format!("one of {names:?}"),
            NameTest::Pattern(p) => format!("pattern {:?}", p.source()),
            NameTest::Predicate(_) => "a predicate".to_string(),
        };
        for (i, v) in self.args.iter().flatten() {
            out.push_str(&format!(" with arg {i} = {v:?}"));
        }
        out
    }
}
