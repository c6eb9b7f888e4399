//! Lua 5.3 pattern finding (`string.find(s, p) ~= nil`), for `Filter::pattern`.
//!
//! This follows the backtracking of Lua's `lstrlib.c` on bytes, but keeps choice
//! points on the heap instead of recursing, so no pattern can overflow a small
//! green-thread stack. Unlike Lua, `Pattern::new` reports every malformation,
//! even where Lua's matcher would never look for a given subject; and where Lua
//! fails with "pattern too complex" past 200 nested calls, depth here is free but
//! each `Pattern::is_match` has a fixed budget of [`MAX_PATTERN_STEPS`] after
//! which it answers "no match". Every byte the matcher reads, of the subject or
//! of the pattern (a `[set]` is read byte by byte), is paid for from it, so the
//! budget bounds the time of one test whatever the lengths: a pattern waiter is
//! tested against every signal pushed, and one from an untrusted script must not
//! stall the host. Like OpenOS's filter (`name:match(pattern)`), and unlike
//! `string.find`, a pattern without special characters is not a plain search,
//! so ")" is an error.

/// The most steps one test of a signal name against a pattern may take: a
/// pattern whose matching would take more than `MAX_PATTERN_STEPS` steps is
/// treated as not matching.
///
/// A step is one item of the pattern tried at one place in the name, one
/// backtracking move, or one byte read on the way: each byte of the name
/// compared, and each byte of a `[set]` scanned, to find its end or to try its
/// members. The bound is fixed, whatever the lengths of the pattern and
/// of the name, so that no filter can make a push slow. Ordinary patterns come
/// nowhere near it: `"^key_%a+$"` on `"key_down"` takes 15 steps, and a search
/// that fails on a name of 256 bytes about 800. What reaches it is heavy
/// backtracking, a long `[set]` tried at every byte of a long name (a failing
/// search with a set of 40 members on a 256-byte name), or a name of several
/// kilobytes.
///
/// # Examples
///
/// ```
/// use cothread::{Filter, Signal, MAX_PATTERN_STEPS};
///
/// // Classic exponential backtracking: Lua would find this match after about
/// // 2^20 tries; cothread gives up at the bound and answers "no match".
/// let pattern = format!("^{}{}$", "a?".repeat(20), "a".repeat(20));
/// let name = Signal::new("a".repeat(20).as_str());
/// assert!(MAX_PATTERN_STEPS < 1 << 20);
/// assert!(!Filter::pattern(&pattern).matches(&name));
/// // The same shape with room to spare matches as in Lua.
/// let pattern = format!("^{}{}$", "a?".repeat(5), "a".repeat(5));
/// assert!(Filter::pattern(&pattern).matches(&Signal::new("aaaaa")));
/// ```
// Why 20 000: the costliest steps measured (a chain of `a*` backtracking, about
// 70 instructions a step, 1.3 million at the bound) keep a test at the bound
// between 0.1 and 0.25 ms on a busy two-core machine, while a failing search on
// a 256-byte name, the longest realistic one, uses 4% of it.
pub const MAX_PATTERN_STEPS: usize = 20_000;

/// The longest pattern, in bytes, that [`Filter::try_pattern`] and
/// [`Filter::pattern`] accept; a longer one is an error, as a malformed one is.
///
/// OpenOS patterns name signals and are a few dozen bytes at most. The cap
/// bounds what a pattern from an untrusted script can make the host hold and
/// parse; the time of each test it bounds already with [`MAX_PATTERN_STEPS`],
/// whatever the pattern's length.
///
/// [`Filter::try_pattern`]: crate::Filter::try_pattern
/// [`Filter::pattern`]: crate::Filter::pattern
///
/// # Examples
///
/// ```
/// use cothread::{Filter, MAX_PATTERN_LEN};
///
/// assert!(Filter::try_pattern(&"a".repeat(MAX_PATTERN_LEN)).is_ok());
/// let too_long = "a".repeat(MAX_PATTERN_LEN + 1);
/// assert_eq!(
///     Filter::try_pattern(&too_long).err().as_deref(),
///     Some("pattern too long (257 bytes; the limit is 256)")
/// );
/// ```
pub const MAX_PATTERN_LEN: usize = 256;

/// Lua's `LUA_MAXCAPTURES`.
const MAX_CAPTURES: usize = 32;

/// A compiled Lua pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The pattern text; it is interpreted directly, as Lua does, after `new`
    /// has checked it, so the matcher never meets a malformed item.
    source: String,
}

impl Pattern {
    /// Parses `source`; a malformed pattern is an `Err` with Lua's message.
    pub(crate) fn new(source: &str) -> Result<Pattern, String> {
        check(source.as_bytes())?;
        Ok(Pattern { source: source.to_owned() })
    }

    /// The source text given to `new`.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches anywhere in `subject`, honouring `^` and `$`;
    /// false also when finding out would take more than `MAX_PATTERN_STEPS`.
    pub(crate) fn is_match(&self, subject: &str) -> bool {
        self.find(subject).0
    }

    /// `is_match`, and the steps it took (never more than `MAX_PATTERN_STEPS`).
    fn find(&self, subject: &str) -> (bool, usize) {
        let (pat, src) = (self.source.as_bytes(), subject.as_bytes());
        let anchored = pat.first() == Some(&b'^');
        let mut m = Matcher { src, pat, budget: MAX_PATTERN_STEPS, ..Matcher::default() };
        let mut found = false;
        for start in 0..=src.len() {
            found = m.matches_at(start, usize::from(anchored));
            if found || anchored || m.budget == 0 {
                break;
            }
        }
        (found, MAX_PATTERN_STEPS - m.budget)
    }
}

/// Checks `pat` the way Lua's matcher would parse it, up front.
fn check(pat: &[u8]) -> Result<(), String> {
    let mut p = usize::from(pat.first() == Some(&b'^'));
    let mut open = Vec::new(); // indices of captures not closed yet, innermost last
    let mut closed: Vec<bool> = Vec::new(); // per capture, in opening order
    while p < pat.len() {
        match (pat[p], pat.get(p + 1)) {
            (b'(', _) if closed.len() == MAX_CAPTURES => return Err("too many captures".into()),
            (b'(', next) => {
                let position = next == Some(&b')');
                open.extend((!position).then_some(closed.len()));
                closed.push(position);
                p += 1 + usize::from(position);
            }
            (b')', _) => {
                let l = open.pop().ok_or("invalid pattern capture")?;
                closed[l] = true;
                p += 1;
            }
            (b'%', Some(b'b')) if p + 3 >= pat.len() => {
                return Err("malformed pattern (missing arguments to '%b')".into())
            }
            (b'%', Some(b'b')) => p += 4,
            (b'%', Some(b'f')) if pat.get(p + 2) != Some(&b'[') => {
                return Err("missing '[' after '%f' in pattern".into())
            }
            (b'%', Some(b'f')) => p = class_end(pat, p + 2)?,
            (b'%', Some(&d)) if d.is_ascii_digit() => {
                // Lua wants the capture closed when the matcher gets here, which
                // depends only on the pattern text.
                if d == b'0' || closed.get(usize::from(d - b'1')) != Some(&true) {
                    return Err(format!("invalid capture index %{}", char::from(d)));
                }
                p += 2;
            }
            _ => {
                let ep = class_end(pat, p)?;
                p = ep + usize::from(matches!(pat.get(ep), Some(b'?' | b'+' | b'*' | b'-')));
            }
        }
    }
    open.is_empty().then_some(()).ok_or_else(|| "unfinished capture".into())
}

/// Index just past the single-character class starting at `p` (Lua's `classEnd`).
fn class_end(pat: &[u8], mut p: usize) -> Result<usize, &'static str> {
    let c = pat[p];
    p += 1;
    if c == b'%' {
        return if p < pat.len() { Ok(p + 1) } else { Err("malformed pattern (ends with '%')") };
    }
    if c != b'[' {
        return Ok(p);
    }
    p += usize::from(pat.get(p) == Some(&b'^'));
    let missing = "malformed pattern (missing ']')";
    // The first member is taken literally even when it is ']', as in Lua.
    loop {
        let c = *pat.get(p).ok_or(missing)?;
        p += 1 + usize::from(c == b'%' && p + 1 < pat.len());
        if *pat.get(p).ok_or(missing)? == b']' {
            return Ok(p + 1);
        }
    }
}

/// Whether byte `c` is in class letter `cl` (`%a` etc.), with C-locale ASCII
/// semantics; an unknown letter stands for itself.
fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t'..=b'\r'), // C isspace includes '\v'
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        _ => return cl == c,
    };
    res != cl.is_ascii_uppercase()
}

/// Whether `c` is in the set `pat[p..=ec]`, where `p` is at '[' and `ec` at ']',
/// and how many bytes of the set that read (at most `ec + 1 - p`).
fn match_bracket(c: u8, pat: &[u8], p: usize, ec: usize) -> (bool, usize) {
    let negated = pat[p + 1] == b'^';
    let mut q = p + 1 + usize::from(negated);
    while q < ec {
        let (hit, width) = match (pat[q], pat[q + 1]) {
            (b'%', cl) => (match_class(c, cl), 2),
            (lo, b'-') if q + 2 < ec => ((lo..=pat[q + 2]).contains(&c), 3),
            (lit, _) => (lit == c, 1),
        };
        q += width;
        if hit {
            return (!negated, q - p);
        }
    }
    (negated, ec + 1 - p)
}

/// Whether `c` matches the single-character class `pat[p..ep]`, and how many
/// bytes of the class that read (at least 1, at most `ep - p`).
fn single_match(c: u8, pat: &[u8], p: usize, ep: usize) -> (bool, usize) {
    match pat[p] {
        b'.' => (true, 1),
        b'%' => (match_class(c, pat[p + 1]), 1),
        b'[' => match_bracket(c, pat, p, ep - 1),
        lit => (lit == c, 1),
    }
}

/// Length of a capture, as Lua's `capture[i].len`.
#[derive(Clone, Copy)]
enum CapLen {
    /// Opened, `)` not reached yet.
    Unfinished,
    /// A `()` position capture; back-references to it never match, as in Lua.
    Position,
    /// A closed capture of this many bytes.
    Len(usize),
}

/// The untried alternatives of one backtracking point, in Lua's order.
enum Choice {
    /// A greedy `*`/`+` item matched `count` times from `s`; fewer come next.
    Greedy { s: usize, count: usize, next: usize },
    /// A lazy `-` item at `p..ep` currently stops at `s`; one more comes next.
    Lazy { s: usize, p: usize, ep: usize },
    /// A `?` item matched at `s`; skipping it (resuming at `next`) comes next.
    Skip { s: usize, next: usize },
}

/// The state of matching one subject.
#[derive(Default)]
struct Matcher<'a> {
    /// The subject.
    src: &'a [u8],
    /// The checked pattern, including any leading `^`.
    pat: &'a [u8],
    /// Captures opened on the current path: start and length.
    caps: Vec<(usize, CapLen)>,
    /// Capture changes on the current path, newest last, to undo on backtracking:
    /// `None` opened one, `Some(l)` closed capture `l`.
    trail: Vec<Option<usize>>,
    /// Backtracking points on the current path, newest last, each with the
    /// `trail` length to restore.
    frames: Vec<(Choice, usize)>,
    /// Steps left; 0 means the guard tripped and every answer is "no match".
    budget: usize,
}

impl Matcher<'_> {
    /// Takes `n` steps from the budget; false (and an empty budget) if too few.
    fn spend(&mut self, n: usize) -> bool {
        let ok = self.budget >= n;
        self.budget = if ok { self.budget - n } else { 0 };
        ok
    }

    /// Whether subject byte `c` matches the class `pat[p..ep]`, paying for the
    /// bytes of the class read; `None` (and an empty budget) if the budget could
    /// not pay for reading all of it, so that no test overdraws it.
    fn test(&mut self, c: u8, p: usize, ep: usize) -> Option<bool> {
        if self.budget < ep - p {
            self.budget = 0;
            return None;
        }
        let (hit, read) = single_match(c, self.pat, p, ep);
        self.budget -= read;
        Some(hit)
    }

    /// Whether the pattern from index `p` matches a prefix of `src[start..]`.
    fn matches_at(&mut self, mut s: usize, mut p: usize) -> bool {
        self.caps.clear();
        self.trail.clear();
        self.frames.clear();
        while self.spend(1) {
            if p == self.pat.len() {
                return true;
            }
            let Some(next) = self.advance(s, p).or_else(|| self.backtrack()) else { break };
            (s, p) = next;
        }
        false
    }

    /// Matches the pattern item at `p` against `src[s..]`, recording any
    /// alternatives; the position after it, or `None` if it fails.
    fn advance(&mut self, s: usize, p: usize) -> Option<(usize, usize)> {
        let (src, pat) = (self.src, self.pat);
        match (pat[p], pat.get(p + 1).copied()) {
            (b'(', next) => {
                let position = next == Some(b')');
                self.caps.push((s, if position { CapLen::Position } else { CapLen::Unfinished }));
                self.trail.push(None);
                Some((s, p + 1 + usize::from(position)))
            }
            (b')', _) => {
                let l = (self.caps.iter().rposition(|c| matches!(c.1, CapLen::Unfinished)))
                    .expect("Pattern::new checked that every ')' closes a capture");
                self.caps[l].1 = CapLen::Len(s - self.caps[l].0);
                self.trail.push(Some(l));
                Some((s, p + 1))
            }
            (b'$', None) => (s == src.len()).then_some((s, p + 1)),
            (b'%', Some(b'b')) => self.balance(s, pat[p + 2], pat[p + 3]).map(|e| (e, p + 4)),
            (b'%', Some(b'f')) => {
                let ep = class_end(pat, p + 2).expect("Pattern::new checked the frontier set");
                // Finding the set's end and the two tests read it three times at most.
                self.spend(3 * (ep - p - 2)).then_some(())?;
                // Both ends of the subject count as '\0', as in Lua.
                let prev = if s == 0 { 0 } else { src[s - 1] };
                let cur = src.get(s).copied().unwrap_or(0);
                let frontier = !match_bracket(prev, pat, p + 2, ep - 1).0
                    && match_bracket(cur, pat, p + 2, ep - 1).0;
                frontier.then_some((s, ep))
            }
            (b'%', Some(d)) if d.is_ascii_digit() => {
                let (start, len) = self.caps[usize::from(d - b'1')];
                let CapLen::Len(n) = len else { return None };
                let end = s + n;
                let same =
                    end <= src.len() && self.spend(n) && src[start..start + n] == src[s..end];
                same.then_some((end, p + 2))
            }
            _ => self.single(s, p),
        }
    }

    /// A single-character class at `p` with its optional quantifier.
    fn single(&mut self, s: usize, p: usize) -> Option<(usize, usize)> {
        let (src, pat) = (self.src, self.pat);
        let ep = class_end(pat, p).expect("Pattern::new checked every item");
        // Finding a set's end reads all of it; the step that brought us here
        // paid for its first byte, and for the one or two of any other class.
        if pat[p] == b'[' && !self.spend(ep - p - 1) {
            return None;
        }
        let hit = s < src.len() && self.test(src[s], p, ep)?;
        match pat.get(ep) {
            Some(b'?') => {
                if hit {
                    self.push(Choice::Skip { s, next: ep + 1 });
                }
                Some((s + usize::from(hit), ep + 1))
            }
            Some(b'+') if !hit => None,
            Some(&q @ (b'*' | b'+')) => {
                // `hit` has tested the byte at `s` already; a miss there ends the run.
                let mut end = s + usize::from(hit);
                while hit && end < src.len() && self.test(src[end], p, ep)? {
                    end += 1;
                }
                let first = s + usize::from(q == b'+');
                let count = end - first;
                if count > 0 {
                    self.push(Choice::Greedy { s: first, count, next: ep + 1 });
                }
                Some((first + count, ep + 1))
            }
            Some(b'-') => {
                self.push(Choice::Lazy { s, p, ep });
                Some((s, ep + 1))
            }
            _ => hit.then_some((s + 1, ep)),
        }
    }

    /// End of a `%b` match of `open`..`close` starting at `s`, if any.
    fn balance(&mut self, s: usize, open: u8, close: u8) -> Option<usize> {
        if self.src.get(s) != Some(&open) {
            return None;
        }
        let mut depth = 1usize;
        // Read no further than the budget pays for; a scan cut short costs more
        // than is left below, so it fails.
        let end = self.src[s + 1..].iter().take(self.budget).position(|&c| {
            // `close` is tested first so that "%bxx" closes at the next 'x', as in Lua.
            if c == close {
                depth -= 1;
            } else if c == open {
                depth += 1;
            }
            depth == 0
        });
        self.spend(end.map_or(self.src.len() - s, |i| i + 1)).then_some(())?;
        end.map(|i| s + i + 2)
    }

    /// Records a backtracking point.
    fn push(&mut self, choice: Choice) {
        self.frames.push((choice, self.trail.len()));
    }

    /// Resumes at the newest untried alternative, undoing captures made since.
    fn backtrack(&mut self) -> Option<(usize, usize)> {
        let src = self.src;
        while self.spend(1) {
            let (choice, mark) = self.frames.pop()?;
            for undo in self.trail.drain(mark..).rev() {
                match undo {
                    None => _ = self.caps.pop(),
                    Some(l) => self.caps[l].1 = CapLen::Unfinished,
                }
            }
            match choice {
                Choice::Greedy { s, count, next } => {
                    if count > 1 {
                        self.frames.push((Choice::Greedy { s, count: count - 1, next }, mark));
                    }
                    return Some((s + count - 1, next));
                }
                Choice::Lazy { s, p, ep } => {
                    if s < src.len() && self.test(src[s], p, ep)? {
                        self.frames.push((Choice::Lazy { s: s + 1, p, ep }, mark));
                        return Some((s + 1, ep + 1));
                    }
                }
                Choice::Skip { s, next } => return Some((s, next)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{Pattern, MAX_PATTERN_LEN, MAX_PATTERN_STEPS};

    /// Asserts that `pattern` is found in each of `yes` and in none of `no`.
    fn finds(pattern: &str, yes: &[&str], no: &[&str]) {
        let compiled = Pattern::new(pattern).expect("test patterns are well formed");
        for subject in yes {
            assert!(compiled.is_match(subject), "{pattern:?} not found in {subject:?}");
        }
        for subject in no {
            assert!(!compiled.is_match(subject), "{pattern:?} found in {subject:?}");
        }
    }

    #[test]
    fn finds_anywhere_and_anchors() {
        finds("key", &["key_down", "a_key"], &["ke_y", ""]);
        finds("^key", &["key_up"], &["a_key"]);
        finds("down$", &["key_down"], &["downward"]);
        finds("^key_%a+$", &["key_down", "key_UP"], &["key_down2", "xkey_down", "key_"]);
        finds("^$", &[""], &["a"]);
        finds("", &["", "key_down"], &[]);
        finds("^", &["", "x"], &[]);
        finds("$", &["", "x"], &[]);
        // Anywhere else '^' and '$' are ordinary characters.
        finds("a^b$", &["xa^b"], &["ab"]);
        finds("a$b", &["a$b"], &["ab"]);
        finds("^^", &["^x"], &["x^"]);
    }

    #[test]
    fn classes_and_escapes() {
        finds("%d+", &["abc123"], &["abc"]);
        finds("^%a+$", &["Key"], &["K3y", "caf\u{e9}"]); // bytes over 127 are in no class
        finds("%s", &["a b", "a\x0bb"], &["ab"]); // C's isspace includes '\v'
        finds("^%x+$", &["09afAF"], &["0g"]);
        finds("^%u%l%A%W%U$", &["Ab1_a"], &["aB1_a", "Aba_a", "Ab1aa", "Ab1_A"]);
        finds("%p", &["a_b", "a.b"], &["ab0"]);
        finds("%c", &["\x07", "\x7f"], &["abc"]);
        finds("^%g+$", &["a!~"], &["a b", ""]);
        finds("^%w+$", &["abc123"], &["a_b"]);
        finds("^%D%S$", &["ab"], &["1b", "a "]);
        finds("%.", &["a.b"], &["ab"]);
        finds("^a.c$", &["abc", "a.c"], &["ac"]);
        finds("100%%", &["100%"], &["100"]);
        finds("^a%-b$", &["a-b"], &["ab"]);
        finds("%(%)%[", &["f()["], &["f()"]);
        finds("%q", &["q"], &["%"]); // an unknown class letter stands for itself
        finds("*", &["a*b"], &["ab"]); // so does a quantifier with nothing to repeat
        finds("^a**$", &["aa*"], &["aa"]);
        finds("^.....$", &["caf\u{e9}"], &["cafe"]); // '.' is a byte
    }

    #[test]
    fn sets() {
        finds("^[%w_]+$", &["key_down"], &["key-down"]);
        finds("[^a-z]", &["abC", "a b"], &["abc"]);
        finds("^[0-9a-f]+$", &["deadbeef42"], &["xyz"]);
        finds("[]]", &["a]"], &["a"]);
        finds("[^]]", &["]a"], &["]]"]);
        finds("^[a-]+$", &["a-a"], &["b"]);
        finds("[%]]", &["]"], &["%"]);
        finds("[%a%-]", &["-"], &["1"]);
        finds("[.]", &["."], &["a"]);
        finds("[^%w%s]", &["a,b"], &["ab 12"]);
    }

    #[test]
    fn quantifiers() {
        finds("^a-b$", &["aaab", "b"], &["aaa"]);
        finds("^a-$", &["aaa", ""], &["b"]);
        finds("^[ab]-c[ab]-$", &["abacab"], &["abacabc"]);
        finds("^colou?r$", &["color", "colour"], &["colouur"]);
        finds("^a?a$", &["a", "aa"], &["aaa"]);
        finds("^a*$", &["", "aaa"], &["ab"]);
        finds("^a+$", &["a", "aaa"], &["", "b"]);
        finds("^a*ab$", &["aaab", "ab"], &["aaa"]); // '*' gives back what the rest needs
        finds("^.-_", &["key_down"], &["keydown"]);
        finds("^%d+%.%d+$", &["12.50"], &["12.", ".5"]);
    }

    #[test]
    fn balanced_and_frontier() {
        finds("%bxy", &["axaxbyyc", "axy"], &["axaxb", "yx"]);
        finds("^%b()$", &["(a(b)c)", "()"], &["(()", "(a))"]);
        finds("^%b''$", &["'x'"], &["'x'y'"]);
        finds("%f[%w]%w+", &["  hello"], &["  "]);
        finds("%f[%a]key", &["hot key", "key"], &["hotkey"]); // the start counts as '\0'
        finds("down%f[%W]", &["key_down", "down!"], &["key_downs"]); // and so does the end
    }

    #[test]
    fn captures_and_back_references() {
        finds("(a)%1", &["aa", "baab"], &["ab", "a"]);
        finds("^(%a+)_%1$", &["ab_ab"], &["ab_ac", "ab_abc"]);
        finds("^((a)(b))%1%2%3$", &["ababab"], &["abab"]);
        finds("^(a-)b%1$", &["aabaa", "b"], &["aaba"]);
        finds("^(key)_(%a+)$", &["key_down"], &["key_"]);
        finds("()a()", &["xa"], &["x"]);
        finds("()%1", &[], &["", "aaa"]); // a position capture never matches as text
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for (message, patterns) in [
            ("malformed pattern (missing ']')", &["[a", "[]", "[^]", "[%", "[%]", "%f[a"][..]),
            ("malformed pattern (ends with '%')", &["%", "ab%"]),
            ("unfinished capture", &["(()", "(a"]),
            ("invalid pattern capture", &[")", "a)"]),
            ("malformed pattern (missing arguments to '%b')", &["%b", "%bx"]),
            ("missing '[' after '%f' in pattern", &["%f", "%fa"]),
            ("invalid capture index %1", &["%1", "(a%1)"]),
            ("invalid capture index %2", &["(a)%2"]),
            ("invalid capture index %0", &["(a)%0"]),
            ("too many captures", &[&"()".repeat(33)]),
        ] {
            for pattern in patterns {
                assert_eq!(Pattern::new(pattern), Err(message.to_string()), "{pattern:?}");
            }
        }
        assert!(Pattern::new(&"()".repeat(32)).is_ok());
    }

    #[test]
    fn keeps_its_source() {
        let pattern = Pattern::new("^key_%a+$").expect("well formed");
        assert_eq!(pattern.source(), "^key_%a+$");
        assert_eq!(pattern.clone(), pattern);
        assert_ne!(Pattern::new("key").ok(), Some(pattern));
    }

    #[test]
    fn pathological_inputs_end_quickly_without_overflow() {
        finds("a*a*a*a*a*a*a*a*b", &[], &[&"a".repeat(5000)]);
        // 2^30 paths in Lua; here the step guard answers "no match" instead.
        let exponential = format!("^{}{}$", "a?".repeat(30), "a".repeat(30));
        finds(&exponential, &[&"a".repeat(60)], &[&"a".repeat(30)]);
        // Lua refuses this as "pattern too complex"; nothing recurses here.
        finds(&"a?".repeat(5_000), &["", "aaaa"], &[]);
        let long = format!("{}x", "a".repeat(4_000));
        finds("x$", &[&long], &["x "]);
        finds("^a+x$", &[&long], &[]);
    }

    /// Patterns within `MAX_PATTERN_LEN` built to make a backtracking matcher
    /// (or one that pays a `[set]` as a single step) slow, with their subjects.
    fn adversaries() -> Vec<(String, String)> {
        let k256 = "k".repeat(256);
        let a256 = "a".repeat(256);
        // The reproducer's shape, scaled down to fit: long sets, each under `*`.
        let set = format!("[{}%w_]", "\u{1}".repeat(25));
        let cases = [
            (format!("{}\u{2}", format!("{set}*").repeat(7)), k256.clone()),
            (format!("[{}%w]*\u{2}", "\u{1}".repeat(248)), k256.clone()),
            (format!("[{}]", "\u{1}".repeat(254)), k256.clone()),
            (format!("{}b", "a*".repeat(127)), a256.clone()),
            (format!("^{}{}$", "a?".repeat(60), "a".repeat(60)), "a".repeat(60)),
            (format!("{}\u{2}", ".-".repeat(127)), k256.clone()),
            (format!("{}\u{2}", "[%a%d_%-a-z]-".repeat(18)), k256.clone()),
            ("(.*)%1(.*)%2(.*)%3(.*)%4\u{2}".to_string(), a256),
        ];
        for (pattern, _) in &cases {
            assert!(pattern.len() <= MAX_PATTERN_LEN, "{} bytes", pattern.len());
        }
        cases.into()
    }

    #[test]
    fn adversarial_patterns_within_the_length_cap_stop_at_the_step_bound() {
        for (pattern, subject) in adversaries() {
            let compiled = Pattern::new(&pattern).expect("adversaries are well formed");
            // Exactly the bound: the guard stopped them, and nothing overdrew it.
            assert_eq!(compiled.find(&subject), (false, MAX_PATTERN_STEPS), "{pattern:?}");
        }
    }

    #[test]
    fn the_step_bound_does_not_grow_with_the_pattern() {
        // The reproducer of defect r09, 24 KB, which took seconds on a 40-byte
        // name when the budget grew with the pattern and a set cost one step.
        // `Filter::try_pattern` refuses it; the matcher alone bounds it too.
        let set = format!("[{}%w_]", "\u{1}".repeat(3000));
        let pattern = format!("{}\u{2}", format!("{set}*").repeat(8));
        let compiled = Pattern::new(&pattern).expect("well formed");
        assert_eq!(compiled.find(&"k".repeat(40)), (false, MAX_PATTERN_STEPS));
        // A name too long to scan within the bound is not matched either.
        let long = format!("{}x", "a".repeat(MAX_PATTERN_STEPS));
        assert_eq!(
            Pattern::new("x$").expect("well formed").find(&long),
            (false, MAX_PATTERN_STEPS)
        );
    }

    #[test]
    fn every_byte_of_a_set_tried_is_a_step() {
        let steps = |members: usize| {
            let pattern = format!("^[{}a]$", "\u{1}".repeat(members));
            let (found, steps) = Pattern::new(&pattern).expect("well formed").find("a");
            assert!(found, "{pattern:?}");
            steps
        };
        // Each member is read twice: finding the set's end, then testing 'a'.
        assert_eq!(steps(100) - steps(10), 2 * 90);
        // And each byte of the subject a greedy set runs over is tested.
        let run = |n: usize| Pattern::new("^[xyz]*$").expect("well formed").find(&"z".repeat(n));
        assert_eq!((run(100).0, run(100).1 - run(10).1), (true, 4 * 90)); // "[xyz" each
    }

    #[test]
    fn ordinary_patterns_stay_far_below_the_step_bound() {
        // A name of 256 bytes; a search that fails everywhere costs about three
        // steps a byte of it, a match a few steps a byte matched.
        let name = format!("key_down_{}", "x".repeat(247));
        let key_down = Pattern::new("^key_%a+$").expect("well formed").find("key_down");
        assert_eq!(key_down, (true, 15)); // as the rustdoc of MAX_PATTERN_STEPS says
        for (pattern, found) in [
            ("^key_%a+$", false),
            ("^key_%a+_%a+$", true),
            ("key", true),
            ("down", true),
            ("^[%w_]+$", true),
            ("%.", false),
            ("^(%a+)_(%a+)_", true),
            ("_%d+$", false),
            ("^.-_.-_(.*)$", true),
        ] {
            let (is_match, steps) = Pattern::new(pattern).expect("well formed").find(&name);
            assert_eq!(is_match, found, "{pattern:?}");
            assert!(steps * 10 < MAX_PATTERN_STEPS, "{pattern:?} took {steps} steps");
        }
    }
}
