//! Object storage: inputs read from, and outputs written to, buckets (`s3://`, `gs://`,
//! `az://`/`abfss://`) and `https://` URLs, through Apache Arrow's `object_store` on one
//! small tokio runtime. The decoders stay on their threads: an object's bytes stream to
//! them through a bounded channel (`ingest::source::object`, the source seam's object
//! input), so no object is ever held whole in memory.
//!
//! Credentials come the way the AWS CLI, DuckDB and Polars users set them: `AWS_*`,
//! `GOOGLE_*` and `AZURE_*` environment variables, the shared AWS profile
//! (`AWS_PROFILE`, `~/.aws/credentials`, `~/.aws/config`), instance and web-identity
//! credentials, `--no-sign-request` for public buckets, and `[storage]` in errscope.toml.
//! No credential reaches a name, a message, an output or the manifest.

mod aws_profile;
mod location;
pub mod output;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use serde::Deserialize;

pub use location::{is_url, Location, Scheme};

/// `[storage]` in errscope.toml (all optional; the environment usually says it all).
///
/// ```toml
/// [storage]
/// endpoint = "http://127.0.0.1:8333"  # an S3-compatible server (else AWS_ENDPOINT_URL)
/// region = "eu-west-1"                # else AWS_REGION / the profile's region
/// no_sign_request = false              # public buckets (also --no-sign-request)
/// concurrency = 8                      # objects fetched or uploaded at once
/// max_retries = 5                      # per request, with exponential backoff
/// retry_timeout_secs = 60
/// options = { aws_virtual_hosted_style_request = "true" }  # any object_store key
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: Option<bool>,
    #[serde(default)]
    pub no_sign_request: bool,
    pub concurrency: Option<usize>,
    pub max_retries: Option<usize>,
    pub retry_timeout_secs: Option<u64>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl StorageConfig {
    /// Objects fetched ahead, or uploaded, at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(8).clamp(1, 64)
    }
}

static SETTINGS: OnceLock<StorageConfig> = OnceLock::new();
static NO_SIGN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--no-sign-request`: requests to public buckets go unsigned.
pub fn sign_requests(sign: bool) {
    NO_SIGN.store(!sign, std::sync::atomic::Ordering::Relaxed);
}

/// Sets the storage settings of this process (the first call wins: one run, one config).
pub fn configure(mut cfg: StorageConfig) {
    cfg.no_sign_request |= NO_SIGN.load(std::sync::atomic::Ordering::Relaxed);
    let _ = SETTINGS.set(cfg);
}

pub fn settings() -> &'static StorageConfig {
    SETTINGS.get_or_init(StorageConfig::default)
}

/// The runtime all storage I/O runs on: two worker threads, started on first use (a run
/// on local files never starts it).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("errscope-storage")
            .enable_all()
            .build()
            .expect("cannot start the storage runtime")
    })
}

/// A storage failure as one line a person can act on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// TLS through ring (the crate already built for Polars), installed once per process: for
/// the stores and the Spark Connect client.
pub fn install_crypto() {
    static TLS: OnceLock<()> = OnceLock::new();
    TLS.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The store a location names (built once per bucket and reused).
pub fn store(loc: &Location) -> Result<Arc<dyn ObjectStore>, StorageError> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    if let Some(s) = stores
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&loc.root)
    {
        return Ok(s.clone());
    }
    install_crypto();
    let built = build(loc, settings())?;
    stores
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(loc.root.clone(), built.clone());
    Ok(built)
}

/// Environment variables with this prefix, as (lower-cased key, value).
fn env_with(prefix: &str) -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// Client settings for every store: connecting is quick to fail; a long object may stream
/// as long as it keeps moving (back-pressure from the decoders pauses it).
const CLIENT: &[(ClientConfigKey, &str)] = &[
    (ClientConfigKey::ConnectTimeout, "10s"),
    (ClientConfigKey::Timeout, "6h"),
    (ClientConfigKey::ReadTimeout, "120s"),
];

fn retry(cfg: &StorageConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            base: 2.0,
        },
        max_retries: cfg.max_retries.unwrap_or(5),
        retry_timeout: Duration::from_secs(cfg.retry_timeout_secs.unwrap_or(60)),
    }
}

fn bad_option(store: &str, key: &str) -> StorageError {
    StorageError(format!(
        "[storage] options: {key:?} is not an option of the {store} store"
    ))
}

fn build(loc: &Location, cfg: &StorageConfig) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let failed = |e: object_store::Error| {
        let hint = match loc.scheme {
            Scheme::Azure => {
                " (set AZURE_STORAGE_ACCOUNT_NAME, or write \
                 abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX)"
            }
            Scheme::Gcs => " (check GOOGLE_APPLICATION_CREDENTIALS)",
            Scheme::S3 => " (check AWS_REGION, AWS_ENDPOINT_URL and [storage])",
            Scheme::Http => "",
        };
        StorageError(format!(
            "{}: cannot set up the store: {}{hint}",
            loc.root,
            output::one_line(&e.to_string())
        ))
    };
    let allow_http = cfg
        .allow_http
        .or_else(|| cfg.endpoint.as_deref().map(|e| e.starts_with("http://")));
    let store: Arc<dyn ObjectStore> = match loc.scheme {
        Scheme::S3 => {
            let mut b = AmazonS3Builder::new();
            for (k, v) in CLIENT {
                b = b.with_config(AmazonS3ConfigKey::Client(*k), *v);
            }
            let env = env_with("AWS_");
            let has_keys = env.iter().any(|(k, _)| k == "aws_access_key_id");
            let skip = cfg.no_sign_request
                || env
                    .iter()
                    .any(|(k, v)| k == "aws_skip_signature" && v == "true");
            if !has_keys && !skip {
                if let Some(p) = aws_profile::load().map_err(StorageError)? {
                    b = p.apply(b);
                }
            }
            for (k, v) in env {
                if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            if let Some(e) = &cfg.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &cfg.region {
                b = b.with_region(r);
            }
            if let Some(h) = allow_http {
                b = b.with_allow_http(h);
            }
            for (k, v) in &cfg.options {
                let key = k.parse().map_err(|_| bad_option("S3", k))?;
                b = b.with_config(key, v);
            }
            // An `http://` endpoint (a local S3-compatible server) is allowed as written,
            // as the AWS CLI allows it, unless AWS_ALLOW_HTTP or [storage] says otherwise.
            let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint);
            let http_said =
                cfg.allow_http.is_some() || std::env::var_os("AWS_ALLOW_HTTP").is_some();
            if !http_said && endpoint.is_some_and(|e| e.starts_with("http://")) {
                b = b.with_allow_http(true);
            }
            b = b.with_skip_signature(skip);
            b.with_bucket_name(&loc.bucket)
                .with_retry(retry(cfg))
                .build()
                .map(|s| Arc::new(s) as _)
                .map_err(failed)?
        }
        Scheme::Gcs => {
            let mut b = GoogleCloudStorageBuilder::new();
            for (k, v) in CLIENT {
                b = b.with_config(GoogleConfigKey::Client(*k), *v);
            }
            for (k, v) in env_with("GOOGLE_") {
                if let Ok(key) = k.parse::<GoogleConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            if cfg.no_sign_request {
                b = b.with_config(GoogleConfigKey::SkipSignature, "true");
            }
            for (k, v) in &cfg.options {
                let key = k
                    .parse()
                    .map_err(|_| bad_option("Google Cloud Storage", k))?;
                b = b.with_config(key, v);
            }
            b.with_bucket_name(&loc.bucket)
                .with_retry(retry(cfg))
                .build()
                .map(|s| Arc::new(s) as _)
                .map_err(failed)?
        }
        Scheme::Azure => {
            let mut b = MicrosoftAzureBuilder::new();
            for (k, v) in CLIENT {
                b = b.with_config(AzureConfigKey::Client(*k), *v);
            }
            for (k, v) in env_with("AZURE_") {
                if let Ok(key) = k.parse::<AzureConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            if cfg.no_sign_request {
                b = b.with_config(AzureConfigKey::SkipSignature, "true");
            }
            if let Some(e) = &cfg.endpoint {
                b = b.with_endpoint(e.clone());
            }
            if let Some(h) = allow_http {
                b = b.with_allow_http(h);
            }
            for (k, v) in &cfg.options {
                let key = k.parse().map_err(|_| bad_option("Azure", k))?;
                b = b.with_config(key, v);
            }
            b.with_url(&loc.root)
                .with_retry(retry(cfg))
                .build()
                .map(|s| Arc::new(s) as _)
                .map_err(failed)?
        }
        Scheme::Http => {
            let mut b = HttpBuilder::new();
            for (k, v) in CLIENT {
                b = b.with_config(*k, *v);
            }
            if loc.root.starts_with("http://") {
                b = b.with_config(ClientConfigKey::AllowHttp, "true");
            }
            b.with_url(&loc.root)
                .with_retry(retry(cfg))
                .build()
                .map(|s| Arc::new(s) as _)
                .map_err(failed)?
        }
    };
    Ok(store)
}

/// What went wrong with `what` (a URL), as one line that starts with the URL and says what
/// to check: never an XML body, a credential or a signature.
pub fn explain(what: &Location, e: &object_store::Error) -> String {
    format!("{what}: {}", explain_cause(what, e))
}

/// [`explain`] without the URL in front (for messages that name it already).
pub fn explain_cause(what: &Location, e: &object_store::Error) -> String {
    use object_store::Error as E;
    // The whole chain, to classify; the deepest cause (the most specific), to show.
    let mut full = format!("{e}");
    let mut chain = vec![full.clone()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        full += &format!(": {s}");
        chain.push(s.to_string());
        source = s.source();
    }
    let deepest = chain
        .iter()
        .rev()
        .map(|c| output::one_line(c))
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    let deepest_line = deepest.clone();
    let cause = if chain.len() > 1 && deepest.len() < 40 {
        // "connection refused" says more with what it was doing.
        let outer = output::one_line(&chain[0]);
        let outer = outer.split(" - ").next().unwrap_or(&outer).to_string();
        format!("{outer}: {deepest}")
    } else {
        deepest
    };
    let creds = match what.scheme {
        Scheme::S3 => {
            "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or give \
             --no-sign-request for a public bucket"
        }
        Scheme::Gcs => "check GOOGLE_APPLICATION_CREDENTIALS",
        Scheme::Azure => {
            "check AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or a SAS)"
        }
        Scheme::Http => "check the URL",
    };
    let lower = full.to_ascii_lowercase();
    match e {
        E::NotFound { .. } if lower.contains("nosuchbucket") || lower.contains("bucket") => {
            format!("no such bucket {:?}", what.bucket)
        }
        E::NotFound { .. } => "no such object".to_string(),
        E::Unauthenticated { .. } | E::PermissionDenied { .. } => {
            format!("access denied ({creds})")
        }
        _ if lower.contains("nosuchbucket") => format!("no such bucket {:?}", what.bucket),
        _ if lower.contains("accessdenied")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("invalidaccesskeyid")
            || lower.contains("403 forbidden")
            || lower.contains("401 unauthorized") =>
        {
            format!("access denied ({creds})")
        }
        _ if lower.contains("error sending request")
            || lower.contains("connection refused")
            || lower.contains("dns error")
            || lower.contains("timed out")
            || lower.contains("connect") =>
        {
            let endpoint = match what.scheme {
                Scheme::S3 => " (check AWS_ENDPOINT_URL or [storage] endpoint, and the network)",
                _ => " (check the network)",
            };
            let retries = if lower.contains("after ") && lower.contains(" retries") {
                " (retried)"
            } else {
                ""
            };
            format!("cannot reach the storage service{endpoint}: {deepest_line}{retries}")
        }
        _ => cause,
    }
}
