//! Floor 0: validated dotted names, and the patterns that match them.
//!
//! Every signal has a *full name* such as `system.provider.connected`: one or
//! more *segments* joined by `.`. A segment is a non-empty run of the
//! characters `a-z`, `0-9`, `_` and `-`. The rules are those of a NATS
//! subject token minus the wildcards, so a full name is usable unchanged as a
//! NATS subject, and a name can never be confused with a pattern (`*` and `>`
//! are pattern syntax, reserved for subscriptions).
//!
//! A [`Pattern`] selects names in NATS subject-filter syntax: `*` fills
//! exactly one segment, `>` (last) one or more trailing segments. Besides
//! matching a name it answers the two questions a subscription index
//! needs without enumerating names: whether one pattern's names are all
//! another's ([`Pattern::is_subset_of`]) and whether two patterns share a
//! name ([`Pattern::intersects`]), both checked against brute force over
//! every small pattern and name in the tests.
//!
//! The checks are `const fn`s: a [`Namespace`](crate::Namespace) declared in
//! a `static` is validated by the compiler, and an invalid literal is a build
//! error rather than a run-time surprise.

use std::fmt;

/// Why a name was rejected.
///
/// ```
/// use mesh::name::{validate_name, NameError};
/// assert_eq!(validate_name("system.provider"), Ok(()));
/// assert_eq!(validate_name("system..provider"), Err(NameError::EmptySegment { at: 7 }));
/// assert_eq!(validate_name("system.*"), Err(NameError::Wildcard { at: 7 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameError {
    /// The name is the empty string.
    Empty,
    /// Two dots in a row, or a leading or trailing dot; `at` is the byte
    /// offset where the empty segment starts.
    EmptySegment {
        /// Byte offset of the empty segment.
        at: usize,
    },
    /// A `*` or `>` wildcard: those belong to patterns, not names.
    Wildcard {
        /// Byte offset of the wildcard.
        at: usize,
    },
    /// A character outside `a-z 0-9 _ -` (upper case and spaces included).
    InvalidChar {
        /// Byte offset of the character.
        at: usize,
    },
}

impl NameError {
    /// A short lowercase explanation, the same text the macros print.
    pub const fn message(&self) -> &'static str {
        match self {
            NameError::Empty => "name is empty",
            NameError::EmptySegment { .. } => {
                "name has an empty segment (a leading, trailing or doubled `.`)"
            }
            NameError::Wildcard { .. } => {
                "name contains a wildcard (`*` and `>` are only valid in patterns)"
            }
            NameError::InvalidChar { .. } => {
                "name may only contain `a-z`, `0-9`, `_`, `-` and `.` between segments"
            }
        }
    }
}

impl NameError {
    /// The same error with its offset moved `by` bytes: for a name checked
    /// on its own and shown after a prefix (`<namespace>.<name>`).
    pub(crate) const fn shifted(self, by: usize) -> Self {
        match self {
            NameError::Empty => NameError::Empty,
            NameError::EmptySegment { at } => NameError::EmptySegment { at: at + by },
            NameError::Wildcard { at } => NameError::Wildcard { at: at + by },
            NameError::InvalidChar { at } => NameError::InvalidChar { at: at + by },
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str(self.message()),
            NameError::EmptySegment { at }
            | NameError::Wildcard { at }
            | NameError::InvalidChar { at } => write!(f, "{} (at byte {at})", self.message()),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a single segment: non-empty, no `.`, only `a-z 0-9 _ -`.
///
/// ```
/// assert!(mesh::name::validate_segment("provider").is_ok());
/// assert!(mesh::name::validate_segment("a.b").is_err());
/// ```
pub const fn validate_segment(segment: &str) -> Result<(), NameError> {
    if segment.is_empty() {
        return Err(NameError::Empty);
    }
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {}
            b'.' => return Err(NameError::InvalidChar { at: i }),
            b'*' | b'>' => return Err(NameError::Wildcard { at: i }),
            _ => return Err(NameError::InvalidChar { at: i }),
        }
        i += 1;
    }
    Ok(())
}

/// Checks a dotted name: one or more valid segments joined by single dots.
///
/// ```
/// assert!(mesh::name::validate_name("system.provider.connected").is_ok());
/// assert!(mesh::name::validate_name("System").is_err());
/// assert!(mesh::name::validate_name("a b").is_err());
/// ```
pub const fn validate_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::Empty);
    }
    let mut i = 0;
    let mut segment_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {}
            b'.' => {
                if i == segment_start {
                    return Err(NameError::EmptySegment { at: i });
                }
                segment_start = i + 1;
            }
            b'*' | b'>' => return Err(NameError::Wildcard { at: i }),
            _ => return Err(NameError::InvalidChar { at: i }),
        }
        i += 1;
    }
    if segment_start == bytes.len() {
        return Err(NameError::EmptySegment { at: bytes.len() });
    }
    Ok(())
}

/// Joins a parent name and a child name with a dot (`""` parent: the child).
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + child.len());
        s.push_str(parent);
        s.push('.');
        s.push_str(child);
        s
    }
}

/// Why a pattern was rejected: what is wrong, and the byte offset where.
///
/// ```
/// use mesh::name::{Pattern, PatternError};
/// assert_eq!(Pattern::new("system.*.connected").map(|p| p.to_string()), Ok("system.*.connected".into()));
/// assert_eq!(Pattern::new("system.>.x"), Err(PatternError::TailNotLast { at: 7 }));
/// assert_eq!(Pattern::new("sys*"), Err(PatternError::PartialWildcard { at: 3 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is the empty string.
    Empty,
    /// Two dots in a row, or a leading or trailing dot.
    EmptySegment {
        /// Byte offset of the empty segment.
        at: usize,
    },
    /// A `*` or `>` that does not fill its whole segment (`sys*`, `a>`).
    PartialWildcard {
        /// Byte offset of the wildcard.
        at: usize,
    },
    /// A `>` segment that is not the last one (`>` matches the rest).
    TailNotLast {
        /// Byte offset of the `>`.
        at: usize,
    },
    /// A character outside `a-z 0-9 _ -`, `*`, `>` and `.`.
    InvalidChar {
        /// Byte offset of the character.
        at: usize,
    },
}

impl PatternError {
    /// A short lowercase explanation.
    pub const fn message(&self) -> &'static str {
        match self {
            PatternError::Empty => "pattern is empty",
            PatternError::EmptySegment { .. } => {
                "pattern has an empty segment (a leading, trailing or doubled `.`)"
            }
            PatternError::PartialWildcard { .. } => {
                "a wildcard must fill its whole segment (`a.*.c`, not `a.b*`)"
            }
            PatternError::TailNotLast { .. } => "`>` may only be the last segment",
            PatternError::InvalidChar { .. } => {
                "pattern may only contain `a-z`, `0-9`, `_`, `-`, `*`, `>` and `.` between segments"
            }
        }
    }
}

impl PatternError {
    /// The same error with its offset moved `by` bytes (a relative
    /// pattern shown after its namespace).
    pub(crate) const fn shifted(self, by: usize) -> Self {
        match self {
            PatternError::Empty => PatternError::Empty,
            PatternError::EmptySegment { at } => PatternError::EmptySegment { at: at + by },
            PatternError::PartialWildcard { at } => PatternError::PartialWildcard { at: at + by },
            PatternError::TailNotLast { at } => PatternError::TailNotLast { at: at + by },
            PatternError::InvalidChar { at } => PatternError::InvalidChar { at: at + by },
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Empty => f.write_str(self.message()),
            PatternError::EmptySegment { at }
            | PatternError::PartialWildcard { at }
            | PatternError::TailNotLast { at }
            | PatternError::InvalidChar { at } => {
                write!(f, "{} (at byte {at})", self.message())
            }
        }
    }
}

impl std::error::Error for PatternError {}

/// Checks a pattern in NATS subject-filter syntax: dotted segments, each a
/// name segment, `*` (exactly one segment) or, last, `>` (one or more
/// trailing segments). A `const fn`, for checks at compile time.
///
/// ```
/// assert!(mesh::name::validate_pattern("system.>").is_ok());
/// assert!(mesh::name::validate_pattern("system.provider.connected").is_ok());
/// assert!(mesh::name::validate_pattern(">.system").is_err());
/// ```
pub const fn validate_pattern(pattern: &str) -> Result<(), PatternError> {
    let bytes = pattern.as_bytes();
    if bytes.is_empty() {
        return Err(PatternError::Empty);
    }
    let mut i = 0;
    let mut segment_start = 0;
    while i <= bytes.len() {
        if i == bytes.len() || bytes[i] == b'.' {
            if i == segment_start {
                return Err(PatternError::EmptySegment { at: i });
            }
            let len = i - segment_start;
            let first = bytes[segment_start];
            if len == 1 && first == b'>' && i != bytes.len() {
                return Err(PatternError::TailNotLast { at: segment_start });
            }
            segment_start = i + 1;
            i += 1;
            continue;
        }
        match bytes[i] {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {
                if i > segment_start
                    && (bytes[segment_start] == b'*' || bytes[segment_start] == b'>')
                {
                    return Err(PatternError::PartialWildcard { at: segment_start });
                }
            }
            b'*' | b'>' => {
                let alone = i == segment_start && (i + 1 == bytes.len() || bytes[i + 1] == b'.');
                if !alone {
                    return Err(PatternError::PartialWildcard { at: i });
                }
            }
            _ => return Err(PatternError::InvalidChar { at: i }),
        }
        i += 1;
    }
    Ok(())
}

/// A validated pattern over dotted names, in NATS subject-filter syntax,
/// so a mesh pattern is a NATS subject filter unchanged: `*` matches
/// exactly one segment, `>` (last) one or more trailing segments
/// (`system.>` matches `system.a` and `system.a.b`, not `system`).
///
/// ```
/// use mesh::name::Pattern;
/// let p = Pattern::new("system.*.connected").unwrap();
/// assert!(p.matches("system.provider.connected"));
/// assert!(!p.matches("system.provider.pool.connected"));
/// let all = Pattern::new("system.>").unwrap();
/// assert!(p.is_subset_of(&all));
/// assert!(!all.is_subset_of(&p));
/// assert!(all.intersects(&Pattern::new("*.db.*").unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern(Box<str>);

/// One segment of a pattern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seg<'a> {
    Lit(&'a str),
    One,
    Tail,
}

impl Pattern {
    /// Parses `pattern` (see [`validate_pattern`]).
    pub fn new(pattern: &str) -> Result<Pattern, PatternError> {
        validate_pattern(pattern)?;
        Ok(Pattern(pattern.into()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it has no wildcard (it matches exactly one name).
    pub fn is_literal(&self) -> bool {
        !self.0.bytes().any(|b| b == b'*' || b == b'>')
    }

    fn segs(&self) -> impl Iterator<Item = Seg<'_>> + Clone {
        self.0.split('.').map(|s| match s {
            "*" => Seg::One,
            ">" => Seg::Tail,
            lit => Seg::Lit(lit),
        })
    }

    /// Whether `name` (a dotted name) is one this pattern matches.
    ///
    /// One pass over both strings, segment by segment, allocating
    /// nothing (a subscription made over every registered name calls
    /// this once per name).
    pub fn matches(&self, name: &str) -> bool {
        let (p, n) = (self.0.as_bytes(), name.as_bytes());
        let (mut i, mut j) = (0, 0);
        loop {
            let p_end = segment_end(p, i);
            let seg = &p[i..p_end];
            // `>` takes the rest, which is not empty: an empty rest
            // returned `false` below before getting here.
            if seg == b">" {
                return true;
            }
            let n_end = segment_end(n, j);
            if seg != b"*" && seg != &n[j..n_end] {
                return false;
            }
            match (p_end == p.len(), n_end == n.len()) {
                (true, name_ended) => return name_ended,
                (false, true) => return false,
                (false, false) => (i, j) = (p_end + 1, n_end + 1),
            }
        }
    }
    /// Whether every name this pattern matches, `other` matches too.
    pub fn is_subset_of(&self, other: &Pattern) -> bool {
        let (mut a, mut b) = (self.segs(), other.segs());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                // `other` ends, or `>` here needs at least one segment of ours.
                (Some(_), Some(Seg::Tail)) => return true,
                (None, Some(_)) | (Some(_), None) => return false,
                // Ours matches any number of segments; theirs a fixed one here.
                (Some(Seg::Tail), Some(_)) => return false,
                (Some(_), Some(Seg::One)) => {}
                (Some(Seg::Lit(x)), Some(Seg::Lit(y))) if x == y => {}
                (Some(_), Some(Seg::Lit(_))) => return false,
            }
        }
    }

    /// Whether some name matches both patterns.
    pub fn intersects(&self, other: &Pattern) -> bool {
        let (mut a, mut b) = (self.segs(), other.segs());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                // A `>` takes whatever (at least one segment) the other has
                // left, and every pattern matches some name.
                (Some(Seg::Tail), Some(_)) | (Some(_), Some(Seg::Tail)) => return true,
                (None, Some(_)) | (Some(_), None) => return false,
                (Some(Seg::Lit(x)), Some(Seg::Lit(y))) if x != y => return false,
                (Some(_), Some(_)) => {}
            }
        }
    }
}

/// The end of the dotted segment starting at `from`.
fn segment_end(s: &[u8], from: usize) -> usize {
    s[from..].iter().position(|&b| b == b'.').map_or(s.len(), |k| from + k)
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Pattern, PatternError> {
        Pattern::new(s)
    }
}

impl TryFrom<&str> for Pattern {
    type Error = PatternError;
    fn try_from(s: &str) -> Result<Pattern, PatternError> {
        Pattern::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for ok in ["a", "system", "system.provider.connected", "a-b_c.d0", "0.1"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_invalid_names_with_position() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name("."), Err(NameError::EmptySegment { at: 0 }));
        assert_eq!(validate_name("a."), Err(NameError::EmptySegment { at: 2 }));
        assert_eq!(validate_name(".a"), Err(NameError::EmptySegment { at: 0 }));
        assert_eq!(validate_name("a..b"), Err(NameError::EmptySegment { at: 2 }));
        assert_eq!(validate_name("a.>"), Err(NameError::Wildcard { at: 2 }));
        assert_eq!(validate_name("a.*.b"), Err(NameError::Wildcard { at: 2 }));
        assert_eq!(validate_name("a b"), Err(NameError::InvalidChar { at: 1 }));
        assert_eq!(validate_name("Ab"), Err(NameError::InvalidChar { at: 0 }));
        assert_eq!(validate_name("é"), Err(NameError::InvalidChar { at: 0 }));
    }

    #[test]
    fn segments_refuse_dots() {
        assert_eq!(validate_segment("a.b"), Err(NameError::InvalidChar { at: 1 }));
        assert_eq!(validate_segment(""), Err(NameError::Empty));
        assert_eq!(validate_segment("ok-1"), Ok(()));
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        for e in [
            NameError::Empty,
            NameError::EmptySegment { at: 0 },
            NameError::Wildcard { at: 0 },
            NameError::InvalidChar { at: 0 },
        ] {
            let m = e.message();
            assert!(m.chars().next().unwrap().is_lowercase());
            assert!(!m.ends_with('.'));
        }
    }

    #[test]
    fn join_handles_root() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b.c"), "a.b.c");
    }

    #[test]
    fn patterns_parse_with_typed_errors_at_the_offending_byte() {
        for ok in ["a", "*", ">", "a.*", "a.>", "*.b.*", "a.*.>", "a-b_c.0"] {
            assert_eq!(validate_pattern(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_pattern(""), Err(PatternError::Empty));
        assert_eq!(validate_pattern("a..b"), Err(PatternError::EmptySegment { at: 2 }));
        assert_eq!(validate_pattern("a."), Err(PatternError::EmptySegment { at: 2 }));
        assert_eq!(validate_pattern(".a"), Err(PatternError::EmptySegment { at: 0 }));
        assert_eq!(validate_pattern("a.>.b"), Err(PatternError::TailNotLast { at: 2 }));
        assert_eq!(validate_pattern(">.b"), Err(PatternError::TailNotLast { at: 0 }));
        assert_eq!(validate_pattern("ab*"), Err(PatternError::PartialWildcard { at: 2 }));
        assert_eq!(validate_pattern("a.*b"), Err(PatternError::PartialWildcard { at: 2 }));
        assert_eq!(validate_pattern("a.>>"), Err(PatternError::PartialWildcard { at: 2 }));
        assert_eq!(validate_pattern("a.B"), Err(PatternError::InvalidChar { at: 2 }));
        assert_eq!(validate_pattern("a b"), Err(PatternError::InvalidChar { at: 1 }));
        let e = Pattern::new("a.>.b").unwrap_err();
        assert_eq!(e.to_string(), "`>` may only be the last segment (at byte 2)");
    }

    #[test]
    fn pattern_messages_are_lowercase_without_trailing_period() {
        for e in [
            PatternError::Empty,
            PatternError::EmptySegment { at: 0 },
            PatternError::PartialWildcard { at: 0 },
            PatternError::TailNotLast { at: 0 },
            PatternError::InvalidChar { at: 0 },
        ] {
            let m = e.message();
            assert!(m.chars().next().unwrap().is_lowercase() || m.starts_with('`'), "{m}");
            assert!(!m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn matching_follows_nats_subject_filters() {
        let p = |s: &str| Pattern::new(s).unwrap();
        assert!(p("system.>").matches("system.a"));
        assert!(p("system.>").matches("system.a.b"));
        assert!(!p("system.>").matches("system"));
        assert!(p("system.*").matches("system.a"));
        assert!(!p("system.*").matches("system.a.b"));
        assert!(!p("system.*").matches("system"));
        assert!(p(">").matches("a"));
        assert!(p("*.b.*").matches("a.b.c"));
        assert!(!p("*.b.*").matches("a.c.c"));
        assert!(p("a.b").matches("a.b") && !p("a.b").matches("a.bb"));
        assert!(p("a.b").is_literal() && !p("a.*").is_literal());
    }

    /// Every name over segments {a, b} with 1..=4 segments.
    fn names() -> Vec<String> {
        let mut out: Vec<String> = vec!["a".into(), "b".into()];
        let mut last = out.clone();
        for _ in 1..4 {
            last = last.iter().flat_map(|n| ["a", "b"].map(|s| format!("{n}.{s}"))).collect();
            out.extend(last.iter().cloned());
        }
        out
    }

    /// Every valid pattern over {a, *, >} with 1..=3 segments.
    fn patterns() -> Vec<Pattern> {
        let mut all: Vec<String> = vec![];
        let mut last: Vec<String> = vec![String::new()];
        for _ in 0..3 {
            last = last
                .iter()
                .flat_map(|p| {
                    ["a", "*", ">"]
                        .map(|s| if p.is_empty() { s.to_string() } else { format!("{p}.{s}") })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all.iter().filter_map(|p| Pattern::new(p).ok()).collect()
    }

    #[test]
    fn subset_and_intersection_agree_with_brute_force() {
        let names = names();
        let pats = patterns();
        assert!(pats.len() > 10);
        for x in &pats {
            for y in &pats {
                let mx: Vec<bool> = names.iter().map(|n| x.matches(n)).collect();
                let my: Vec<bool> = names.iter().map(|n| y.matches(n)).collect();
                // Up to 4 segments decides both for patterns of up to 3.
                let subset = mx.iter().zip(&my).all(|(a, b)| !a || *b);
                let meet = mx.iter().zip(&my).any(|(a, b)| *a && *b);
                assert_eq!(x.is_subset_of(y), subset, "{x} subset of {y}");
                assert_eq!(x.intersects(y), meet, "{x} intersects {y}");
            }
        }
    }
}
