//! Query parameters: `:name` placeholders in the SQL are replaced by typed literals, found
//! by a scanner that skips string literals, quoted identifiers, comments and `::` casts, so
//! a value never becomes SQL text: a string is one quoted literal (quotes doubled), a
//! number is a number, a time becomes its epoch microseconds (compare with
//! `CAST(ts AS BIGINT)`, which is portable across Polars, DataFusion and Spark).
//!
//! A query file declares its parameters in comment lines `-- @param name [default]`; a
//! parameter without a default and without `--param` is an error that names it.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::ingest::coerce::parse_ts_str;

#[derive(Debug, Error, PartialEq)]
pub enum ParamError {
    #[error("missing parameter :{0} (give it with --param {0}=VALUE)")]
    Missing(String),
    #[error("--param {0:?}: expected NAME=VALUE (or NAME:TYPE=VALUE, TYPE one of string, int, float, time)")]
    Syntax(String),
    #[error("--param {name}: {value:?} is not a valid {kind}")]
    BadValue {
        name: String,
        value: String,
        kind: &'static str,
    },
    #[error("--param {0} is not used by the query")]
    Unused(String),
}

/// A typed literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    /// Epoch microseconds, UTC.
    Time(i64),
}

impl Value {
    /// The SQL text of the literal.
    pub fn to_sql(&self) -> String {
        match self {
            Value::Int(i) | Value::Time(i) => i.to_string(),
            Value::Float(f) if f.is_finite() => {
                let s = format!("{f:?}");
                if s.contains(['.', 'e']) {
                    s
                } else {
                    format!("{s}.0")
                }
            }
            Value::Float(_) => "NULL".into(),
            Value::Str(s) => format!("'{}'", s.replace('\'', "''")),
        }
    }

    /// Infers the type of a value given without one: integer, float, time (RFC 3339,
    /// `YYYY-MM-DD`, or relative to now: `now`, `-24h`, `-7d`, `-90m`), else string.
    pub fn infer(v: &str) -> Value {
        if let Some(t) = relative_time(v) {
            return Value::Time(t);
        }
        if let Ok(i) = v.parse::<i64>() {
            return Value::Int(i);
        }
        if let Ok(f) = v.parse::<f64>() {
            if f.is_finite() {
                return Value::Float(f);
            }
        }
        if looks_like_time(v) {
            if let Some(t) = parse_ts_str(v) {
                return Value::Time(t);
            }
        }
        Value::Str(v.to_string())
    }
}

/// `now`, or now plus or minus a fixed duration (`-24h`, `-7d`, `+1h`, `-1 hour`), as epoch
/// µs: what `--param since=-24h` means, as in `journalctl --since -24h`.
pub fn relative_time(v: &str) -> Option<i64> {
    let v = v.trim();
    let now = now_us();
    if v.eq_ignore_ascii_case("now") {
        return Some(now);
    }
    if !v.starts_with(['-', '+']) {
        return None;
    }
    now.checked_add(super::time::duration_us(v)?)
}

/// The current time, epoch µs.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn looks_like_time(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

/// Parses `NAME=VALUE` or `NAME:TYPE=VALUE`.
pub fn parse_param(arg: &str) -> Result<(String, Value), ParamError> {
    let (lhs, value) = arg
        .split_once('=')
        .ok_or_else(|| ParamError::Syntax(arg.into()))?;
    let (name, kind) = match lhs.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (lhs, None),
    };
    let name = name.trim().trim_start_matches(':');
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ParamError::Syntax(arg.into()));
    }
    let bad = |kind: &'static str| ParamError::BadValue {
        name: name.into(),
        value: value.into(),
        kind,
    };
    let v = match kind {
        None => Value::infer(value),
        Some("string" | "str") => Value::Str(value.into()),
        Some("int") => Value::Int(value.trim().parse().map_err(|_| bad("integer"))?),
        Some("float") => Value::Float(value.trim().parse().map_err(|_| bad("number"))?),
        Some("time" | "ts") => Value::Time(
            relative_time(value)
                .or_else(|| parse_ts_str(value))
                .ok_or_else(|| bad("time"))?,
        ),
        Some(_) => return Err(ParamError::Syntax(arg.into())),
    };
    Ok((name.to_string(), v))
}

/// `-- @param name [default]` declarations of a query file, in order.
pub fn declared(sql: &str) -> Vec<(String, Option<String>)> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("--"))
        .filter_map(|l| l.trim().strip_prefix("@param"))
        .filter_map(|rest| {
            let mut it = rest.trim().splitn(2, char::is_whitespace);
            let name = it.next()?.trim_start_matches(':').to_string();
            let default = it
                .next()
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty());
            (!name.is_empty()).then_some((name, default))
        })
        .collect()
}

/// Replaces every `:name` placeholder with its literal. Values come from `given`, then
/// from the file's declared defaults.
pub fn substitute(sql: &str, given: &BTreeMap<String, Value>) -> Result<String, ParamError> {
    let defaults: BTreeMap<String, Option<String>> = declared(sql).into_iter().collect();
    let mut used = std::collections::BTreeSet::new();
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // Skip what can hold a colon without being a placeholder.
        let skip_to = match c {
            b'\'' | b'"' | b'`' => Some(close_quote(b, i)),
            b'-' if b.get(i + 1) == Some(&b'-') => Some(
                b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p),
            ),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                Some(sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2))
            }
            b':' if b.get(i + 1) == Some(&b':') => Some(i + 2),
            _ => None,
        };
        if let Some(end) = skip_to {
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        let after_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if c == b':' && !after_word {
            let len = b[i + 1..]
                .iter()
                .take_while(|x| x.is_ascii_alphanumeric() || **x == b'_')
                .count();
            if len > 0 && !b[i + 1].is_ascii_digit() {
                let name = &sql[i + 1..i + 1 + len];
                let value = match given.get(name) {
                    Some(v) => v.clone(),
                    None => match defaults.get(name) {
                        Some(Some(d)) => Value::infer(d),
                        _ => return Err(ParamError::Missing(name.into())),
                    },
                };
                used.insert(name.to_string());
                out.push_str(&value.to_sql());
                i += 1 + len;
                continue;
            }
        }
        let ch = sql[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    if let Some(unused) = given.keys().find(|k| !used.contains(*k)) {
        return Err(ParamError::Unused(unused.clone()));
    }
    Ok(out)
}

/// The index after the quote closing the one at `start` (doubled quotes escape).
fn close_quote(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[&str]) -> BTreeMap<String, Value> {
        pairs.iter().map(|p| parse_param(p).unwrap()).collect()
    }

    #[test]
    fn values_become_typed_literals_never_sql() {
        let sql = "SELECT * FROM events WHERE user_id = :u AND status >= :s AND x = ':u' -- :u\n AND CAST(ts AS BIGINT) >= :since AND y::int = 1";
        let out = substitute(
            sql,
            &given(&["u=x' OR '1'='1", "s=500", "since=2024-03-04T00:00:00Z"]),
        )
        .unwrap();
        assert_eq!(
            out,
            "SELECT * FROM events WHERE user_id = 'x'' OR ''1''=''1' AND status >= 500 AND x = ':u' -- :u\n AND CAST(ts AS BIGINT) >= 1709510400000000 AND y::int = 1"
        );
    }

    #[test]
    fn missing_unused_and_typed_parameters() {
        assert_eq!(
            substitute("SELECT :a, :b", &given(&["a=1"])),
            Err(ParamError::Missing("b".into()))
        );
        assert_eq!(
            substitute("SELECT 1", &given(&["a=1"])),
            Err(ParamError::Unused("a".into()))
        );
        let with_default = "-- @param limit 10\n-- @param code\nSELECT :limit, :code";
        assert_eq!(
            substitute(with_default, &given(&["code:string=42"])).unwrap(),
            "-- @param limit 10\n-- @param code\nSELECT 10, '42'"
        );
        assert!(parse_param("n:int=x").is_err());
        assert!(parse_param("no-equals").is_err());
        assert_eq!(parse_param("f=1.5").unwrap().1.to_sql(), "1.5");
        assert_eq!(
            parse_param("d=2024-03-05").unwrap().1,
            Value::Time(1_709_596_800_000_000)
        );
    }
}
