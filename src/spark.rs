//! A Spark Connect session (feature `spark`): SQL in, Arrow record batches out, on the
//! Apache Spark Connect Rust client (gRPC on tonic, on the tokio runtime object storage
//! uses). Below `analyze/`, like `storage/`: it knows Spark, not errscope.
//!
//! Results come back as Arrow IPC streams, decoded with errscope's own arrow (the
//! client's high-level crate pins another arrow). Every failure is a [`SparkFailure`]:
//! one line naming the endpoint (never its token) and the cause.

use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use spark_connect_core::{ChannelBuilder, RetryPolicy, SparkConnectClient, SparkError};
use spark_connect_proto as pb;

pub use crate::exit::EngineFailure as SparkFailure;

/// An open session on a Spark Connect server.
pub struct Session {
    client: SparkConnectClient,
    /// `sc://host:port`: what messages call the server (no token, no parameters).
    name: String,
}

/// `sc://host:port` of a connection string (`sc://host:port/;token=…;use_ssl=true`),
/// without its parameters: a token must never reach a message or an output.
pub fn endpoint_name(url: &str) -> String {
    let rest = url.strip_prefix("sc://").unwrap_or(url);
    let host = rest.split(['/', ';', '?']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("sc://{host}")
}

/// Retries of a call that found the server unavailable: a few, quickly (about 8 s in
/// all), so an unreachable cluster fails a nightly run in seconds, not in the client's
/// default hour.
fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: Some(4),
        initial_backoff_ms: 500,
        max_backoff_ms: Some(4_000),
        max_retry_exception_elapsed_time_ms: Some(30_000),
        ..RetryPolicy::default()
    }
}

/// The cause of a client error, in one line: the error class and message, or for a
/// transport failure what it was.
fn cause(e: &SparkError) -> String {
    cause_in(e, false)
}

/// [`cause`], for a failure while a query ran (`running`): a server that went away then is
/// not one that could not be reached.
fn cause_in(e: &SparkError, running: bool) -> String {
    let msg = e.message();
    let mut msg = msg.lines().next().unwrap_or_default().trim().to_string();
    // The client's message repeats the error class: `[CLASS] [CLASS] text`.
    if let Some(end) = msg.find("] ").filter(|_| msg.starts_with('[')) {
        let class = msg[..end + 2].to_string();
        if msg[end + 2..].starts_with(&class) {
            msg = msg[end + 2..].to_string();
        }
    }
    // The gRPC codes of a transport failure (14 unavailable, 4 deadline exceeded).
    match e.grpc_code {
        Some(14) if running => format!("the server went away mid-query ({msg})"),
        Some(14) => format!("the server cannot be reached ({msg})"),
        Some(4) => format!("the server did not answer in time ({msg})"),
        _ => msg,
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    crate::storage::runtime().block_on(f)
}

impl Session {
    /// Connects (the channel is dialled at the first call, so a session that cannot reach
    /// its server fails at [`Session::set_conf`] or [`Session::sql`]).
    pub fn connect(url: &str) -> Result<Session, SparkFailure> {
        let name = endpoint_name(url);
        let builder = ChannelBuilder::parse(url).map_err(|e| {
            SparkFailure(format!(
                "{name}: not a Spark Connect URL (sc://HOST:PORT): {}",
                cause(&e)
            ))
        })?;
        crate::storage::install_crypto();
        let mut client = block_on(SparkConnectClient::connect(&builder))
            .map_err(|e| SparkFailure(format!("{name}: cannot connect: {}", cause(&e))))?;
        client.set_retry_policy(retry_policy());
        Ok(Session { client, name })
    }

    /// `sc://host:port`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets a Spark SQL configuration of this session.
    pub fn set_conf(&self, key: &str, value: &str) -> Result<(), SparkFailure> {
        block_on(self.client.set_config(key, value)).map_err(|e| {
            SparkFailure(format!(
                "Spark Connect at {}: cannot start a session: {}",
                self.name,
                cause(&e)
            ))
        })
    }

    /// Runs `query` and hands each result batch to `f`, in the order the server sends
    /// them (a query's `ORDER BY` order). A result cut before the server said it was
    /// complete is an error, never a short result.
    pub fn sql(
        &self,
        what: &str,
        query: &str,
        mut f: impl FnMut(RecordBatch) -> anyhow::Result<()>,
    ) -> Result<(), SparkFailure> {
        let fail = |cause: String| {
            SparkFailure(format!(
                "Spark Connect at {}: {what} failed: {cause}",
                self.name
            ))
        };
        let request = pb::ExecutePlanRequest {
            // The core client leaves these to the caller: without them the server would
            // open another session (and lose this one's configuration).
            session_id: self.client.session_id().to_string(),
            user_context: Some(pb::UserContext {
                user_id: self.client.user_id().unwrap_or_default().to_string(),
                ..Default::default()
            }),
            plan: Some(pb::Plan {
                op_type: Some(pb::plan::OpType::Root(pb::Relation {
                    rel_type: Some(pb::relation::RelType::Sql(pb::Sql {
                        query: query.to_string(),
                        ..Default::default()
                    })),
                    ..Default::default()
                })),
            }),
            client_type: Some(format!("errscope/{}", env!("CARGO_PKG_VERSION"))),
            ..Default::default()
        };
        let _trace = trace().then(|| {
            eprintln!("errscope: spark: {what}: {query}");
            Trace(what.to_string(), std::time::Instant::now())
        });
        block_on(async {
            let mut stream = self
                .client
                .execute_plan_reattachable(request)
                .await
                .map_err(|e| fail(cause(&e)))?;
            let mut complete = false;
            loop {
                // A server that stops answering mid-query is a failure, not a wait forever.
                let next =
                    tokio::time::timeout(Duration::from_secs(QUERY_IDLE_SECS), stream.message())
                        .await
                        .map_err(|_| fail(format!("no answer for {QUERY_IDLE_SECS} s")))?;
                let Some(msg) = next.map_err(|e| fail(cause_in(&e, true)))? else {
                    break;
                };
                use pb::execute_plan_response::ResponseType;
                match msg.response_type {
                    Some(ResponseType::ArrowBatch(ab)) => {
                        let reader = StreamReader::try_new(std::io::Cursor::new(ab.data), None)
                            .map_err(|e| fail(format!("unreadable result batch: {e}")))?;
                        for batch in reader {
                            let batch =
                                batch.map_err(|e| fail(format!("unreadable result batch: {e}")))?;
                            f(batch).map_err(|e| fail(format!("{e:#}")))?;
                        }
                    }
                    Some(ResponseType::ResultComplete(_)) => complete = true,
                    _ => {}
                }
            }
            if !complete {
                return Err(fail(
                    "the result stream ended before the server said it was complete".into(),
                ));
            }
            Ok(())
        })
    }
}

/// `ERRSCOPE_SPARK_TRACE=1`: each query's SQL and wall time on stderr (what a data
/// engineer compares with the Spark UI's SQL tab).
fn trace() -> bool {
    std::env::var_os("ERRSCOPE_SPARK_TRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Prints how long a traced query took, when it ends (also by an error).
struct Trace(String, std::time::Instant);

impl Drop for Trace {
    fn drop(&mut self) {
        eprintln!(
            "errscope: spark: {}: {:.2} s",
            self.0,
            self.1.elapsed().as_secs_f64()
        );
    }
}

/// Seconds without any message from the server (progress messages count) before a
/// query is given up.
const QUERY_IDLE_SECS: u64 = 600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_carry_the_token() {
        assert_eq!(
            endpoint_name("sc://spark.example.com:443/;token=SECRET;use_ssl=true"),
            "sc://spark.example.com:443"
        );
        assert_eq!(
            endpoint_name("sc://127.0.0.1:15002"),
            "sc://127.0.0.1:15002"
        );
    }
}
