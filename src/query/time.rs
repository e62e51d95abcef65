//! Time in ad-hoc SQL as users of DuckDB and Postgres write it, on Polars SQL: RFC 3339
//! literals (`'2024-03-05T09:00:00Z'`, `'…+01:00'`: errscope's own output format),
//! `TIMESTAMP '…'`, `now()` and `current_timestamp`, `± INTERVAL '…'` on any of them, and
//! `date_trunc('hour', ts)`.
//!
//! Polars compares a UTC timestamp column with a string in `YYYY-MM-DD HH:MM:SS` form, but
//! not with one that carries a zone, nor with a typed (zone-less) timestamp, and has no
//! `now` or `date_trunc`. So the statement is parsed (sqlparser, the parser Polars uses),
//! every time literal becomes that UTC string, constant arithmetic on one (`now() -
//! INTERVAL '1 hour'`) is folded into one, and `date_trunc` is a function of errscope's own
//! ([`registry`]), keeping the column's time zone. A statement the parser does not take is
//! passed on as written (Polars then says what is wrong).

use std::ops::ControlFlow;
use std::sync::Arc;

use polars::prelude::*;
use polars::sql::FunctionRegistry;
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, DateTimeField, Expr, Function,
    FunctionArguments, Interval, Value as SqlValue,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::ingest::coerce::parse_ts_str;

/// `sql` with its time literals in the form Polars compares with timestamps (see the
/// module documentation); `now_us`: the time `now()` stands for (epoch µs).
pub fn rewrite(sql: &str, now_us: i64) -> String {
    let Ok(mut statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return sql.to_string();
    };
    let _ = sqlparser::ast::visit_expressions_mut(&mut statements, |e| {
        if let Some(t) = instant(e, now_us) {
            *e = literal(t);
        }
        ControlFlow::<()>::Continue(())
    });
    statements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";\n")
}

/// The instant an expression stands for, when it is a constant time: a time literal, a
/// typed or cast one, `now()`, or one of these plus or minus a fixed interval (its parts,
/// rewritten first, are literals by then).
fn instant(e: &Expr, now_us: i64) -> Option<i64> {
    match e {
        Expr::Value(v) => time_string(&v.value),
        Expr::TypedString(t) if is_timestamp(&t.data_type) => {
            time_string(&t.value.value).or_else(|| string(&t.value.value).and_then(parse_ts_str))
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            ..
        } if is_timestamp(data_type) => match expr.as_ref() {
            Expr::Value(v) => string(&v.value).and_then(parse_ts_str),
            _ => None,
        },
        Expr::Function(f) if is_now(f) => Some(now_us),
        Expr::BinaryOp { left, op, right } => {
            let sign = match op {
                BinaryOperator::Plus => 1,
                BinaryOperator::Minus => -1,
                _ => return None,
            };
            let (Expr::Value(v), Expr::Interval(i)) = (left.as_ref(), right.as_ref()) else {
                return None;
            };
            let t = time_string(&v.value)?;
            t.checked_add(sign * interval_us(i)?)
        }
        _ => None,
    }
}

fn string(v: &SqlValue) -> Option<&str> {
    match v {
        SqlValue::SingleQuotedString(s) => Some(s),
        _ => None,
    }
}

/// A string literal that is a time (`YYYY-MM-DD…`, a zone or none: UTC), as epoch µs.
fn time_string(v: &SqlValue) -> Option<i64> {
    let s = string(v)?;
    let b = s.as_bytes();
    let dated =
        b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit);
    if !dated {
        return None;
    }
    parse_ts_str(s)
}

fn is_timestamp(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Timestamp(..) | SqlType::Datetime(_) | SqlType::TimestampNtz(_)
    )
}

/// `now()`, `current_timestamp`, `current_timestamp()`.
fn is_now(f: &Function) -> bool {
    let name = f.name.to_string().to_ascii_lowercase();
    let no_args = match &f.args {
        FunctionArguments::None => true,
        FunctionArguments::List(l) => l.args.is_empty(),
        FunctionArguments::Subquery(_) => false,
    };
    no_args && matches!(name.as_str(), "now" | "current_timestamp")
}

/// A fixed-length interval in µs: `'90 minutes'`, `'1 hour 30 minutes'`, `'1' HOUR`, `'2d'`
/// (months and years have no fixed length: not folded).
fn interval_us(i: &Interval) -> Option<i64> {
    let Expr::Value(v) = i.value.as_ref() else {
        return None;
    };
    let text = string(&v.value)?.trim().to_ascii_lowercase();
    if i.last_field.is_some() {
        return None;
    }
    if let Some(field) = &i.leading_field {
        let n: f64 = text.parse().ok()?;
        let unit = match field {
            DateTimeField::Microsecond | DateTimeField::Microseconds => 1.0,
            DateTimeField::Millisecond | DateTimeField::Milliseconds => 1e3,
            DateTimeField::Second | DateTimeField::Seconds => 1e6,
            DateTimeField::Minute | DateTimeField::Minutes => 6e7,
            DateTimeField::Hour | DateTimeField::Hours => 3.6e9,
            DateTimeField::Day | DateTimeField::Days => 8.64e10,
            DateTimeField::Week(_) | DateTimeField::Weeks => 6.048e11,
            _ => return None,
        };
        return Some((n * unit).round() as i64);
    }
    duration_us(&text)
}

/// `N unit [N unit]…` (`1 hour 30 minutes`, `90m`, `-2 days`) in µs, fixed units only.
pub fn duration_us(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+')))
            })
            .map_or(rest.len(), |(i, _)| i);
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "us" | "microsecond" | "microseconds" => 1.0,
            "ms" | "millisecond" | "milliseconds" => 1e3,
            "s" | "sec" | "secs" | "second" | "seconds" => 1e6,
            "m" | "min" | "mins" | "minute" | "minutes" => 6e7,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3.6e9,
            "d" | "day" | "days" => 8.64e10,
            "w" | "week" | "weeks" => 6.048e11,
            _ => return None,
        };
        total = total.checked_add((n * unit).round() as i64)?;
        rest = rest[unit_end..].trim_start();
    }
    Some(total)
}

/// The literal Polars compares with a UTC timestamp column.
fn literal(t: i64) -> Expr {
    let s = chrono::DateTime::from_timestamp_micros(t)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_default();
    Expr::Value(SqlValue::SingleQuotedString(s).with_empty_span())
}

/// `date_trunc(unit, ts)`: the start of the unit (`microsecond` … `year`, Monday-based
/// weeks, as DuckDB and Postgres) holding each time, in the column's own time zone.
struct Registry;

impl FunctionRegistry for Registry {
    fn register(&mut self, _name: &str, _fun: UserDefinedFunction) -> PolarsResult<()> {
        polars_bail!(ComputeError: "errscope's SQL functions are fixed")
    }

    fn get_udf(&self, name: &str) -> PolarsResult<Option<UserDefinedFunction>> {
        // One function for every call: `SELECT date_trunc('hour', ts) … GROUP BY
        // date_trunc('hour', ts)` matches the two calls only when they share it.
        static DATE_TRUNC: std::sync::OnceLock<UserDefinedFunction> = std::sync::OnceLock::new();
        Ok(match name.to_ascii_lowercase().as_str() {
            "date_trunc" => Some(
                DATE_TRUNC
                    .get_or_init(|| {
                        UserDefinedFunction::new(
                            "date_trunc".into(),
                            BaseColumnUdf::new(date_trunc, |_: &Schema, fields: &[Field]| {
                                let f = fields.get(1).ok_or_else(|| {
                                    polars_err!(ComputeError: "date_trunc(unit, timestamp) takes two arguments")
                                })?;
                                Ok(f.clone())
                            }),
                        )
                    })
                    .clone(),
            ),
            _ => None,
        })
    }

    fn contains(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("date_trunc")
    }
}

fn date_trunc(args: &mut [Column]) -> PolarsResult<Column> {
    let [unit, ts] = args else {
        polars_bail!(ComputeError: "date_trunc(unit, timestamp) takes two arguments");
    };
    let unit = unit.str()?.get(0).unwrap_or_default().to_ascii_lowercase();
    let every = match unit.trim_end_matches('s') {
        "microsecond" => "1us",
        "millisecond" => "1ms",
        "second" => "1s",
        "minute" => "1m",
        "hour" => "1h",
        "day" => "1d",
        "week" => "1w",
        "month" => "1mo",
        "quarter" => "1q",
        "year" => "1y",
        other => polars_bail!(
            ComputeError: "date_trunc: unknown unit '{other}' (microsecond, millisecond, second, minute, hour, day, week, month, quarter, year)"
        ),
    };
    let every = StringChunked::from_slice("every".into(), &[every]);
    let s = ts.as_materialized_series();
    let out = match s.dtype() {
        DataType::Datetime(_, _) => s.datetime()?.truncate(None, &every)?.into_series(),
        DataType::Date => s.date()?.truncate(None, &every)?.into_series(),
        other => polars_bail!(ComputeError: "date_trunc takes a timestamp or a date, not {other}"),
    };
    Ok(out.with_name(ts.name().clone()).into_column())
}

/// The functions errscope adds to Polars SQL (`date_trunc`).
pub fn registry() -> Arc<dyn FunctionRegistry> {
    Arc::new(Registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_709_629_200_000_000; // 2024-03-05T09:00:00Z

    #[test]
    fn time_literals_become_utc_strings() {
        let cases = [
            (
                "SELECT * FROM events WHERE ts >= '2024-03-05T09:00:00Z'",
                "'2024-03-05 09:00:00.000000'",
            ),
            (
                "SELECT * FROM events WHERE ts >= '2024-03-05T10:30:00+01:00'",
                "'2024-03-05 09:30:00.000000'",
            ),
            (
                "SELECT * FROM events WHERE ts < TIMESTAMP '2024-03-05 09:00:00Z'",
                "'2024-03-05 09:00:00.000000'",
            ),
            (
                "SELECT * FROM events WHERE ts >= now() - INTERVAL '1 hour'",
                "'2024-03-05 08:00:00.000000'",
            ),
            (
                "SELECT * FROM events WHERE ts >= current_timestamp - INTERVAL '90' MINUTE",
                "'2024-03-05 07:30:00.000000'",
            ),
            (
                "SELECT * FROM events WHERE ts BETWEEN '2024-03-05T00:00:00Z' + INTERVAL '1 day 2 hours' AND now()",
                "'2024-03-06 02:00:00.000000'",
            ),
            (
                "SELECT * FROM events WHERE ts >= CAST('2024-03-05T09:00:00.5Z' AS TIMESTAMP)",
                "'2024-03-05 09:00:00.500000'",
            ),
        ];
        for (sql, want) in cases {
            let got = rewrite(sql, NOW);
            assert!(got.contains(want), "{sql}\n-> {got}");
        }
        // Strings that are not times, and SQL the parser does not take, stay as written.
        let plain = "SELECT * FROM events WHERE error_code = 'AUTH_002'";
        assert_eq!(rewrite(plain, NOW), plain);
        assert_eq!(rewrite("SELEC oops", NOW), "SELEC oops");
    }

    #[test]
    fn durations_in_fixed_units() {
        assert_eq!(duration_us("1 hour"), Some(3_600_000_000));
        assert_eq!(duration_us("1 hour 30 minutes"), Some(5_400_000_000));
        assert_eq!(duration_us("-24h"), Some(-86_400_000_000));
        assert_eq!(duration_us("7d"), Some(604_800_000_000));
        assert_eq!(duration_us("1 month"), None);
        assert_eq!(duration_us(""), None);
    }
}
