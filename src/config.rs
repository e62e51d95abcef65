//! The validated configuration: built-in defaults from DOMAIN.md, overridden by an
//! `errscope.toml` (given with `--config`, or found in the working directory).
//!
//! ```toml
//! # errscope.toml
//! [aliases]                 # extra input keys per canonical column (dotted paths allowed)
//! connection_id = ["integration.ref", "pipe"]
//! status = ["resp.code"]
//!
//! [classes]                 # replace the DOMAIN.md code lists
//! security_codes = ["AUTH_002", "AUTH_004", "SECURITY_VIOLATION", "IP_BLOCKED"]
//! critical_codes = ["AUTH_CRITICAL", "SYSTEM_FAILURE"]
//!
//! [ingest]
//! envelopes = ["hits.hits"]  # arrays holding the records of a wrapper document
//! duplicates = "drop"        # exact duplicates (same request id, same bytes): drop, keep, off
//! duplicate_memory = 4000000 # fingerprints held to find them (about 16 bytes each)
//! ```
//!
//! `[windows]` and `[detectors.*]` configure analysis (see `analyze/config.rs`);
//! `[storage]` configures buckets (see `storage/mod.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::analyze::config::{AnalyzeConfig, DetectorsConfig, WindowsConfig};
use crate::ingest::aliases::{target_by_name, Target};
pub use crate::ingest::rules::{DuplicateMode, MappingConfig, DEFAULT_DUPLICATE_MEMORY};

/// The file name looked for in the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "errscope.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// Extra aliases: canonical column name -> input keys or dotted paths.
    #[serde(default)]
    aliases: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    classes: ClassesSection,
    #[serde(default)]
    ingest: IngestSection,
    #[serde(default)]
    windows: WindowsConfig,
    #[serde(default)]
    detectors: DetectorsConfig,
    #[serde(default)]
    rates: crate::analyze::config::RatesConfig,
    #[serde(default)]
    storage: crate::storage::StorageConfig,
    #[serde(default)]
    engine: EngineConfig,
}

/// `[engine]`: where `analyze` computes the rate tables of an events dataset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// `local` (the default, in this process) or a Spark Connect URL `sc://HOST:PORT`
    /// (`--engine` wins).
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassesSection {
    /// Codes whose errors are `security` (default: AUTH_002, AUTH_004, SECURITY_VIOLATION).
    security_codes: Option<Vec<String>>,
    /// Codes whose errors are `critical` (default: AUTH_CRITICAL, SYSTEM_FAILURE).
    critical_codes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestSection {
    /// Dotted paths of arrays that hold the records of a wrapper document.
    envelopes: Option<Vec<String>>,
    /// What to do with exact duplicates: `drop` (default), `keep` (count only), `off`.
    duplicates: Option<DuplicateMode>,
    /// How many record fingerprints duplicate detection may hold (about 16 bytes each).
    duplicate_memory: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: unknown column '{column}' in [aliases] (known: ts, status, error, error_code, message, level, request_id, connection_id, organization_id, user_id, endpoint, method, ip_address, user_agent, service, retry_after_s, retryable, details, downstream)")]
    UnknownColumn { path: PathBuf, column: String },
}

/// The whole validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub mapping: MappingConfig,
    pub analyze: AnalyzeConfig,
    /// Buckets: endpoint, region, retries (`[storage]`).
    pub storage: crate::storage::StorageConfig,
    /// The aggregation engine (`[engine]`).
    pub engine: EngineConfig,
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
}

impl Config {
    /// Loads `path`, or `errscope.toml` in the working directory when present, else defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => PathBuf::from(DEFAULT_CONFIG_FILE),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file = parse(&text, &path)?;
        let analyze = AnalyzeConfig {
            windows: file.windows.clone(),
            detectors: file.detectors.clone(),
            rates: file.rates.clone(),
        };
        if analyze.windows.tumbling_minutes == 0 || analyze.windows.sliding_minutes == 0 {
            return Err(ConfigError::Parse {
                path,
                message: "[windows] minutes must be at least 1".into(),
            });
        }
        let mapping = MappingConfig::from_file(&file, &path)?;
        Ok(Config {
            mapping,
            analyze,
            storage: file.storage.clone(),
            engine: file.engine.clone(),
            path: Some(path),
        })
    }
}

fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

impl MappingConfig {
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::from_file(&parse(text, path)?, path)
    }

    fn from_file(file: &FileConfig, path: &Path) -> Result<Self, ConfigError> {
        let mut extra: Vec<(Target, String)> = Vec::new();
        for (column, keys) in &file.aliases {
            let target = target_by_name(column).ok_or_else(|| ConfigError::UnknownColumn {
                path: path.to_path_buf(),
                column: column.clone(),
            })?;
            extra.extend(keys.iter().map(|k| (target, k.clone())));
        }
        let defaults = Self::default();
        Ok(MappingConfig {
            aliases: defaults.aliases.with_user_aliases(&extra),
            security_codes: file
                .classes
                .security_codes
                .clone()
                .unwrap_or(defaults.security_codes),
            critical_codes: file
                .classes
                .critical_codes
                .clone()
                .unwrap_or(defaults.critical_codes),
            envelopes: file
                .ingest
                .envelopes
                .iter()
                .flatten()
                .map(|p| p.split('.').map(str::to_string).collect())
                .collect(),
            duplicates: file.ingest.duplicates.unwrap_or_default(),
            duplicate_memory: file
                .ingest
                .duplicate_memory
                .unwrap_or(DEFAULT_DUPLICATE_MEMORY),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults() {
        let cfg = MappingConfig::from_toml(
            "[aliases]\nconnection_id = [\"pipe.ref\"]\n[classes]\nsecurity_codes = [\"IP_BLOCKED\"]\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            cfg.aliases.lookup("piperef").map(|t| t.0),
            Some(Target::ConnectionId)
        );
        assert_eq!(cfg.security_codes, vec!["IP_BLOCKED".to_string()]);
        assert_eq!(cfg.critical_codes.len(), 2);
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_file() {
        let e = MappingConfig::from_toml("[aliasses]\n", Path::new("conf/x.toml")).unwrap_err();
        assert!(e.to_string().contains("conf/x.toml"), "{e}");
        let e = MappingConfig::from_toml("[aliases]\nconn = [\"a\"]\n", Path::new("x.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("'conn'"), "{e}");
    }
}
