//! One JSON record (any vendor shape) -> one canonical [`Event`], or the reason it cannot be.
//!
//! Every key is looked up by its normalised joined path in the alias table; nested objects
//! are walked (up to [`MAX_DEPTH`]) so `error.code`, `connection.id` or
//! `context.user_id` land where they belong. When several keys feed one column, the
//! shallowest, then the best-ranked alias wins. Keys no column takes are kept in `extra`.

use std::borrow::Cow;
use std::mem::ManuallyDrop;

use super::aliases::{normalize_into, normalize_with_words, Target, ENVELOPES};
use super::classify::{
    category_of_code_opt, category_of_message, category_of_outcome, category_of_status, class_of,
    outcome_of, retryable_of_category,
};
use super::coerce::{
    bool_from_str, parse_number, parse_ts_str, plausible_ts, status_from_i64, status_from_str,
    trim, ts_from_epoch_f64, ts_from_epoch_i64, Number,
};
use super::json::{minify, parse_array, parse_object, scalar, scalar_text, Entries, Scalar};
use super::redact::{redact_json_text, scrub_text};
use super::textline::{canonical_level, Prefix};
use crate::ingest::rules::MappingConfig;

mod envelope;
mod event;
mod flat;
#[cfg(test)]
mod tests;
mod trace;

use self::envelope::*;
pub use self::event::truncate;
use self::event::*;
use self::flat::*;
pub use self::flat::{map_flat, map_flat_with};
pub use self::trace::{trace_record, trace_records, FieldUse};

/// How deep nested objects are searched for known keys.
pub const MAX_DEPTH: u8 = 4;

/// A typed candidate value for a column.
#[derive(Debug, Clone)]
enum Val<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Ts(i64),
    Json(&'a str),
}

#[derive(Default)]
struct Candidates<'a> {
    /// A slot is `Some` only when its bit is set in `filled`, so dropping visits the filled
    /// slots only ([`event_of`] has taken most of them by then; dropping all 21 slots was
    /// 1.5 % of decoding).
    slots: ManuallyDrop<[Option<(u16, Val<'a>)>; Target::COUNT]>,
    /// The top-level entry (its position) each filled slot's value came from.
    origin: [u16; Target::COUNT],
    /// The top-level entry being walked.
    at: u16,
    /// Top-level entries holding a value that lost its column to another (not in the
    /// event, so `extra` must keep them: nothing is dropped).
    lost: Vec<u16>,
    /// Walking inside a JSON column (`details`): its values are kept whole there, so one
    /// that loses a column is not lost.
    in_json_col: u8,
    filled: u32,
    /// The first timestamp-like key whose value could not be read, for the quarantine reason.
    bad_ts: Option<String>,
    /// Input keys no column took, with their raw JSON.
    extra: Vec<(Cow<'a, str>, &'a str)>,
    /// The scale of a numeric `level`, from the format's marker keys.
    scale: LevelScale,
}

// `filled` has a bit per target.
const _: () = assert!(Target::COUNT <= 32);

impl Drop for Candidates<'_> {
    fn drop(&mut self) {
        let mut m = self.filled;
        while m != 0 {
            self.slots[m.trailing_zeros() as usize] = None;
            m &= m - 1;
        }
    }
}

impl<'a> Candidates<'a> {
    /// Inlined: called apart, the value went through the stack and its reload waited
    /// on the store (a third of this function's time).
    #[inline(always)]
    fn offer(&mut self, target: Target, prio: u16, val: Val<'a>) {
        // An endpoint that is a path or URL beats a bare name (Azure Front Door's
        // `endpoint` is its host name, beside `requestUri`; gRPC's method beside a path).
        let prio = match &val {
            Val::Text(t) if target == Target::Endpoint && !t.contains('/') => prio | 0x4000,
            _ => prio,
        };
        let slot = &mut self.slots[target as usize];
        let from = self.origin[target as usize];
        match slot.as_ref() {
            None => {}
            // The value it displaces came from an entry that must stay in `extra` (unless
            // it came from a JSON column, which keeps it).
            Some((p, _)) if prio < *p && from != u16::MAX => self.lost.push(from),
            Some((p, _)) if prio < *p => {}
            Some(_) => {
                if self.in_json_col == 0 {
                    self.lost.push(self.at);
                }
                return;
            }
        }
        *slot = Some((prio, val));
        self.origin[target as usize] = if self.in_json_col > 0 {
            u16::MAX
        } else {
            self.at
        };
        self.filled |= 1 << target as u32;
    }

    fn take(&mut self, target: Target) -> Option<Val<'a>> {
        let bit = 1 << target as u32;
        if self.filled & bit == 0 {
            return None;
        }
        self.filled &= !bit;
        self.slots[target as usize].take().map(|(_, v)| v)
    }

    fn text(&mut self, target: Target) -> Option<Cow<'a, str>> {
        match self.take(target)? {
            Val::Text(t) => {
                let trimmed = trim(&t);
                // `-`, `--`: no value, in common and proxy log formats.
                if trimmed.is_empty() || trimmed == "-" || trimmed == "--" {
                    None
                } else if trimmed.len() == t.len() {
                    Some(t)
                } else {
                    Some(Cow::Owned(trimmed.to_owned()))
                }
            }
            _ => None,
        }
    }
}

/// Turns a value into a typed candidate for `target`, or `None` when it does not fit: a
/// canonical column holds only values of its kind (CloudTrail's `AWS Internal` is no
/// address, GCP's `google.storage.buckets.get` no HTTP method); the others stay in
/// `extra`.
fn coerce<'a>(target: Target, sc: &Scalar<'a>) -> Option<Val<'a>> {
    let val = coerce_any(target, sc)?;
    match (target, &val) {
        (Target::IpAddress, Val::Text(t)) if !is_ip(t) => None,
        (Target::Method, Val::Text(t)) if !is_method_token(t) => None,
        _ => Some(val),
    }
}

/// The code of a WAF's action: Cloudflare's `block` and closed connections are
/// `WAF_BLOCK`; `challenge`, `jschallenge`, `managedChallenge` (and AWS WAF's `CAPTCHA`,
/// `CHALLENGE`) are `WAF_CHALLENGE`; a challenge solved or bypassed, `allow`, `log`,
/// `skip` are none.
pub(super) fn waf_code(action: &str) -> Option<&'static str> {
    let a: String = action
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match a.as_str() {
        "block"
        | "blocked"
        | "drop"
        | "deny"
        | "denied"
        | "connectionclose"
        | "forceconnectionclose" => Some("WAF_BLOCK"),
        "challenge" | "jschallenge" | "managedchallenge" | "interactivechallenge" | "captcha" => {
            Some("WAF_CHALLENGE")
        }
        _ => None,
    }
}

/// An IP address, possibly an `X-Forwarded-For` list or with a port (what
/// [`clean_ip`] reads).
fn is_ip(s: &str) -> bool {
    is_plain_ipv4(s) || is_ip_general(s)
}

/// [`is_ip`] without its fast path.
fn is_ip_general(s: &str) -> bool {
    let c = clean_ip(Cow::Borrowed(s.trim()));
    let c = c.trim_start_matches('[').trim_end_matches(']');
    c.parse::<std::net::IpAddr>().is_ok()
}

/// A dotted-quad IPv4 address alone (no space, port or list), as `Ipv4Addr`'s parser
/// takes it: four decimal octets of at most 255, no leading zero. The address of nearly
/// every record, checked in one pass (the general parse after trimming, splitting off a
/// list and a port was 2 % of a run); `false` says nothing (the general path decides).
pub(super) fn is_plain_ipv4(s: &str) -> bool {
    let b = s.as_bytes();
    if !(7..=15).contains(&b.len()) {
        return false;
    }
    let (mut dots, mut value, mut digits) = (0u32, 0u32, 0u32);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                // A leading zero (`010`) is no octet of `Ipv4Addr`.
                if digits == 1 && value == 0 {
                    return false;
                }
                value = value * 10 + u32::from(c - b'0');
                digits += 1;
                if digits > 3 || value > 255 {
                    return false;
                }
            }
            b'.' if digits > 0 => {
                dots += 1;
                (value, digits) = (0, 0);
            }
            _ => return false,
        }
    }
    dots == 3 && digits > 0
}

/// An HTTP method: one word of 3 to 12 letters (`GET`, WebDAV's `PROPFIND`).
fn is_method_token(s: &str) -> bool {
    let s = s.trim();
    (3..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn coerce_any<'a>(target: Target, sc: &Scalar<'a>) -> Option<Val<'a>> {
    use Scalar as S;
    Some(match (target, sc) {
        (_, S::Null) => return None,
        (t, S::Object(raw) | S::Array(raw)) if t.is_json() => Val::Json(raw),
        (t, S::Str(s)) if t.is_json() => Val::Text(s.clone()),
        // A header list (Caddy's `"User-Agent": ["curl/8.4.0"]`): its first string.
        (t, S::Array(raw))
            if takes_text_as_is(t) || matches!(t, Target::IpAddress | Target::Method) =>
        {
            match parse_array(raw).ok()?.first().map(|v| scalar(v)) {
                Some(S::Str(s)) => Val::Text(s),
                _ => return None,
            }
        }
        (_, S::Object(_) | S::Array(_)) => return None,
        (Target::Ts, S::Str(s)) => Val::Ts(parse_ts_str(s)?),
        (Target::Ts, S::Num(Number::Int(i))) => Val::Ts(ts_from_epoch_i64(*i)?),
        (Target::Ts, S::Num(Number::Float(f))) => Val::Ts(ts_from_epoch_f64(*f)?),
        (Target::Status, S::Num(n)) => Val::Int(i64::from(status_from_i64(n.as_i64()?)?)),
        (Target::Status, S::Str(s)) => Val::Int(i64::from(status_from_str(s)?)),
        (Target::Code, S::Num(n)) => Val::Int(n.as_i64()?),
        (Target::Code, S::Str(s)) => match parse_number(s).and_then(Number::as_i64) {
            Some(i) => Val::Int(i),
            None => Val::Text(s.clone()),
        },
        (Target::RetryAfter | Target::RetryAfterMs, S::Num(n)) => Val::Float(n.as_f64()),
        (Target::RetryAfter | Target::RetryAfterMs, S::Str(s)) => {
            let t = s.trim();
            let secs = t.strip_suffix('s').unwrap_or(t);
            match parse_number(secs) {
                Some(n) => Val::Float(n.as_f64()),
                None => Val::Ts(parse_ts_str(t)?),
            }
        }
        (Target::Retryable, S::Bool(b)) => Val::Bool(*b),
        (Target::Retryable, S::Str(s)) => Val::Bool(bool_from_str(s)?),
        (Target::Retryable, _) => return None,
        // Only the words of an outcome count: a failure as its word, a success as `true`.
        (Target::Outcome, S::Str(s)) => match outcome_of(s)? {
            true => Val::Bool(true),
            false => Val::Text(Cow::Owned(s.trim().to_ascii_uppercase())),
        },
        (Target::Outcome, _) => return None,
        // A block or a challenge, as its code; other actions (allow, log, a challenge
        // solved) say nothing of the outcome and stay in `extra`.
        (Target::SecurityAction, S::Str(s)) => Val::Text(Cow::Borrowed(waf_code(s)?)),
        (Target::SecurityAction, _) => return None,
        // Numeric levels are read on the record's scale ([`LevelScale`]) when the event
        // is made.
        (Target::Level, S::Num(n)) => Val::Int(n.as_i64()?),
        (Target::Level, S::Str(s)) => Val::Text(
            canonical_level(s.trim())
                .map_or_else(|| Cow::Owned(s.trim().to_ascii_uppercase()), Cow::Borrowed),
        ),
        // Borrowed strings stay borrowed (no copy per text value).
        (_, S::Str(s)) => Val::Text(s.clone()),
        (_, other) => Val::Text(Cow::Owned(other.to_text()?.into_owned())),
    })
}

/// The scale of a numeric log level, which is the format's: the same `1` is an alert in
/// syslog and an info line in Nextcloud.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum LevelScale {
    /// Syslog severities 0 emergency .. 7 debug (GELF, journald): the default.
    #[default]
    Syslog,
    /// Nextcloud's `level`: 0 debug, 1 info, 2 warning, 3 error, 4 fatal (marker: `reqId`).
    Nextcloud,
    /// Windows and Azure event levels (Entra ID and Azure resource logs' `Level`):
    /// 1 critical, 2 error, 3 warning, 4 informational, 5 verbose (marker: `resultType`,
    /// `operationName`).
    Windows,
}

impl LevelScale {
    /// The scale a top-level key marks, if any (its normalised name).
    fn marked_by(normalized: &str) -> Option<LevelScale> {
        match normalized {
            "reqid" => Some(LevelScale::Nextcloud),
            "resulttype" | "operationname" => Some(LevelScale::Windows),
            "shortmessage" | "fullmessage" => Some(LevelScale::Syslog),
            _ => None,
        }
    }
}

/// A numeric log level as its word, on the record's scale; pino's and bunyan's multiples
/// of ten (60 fatal .. 10 trace) are their own. `None` for other numbers.
fn numeric_level(n: i64, scale: LevelScale) -> Option<&'static str> {
    Some(match (n, scale) {
        (60, _) => "CRITICAL",
        (50, _) => "ERROR",
        (40, _) => "WARNING",
        (30, _) => "INFO",
        (10 | 20, _) => "DEBUG",
        (0..=2, LevelScale::Syslog) => "CRITICAL",
        (3, LevelScale::Syslog) => "ERROR",
        (4, LevelScale::Syslog) => "WARNING",
        (5 | 6, LevelScale::Syslog) => "INFO",
        (7, LevelScale::Syslog) => "DEBUG",
        (0, LevelScale::Nextcloud) => "DEBUG",
        (1, LevelScale::Nextcloud) => "INFO",
        (2, LevelScale::Nextcloud) => "WARNING",
        (3, LevelScale::Nextcloud) => "ERROR",
        (4, LevelScale::Nextcloud) => "CRITICAL",
        (1, LevelScale::Windows) => "CRITICAL",
        (2, LevelScale::Windows) => "ERROR",
        (3, LevelScale::Windows) => "WARNING",
        (0 | 4, LevelScale::Windows) => "INFO",
        (5, LevelScale::Windows) => "DEBUG",
        _ => return None,
    })
}

/// What a top-level key resolves to, remembered from record to record: the records of one
/// export repeat the same keys in the same order, so the key at each position is compared
/// with the one seen there before and, when equal, neither normalised nor looked up again.
#[derive(Default)]
pub struct KeyCache {
    by_pos: Vec<(Box<str>, TopKey)>,
    /// The walker's path buffer, kept from record to record.
    path: String,
}

#[derive(Clone, Copy)]
struct TopKey {
    hit: Option<(Target, u8)>,
    /// The key marks the format's level scale.
    scale: Option<LevelScale>,
    /// The key names a container whose children are looked up by their own names.
    transparent: bool,
    /// The key's JSON text is the key itself (no character that needs an escape).
    plain: bool,
}

impl KeyCache {
    /// The key seen at `pos`, when its JSON text is the key itself (no character that
    /// would need an escape), with what it resolves to.
    fn plain_at(&self, pos: usize) -> Option<(&str, TopKey)> {
        self.by_pos
            .get(pos)
            .filter(|(_, t)| t.plain)
            .map(|(k, t)| (k.as_ref(), *t))
    }

    fn resolve(&mut self, pos: usize, key: &str, cfg: &MappingConfig, norm: &mut String) -> TopKey {
        if let Some((k, top)) = self.by_pos.get(pos) {
            if k.as_ref() == key {
                return *top;
            }
        }
        norm.clear();
        let mut words = Vec::new();
        normalize_with_words(key, norm, &mut words);
        let top = TopKey {
            // A dotted or compound key (`service.connection_id`, `EdgeResponseStatus`)
            // also matches by its last words.
            hit: cfg
                .aliases
                .lookup(norm)
                .or_else(|| cfg.aliases.lookup_suffix(norm, &words)),
            transparent: cfg.aliases.is_transparent(norm),
            scale: LevelScale::marked_by(norm),
            plain: !key.is_empty() && key.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\'),
        };
        if pos < self.by_pos.len() {
            self.by_pos[pos] = (key.into(), top);
        } else if pos == self.by_pos.len() && pos < 64 {
            self.by_pos.push((key.into(), top));
        }
        top
    }
}

/// What the fields of one record became: every offer a key made to a column, and the
/// top-level keys that went to `extra`.
#[derive(Default)]
struct Trace {
    /// The input keys of the entry being walked.
    raw: Vec<String>,
    /// (dotted input path, column, priority, value as in the input).
    offers: Vec<(String, Target, u16, String)>,
    extra: Vec<(String, String)>,
}

struct Walker<'c, 'a> {
    cfg: &'c MappingConfig,
    cands: Candidates<'a>,
    path: String,
    /// Where each word of `path` starts (segments and the words inside a key).
    words: Vec<usize>,
    cache: &'c mut KeyCache,
    /// A nested object that did not parse (the fast path then hands the record over).
    child_error: bool,
    /// What each input key became, for `errscope inspect` ([`trace_record`]); `None`
    /// while ingesting.
    trace: Option<Box<Trace>>,
    /// Walking inside a header map (`request.headers`): its values feed no identity column
    /// (Caddy's `Connection: keep-alive` is no connection id), only the few headers that
    /// are what they say ([`from_header`]).
    in_headers: u8,
}

/// Whether a header map's entry may feed `target`: the user agent, the client address
/// (`X-Forwarded-For`, `X-Real-IP`), the request id and `Retry-After`; never an identity
/// or an outcome.
fn from_header(target: Target) -> bool {
    matches!(
        target,
        Target::UserAgent
            | Target::IpAddress
            | Target::RequestId
            | Target::TraceId
            | Target::RetryAfter
            | Target::RetryAfterMs
    )
}

/// Whether a key names a map of HTTP headers (`headers`, `resp_headers`,
/// `requestHeaders`), by its normalised last word.
fn is_header_map(normalized_leaf: &str) -> bool {
    normalized_leaf.ends_with("headers")
}

impl<'a> Walker<'_, 'a> {
    /// Offers every entry to the columns; returns whether every entry found a home.
    fn walk(&mut self, entries: Entries<'a>, depth: u8, transparent: bool, top: bool) -> bool {
        let mut all_consumed = true;
        if !top {
            for (key, raw) in entries {
                let raw = raw.get();
                all_consumed &= self.entry(key, raw, scalar_text(raw), depth, transparent, None);
            }
            return all_consumed;
        }
        // Top level: an entry a column took whose value (or a value in it) lost to another
        // goes to `extra` as well.
        // A bit per position a column took (past 128: taken, so a loser is never dropped;
        // at worst an entry is twice in `extra`).
        let mut taken: u128 = 0;
        for (pos, (key, raw)) in entries.iter().enumerate() {
            let top = self.cache.resolve(pos, key, self.cfg, &mut self.path);
            if let Some(scale) = top.scale {
                self.cands.scale = scale;
            }
            let top_key = Some(top);
            let raw = raw.get();
            self.cands.at = pos.min(usize::from(u16::MAX)) as u16;
            let consumed = self.entry(
                key.clone(),
                raw,
                scalar_text(raw),
                depth,
                transparent,
                top_key,
            );
            if consumed && pos < 128 {
                taken |= 1 << pos;
            }
            all_consumed &= consumed;
        }
        if !self.cands.lost.is_empty() {
            self.keep_lost(&entries, taken);
        }
        all_consumed
    }

    /// Adds to `extra` the top-level entries a column took that hold a value which lost
    /// its column (`taken`: a bit per position a column took; the others are in `extra`).
    fn keep_lost(&mut self, entries: &Entries<'a>, taken: u128) {
        let mut lost = std::mem::take(&mut self.cands.lost);
        lost.sort_unstable();
        lost.dedup();
        for pos in lost {
            if pos < 128 && taken & (1 << pos) == 0 {
                continue;
            }
            if let Some((key, raw)) = entries.get(usize::from(pos)) {
                if let Some(t) = self.trace.as_deref_mut() {
                    t.extra.push((key.to_string(), raw.get().to_string()));
                }
                self.cands.extra.push((key.clone(), raw.get()));
            }
        }
    }

    /// Offers one entry (`raw`: the text of its valid JSON value, `sc`: what
    /// [`scalar_text`] makes of it) to the columns, its children too when it is an object;
    /// returns whether it found a home. `top`: what a top-level key resolves to
    /// ([`KeyCache`]); `None` below the top.
    fn entry(
        &mut self,
        key: Cow<'a, str>,
        raw: &'a str,
        sc: Scalar<'a>,
        depth: u8,
        transparent: bool,
        top: Option<TopKey>,
    ) -> bool {
        if top.is_some() {
            // Top level: an empty path (it served as scratch space to resolve the key).
            self.path.clear();
        }
        if let Some(t) = self.trace.as_deref_mut() {
            t.raw.push(key.to_string());
        }
        let prefix_len = self.path.len();
        let words_len = self.words.len();
        let (joined_hit, leaf_hit, leaf_is_container) = if let Some(t) = top {
            self.words.clear();
            // Path and leaf are the key itself.
            if matches!(sc, Scalar::Object(t) | Scalar::Array(t) if t != "{}") {
                // Children are looked up under this key's path.
                normalize_with_words(&key, &mut self.path, &mut self.words);
            }
            (
                t.hit,
                None,
                matches!(sc, Scalar::Object(_)) && t.transparent,
            )
        } else {
            normalize_with_words(&key, &mut self.path, &mut self.words);
            let joined_hit = self.cfg.aliases.lookup(&self.path);
            let leaf = &self.path[prefix_len..];
            let leaf_hit = if transparent && prefix_len > 0 && joined_hit.is_none() {
                self.cfg.aliases.lookup(leaf)
            } else {
                None
            };
            // Else the path's last words (`connection.organization.id`,
            // `attributes.service.connection_id`), ranked below the others.
            let leaf_hit = leaf_hit.or_else(|| {
                joined_hit
                    .is_none()
                    .then(|| self.cfg.aliases.lookup_suffix(&self.path, &self.words))
                    .flatten()
            });
            let container =
                matches!(sc, Scalar::Object(_)) && self.cfg.aliases.is_transparent(leaf);
            (joined_hit, leaf_hit, container)
        };
        let hit = joined_hit
            .map(|(t, r)| (t, u16::from(depth) * 8 + u16::from(r)))
            .or(leaf_hit.map(|(t, r)| (t, u16::from(depth) * 8 + 4 + u16::from(r))))
            .filter(|(t, _)| self.in_headers == 0 || from_header(*t));
        let mut consumed = false;
        if let Some((target, prio)) = hit {
            if target == Target::Errors {
                consumed = self.walk_errors(&sc, depth);
            } else if let Some(val) = coerce(target, &sc) {
                self.cands.offer(target, prio, val);
                consumed = true;
                if let Some(t) = self.trace.as_deref_mut() {
                    t.offers
                        .push((t.raw.join("."), target, prio, raw.to_string()));
                }
            }
            // The first unreadable timestamp names the quarantine reason (it is read only
            // when no timestamp key was readable).
            if target == Target::Ts && top.is_some() && !consumed && self.cands.bad_ts.is_none() {
                if let Some(t) = sc.to_text() {
                    self.cands.bad_ts = Some(format!("{key}={t}"));
                }
            }
        }
        if let Scalar::Object(text) = sc {
            let is_json_col = hit.is_some_and(|(t, _)| t.is_json());
            if depth < MAX_DEPTH && (!consumed || is_json_col) {
                // `{}` (most records' `details`): no children, so all of them found a home.
                match if text == "{}" {
                    Ok(Vec::new())
                } else {
                    parse_object(text)
                } {
                    Ok(children) => {
                        let leaf_transparent = leaf_is_container || hit.is_some();
                        let kept_whole = is_json_col && consumed;
                        let headers = u8::from(is_header_map(&self.path[prefix_len..]));
                        self.cands.in_json_col += u8::from(kept_whole);
                        self.in_headers += headers;
                        let fully = self.walk(children, depth + 1, leaf_transparent, false);
                        self.in_headers -= headers;
                        self.cands.in_json_col -= u8::from(kept_whole);
                        consumed |= fully;
                    }
                    Err(_) => self.child_error = true,
                }
            }
        } else if matches!(sc, Scalar::Null) {
            consumed = true;
        }
        if !consumed && top.is_some() {
            if let Some(t) = self.trace.as_deref_mut() {
                t.extra.push((key.to_string(), raw.to_string()));
            }
            self.cands.extra.push((key, raw));
        }
        self.path.truncate(prefix_len);
        self.words.truncate(words_len);
        if let Some(t) = self.trace.as_deref_mut() {
            t.raw.pop();
        }
        consumed
    }

    /// `errors: [{code, message, ...}, ...]`: the first error feeds the columns; the array
    /// is consumed only when that one element says everything.
    fn walk_errors(&mut self, sc: &Scalar<'a>, depth: u8) -> bool {
        let Scalar::Array(text) = sc else {
            return false;
        };
        let Ok(items) = parse_array(text) else {
            return false;
        };
        let Some(first) = items.first() else {
            return true;
        };
        match scalar(first) {
            Scalar::Object(obj) => match parse_object(obj) {
                Ok(children) => self.walk(children, depth + 1, false, false) && items.len() == 1,
                Err(_) => false,
            },
            Scalar::Str(s) => {
                self.cands
                    .offer(Target::Message, u16::from(depth) * 8 + 7, Val::Text(s));
                items.len() == 1
            }
            _ => false,
        }
    }
}

/// A resolved event, borrowing from its record where it can.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event<'a> {
    pub ts: i64,
    pub status: Option<i16>,
    pub error: Option<Cow<'a, str>>,
    pub error_code: Option<Cow<'a, str>>,
    pub message: Option<Cow<'a, str>>,
    pub level: Option<Cow<'a, str>>,
    pub logger: Option<Cow<'a, str>>,
    pub log_message: Option<Cow<'a, str>>,
    pub request_id: Option<Cow<'a, str>>,
    pub connection_id: Option<Cow<'a, str>>,
    pub organization_id: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    pub endpoint: Option<Cow<'a, str>>,
    pub method: Option<Cow<'a, str>>,
    pub ip_address: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    /// The service or host the request went to.
    pub service: Option<Cow<'a, str>>,
    pub retry_after_s: Option<f64>,
    pub category: &'static str,
    pub retryable: Option<bool>,
    pub class: Option<&'static str>,
    pub details: Option<Cow<'a, str>>,
    pub downstream: Option<Cow<'a, str>>,
    pub extra: Option<String>,
}

/// Why a record is not an event.
impl Event<'_> {
    /// xxh3 of every column of the event: the duplicate fingerprint of an event that is one
    /// of several in a document (a CloudTrail file's `Records`), where the same event
    /// re-delivered in another file sits beside other events ([`crate::ingest::dedup`]).
    pub fn content_fingerprint(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        let mut text = |v: &Option<Cow<'_, str>>| match v {
            Some(t) => {
                h.update(&(t.len() as u64 + 1).to_le_bytes());
                h.update(t.as_bytes());
            }
            None => h.update(&0u64.to_le_bytes()),
        };
        for v in [
            &self.error,
            &self.error_code,
            &self.message,
            &self.level,
            &self.logger,
            &self.log_message,
            &self.request_id,
            &self.connection_id,
            &self.organization_id,
            &self.user_id,
            &self.endpoint,
            &self.method,
            &self.ip_address,
            &self.user_agent,
            &self.service,
            &self.details,
            &self.downstream,
        ] {
            text(v);
        }
        let extra = self.extra.as_deref().map(Cow::Borrowed);
        text(&extra);
        h.update(&self.ts.to_le_bytes());
        h.update(&self.status.unwrap_or(-1).to_le_bytes());
        h.update(
            &self
                .retry_after_s
                .map_or(u64::MAX, f64::to_bits)
                .to_le_bytes(),
        );
        h.update(self.category.as_bytes());
        h.update(&[self.retryable.map_or(2, u8::from)]);
        h.update(self.class.unwrap_or("").as_bytes());
        // Never 0: that means "not checked".
        h.digest().max(1)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection(pub String);

/// What a record can be: events (an envelope holds several), or a rejection.
pub enum Mapped<'a> {
    One(Box<Event<'a>>),
    Many(Vec<Result<Event<'a>, Rejection>>),
}

/// Applies redaction to a record's values, unless the whole record is surely clean.
#[derive(Clone, Copy)]
struct Redactor {
    active: bool,
}

impl Redactor {
    fn text<'a>(self, v: Option<Cow<'a, str>>) -> Option<Cow<'a, str>> {
        if !self.active {
            return v;
        }
        v.map(|s| match scrub_text(&s) {
            Cow::Borrowed(_) => s,
            Cow::Owned(o) => Cow::Owned(o),
        })
    }

    fn json<'a>(self, v: Option<Val<'a>>) -> Option<Cow<'a, str>> {
        let raw = compact_json(v)?;
        if !self.active {
            return Some(raw);
        }
        Some(match redact_json_text(&raw) {
            Cow::Borrowed(_) => raw,
            Cow::Owned(o) => Cow::Owned(o),
        })
    }
}

fn compact_json<'a>(v: Option<Val<'a>>) -> Option<Cow<'a, str>> {
    let raw: Cow<'a, str> = match v? {
        // Most records' `details` (the check below would drop it after `minify`).
        Val::Json("{}" | "[]") => return None,
        Val::Json(raw) => minify(raw),
        Val::Text(t) => Cow::Owned(serde_json::Value::String(t.into_owned()).to_string()),
        _ => return None,
    };
    let trimmed = raw.trim();
    if matches!(trimmed, "[]" | "{}" | "\"\"") {
        return None;
    }
    Some(raw)
}

/// Maps the entries of one JSON object, with what a text prefix said (if any).
///
/// `surely_clean` says the record's whole text holds no possible secret
/// ([`super::redact::surely_clean`]), so per-field redaction can be skipped.
pub fn map_entries<'a>(
    entries: Entries<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    surely_clean: bool,
    cache: &mut KeyCache,
) -> Mapped<'a> {
    let red = Redactor {
        active: !surely_clean,
    };
    // An OpenTelemetry (OTLP/JSON) export: resourceLogs / scopeLogs / logRecords.
    if let Some(many) = expand_otlp(&entries, prefix, cfg, red, cache) {
        return Mapped::Many(many);
    }
    // A single document wrapping the records: {"events": [{...}, {...}]}.
    if let Some(many) = expand_envelope(&entries, prefix, cfg, red, cache) {
        return Mapped::Many(many);
    }
    match resolve(entries, prefix, cfg, red, cache) {
        Ok(ev) => Mapped::One(Box::new(ev)),
        Err(r) => Mapped::Many(vec![Err(r)]),
    }
}

/// The reason of a record in which no timestamp was found at any depth.
pub const NO_TIMESTAMP: &str =
    "no timestamp (looked for timestamp, time, ts, @timestamp, datetime, eventTime, ...)";

/// A JSON object's text -> its events: [`map_entries`], and when that finds no timestamp
/// anywhere, the records of a wrapper errscope has no name for ([`wrapper_items`]:
/// `{"hits": {"hits": [...]}}`, `{"took": 3, "rows": [...]}`): a record without a time of
/// its own is no event, so the one array of objects it holds is taken as the records.
/// `entries`: `text` parsed.
pub fn map_object_text<'a>(
    text: &'a str,
    entries: Entries<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    surely_clean: bool,
    cache: &mut KeyCache,
) -> Mapped<'a> {
    // (An OTLP export's lists are its own: `expand_otlp` reads them.)
    let otlp = entries.iter().any(|(k, _)| k == "resourceLogs");
    if let Some(rewritten) = (!otlp).then(|| without_kv_lists(text)).flatten() {
        // Events of a text built here own their values.
        return match parse_object(&rewritten) {
            Ok(entries) => owned(map_object_text(
                &rewritten,
                entries,
                prefix,
                cfg,
                surely_clean,
                cache,
            )),
            Err(e) => Mapped::Many(vec![Err(Rejection(e.to_string()))]),
        };
    }
    let mapped = map_entries(entries, prefix, cfg, surely_clean, cache);
    if !lacks_timestamp(&mapped) {
        return mapped;
    }
    let Some(items) = parse_object(text)
        .ok()
        .and_then(|entries| wrapper_items(&entries))
    else {
        return mapped;
    };
    let red = Redactor {
        active: !surely_clean,
    };
    let events = resolve_items(items, prefix, cfg, red, cache);
    // A list inside a record (Kong's `tries`) is no wrapper: none of it is an event.
    if events.iter().all(Result::is_err) {
        return mapped;
    }
    Mapped::Many(events)
}

/// `mapped` borrowing nothing.
fn owned(mapped: Mapped<'_>) -> Mapped<'static> {
    match mapped {
        Mapped::One(ev) => Mapped::One(Box::new(into_static(*ev))),
        Mapped::Many(v) => Mapped::Many(v.into_iter().map(|r| r.map(into_static)).collect()),
    }
}

/// Whether `mapped` is the one rejection of a record with no timestamp at any depth.
fn lacks_timestamp(mapped: &Mapped<'_>) -> bool {
    matches!(mapped, Mapped::Many(v) if v.len() == 1
        && matches!(&v[0], Err(Rejection(r)) if r == NO_TIMESTAMP))
}

fn resolve<'a>(
    entries: Entries<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
    cache: &mut KeyCache,
) -> Result<Event<'a>, Rejection> {
    let mut w = Walker::new(cfg, cache);
    w.walk(entries, 0, false, true);
    let out = event_of(&mut w.cands, prefix, cfg, red);
    w.done();
    out
}

impl<'c, 'a> Walker<'c, 'a> {
    fn new(cfg: &'c MappingConfig, cache: &'c mut KeyCache) -> Self {
        let mut path = std::mem::take(&mut cache.path);
        path.clear();
        Walker {
            cfg,
            cands: Candidates::default(),
            path,
            words: Vec::new(),
            cache,
            child_error: false,
            trace: None,
            in_headers: 0,
        }
    }

    /// The path buffer goes back to the cache.
    fn done(self) {
        self.cache.path = self.path;
    }
}
