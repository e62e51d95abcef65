//! What ingest needs to map and classify records: the alias table, the code classes,
//! envelope paths and the duplicate rule. Built from `errscope.toml` by `config.rs`;
//! ingest takes it as it is.

use serde::Deserialize;

use super::aliases::AliasTable;
use super::classify::{CRITICAL_CODES, SECURITY_CODES};

/// What ingest does with a record exported twice (the same request id, the same bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DuplicateMode {
    /// Count it and leave it out of the events and the rates.
    #[default]
    Drop,
    /// Count it, and keep it as an event.
    Keep,
    /// Do not look for duplicates.
    Off,
}

/// Default `[ingest] duplicate_memory`: fingerprints held (about 64 MB at most).
pub const DEFAULT_DUPLICATE_MEMORY: usize = 4_000_000;

/// What ingest needs to map and classify records.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    pub aliases: AliasTable,
    pub security_codes: Vec<String>,
    pub critical_codes: Vec<String>,
    /// `[ingest] envelopes`, each split at its dots.
    pub envelopes: Vec<Vec<String>>,
    pub duplicates: DuplicateMode,
    pub duplicate_memory: usize,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            aliases: AliasTable::default(),
            security_codes: SECURITY_CODES.iter().map(|s| s.to_string()).collect(),
            critical_codes: CRITICAL_CODES.iter().map(|s| s.to_string()).collect(),
            envelopes: Vec::new(),
            duplicates: DuplicateMode::Drop,
            duplicate_memory: DEFAULT_DUPLICATE_MEMORY,
        }
    }
}
