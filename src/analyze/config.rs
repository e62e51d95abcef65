//! Analysis settings with built-in defaults (DOMAIN.md); `errscope.toml` overrides them:
//!
//! ```toml
//! [windows]
//! tumbling_minutes = 5      # rate windows
//! sliding_minutes = 60      # sliding window (every tumbling step) for hourly rules
//! hold_minutes = 15         # flagged windows closer than this merge into one incident
//!
//! [[detectors.threshold.rules]]   # added to the built-in rules (replace_defaults = true: only these)
//! dimension = "error_code"
//! key = "AUTH_002"
//! metric = "errors"
//! window_minutes = 60
//! above = 10
//!
//! [detectors.credential_stuffing]
//! min_failures = 20
//! ```

use serde::Deserialize;

use super::dimension::Dimension;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsConfig {
    /// Tumbling window of the rate tables, minutes.
    pub tumbling_minutes: u32,
    /// Sliding window (advancing every tumbling step) for hourly rates, minutes.
    pub sliding_minutes: u32,
    /// Flagged windows of one detector and key closer than this merge into one incident.
    pub hold_minutes: u32,
}

impl WindowsConfig {
    /// The tumbling window in µs: the width of every bucket of the rate tables.
    pub fn step_us(&self) -> i64 {
        i64::from(self.tumbling_minutes) * super::grid::MINUTE_US
    }
}

impl Default for WindowsConfig {
    fn default() -> Self {
        WindowsConfig {
            tumbling_minutes: 5,
            sliding_minutes: 60,
            hold_minutes: 15,
        }
    }
}

/// What a threshold rule measures in its window.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Errors,
    #[serde(rename = "5xx")]
    S5xx,
    #[serde(rename = "4xx")]
    S4xx,
    #[serde(rename = "401")]
    S401,
    #[serde(rename = "403")]
    S403,
    #[serde(rename = "429")]
    S429,
    ErrorRatio,
    #[serde(rename = "5xx_ratio")]
    S5xxRatio,
}

impl Metric {
    pub fn is_ratio(self) -> bool {
        matches!(self, Metric::ErrorRatio | Metric::S5xxRatio)
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::Errors => "errors",
            Metric::S5xx => "5xx",
            Metric::S4xx => "4xx",
            Metric::S401 => "401s",
            Metric::S403 => "403s",
            Metric::S429 => "429s",
            Metric::ErrorRatio => "error ratio",
            Metric::S5xxRatio => "5xx ratio",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// `error_code`, `category`, `connection_id`, `organization_id`, `endpoint`,
    /// `ip_address`, `class`, `status_class`, or `all`.
    pub dimension: Dimension,
    /// One key; every key of the dimension when absent.
    pub key: Option<String>,
    pub metric: Metric,
    /// The window the metric is measured over (rounded up to tumbling steps).
    #[serde(default = "sixty")]
    pub window_minutes: u32,
    /// Flag when the metric is above this (a count, or a ratio 0..1).
    pub above: f64,
    /// Ratios only count with at least this many requests in the window.
    #[serde(default)]
    pub min_requests: u32,
    /// And at least this many of the counted events.
    #[serde(default)]
    pub min_events: u32,
}

fn sixty() -> u32 {
    60
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdConfig {
    pub enabled: bool,
    /// `false` (the default): `rules` are added to the built-in rules, and a given rule on
    /// the same dimension, key and metric as a built-in one replaces that one. `true`:
    /// `rules` are the only rules.
    pub replace_defaults: bool,
    /// The rules of the config file (see [`ThresholdConfig::effective_rules`]).
    pub rules: Vec<ThresholdRule>,
    /// Where the rules on one error code's count also apply to each key alone
    /// (`key_threshold`): `connection_id`, `organization_id` by default; `[]` for none.
    /// Where a code's errors come from two or more of these keys, its rule is each key's,
    /// not the fleet's sum.
    pub per_key_dimensions: Vec<Dimension>,
    /// Ratio rules: non-overlapping windows with the minimum volume a key needs before its
    /// own median is its normal.
    pub min_history: usize,
    /// Ratio rules with a history: a window is flagged only at this multiple of the key's
    /// median or more.
    pub min_rise: f64,
    /// Ratio rules with a history: a window is flagged only when its count is this
    /// unlikely at the key's median share (Chernoff bound of the binomial tail).
    pub max_chance: f64,
}

impl Default for ThresholdConfig {
    fn default() -> Self {
        ThresholdConfig {
            enabled: true,
            replace_defaults: false,
            rules: Vec::new(),
            per_key_dimensions: vec![Dimension::ConnectionId, Dimension::OrganizationId],
            min_history: 24,
            min_rise: 2.0,
            max_chance: 1e-6,
        }
    }
}

impl ThresholdConfig {
    /// The built-in rules (DOMAIN.md).
    pub fn default_rules() -> Vec<ThresholdRule> {
        let storm = |dimension| ThresholdRule {
            dimension,
            key: None,
            metric: Metric::S429,
            window_minutes: 10,
            above: 100.0,
            min_requests: 0,
            min_events: 0,
        };
        let code = |key: &str, per_hour: f64| ThresholdRule {
            dimension: Dimension::ErrorCode,
            key: Some(key.into()),
            metric: Metric::Errors,
            window_minutes: 60,
            above: per_hour,
            min_requests: 0,
            min_events: 0,
        };
        vec![
            // DOMAIN.md (seed 004): per hour.
            code("AUTH_002", 10.0),
            code("AUTH_003", 50.0),
            code("RATE_001", 20.0),
            // Seed 003: 5xx under 1 % of traffic over 30 minutes is normal.
            ThresholdRule {
                dimension: Dimension::All,
                key: None,
                metric: Metric::S5xxRatio,
                window_minutes: 30,
                above: 0.01,
                min_requests: 500,
                min_events: 20,
            },
            // Seeds 000, 002, 003: a rate-limit storm (hundreds of 429s in ten minutes) on
            // one connection or endpoint is an incident with no history at all (a short
            // export's first hours); with a history, only at twice the key's usual count.
            storm(Dimension::ConnectionId),
            storm(Dimension::Endpoint),
            // Seed 000: log connection-specific errors separately; a permission change
            // that makes one connection's calls fail (403s from 0.8 % to 16 % of them for
            // hours) is an incident on that connection, whatever the status. Judged
            // against the connection's own history (2x its median hourly error ratio).
            ThresholdRule {
                dimension: Dimension::ConnectionId,
                key: None,
                metric: Metric::ErrorRatio,
                window_minutes: 60,
                above: 0.05,
                min_requests: 50,
                min_events: 10,
            },
        ]
    }

    /// The rules that run: the built-in ones (unless `replace_defaults`) with the config
    /// file's rules added, a given rule replacing a built-in one on the same dimension,
    /// key and metric.
    pub fn effective_rules(&self) -> Vec<ThresholdRule> {
        let mut rules = if self.replace_defaults {
            Vec::new()
        } else {
            Self::default_rules()
        };
        for r in &self.rules {
            rules.retain(|d| {
                !(d.dimension == r.dimension && d.key == r.key && d.metric == r.metric)
            });
        }
        rules.extend(self.rules.iter().cloned());
        rules
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    pub enabled: bool,
    pub dimensions: Vec<Dimension>,
    /// A window needs at least this many errors to be a spike.
    pub min_events: u32,
    /// Robust z-score ((x - median) / (1.4826 MAD)) to reach.
    pub min_score: f64,
    /// And at least this multiple of the baseline median.
    pub min_ratio: f64,
    /// Past windows needed before a key has a baseline.
    pub min_history: usize,
    /// With successes in the export: the error ratio must be at least this many times the
    /// baseline's (0: off), so a traffic surge with an unchanged error ratio is no spike.
    pub min_ratio_rise: f64,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            enabled: true,
            dimensions: vec![Dimension::ConnectionId, Dimension::ErrorCode],
            min_events: 20,
            min_score: 8.0,
            min_ratio: 4.0,
            min_history: 24,
            min_ratio_rise: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialStuffingConfig {
    pub enabled: bool,
    pub window_minutes: u32,
    /// 401s from one IP within the window.
    pub min_failures: u32,
    /// Distinct users those 401s tried.
    pub min_users: u32,
    /// An attack spread over one subnet (/24) is found on the organisation when it comes
    /// from at least this many of its addresses.
    pub min_addresses: u32,
    /// A burst with at least this share of its failures through one connection is that
    /// connection's reauthorization, not an attack (0..1; above 1: never).
    pub one_connection_share: f64,
}

impl Default for CredentialStuffingConfig {
    fn default() -> Self {
        CredentialStuffingConfig {
            enabled: true,
            window_minutes: 10,
            min_failures: 20,
            min_users: 8,
            min_addresses: 3,
            one_connection_share: 0.8,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PermissionProbingConfig {
    pub enabled: bool,
    /// Where bursts are looked for: `organization_id`, `user_id` (or `ip_address`).
    pub dimensions: Vec<Dimension>,
    pub window_minutes: u32,
    /// 403s within the window.
    pub min_denials: u32,
    /// Distinct endpoints those 403s hit.
    pub min_endpoints: u32,
}

impl Default for PermissionProbingConfig {
    fn default() -> Self {
        PermissionProbingConfig {
            enabled: true,
            dimensions: vec![Dimension::OrganizationId, Dimension::UserId],
            window_minutes: 10,
            min_denials: 15,
            min_endpoints: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerErrorsConfig {
    pub enabled: bool,
    pub window_minutes: u32,
    /// 5xx share of the connection's requests in the window.
    pub min_ratio: f64,
    pub min_requests: u32,
    pub min_5xx: u32,
    /// A connection whose every request failed with a 5xx over this window is down
    /// (0: off), with at least `down_min_requests` requests in it.
    pub down_minutes: u32,
    pub down_min_requests: u32,
    /// A small connection degraded over this window (0: off): `min_ratio` and at least
    /// `slow_min_5xx` 5xx, beyond chance at its usual share (`slow_max_chance`).
    pub slow_minutes: u32,
    pub slow_min_5xx: u32,
    pub slow_max_chance: f64,
}

impl Default for ServerErrorsConfig {
    fn default() -> Self {
        ServerErrorsConfig {
            enabled: true,
            window_minutes: 30,
            min_ratio: 0.2,
            min_requests: 20,
            min_5xx: 10,
            down_minutes: 60,
            down_min_requests: 5,
            slow_minutes: 120,
            slow_min_5xx: 5,
            slow_max_chance: 1e-7,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CriticalCodeConfig {
    pub disabled: bool,
    /// More codes that are critical, beyond the `critical` class of ingest.
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityCodeConfig {
    pub enabled: bool,
    /// Security codes another detector follows (thresholds, credential stuffing,
    /// permission probing): not incidents on every event.
    pub followed_elsewhere: Vec<String>,
}

impl Default for SecurityCodeConfig {
    fn default() -> Self {
        SecurityCodeConfig {
            enabled: true,
            followed_elsewhere: vec!["AUTH_002".into(), "AUTH_004".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReauthorizationConfig {
    pub enabled: bool,
    /// 401s in a row, with no success between, that open the circuit (DOMAIN.md: 5).
    pub consecutive_failures: u32,
}

impl Default for ReauthorizationConfig {
    fn default() -> Self {
        ReauthorizationConfig {
            enabled: true,
            consecutive_failures: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NewCodeConfig {
    pub enabled: bool,
    /// The first part of the data's time range that defines what is known.
    pub baseline_fraction: f64,
    /// A new code needs this many events before its first quiet hour to be reported.
    pub min_events: u64,
}

impl Default for NewCodeConfig {
    fn default() -> Self {
        NewCodeConfig {
            enabled: true,
            baseline_fraction: 0.33,
            min_events: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    pub threshold: ThresholdConfig,
    pub spike: SpikeConfig,
    pub credential_stuffing: CredentialStuffingConfig,
    pub permission_probing: PermissionProbingConfig,
    pub server_errors: ServerErrorsConfig,
    pub critical_code: CriticalCodeConfig,
    pub security_code: SecurityCodeConfig,
    pub reauthorization: ReauthorizationConfig,
    pub new_code: NewCodeConfig,
    pub blocked_client: BlockedClientConfig,
}

/// `[detectors.blocked_client]`: a WAF's blocks and challenges surging from one address.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BlockedClientConfig {
    pub enabled: bool,
    pub window_minutes: u32,
    /// Blocks and challenges of one address in the window.
    pub min_events: u32,
    /// High from this many times `min_events` in one window.
    pub high_factor: f64,
}

impl Default for BlockedClientConfig {
    fn default() -> Self {
        BlockedClientConfig {
            enabled: true,
            window_minutes: 10,
            min_events: 50,
            high_factor: 3.0,
        }
    }
}

/// `[rates]`: how big the rate tables may grow.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RatesConfig {
    /// The most keys a dimension reports (0: no limit). A dimension with more (client IPs,
    /// users, request-scoped endpoints) is summarised: its heaviest keys (errors weigh 16
    /// successes) keep their series, the others are one `(other)` row per window, and its
    /// rate table lists only windows with events. Memory follows this, not the keys.
    pub max_keys: usize,
}

impl Default for RatesConfig {
    fn default() -> Self {
        RatesConfig { max_keys: 2000 }
    }
}

/// Everything `analyze` reads from the config file.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyzeConfig {
    pub windows: WindowsConfig,
    pub rates: RatesConfig,
    pub detectors: DetectorsConfig,
}
