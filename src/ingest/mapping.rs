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
    ts_from_epoch_f64, ts_from_epoch_i64, Number,
};
use super::json::{minify, parse_array, parse_object, scalar, scalar_text, Entries, Scalar};
use super::redact::{redact_json_text, scrub_text};
use super::textline::{canonical_level, Prefix};
use crate::config::MappingConfig;

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
                // `-`: no value, in common and proxy log formats.
                if trimmed.is_empty() || trimmed == "-" {
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

/// Turns a value into a typed candidate for `target`, or `None` when it does not fit.
fn coerce<'a>(target: Target, sc: &Scalar<'a>) -> Option<Val<'a>> {
    use Scalar as S;
    Some(match (target, sc) {
        (_, S::Null) => return None,
        (t, S::Object(raw) | S::Array(raw)) if t.is_json() => Val::Json(raw),
        (t, S::Str(s)) if t.is_json() => Val::Text(s.clone()),
        // A header list (Caddy's `"User-Agent": ["curl/8.4.0"]`): its first string.
        (t, S::Array(raw)) if takes_text_as_is(t) => {
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
        // Numeric levels: syslog's 0-7 (GELF), pino's and bunyan's 10-60.
        (Target::Level, S::Num(n)) => Val::Text(Cow::Borrowed(numeric_level(n.as_i64()?)?)),
        (Target::Level, S::Str(s)) => Val::Text(
            canonical_level(s.trim())
                .map_or_else(|| Cow::Owned(s.trim().to_ascii_uppercase()), Cow::Borrowed),
        ),
        // Borrowed strings stay borrowed (no copy per text value).
        (_, S::Str(s)) => Val::Text(s.clone()),
        (_, other) => Val::Text(Cow::Owned(other.to_text()?.into_owned())),
    })
}

/// A numeric log level as its word: syslog severities 0-7 (GELF's `level`), pino's and
/// bunyan's multiples of ten (60 fatal .. 10 trace); `None` for other numbers.
fn numeric_level(n: i64) -> Option<&'static str> {
    Some(match n {
        0..=2 | 60 => "CRITICAL",
        3 | 50 => "ERROR",
        4 | 40 => "WARNING",
        5 | 6 | 30 => "INFO",
        7 | 10 | 20 => "DEBUG",
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

/// One input field of a record and what it became ([`trace_record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldUse {
    /// The dotted path of the field in the record (`userIdentity.accountId`).
    pub path: String,
    /// The canonical column it fed, `None` for `extra`.
    pub column: Option<Target>,
    /// Whether its value is the column's (another field may have won the column).
    pub won: bool,
    /// Its value as in the input (JSON text).
    pub value: String,
}

/// What each field of one record (a JSON object, a text line with a JSON payload, or
/// the first record of an envelope) becomes: the same walk as ingest's, traced.
/// `None` for a text that holds no JSON object.
pub fn trace_record(text: &str, cfg: &MappingConfig) -> Option<Vec<FieldUse>> {
    let text = text.trim();
    let json = &text[text.find('{')?..];
    let mut entries = parse_object(json).ok()?;
    // Name-value lists made objects, as ingest does (see `map_object_text`).
    let rewritten = if entries.iter().any(|(k, _)| k == "resourceLogs") {
        None
    } else {
        without_kv_lists(json)
    };
    if let Some(r) = &rewritten {
        entries = parse_object(r).ok()?;
    }
    // An OTLP/JSON export: its first log record, flattened as ingest does.
    let otlp_first = otlp_records(&entries).and_then(|r| r.into_iter().next()?.ok());
    if let Some(first) = &otlp_first {
        entries = parse_object(first).ok()?;
    }
    // An envelope (as ingest tells one): the first of its records.
    if let Some(first) = envelope_items(&entries, cfg).and_then(|items| items.first().copied()) {
        entries = parse_object(first.get()).ok()?;
    } else {
        // A wrapper without a known name (as [`map_object_text`] tells one).
        let mapped = map_entries(entries.clone(), None, cfg, false, &mut KeyCache::default());
        let first = lacks_timestamp(&mapped)
            .then(|| wrapper_items(&entries))
            .flatten()
            .and_then(|items| items.first().copied());
        // As ingest: only a list whose records are events is a wrapper.
        let is_event = |item: &serde_json::value::RawValue| {
            parse_object(item.get()).is_ok_and(|e| {
                matches!(
                    map_entries(e, None, cfg, false, &mut KeyCache::default()),
                    Mapped::One(_)
                )
            })
        };
        if let Some(first) = first.filter(|f| is_event(f)) {
            entries = parse_object(first.get()).ok()?;
        }
    }
    let mut cache = KeyCache::default();
    let mut w = Walker::new(cfg, &mut cache);
    w.trace = Some(Box::default());
    w.walk(entries, 0, false, true);
    let trace = w.trace.take().unwrap_or_default();
    w.done();
    // The winner of a column: the lowest priority, the first offered among equals (as
    // `Candidates::offer` keeps it).
    let mut best: std::collections::HashMap<Target, (u16, usize)> = Default::default();
    for (i, (_, t, prio, _)) in trace.offers.iter().enumerate() {
        let e = best.entry(*t).or_insert((*prio, i));
        if *prio < e.0 {
            *e = (*prio, i);
        }
    }
    let mut out: Vec<FieldUse> = trace
        .offers
        .into_iter()
        .enumerate()
        .map(|(i, (path, t, _, value))| FieldUse {
            path,
            column: Some(t),
            won: best.get(&t).is_some_and(|b| b.1 == i),
            value,
        })
        .collect();
    out.extend(trace.extra.into_iter().map(|(path, value)| FieldUse {
        path,
        column: None,
        won: false,
        value,
    }));
    Some(out)
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
            let top_key = Some(self.cache.resolve(pos, key, self.cfg, &mut self.path));
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
            .or(leaf_hit.map(|(t, r)| (t, u16::from(depth) * 8 + 4 + u16::from(r))));
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
                        self.cands.in_json_col += u8::from(kept_whole);
                        let fully = self.walk(children, depth + 1, leaf_transparent, false);
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
    pub retry_after_s: Option<f64>,
    pub category: &'static str,
    pub retryable: Option<bool>,
    pub class: Option<&'static str>,
    pub details: Option<Cow<'a, str>>,
    pub downstream: Option<Cow<'a, str>>,
    pub extra: Option<String>,
}

/// Why a record is not an event.
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

/// The log records of an OTLP/JSON export (`{"resourceLogs": [{"resource": {...},
/// "scopeLogs": [{"scope": {...}, "logRecords": [...]}]}]}`, the OpenTelemetry protocol's
/// JSON encoding, as the collector's file exporter writes it), each made a flat record:
/// its fields, `body` and `attributes` with their `AnyValue`s unwrapped
/// (`{"key": "http.response.status_code", "value": {"intValue": "503"}}` ->
/// `"http.response.status_code": 503`), and the resource's attributes under `resource`.
/// An unset `timeUnixNano` (0) gives way to `observedTimeUnixNano`.
fn expand_otlp<'a>(
    entries: &Entries<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
    cache: &mut KeyCache,
) -> Option<Vec<Result<Event<'a>, Rejection>>> {
    let records = otlp_records(entries)?;
    Some(
        records
            .into_iter()
            .map(|r| {
                let text = r?;
                match parse_object(&text) {
                    Ok(e) => resolve(e, prefix, cfg, red, cache).map(into_static),
                    Err(e) => Err(Rejection(format!("invalid OTLP log record: {e}"))),
                }
            })
            .collect(),
    )
}

/// The flat records [`expand_otlp`] maps, as JSON texts; `None` when `entries` are not
/// an OTLP/JSON export.
fn otlp_records(entries: &Entries<'_>) -> Option<Vec<Result<String, Rejection>>> {
    use serde_json::{Map, Value};
    let (_, raw) = entries.iter().find(|(k, _)| k == "resourceLogs")?;
    let resource_logs: Vec<Value> = serde_json::from_str(raw.get()).ok()?;
    let mut out = Vec::new();
    for rl in &resource_logs {
        let resource = rl
            .get("resource")
            .and_then(|r| r.get("attributes"))
            .map(key_values)
            .unwrap_or_default();
        for sl in rl
            .get("scopeLogs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for lr in sl
                .get("logRecords")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(fields) = lr.as_object() else {
                    out.push(Err(Rejection("OTLP log record is not an object".into())));
                    continue;
                };
                let mut rec = Map::new();
                for (k, v) in fields {
                    let v = match k.as_str() {
                        "body" => any_value(v),
                        "attributes" => Value::Object(key_values(v)),
                        "timeUnixNano" if v == "0" || v == 0 => continue,
                        _ => v.clone(),
                    };
                    rec.insert(k.clone(), v);
                }
                if !resource.is_empty() {
                    rec.insert("resource".into(), Value::Object(resource.clone()));
                }
                out.push(Ok(Value::Object(rec).to_string()));
            }
        }
    }
    Some(out)
}

/// An OTLP `AnyValue` (`{"stringValue": "x"}`, `{"intValue": "3"}`, ...) as the plain
/// JSON value it holds; any other value as it is.
fn any_value(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Some(o) = v.as_object() else {
        return v.clone();
    };
    if let Some(s) = o.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = o.get("intValue") {
        return match i {
            Value::String(s) => s.parse::<i64>().map_or(i.clone(), Value::from),
            other => other.clone(),
        };
    }
    for k in ["doubleValue", "boolValue", "bytesValue"] {
        if let Some(x) = o.get(k) {
            return x.clone();
        }
    }
    if let Some(a) = o.get("arrayValue").and_then(|a| a.get("values")) {
        return Value::Array(a.as_array().into_iter().flatten().map(any_value).collect());
    }
    if let Some(kv) = o.get("kvlistValue").and_then(|a| a.get("values")) {
        return Value::Object(key_values(kv));
    }
    v.clone()
}
/// A list of `{"key": k, "value": v}` as the object `{k: v}` (values unwrapped).
fn key_values(list: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut m = serde_json::Map::new();
    for kv in list.as_array().into_iter().flatten() {
        if let (Some(k), Some(v)) = (kv.get("key").and_then(Value::as_str), kv.get("value")) {
            m.insert(k.to_string(), any_value(v));
        }
    }
    m
}

/// Whether `items` is a list of name-value pairs as many exports write maps
/// (`[{"key": "connection_id", "value": "c1"}]`, AWS WAF's `[{"name": "Host", "value":
/// "..."}]`, OTLP attributes): two or three fields each, a string `key` or `name` and a
/// `value`.
fn is_kv_list(items: &[serde_json::Value]) -> bool {
    !items.is_empty()
        && items.iter().all(|i| {
            i.as_object().is_some_and(|o| {
                o.len() <= 3
                    && o.contains_key("value")
                    && (o.get("key").is_some_and(|k| k.is_string())
                        || o.get("name").is_some_and(|k| k.is_string()))
            })
        })
}

/// `value` with every name-value list in it made an object; whether anything changed.
fn objects_of_kv_lists(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Array(items) if is_kv_list(items) => {
            let mut m = serde_json::Map::new();
            for i in items.iter() {
                let k = i
                    .get("key")
                    .or_else(|| i.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut v = i.get("value").map(any_value).unwrap_or(Value::Null);
                objects_of_kv_lists(&mut v);
                // A repeated name (headers) keeps its first value.
                m.entry(k.to_string()).or_insert(v);
            }
            *value = Value::Object(m);
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, v| objects_of_kv_lists(v) | c),
        Value::Object(o) => o.iter_mut().fold(false, |c, (k, v)| {
            let tags = k.eq_ignore_ascii_case("tags") || k.eq_ignore_ascii_case("ddtags");
            (tags && object_of_tags(v)) | objects_of_kv_lists(v) | c
        }),
        _ => false,
    }
}

/// A `tags` list of `name:value` strings (Datadog's `["env:prod", "connection_id:c1"]`)
/// as the object it stands for; a tag without a value, or a repeated name, adds nothing.
/// Whether `value` was such a list.
fn object_of_tags(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    let Some(items) = value.as_array() else {
        return false;
    };
    let pairs: Option<Vec<(&str, &str)>> =
        items.iter().map(|i| i.as_str()?.split_once(':')).collect();
    let Some(pairs) = pairs.filter(|p| !p.is_empty()) else {
        return false;
    };
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        if !k.is_empty() && !v.is_empty() {
            m.entry(k.to_string())
                .or_insert_with(|| Value::String(v.to_string()));
        }
    }
    *value = Value::Object(m);
    true
}

/// The record's text with its name-value lists (and `tags` lists) made objects, so their names reach the
/// columns as any key does; `None` when it holds none (most records: a cheap text test
/// first).
fn without_kv_lists(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    memchr::memmem::find(bytes, b"\"value\"").or_else(|| memchr::memmem::find(bytes, b"tags\""))?;
    let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
    objects_of_kv_lists(&mut v).then(|| v.to_string())
}

/// An event that borrows nothing (from a record built here rather than read).
fn into_static(e: Event<'_>) -> Event<'static> {
    fn own(v: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
        v.map(|c| Cow::Owned(c.into_owned()))
    }
    Event {
        ts: e.ts,
        status: e.status,
        error: own(e.error),
        error_code: own(e.error_code),
        message: own(e.message),
        level: own(e.level),
        logger: own(e.logger),
        log_message: own(e.log_message),
        request_id: own(e.request_id),
        connection_id: own(e.connection_id),
        organization_id: own(e.organization_id),
        user_id: own(e.user_id),
        endpoint: own(e.endpoint),
        method: own(e.method),
        ip_address: own(e.ip_address),
        user_agent: own(e.user_agent),
        retry_after_s: e.retry_after_s,
        category: e.category,
        retryable: e.retryable,
        class: e.class,
        details: own(e.details),
        downstream: own(e.downstream),
        extra: e.extra,
    }
}

fn expand_envelope<'a>(
    entries: &Entries<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
    cache: &mut KeyCache,
) -> Option<Vec<Result<Event<'a>, Rejection>>> {
    let items = envelope_items(entries, cfg)?;
    Some(resolve_items(items, prefix, cfg, red, cache))
}

fn resolve_items<'a>(
    items: Vec<&'a serde_json::value::RawValue>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
    cache: &mut KeyCache,
) -> Vec<Result<Event<'a>, Rejection>> {
    items
        .into_iter()
        .map(|item| match parse_object(item.get()) {
            Ok(e) => resolve(e, prefix, cfg, red, cache),
            Err(e) => Err(Rejection(format!("invalid JSON in envelope element: {e}"))),
        })
        .collect()
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

/// The records of a wrapper with no known name: the largest array of objects among the
/// values of `entries` and of the objects in them (down to three levels), when no other
/// array is as large. `None` when there is none, or two tie.
fn wrapper_items<'a>(entries: &Entries<'a>) -> Option<Vec<&'a serde_json::value::RawValue>> {
    fn search<'a>(
        entries: &Entries<'a>,
        depth: u8,
        best: &mut Option<Vec<&'a serde_json::value::RawValue>>,
        tie: &mut bool,
    ) {
        for (_, raw) in entries {
            let text = raw.get();
            if text.starts_with('[') {
                let Ok(items) = parse_array(text) else {
                    continue;
                };
                if items.is_empty() || !items.iter().all(|i| i.get().starts_with('{')) {
                    continue;
                }
                let len = best.as_ref().map_or(0, Vec::len);
                if items.len() > len {
                    *best = Some(items);
                    *tie = false;
                } else if items.len() == len {
                    *tie = true;
                }
            } else if text.starts_with('{') && depth < 3 {
                if let Ok(children) = parse_object(text) {
                    search(&children, depth + 1, best, tie);
                }
            }
        }
    }
    let (mut best, mut tie) = (None, false);
    search(entries, 1, &mut best, &mut tie);
    best.filter(|_| !tie)
}

/// The records under a configured envelope path (`[ingest] envelopes`, dotted:
/// `hits.hits`), when `entries` hold an array of objects there; `None` otherwise.
fn configured_items<'a>(
    entries: &Entries<'a>,
    cfg: &MappingConfig,
) -> Option<Vec<&'a serde_json::value::RawValue>> {
    cfg.envelopes.iter().find_map(|path| {
        let (first, rest) = path.split_first()?;
        let mut raw = entries.iter().find(|(k, _)| k == first)?.1;
        for key in rest {
            let children = parse_object(raw.get()).ok()?;
            raw = children.into_iter().find(|(k, _)| k == key)?.1;
        }
        let items = parse_array(raw.get()).ok()?;
        (!items.is_empty() && items.iter().all(|i| i.get().starts_with('{'))).then_some(items)
    })
}

/// The records of a single document wrapping them (`{"events": [{...}, {...}]}`, an
/// [`ENVELOPES`] key holding an array of objects, in an object of at most three keys and
/// no timestamp of its own); `None` for any other record.
fn envelope_items<'a>(
    entries: &Entries<'a>,
    cfg: &MappingConfig,
) -> Option<Vec<&'a serde_json::value::RawValue>> {
    if !cfg.envelopes.is_empty() {
        if let Some(items) = configured_items(entries, cfg) {
            return Some(items);
        }
    }
    // Cheap tests first: this runs for every record.
    if entries.len() > 3 || !entries.iter().any(|(_, v)| v.get().starts_with('[')) {
        return None;
    }
    let mut norm = String::new();
    let has_own_ts = entries.iter().any(|(k, _)| {
        norm.clear();
        normalize_into(k, &mut norm);
        cfg.aliases
            .lookup(&norm)
            .is_some_and(|(t, _)| t == Target::Ts)
    });
    if has_own_ts {
        return None;
    }
    let (_, raw) = entries.iter().find(|(k, v)| {
        norm.clear();
        normalize_into(k, &mut norm);
        ENVELOPES.contains(&norm.as_str()) && v.get().starts_with('[')
    })?;
    let items = parse_array(raw.get()).ok()?;
    if items.is_empty() || !items.iter().all(|i| i.get().starts_with('{')) {
        return None;
    }
    Some(items)
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
        }
    }

    /// The path buffer goes back to the cache.
    fn done(self) {
        self.cache.path = self.path;
    }
}

/// The fast path for the common record: one JSON object whose values are strings without
/// escapes, numbers, literals or objects (records of one export, flat but for a `details`
/// object). Its entries are found by a small scanner instead of serde's visitor, then
/// become the candidates `Walker::entry` makes for any record: the common values
/// directly (`offer_common`), the others through it, so the event is the same.
///
/// `None` hands the record to the general path: an escape, an array, an exotic number, a
/// nested object that does not parse, anything the scanner does not know to be valid JSON
/// (so every rejection and its reason come from the general path).
pub fn map_flat<'a>(
    text: &'a str,
    cfg: &MappingConfig,
    surely_clean: bool,
    cache: &mut KeyCache,
) -> Option<Result<Event<'a>, Rejection>> {
    map_flat_with(text, cfg, surely_clean, cache, |out| out.cloned())
}

/// [`map_flat`], the outcome handed to `emit` by reference where it was made (the event
/// is most of a kilobyte: returned through two `Option`/`Result` layers, it was copied
/// twice a record).
pub fn map_flat_with<'a, R>(
    text: &'a str,
    cfg: &MappingConfig,
    surely_clean: bool,
    cache: &mut KeyCache,
    emit: impl FnOnce(Result<&Event<'a>, Rejection>) -> R,
) -> Option<R> {
    let b = text.as_bytes();
    let mut i = ws(b, 1);
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut w = Walker::new(cfg, cache);
    let mut pos = 0;
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            // "key"
            if b.get(i) != Some(&b'"') {
                return bail(w);
            }
            // The key this position had in the last record: one comparison in place.
            let (kend, top_key) = match w.cache.plain_at(pos) {
                Some((k, t))
                    if starts_with_short(&b[i + 1..], k.as_bytes())
                        && b.get(i + 1 + k.len()) == Some(&b'"') =>
                {
                    (i + 1 + k.len(), t)
                }
                _ => match plain_string_end(b, i + 1) {
                    Some(e) => (e, w.cache.resolve(pos, &text[i + 1..e], cfg, &mut w.path)),
                    None => return bail(w),
                },
            };
            let key = &text[i + 1..kend];
            // A configured envelope's records are found on the general path.
            if !cfg.envelopes.is_empty() && cfg.envelopes.iter().any(|p| p[0] == key) {
                return bail(w);
            }
            i = ws(b, kend + 1);
            if b.get(i) != Some(&b':') {
                return bail(w);
            }
            let vstart = ws(b, i + 1);
            let Some(vend) = value_end(b, vstart) else {
                return bail(w);
            };
            let raw = &text[vstart..vend];
            w.cands.at = pos.min(usize::from(u16::MAX)) as u16;
            if !offer_common(&mut w.cands, raw, top_key.hit) {
                // A string the scanner found free of escapes is its body (no second scan).
                let sc = if b[vstart] == b'"' {
                    Scalar::Str(Cow::Borrowed(&raw[1..raw.len() - 1]))
                } else {
                    scalar_text(raw)
                };
                w.entry(Cow::Borrowed(key), raw, sc, 0, false, Some(top_key));
            }
            // A value that lost its column goes to `extra` on the general path.
            if w.child_error || !w.cands.lost.is_empty() {
                return bail(w);
            }
            pos += 1;
            i = ws(b, vend);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return bail(w),
            }
        }
    }
    if i != b.len() {
        return bail(w);
    }
    // The candidates are read where they are (they are most of a kilobyte).
    let red = Redactor {
        active: !surely_clean,
    };
    let out = event_of(&mut w.cands, None, cfg, red);
    if matches!(&out, Err(Rejection(r)) if r == NO_TIMESTAMP) {
        // Maybe a wrapper: the general path looks for its records.
        return bail(w);
    }
    w.done();
    Some(emit(out.as_ref().map_err(Rejection::clone)))
}

/// What [`Walker::entry`] does with a top-level value of the fast path when the value is
/// not a container, without its general steps (path buffer, nested walk): `null` feeds
/// nothing (and is no extra field), and a value its column takes is offered at the key's
/// rank (the priority at depth 0) as [`coerce`] makes it; `{}` for a JSON column is the
/// one container handled here (no children to walk). `false` leaves the value to
/// `entry`: no column, a value the column does not take (an unreadable timestamp is kept
/// there for the quarantine reason, a value no column took goes to `extra`), an object
/// or array (walked for children), `errors`. `raw`: the value's JSON text (strings free
/// of escapes).
fn offer_common<'a>(cands: &mut Candidates<'a>, raw: &'a str, hit: Option<(Target, u8)>) -> bool {
    let first = raw.as_bytes()[0];
    if first == b'n' {
        return true;
    }
    let Some((target, rank)) = hit else {
        return false;
    };
    let val = match first {
        // The column takes the string as it is: `coerce` without its per-target dispatch.
        b'"' if takes_text_as_is(target) => Some(Val::Text(Cow::Borrowed(&raw[1..raw.len() - 1]))),
        b'{' if raw == "{}" && target.is_json() => Some(Val::Json(raw)),
        b'{' | b'[' => return false,
        _ if target == Target::Errors => return false,
        b'"' => coerce(target, &Scalar::Str(Cow::Borrowed(&raw[1..raw.len() - 1]))),
        _ => coerce(target, &scalar_text(raw)),
    };
    match val {
        Some(val) => {
            cands.offer(target, u16::from(rank), val);
            true
        }
        None => false,
    }
}

/// Whether [`coerce`] makes any string a `Val::Text` of itself for `target` (the targets
/// that parse, canonicalise or walk their value are not among them).
fn takes_text_as_is(target: Target) -> bool {
    !matches!(
        target,
        Target::Ts
            | Target::Status
            | Target::Code
            | Target::Level
            | Target::RetryAfter
            | Target::RetryAfterMs
            | Target::Retryable
            | Target::Outcome
            | Target::Errors
    )
}

/// `s.trim()`, without the Unicode search for the common value that starts and ends with
/// a visible ASCII character.
pub(super) fn trim(s: &str) -> &str {
    let visible = |c: &u8| (b'!'..=b'~').contains(c);
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if visible(a) && visible(z) => s,
        _ => s.trim(),
    }
}

/// `hay.starts_with(needle)` for the short needles of JSON keys: two overlapping word
/// loads each side instead of a call to `memcmp`.
fn starts_with_short(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    let Some(h) = hay.get(..n) else {
        return false;
    };
    let word8 = |x: &[u8], at: usize| u64::from_le_bytes(x[at..at + 8].try_into().expect("8"));
    let word4 = |x: &[u8], at: usize| u32::from_le_bytes(x[at..at + 4].try_into().expect("4"));
    match n {
        8..=16 => word8(h, 0) == word8(needle, 0) && word8(h, n - 8) == word8(needle, n - 8),
        4..=7 => word4(h, 0) == word4(needle, 0) && word4(h, n - 4) == word4(needle, n - 4),
        _ => h == needle,
    }
}

fn bail<T>(w: Walker<'_, '_>) -> Option<T> {
    w.done();
    None
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline(always)]
fn ws(b: &[u8], mut i: usize) -> usize {
    // Records of machine-written NDJSON have no whitespace between tokens.
    if b.get(i).is_none_or(|&c| c > b' ') {
        return i;
    }
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index of the closing quote of a string whose body starts at `i`, when the body has
/// no escape and no control character (`None` otherwise: the general path decides).
fn plain_string_end(b: &[u8], i: usize) -> Option<usize> {
    // One pass that stops at the quote, a backslash or a control character, eight bytes
    // at a time (the strings of logs are short: a vector search has more set-up than work).
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let body = b.get(i..)?;
    let mut at = 0;
    while let Some(word) = body.get(at..at + 8) {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // A byte's high bit is set where it is zero after the XOR (quote, backslash) or
        // below 0x20; borrows only reach bytes above the first hit, so the lowest flag is
        // exact (bytes >= 0x80 are never flagged: `!x` clears their high bit).
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let hits = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hits != 0 {
            let n = at + (hits.trailing_zeros() / 8) as usize;
            return (body[n] == b'"').then_some(i + n);
        }
        at += 8;
    }
    let n = at
        + body[at..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (body[n] == b'"').then_some(i + n)
}

/// The end of the JSON value starting at `i`, for the values the fast path takes.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => plain_string_end(b, i + 1).map(|e| e + 1),
        b'n' => b[i..].starts_with(b"null").then_some(i + 4),
        b't' => b[i..].starts_with(b"true").then_some(i + 4),
        b'f' => b[i..].starts_with(b"false").then_some(i + 5),
        b'-' | b'0'..=b'9' => number_end(b, i),
        b'{' => object_end(b, i),
        _ => None,
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: the numbers of logs (exponents go the general way).
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b[i] == b'-' {
        i += 1;
    }
    let int_end = digits(b, i);
    if int_end == i || (b[i] == b'0' && int_end > i + 1) {
        return None;
    }
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac_end = digits(b, i + 1);
        if frac_end == i + 1 {
            return None;
        }
        i = frac_end;
    }
    (!matches!(b.get(i), Some(b'e' | b'E'))).then_some(i)
}

/// The end of the object starting at `i`, by bracket depth outside strings. Its text is
/// validated when the walker parses it (a failure hands the record to the general path).
fn object_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            b'"' => {
                j += 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// The event the candidates of one record make.
fn event_of<'a>(
    c: &mut Candidates<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
) -> Result<Event<'a>, Rejection> {
    let ts = match c.take(Target::Ts) {
        Some(Val::Ts(t)) => Some(t),
        _ => prefix.and_then(|p| p.ts),
    };
    let ts = match ts {
        Some(t) if plausible_ts(t) => t,
        Some(t) => {
            return Err(Rejection(format!(
                "timestamp {} is outside 1990..2100 (a broken clock or a unit mistake)",
                chrono::DateTime::from_timestamp_micros(t)
                    .map_or_else(|| t.to_string(), |d| d.to_rfc3339())
            )))
        }
        None => {
            return Err(Rejection(match c.bad_ts.take() {
                Some(kv) => format!("unreadable timestamp {}", truncate(&kv, 80)),
                None => NO_TIMESTAMP.into(),
            }))
        }
    };

    let mut status = match c.take(Target::Status) {
        Some(Val::Int(s)) => Some(s as i16),
        _ => None,
    };
    let code = c.take(Target::Code);
    let mut vendor_code: Option<Cow<'a, str>> = c.text(Target::ErrorCode);
    match code {
        Some(Val::Int(n)) => {
            if status.is_none() && (100..=599).contains(&n) {
                status = Some(n as i16);
            } else if vendor_code.is_none() && Some(n) != status.map(i64::from) {
                vendor_code = Some(Cow::Owned(n.to_string()));
            }
        }
        Some(Val::Text(t)) if vendor_code.is_none() && !t.trim().is_empty() => {
            vendor_code = Some(Cow::Owned(t.trim().to_owned()))
        }
        _ => {}
    }

    // A vendor code of 0 without a status is a success (Azure sign-in's `errorCode: 0`,
    // gRPC's OK).
    if status.is_none() && vendor_code.as_deref().is_some_and(|c| c.trim() == "0") {
        vendor_code = None;
    }
    // An outcome without a status (ECS `event.outcome`, a WAF `action`): a failure is an
    // error (its word the code when nothing else names one), a success is not.
    let (failed_outcome, succeeded) = match c.take(Target::Outcome) {
        Some(Val::Text(word)) => (Some(word), false),
        Some(Val::Bool(true)) => (None, true),
        _ => (None, false),
    };
    let error = red.text(c.text(Target::Error));
    let level: Option<Cow<'a, str>> = c
        .text(Target::Level)
        .or_else(|| prefix.and_then(|p| p.level).map(Cow::Borrowed));
    let level_is_bad = matches!(level.as_deref(), Some("WARNING" | "ERROR" | "CRITICAL"));
    let is_error = match status {
        Some(s) => s >= 400,
        None if succeeded => false,
        None => {
            vendor_code.is_some() || error.is_some() || level_is_bad || failed_outcome.is_some()
        }
    };
    let message = red.text(c.text(Target::Message));
    let mut from_outcome = false;
    let error_code = if is_error {
        Some(
            vendor_code.unwrap_or_else(|| match (status, &error, failed_outcome) {
                (Some(s), _, _) => Cow::Owned(format!("HTTP_{s}")),
                (None, Some(e), _) => Cow::Owned(code_from_type(e)),
                (None, None, Some(word)) => {
                    from_outcome = true;
                    word
                }
                // A message that is a code's name (a gRPC status: `PERMISSION_DENIED`).
                (None, None, None) => match message.as_deref().filter(|m| is_code_name(m)) {
                    Some(m) => Cow::Owned(m.to_owned()),
                    None => Cow::Borrowed("UNKNOWN_ERROR"),
                },
            }),
        )
    } else {
        vendor_code
    };

    let category = match (is_error, status) {
        (false, _) => "success",
        (true, Some(s)) => category_of_status(s),
        (true, None) if from_outcome => {
            category_of_outcome(error_code.as_deref().unwrap_or(""), message.as_deref())
                .unwrap_or("network")
        }
        // The code and type, else the message, else no answer at all: `network`.
        (true, None) => category_of_code_opt(error_code.as_deref(), error.as_deref())
            .or_else(|| message.as_deref().and_then(category_of_message))
            .unwrap_or("network"),
    };
    let retryable = match c.take(Target::Retryable) {
        Some(Val::Bool(b)) if is_error => Some(b),
        _ => retryable_of_category(category),
    };
    let class = is_error.then(|| {
        class_of(
            error_code.as_deref().unwrap_or(""),
            error.as_deref(),
            level.as_deref(),
            &cfg.security_codes,
            &cfg.critical_codes,
        )
    });

    let retry_after_s = match (c.take(Target::RetryAfter), c.take(Target::RetryAfterMs)) {
        (Some(Val::Float(s)), _) => Some(s),
        (Some(Val::Ts(at)), _) => Some(((at - ts) as f64 / 1e6).max(0.0)),
        (_, Some(Val::Float(ms))) => Some(ms / 1000.0),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s >= 0.0);

    let mut endpoint = red.text(c.text(Target::Endpoint));
    let mut method = c
        .text(Target::Method)
        .map(|m| Cow::Owned(m.to_ascii_uppercase()));
    if let Some(ep) = endpoint.as_deref() {
        // memchr: `str::split_once(char)` sets up a searcher per call (once per record).
        if let Some((m, path)) = split_at_byte(ep, b' ') {
            if method.is_none() && is_http_method(m) {
                method = Some(Cow::Owned(m.to_owned()));
                endpoint = Some(Cow::Owned(path.trim().to_owned()));
            }
        }
    }
    let ip_address = c.text(Target::IpAddress).map(clean_ip);

    let extra = (!c.extra.is_empty()).then(|| {
        let mut obj = serde_json::Map::new();
        for (k, raw) in &c.extra {
            let v = serde_json::from_str(raw)
                .unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
            obj.insert(k.to_string(), v);
        }
        let mut v = serde_json::Value::Object(obj);
        if red.active {
            super::redact::redact_value(&mut v);
        }
        v.to_string()
    });

    Ok(Event {
        ts,
        status,
        error,
        error_code: red.text(error_code),
        message,
        level,
        logger: prefix.and_then(|p| p.logger).map(Cow::Borrowed),
        log_message: red.text(prefix.and_then(|p| p.message).map(Cow::Borrowed)),
        request_id: red.text(
            c.text(Target::RequestId)
                .or_else(|| c.text(Target::TraceId)),
        ),
        connection_id: red.text(c.text(Target::ConnectionId)),
        organization_id: red.text(c.text(Target::OrganizationId)),
        user_id: red.text(c.text(Target::UserId)),
        endpoint,
        method,
        ip_address,
        user_agent: red.text(c.text(Target::UserAgent)),
        retry_after_s,
        category,
        retryable,
        class,
        details: red.json(c.take(Target::Details)),
        downstream: red.json(c.take(Target::Downstream)),
        extra,
    })
}

/// An upper-case identifier such as `PERMISSION_DENIED` (a code's name, not a sentence).
fn is_code_name(m: &str) -> bool {
    (3..=64).contains(&m.len())
        && m.bytes().any(|b| b.is_ascii_uppercase())
        && m.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn is_http_method(m: &str) -> bool {
    matches!(
        m,
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
    )
}

/// `timeout` -> `TIMEOUT`, `connection-reset` -> `CONNECTION_RESET`.
fn code_from_type(t: &str) -> String {
    t.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// First address of an `X-Forwarded-For` list, without an IPv4 port.
fn clean_ip(ip: Cow<'_, str>) -> Cow<'_, str> {
    let first = trim(split_at_byte(&ip, b',').map_or(ip.as_ref(), |(a, _)| a));
    let no_port = match split_at_byte(first, b':') {
        Some((host, port))
            if memchr::memchr(b':', port.as_bytes()).is_none()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => first,
    };
    if no_port.len() == ip.len() {
        ip
    } else {
        Cow::Owned(no_port.to_owned())
    }
}

/// `s.split_once(c)` for an ASCII byte: a plain loop for the short values of logs
/// (endpoints, addresses; memchr's set-up cost more than the search), memchr beyond.
fn split_at_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    debug_assert!(c.is_ascii());
    let b = s.as_bytes();
    let i = if b.len() <= 32 {
        b.iter().position(|&x| x == c)?
    } else {
        memchr::memchr(c, b)?
    };
    // An ASCII byte is a char boundary on both sides.
    Some((&s[..i], &s[i + 1..]))
}

pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_prefix_compare_matches_starts_with() {
        let keys = [
            "",
            "a",
            "ts",
            "abc",
            "user",
            "status",
            "timestamp",
            "request_id",
        ];
        let keys2 = ["organization_id", "error_description_x", "zz"];
        for k in keys.iter().chain(&keys2) {
            for hay in [
                format!("{k}\":1"),
                k.to_string(),
                format!("x{k}\""),
                k.chars().rev().collect::<String>(),
                format!("{}Z\"", &k[..k.len().saturating_sub(1)]),
            ] {
                assert_eq!(
                    starts_with_short(hay.as_bytes(), k.as_bytes()),
                    hay.as_bytes().starts_with(k.as_bytes()),
                    "{hay:?} / {k:?}"
                );
            }
        }
    }

    /// The fast path offers strings as they are to the targets `takes_text_as_is` names:
    /// `coerce` must make exactly that of every string for them (and something else, or
    /// nothing, of some string for the others).
    #[test]
    fn text_as_is_agrees_with_coerce() {
        let strings = [
            "abc",
            " 42 ",
            "42",
            "",
            "2024-03-01T00:00:00Z",
            "true",
            "warn",
            "30s",
            "{}",
        ];
        use Target as T;
        let all = [
            T::Ts,
            T::Status,
            T::Code,
            T::Error,
            T::ErrorCode,
            T::Message,
            T::Level,
            T::RequestId,
            T::ConnectionId,
            T::OrganizationId,
            T::UserId,
            T::Endpoint,
            T::Method,
            T::IpAddress,
            T::UserAgent,
            T::RetryAfter,
            T::RetryAfterMs,
            T::Retryable,
            T::Details,
            T::Downstream,
            T::Outcome,
            T::TraceId,
            T::Errors,
        ];
        assert_eq!(all.len(), Target::COUNT);
        for target in all {
            let as_is = |s: &str| {
                matches!(coerce(target, &Scalar::Str(Cow::Borrowed(s))),
                    Some(Val::Text(Cow::Borrowed(v))) if v == s)
            };
            if takes_text_as_is(target) {
                assert!(strings.iter().all(|s| as_is(s)), "{target:?}");
            } else if target != Target::Errors {
                assert!(!strings.iter().all(|s| as_is(s)), "{target:?}");
            }
        }
    }

    #[test]
    fn trim_agrees_with_str_trim() {
        for s in [
            "", " ", "a", " a", "a ", "\ta\n", "abc", "\u{a0}x", "x\u{a0}", "\u{3000}", "é", "x é",
            "~!", "\u{7f}",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn word_scanner_agrees_with_a_byte_loop() {
        // Every stop byte at every position of strings around the word size, with bytes
        // above 0x7f (UTF-8) and just above 0x20 around it.
        let fill = [b'a', 0x21, 0x7f, 0x80, 0xff, b'!', b'#', b']'];
        for len in 0..20 {
            for stop in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
                for pos in 0..=len {
                    let mut s = vec![b'"'];
                    s.extend((0..len).map(|k| fill[k % fill.len()]));
                    if pos < len {
                        s[1 + pos] = stop;
                    }
                    s.extend_from_slice(b"\"tail");
                    let expected = s[1..]
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        .filter(|&n| s[1 + n] == b'"')
                        .map(|n| 1 + n);
                    assert_eq!(plain_string_end(&s, 1), expected, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn string_scanner_stops_at_quotes_escapes_and_controls() {
        assert_eq!(plain_string_end(b"\"abc\"", 1), Some(4));
        assert_eq!(plain_string_end(b"\"\"", 1), Some(1));
        assert_eq!(plain_string_end(b"\"a\\\"b\"", 1), None);
        assert_eq!(plain_string_end(b"\"a\tb\"", 1), None);
        assert_eq!(plain_string_end(b"\"abc", 1), None);
        assert_eq!(plain_string_end("\"é\"".as_bytes(), 1), Some(3));
    }
}
