//! Text log lines with a JSON payload after a prefix, as Python's `logging` and most
//! application loggers write them: the level, logger and message before the JSON matter.
//!
//! Recognised prefixes (the timestamp is optional and may be bracketed):
//! `2024-01-15 10:30:00,123 ERROR api.errors: API error: {..}`,
//! `2024-01-15 10:30:00,123 - api.errors - ERROR - API error: {..}`,
//! `ERROR:api.errors:API error: {..}`, `[2024-01-15T10:30:00Z] [WARNING] Rate limit: {..}`.

use super::coerce::parse_ts_str;

const LEVELS: &[(&str, &str)] = &[
    ("CRITICAL", "CRITICAL"),
    ("FATAL", "CRITICAL"),
    ("EMERG", "CRITICAL"),
    ("ALERT", "CRITICAL"),
    ("SEVERE", "ERROR"),
    ("ERROR", "ERROR"),
    ("ERR", "ERROR"),
    ("WARNING", "WARNING"),
    ("WARN", "WARNING"),
    ("NOTICE", "INFO"),
    ("INFO", "INFO"),
    ("DEBUG", "DEBUG"),
    ("TRACE", "DEBUG"),
];

/// Canonical upper-case level for a level word (`warn` -> `WARNING`), if it is one.
pub fn canonical_level(word: &str) -> Option<&'static str> {
    LEVELS
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|(_, canon)| *canon)
}

/// What a prefix told us.
#[derive(Debug, Default, PartialEq)]
pub struct Prefix<'a> {
    pub ts: Option<i64>,
    pub level: Option<&'static str>,
    pub logger: Option<&'a str>,
    pub message: Option<&'a str>,
}

const SEPS: &[char] = &[' ', '\t', '-', '|', ':', '[', ']', '(', ')', ','];

fn is_logger_name(w: &str) -> bool {
    !w.is_empty()
        && w.len() <= 120
        && w.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/$<>".contains(c))
}

/// Splits off a leading timestamp (one to three words), returning it and the rest.
fn leading_timestamp(s: &str) -> (Option<i64>, &str) {
    let s = s.trim_start();
    let (open, body) = match s.strip_prefix('[') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let mut best = None;
    let mut end = 0;
    for (i, c) in body
        .char_indices()
        .chain(std::iter::once((body.len(), ' ')))
    {
        if i < 8 || !(c == ' ' || (open && c == ']')) {
            continue;
        }
        let cand = &body[..i];
        if cand.split_whitespace().count() > 3 {
            break;
        }
        if let Some(ts) = parse_ts_str(cand) {
            best = Some(ts);
            end = i;
        }
        if open && c == ']' {
            break;
        }
    }
    match best {
        Some(ts) => {
            let rest = &body[end..];
            let rest = if open {
                rest.trim_start().strip_prefix(']').unwrap_or(rest)
            } else {
                rest
            };
            (Some(ts), rest)
        }
        None => (None, s),
    }
}

/// Parses the text before a JSON payload.
pub fn parse_prefix(prefix: &str) -> Prefix<'_> {
    let (ts, rest) = leading_timestamp(prefix);
    let mut out = Prefix {
        ts,
        ..Prefix::default()
    };
    // Walk the first few words: a level, and a logger name before or after it.
    let mut pos = 0;
    let mut pending_logger: Option<&str> = None;
    let mut words_seen = 0;
    let bytes = rest.as_bytes();
    while pos < rest.len() && words_seen < 4 {
        while pos < rest.len() && SEPS.contains(&(bytes[pos] as char)) {
            pos += 1;
        }
        let start = pos;
        while pos < rest.len() && !matches!(bytes[pos], b' ' | b'\t' | b':' | b']' | b'|') {
            pos += 1;
        }
        if start == pos {
            break;
        }
        let word = &rest[start..pos];
        words_seen += 1;
        let is_upper = word.chars().all(|c| c.is_ascii_uppercase());
        if out.level.is_none() && is_upper {
            if let Some(level) = canonical_level(word) {
                out.level = Some(level);
                out.logger = pending_logger.take();
                let after = &rest[pos..];
                // A logger name right after the level, closed by `:` or ` - `.
                let trimmed = after.trim_start_matches(SEPS);
                let name_end = trimmed.find([':', ' ']).unwrap_or(trimmed.len());
                let name = &trimmed[..name_end];
                let tail = &trimmed[name_end..];
                let closes = tail.starts_with(':') || tail.starts_with(" - ");
                let dotted = name.contains(['.', '_', '/']);
                let tight = tail.starts_with(':') && !tail.starts_with(": ");
                if out.logger.is_none() && closes && is_logger_name(name) && (dotted || tight) {
                    out.logger = Some(name);
                    let consumed = rest.len() - trimmed.len() + name_end;
                    pos = consumed + 1;
                }
                break;
            }
        }
        if pending_logger.is_none() && is_logger_name(word) && word.contains(['.', '_']) {
            pending_logger = Some(word);
        } else if !is_upper {
            // Free text before any level: this is the message, not a structured prefix.
            pos = start;
            break;
        }
    }
    if out.level.is_none() {
        pos = 0;
    }
    let msg = rest[pos.min(rest.len())..]
        .trim_matches(|c: char| c.is_whitespace() || "-|:[]".contains(c));
    if !msg.is_empty() {
        out.message = Some(msg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_705_314_600_123_000;

    #[test]
    fn python_logging_default_layouts() {
        let p = parse_prefix("2024-01-15 10:30:00,123 ERROR api.errors: API error: ");
        assert_eq!(p.ts, Some(T0));
        assert_eq!(p.level, Some("ERROR"));
        assert_eq!(p.logger, Some("api.errors"));
        assert_eq!(p.message, Some("API error"));

        let p = parse_prefix(
            "2024-01-15 10:30:00,123 - nexla.auth - CRITICAL - Critical authentication error: ",
        );
        assert_eq!(p.level, Some("CRITICAL"));
        assert_eq!(p.logger, Some("nexla.auth"));
        assert_eq!(p.message, Some("Critical authentication error"));

        let p = parse_prefix("ERROR:api.errors:API error: ");
        assert_eq!(p.ts, None);
        assert_eq!(p.level, Some("ERROR"));
        assert_eq!(p.logger, Some("api.errors"));
        assert_eq!(p.message, Some("API error"));
    }

    #[test]
    fn bracketed_and_plain() {
        let p = parse_prefix("[2024-01-15T10:30:00.123Z] [WARN] Rate limit warning: ");
        assert_eq!(p.ts, Some(T0));
        assert_eq!(p.level, Some("WARNING"));
        assert_eq!(p.logger, None);
        assert_eq!(p.message, Some("Rate limit warning"));

        let p = parse_prefix("2024-01-15T10:30:00.123Z CRITICAL Critical authentication error: ");
        assert_eq!(p.level, Some("CRITICAL"));
        assert_eq!(p.message, Some("Critical authentication error"));

        let p = parse_prefix("something happened: ");
        assert_eq!(p.level, None);
        assert_eq!(p.message, Some("something happened"));
    }

    #[test]
    fn lowercase_error_in_a_message_is_not_a_level() {
        let p = parse_prefix("API error: ");
        assert_eq!(p.level, None);
        assert_eq!(p.message, Some("API error"));
    }
}
