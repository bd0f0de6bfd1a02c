//! Floor 0: validated dotted names.
//!
//! Every signal has a *full name* such as `system.provider.connected`: one or
//! more *segments* joined by `.`. A segment is a non-empty run of the
//! characters `a-z`, `0-9`, `_` and `-`. The rules are those of a NATS
//! subject token minus the wildcards, so a full name is usable unchanged as a
//! NATS subject, and a name can never be confused with a pattern (`*` and `>`
//! are pattern syntax, reserved for subscriptions).
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
}
