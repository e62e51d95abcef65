//! The one canonical Arrow schema of an error event: every input shape ends up here.
//!
//! Column names avoid SQL reserved words (`timestamp`, `date`), strings are `Utf8View`
//! (zero-copy into Polars), and the event time is UTC microseconds.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `ts` | timestamp µs UTC, not null | when the event happened (log time, never ingest time) |
//! | `status` | int16 | HTTP status; null for network failures and records without one |
//! | `error` | string | machine error type, e.g. `rate_limit_exceeded` |
//! | `error_code` | string | vendor code (`AUTH_002`); `HTTP_<status>` when the record has none; null for successes |
//! | `message` | string | human description (`error_description`, `message`, `detail`, ...) |
//! | `level` | string | log level, upper case (`CRITICAL`, `ERROR`, `WARNING`, ...) |
//! | `logger` | string | logger name from a text log prefix (`api.errors`) |
//! | `log_message` | string | the text before the JSON payload (`API error`) |
//! | `request_id` .. `user_agent` | string | who, where and how of the request |
//! | `service` | string | the service or host the request went to (Cloudflare `ClientRequestHost`, OpenTelemetry `service.name`, a load balancer's backend) |
//! | `retry_after_s` | float64 | seconds to wait, from `Retry-After`/`retry_after` (number or date) |
//! | `category` | string, not null | authentication, authorization, rate_limit, validation, not_found, client, server, network, success |
//! | `retryable` | bool | whether a retry can succeed (429, 5xx, network); null for successes |
//! | `class` | string | `security`, `critical` or `warning`; null for successes |
//! | `details`, `downstream` | string | JSON text, secrets redacted |
//! | `extra` | string | JSON object of the input fields no column took, secrets redacted |
//! | `source_file`, `source_line` | string, uint64, not null | where the record starts |

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Time zone of `ts`.
pub const TS_TZ: &str = "UTC";

/// Column indexes, in schema order.
pub mod col {
    pub const TS: usize = 0;
    pub const STATUS: usize = 1;
    pub const ERROR: usize = 2;
    pub const ERROR_CODE: usize = 3;
    pub const MESSAGE: usize = 4;
    pub const LEVEL: usize = 5;
    pub const LOGGER: usize = 6;
    pub const LOG_MESSAGE: usize = 7;
    pub const REQUEST_ID: usize = 8;
    pub const CONNECTION_ID: usize = 9;
    pub const ORGANIZATION_ID: usize = 10;
    pub const USER_ID: usize = 11;
    pub const ENDPOINT: usize = 12;
    pub const METHOD: usize = 13;
    pub const IP_ADDRESS: usize = 14;
    pub const USER_AGENT: usize = 15;
    pub const SERVICE: usize = 16;
    pub const RETRY_AFTER_S: usize = 17;
    pub const CATEGORY: usize = 18;
    pub const RETRYABLE: usize = 19;
    pub const CLASS: usize = 20;
    pub const DETAILS: usize = 21;
    pub const DOWNSTREAM: usize = 22;
    pub const EXTRA: usize = 23;
    pub const SOURCE_FILE: usize = 24;
    pub const SOURCE_LINE: usize = 25;
}

/// Names of the string columns between `error` and `service`, in order.
pub const TEXT_COLUMNS: [&str; 15] = [
    "error",
    "error_code",
    "message",
    "level",
    "logger",
    "log_message",
    "request_id",
    "connection_id",
    "organization_id",
    "user_id",
    "endpoint",
    "method",
    "ip_address",
    "user_agent",
    "service",
];

/// The canonical event schema (shared, built once).
pub fn event_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let text = |name: &str| Field::new(name, DataType::Utf8View, true);
            let mut fields = vec![
                Field::new(
                    "ts",
                    DataType::Timestamp(TimeUnit::Microsecond, Some(TS_TZ.into())),
                    false,
                ),
                Field::new("status", DataType::Int16, true),
            ];
            fields.extend(TEXT_COLUMNS.iter().map(|n| text(n)));
            fields.extend([
                Field::new("retry_after_s", DataType::Float64, true),
                Field::new("category", DataType::Utf8View, false),
                Field::new("retryable", DataType::Boolean, true),
                text("class"),
                text("details"),
                text("downstream"),
                text("extra"),
                Field::new("source_file", DataType::Utf8View, false),
                Field::new("source_line", DataType::UInt64, false),
            ]);
            Arc::new(Schema::new(fields))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_indexes_match_names() {
        let s = event_schema();
        let at = |i: usize| s.field(i).name().as_str();
        assert_eq!(at(col::TS), "ts");
        assert_eq!(at(col::STATUS), "status");
        assert_eq!(at(col::ERROR), "error");
        assert_eq!(at(col::USER_AGENT), "user_agent");
        assert_eq!(at(col::SERVICE), "service");
        assert_eq!(at(col::RETRY_AFTER_S), "retry_after_s");
        assert_eq!(at(col::CATEGORY), "category");
        assert_eq!(at(col::CLASS), "class");
        assert_eq!(at(col::EXTRA), "extra");
        assert_eq!(at(col::SOURCE_LINE), "source_line");
        assert_eq!(s.fields().len(), col::SOURCE_LINE + 1);
    }

    #[test]
    fn no_sql_reserved_column_names() {
        for f in event_schema().fields() {
            assert!(!["timestamp", "date", "time", "user", "order"].contains(&f.name().as_str()));
        }
    }
}
