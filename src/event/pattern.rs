//! Lua 5.3 pattern finding (`string.find(s, p) ~= nil`), for `Filter::pattern`.
//!
//! This follows the backtracking of Lua's `lstrlib.c` on bytes, but keeps choice
//! points on the heap instead of recursing, so no pattern can overflow a small
//! green-thread stack. Unlike Lua, `Pattern::new` reports every malformation,
//! even where Lua's matcher would never look for a given subject; and where Lua
//! fails with "pattern too complex" past 200 nested calls, depth here is free but
//! each `Pattern::is_match` has a step budget (at least `MIN_STEPS`) after
//! which it answers "no match". Only pathological backtracking comes near it.
//! Like OpenOS's filter (`name:match(pattern)`), and unlike `string.find`, a
//! pattern without special characters is not a plain search, so ")" is an error.

/// The fewest steps one `is_match` may take before giving up; generous enough
/// that no ordinary pattern on a signal name comes near it.
const MIN_STEPS: usize = 1_000_000;

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

    /// Whether the pattern matches anywhere in `subject`, honouring `^` and `$`.
    pub(crate) fn is_match(&self, subject: &str) -> bool {
        let (pat, src) = (self.source.as_bytes(), subject.as_bytes());
        let anchored = pat.first() == Some(&b'^');
        // Scaled with the input so that long subjects with plain patterns still
        // get an exact answer; only super-linear backtracking exhausts it.
        let budget = (src.len() + 1).saturating_mul(pat.len() + 1).saturating_mul(4);
        let mut m = Matcher { src, pat, budget: budget.max(MIN_STEPS), ..Matcher::default() };
        for start in 0..=src.len() {
            if m.matches_at(start, usize::from(anchored)) {
                return true;
            }
            if anchored || m.budget == 0 {
                return false;
            }
        }
        false
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

/// Whether `c` is in the set `pat[p..=ec]`, where `p` is at '[' and `ec` at ']'.
fn match_bracket(c: u8, pat: &[u8], mut p: usize, ec: usize) -> bool {
    let negated = pat[p + 1] == b'^';
    p += 1 + usize::from(negated);
    while p < ec {
        let (hit, width) = match (pat[p], pat[p + 1]) {
            (b'%', cl) => (match_class(c, cl), 2),
            (lo, b'-') if p + 2 < ec => ((lo..=pat[p + 2]).contains(&c), 3),
            (lit, _) => (lit == c, 1),
        };
        if hit {
            return !negated;
        }
        p += width;
    }
    negated
}

/// Whether `c` matches the single-character class `pat[p..ep]`.
fn single_match(c: u8, pat: &[u8], p: usize, ep: usize) -> bool {
    match pat[p] {
        b'.' => true,
        b'%' => match_class(c, pat[p + 1]),
        b'[' => match_bracket(c, pat, p, ep - 1),
        lit => lit == c,
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
                // Both ends of the subject count as '\0', as in Lua.
                let prev = if s == 0 { 0 } else { src[s - 1] };
                let cur = src.get(s).copied().unwrap_or(0);
                let frontier = !match_bracket(prev, pat, p + 2, ep - 1)
                    && match_bracket(cur, pat, p + 2, ep - 1);
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
        let hit = s < src.len() && single_match(src[s], pat, p, ep);
        match pat.get(ep) {
            Some(b'?') => {
                if hit {
                    self.push(Choice::Skip { s, next: ep + 1 });
                }
                Some((s + usize::from(hit), ep + 1))
            }
            Some(b'+') if !hit => None,
            Some(&q @ (b'*' | b'+')) => {
                let first = s + usize::from(q == b'+');
                let count =
                    src[first..].iter().take_while(|&&c| single_match(c, pat, p, ep)).count();
                self.spend(count).then_some(())?;
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
        let end = self.src[s + 1..].iter().position(|&c| {
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
        let (src, pat) = (self.src, self.pat);
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
                    if s < src.len() && single_match(src[s], pat, p, ep) {
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
    use super::Pattern;

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
        finds(&"a?".repeat(100_000), &["", "aaaa"], &[]);
        let long = format!("{}x", "a".repeat(100_000));
        finds("x$", &[&long], &["x "]);
        finds("^a+x$", &[&long], &[]);
    }
}
