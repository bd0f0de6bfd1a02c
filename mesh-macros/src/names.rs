//! Compile-time name checks. These mirror `mesh::name` (which the runtime
//! uses for names built at run time); the UI tests pin both behaviours.

/// Checks a dotted name; the error text is the same as `mesh::name`'s.
pub(crate) fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("name is empty");
    }
    for segment in name.split('.') {
        validate_segment_chars(segment)?;
    }
    Ok(())
}

/// Checks a single segment (no dots).
pub(crate) fn validate_segment(segment: &str) -> Result<(), &'static str> {
    if segment.contains('.') {
        return Err("a nested namespace takes one segment, without `.`");
    }
    validate_segment_chars(segment)
}

fn validate_segment_chars(segment: &str) -> Result<(), &'static str> {
    if segment.is_empty() {
        return Err("name has an empty segment (a leading, trailing or doubled `.`)");
    }
    for c in segment.chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' | '-' => {}
            '*' | '>' => {
                return Err("name contains a wildcard (`*` and `>` are only valid in patterns)");
            }
            _ => {
                return Err(
                    "name may only contain `a-z`, `0-9`, `_`, `-` and `.` between segments",
                );
            }
        }
    }
    Ok(())
}

/// Checks a pattern (NATS subject-filter syntax), byte by byte as
/// `mesh::name::validate_pattern` does; the error text is its
/// `PatternError`'s `Display`, offsets included.
pub(crate) fn validate_pattern(pattern: &str) -> Result<(), String> {
    let fail = |msg: &str, at: usize| Err(format!("{msg} (at byte {at})"));
    let bytes = pattern.as_bytes();
    if bytes.is_empty() {
        return Err("pattern is empty".into());
    }
    let mut start = 0;
    for i in 0..=bytes.len() {
        if i == bytes.len() || bytes[i] == b'.' {
            if i == start {
                return fail(
                    "pattern has an empty segment (a leading, trailing or doubled `.`)",
                    i,
                );
            }
            if i - start == 1 && bytes[start] == b'>' && i != bytes.len() {
                return fail("`>` may only be the last segment", start);
            }
            start = i + 1;
            continue;
        }
        match bytes[i] {
            b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {
                if i > start && matches!(bytes[start], b'*' | b'>') {
                    return fail(PARTIAL, start);
                }
            }
            b'*' | b'>' => {
                let alone = i == start && (i + 1 == bytes.len() || bytes[i + 1] == b'.');
                if !alone {
                    return fail(PARTIAL, i);
                }
            }
            _ => {
                return fail(
                    "pattern may only contain `a-z`, `0-9`, `_`, `-`, `*`, `>` and `.` between \
                     segments",
                    i,
                );
            }
        }
    }
    Ok(())
}

const PARTIAL: &str = "a wildcard must fill its whole segment (`a.*.c`, not `a.b*`)";

/// `ProviderConnected` -> `provider_connected`, `HTTPRequest` -> `http_request`.
pub(crate) fn snake_case(ident: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake() {
        assert_eq!(snake_case("ProviderConnected"), "provider_connected");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Tick"), "tick");
        assert_eq!(snake_case("V2Ready"), "v2_ready");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }

    #[test]
    fn names() {
        assert!(validate_name("a.b-c_d.0").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a..b").is_err());
        assert!(validate_name("a.*").is_err());
        assert!(validate_name("A").is_err());
        assert!(validate_segment("a.b").is_err());
        assert!(validate_segment("ab").is_ok());
    }

    #[test]
    fn patterns() {
        for ok in ["a", "a.*.c", "a.>", "*", ">", "*.*", "a-b_0.*"] {
            assert_eq!(validate_pattern(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "pattern is empty"),
            (
                "a..b",
                "pattern has an empty segment (a leading, trailing or doubled `.`) (at byte 2)",
            ),
            (".a", "pattern has an empty segment (a leading, trailing or doubled `.`) (at byte 0)"),
            ("a.>.b", "`>` may only be the last segment (at byte 2)"),
            ("a.b*", "a wildcard must fill its whole segment (`a.*.c`, not `a.b*`) (at byte 3)"),
            ("a.*b", "a wildcard must fill its whole segment (`a.*.c`, not `a.b*`) (at byte 2)"),
            (
                "a.B",
                "pattern may only contain `a-z`, `0-9`, `_`, `-`, `*`, `>` and `.` between segments (at byte 2)",
            ),
        ];
        for (bad, msg) in cases {
            assert_eq!(validate_pattern(bad), Err(msg.to_string()), "{bad}");
        }
    }
}
