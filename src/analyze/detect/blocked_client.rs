//! **blocked_client** (security): a client address that a WAF blocks or challenges in a
//! surge (`WAF_BLOCK`, `WAF_CHALLENGE`: Cloudflare's `SecurityAction`, AWS WAF's
//! `action`): at least `min_events` (50) in `window_minutes` (10). A WAF stopping a bot now
//! and then is the WAF doing its job; an address it stops hundreds of times in minutes is
//! an attack in progress (a scan, scraping, credential stuffing) on that address, with or
//! without an HTTP status (AWS WAF logs carry none). Severity grows with the surge: high
//! from `high_factor` (3) times `min_events`.

use std::collections::HashMap;

use super::super::config::BlockedClientConfig;
use super::super::grid::MINUTE_US;
use super::super::tables::Tables;
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

/// The codes ingest gives a WAF's blocks and challenges.
pub const WAF_CODES: [&str; 2] = ["WAF_BLOCK", "WAF_CHALLENGE"];

pub fn detect(t: &Tables, cfg: &BlockedClientConfig) -> anyhow::Result<Vec<Flag>> {
    let mut out = Vec::new();
    if !cfg.enabled || cfg.min_events == 0 {
        return Ok(out);
    }
    // The WAF's actions per address, with their codes (the error log holds them in input
    // order; sorted by time below).
    let mut by_ip: HashMap<String, Vec<(i64, bool)>> = HashMap::new();
    t.error_log.for_each(|_, e| {
        let Some(code) = e.error_code.as_deref() else {
            return;
        };
        if let (Some(i), Some(ip)) = (WAF_CODES.iter().position(|c| *c == code), &e.ip_address) {
            by_ip
                .entry(ip.to_string())
                .or_default()
                .push((e.ts, i == 0));
        }
    })?;
    let window = i64::from(cfg.window_minutes.max(1)) * MINUTE_US;
    let min = cfg.min_events as usize;
    let mut ips: Vec<_> = by_ip.into_iter().filter(|(_, v)| v.len() >= min).collect();
    ips.sort_by(|a, b| a.0.cmp(&b.0));
    for (ip, mut acts) in ips {
        acts.sort_unstable_by_key(|a| a.0);
        // Runs of windows over the minimum: from the first action of the first such
        // window to the last action of the last, the peak the most in one window.
        let mut lo = 0;
        let mut run: Option<(usize, usize, usize)> = None; // (first, last, peak)
        let flush = |run: (usize, usize, usize), out: &mut Vec<Flag>| {
            let (first, last, peak) = run;
            let events = (last - first + 1) as u64;
            let blocks = acts[first..=last].iter().filter(|a| a.1).count();
            let severity = if peak as f64 >= cfg.high_factor * min as f64 {
                Severity::High
            } else {
                Severity::Medium
            };
            out.push(Flag {
                detector: DetectorId::BlockedClient,
                class: IncidentClass::Security,
                severity,
                dimension: Dimension::IpAddress,
                key: ip.clone(),
                start: acts[first].0,
                end: acts[last].0 + 1,
                events,
                value: peak as f64,
                baseline: 0.0,
                threshold: min as f64,
                score: peak as f64 / min as f64,
                what: format!(
                    "{blocks} blocked and {} challenged by the WAF, up to {peak} in {} min",
                    events as usize - blocks,
                    cfg.window_minutes
                ),
                focus: Focus::Errors,
            });
        };
        for hi in 0..acts.len() {
            while acts[hi].0 - acts[lo].0 >= window {
                lo += 1;
            }
            let n = hi - lo + 1;
            if n < min {
                continue;
            }
            run = match run {
                // Still within the run (its windows overlap this one).
                Some((first, last, peak)) if acts[lo].0 <= acts[last].0 => {
                    Some((first, hi, peak.max(n)))
                }
                Some(done) => {
                    flush(done, &mut out);
                    Some((lo, hi, n))
                }
                None => Some((lo, hi, n)),
            };
        }
        if let Some(done) = run {
            flush(done, &mut out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::errlog::ErrorLog;
    use crate::analyze::tables::EventRow;

    fn waf(ts: i64, ip: &str, code: &str) -> EventRow {
        EventRow {
            ts,
            status: Some(403),
            error_code: Some(code.into()),
            ip_address: Some(ip.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_surge_from_one_address_is_flagged_and_routine_blocks_are_not() {
        let mut t = tables(10, vec![]);
        let mut rows = Vec::new();
        // Routine: a few blocks an hour from many addresses.
        for i in 0..60i64 {
            rows.push(waf(
                T0 + i * 60 * MINUTE_US / 10,
                &format!("10.0.0.{i}"),
                "WAF_BLOCK",
            ));
        }
        // A surge: 200 in 8 minutes from one address, challenges first.
        for i in 0..200i64 {
            let code = if i < 20 { "WAF_CHALLENGE" } else { "WAF_BLOCK" };
            rows.push(waf(
                T0 + 30 * MINUTE_US + i * 2_400_000,
                "203.0.113.9",
                code,
            ));
        }
        t.error_log = ErrorLog::from_rows(rows);
        let flags = detect(&t, &BlockedClientConfig::default()).unwrap();
        assert_eq!(flags.len(), 1, "{flags:#?}");
        let f = &flags[0];
        assert_eq!(
            (f.key.as_str(), f.dimension),
            ("203.0.113.9", Dimension::IpAddress)
        );
        assert_eq!(
            (f.class, f.severity),
            (IncidentClass::Security, Severity::High)
        );
        assert_eq!(f.events, 200);
        assert!(
            f.what.starts_with("180 blocked and 20 challenged"),
            "{}",
            f.what
        );
        let off = BlockedClientConfig {
            enabled: false,
            ..Default::default()
        };
        assert!(detect(&t, &off).unwrap().is_empty());
    }
}
