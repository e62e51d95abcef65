//! Records inside other documents: OTLP/JSON exports, wrappers of any name (one array of
//! objects in a document with no time of its own), configured envelope paths, and the
//! name-value lists and tag lists read as objects.

#[allow(unused_imports)] // the parent's names, as one module split by concern
use super::*;

/// The log records of an OTLP/JSON export (`{"resourceLogs": [{"resource": {...},
/// "scopeLogs": [{"scope": {...}, "logRecords": [...]}]}]}`, the OpenTelemetry protocol's
/// JSON encoding, as the collector's file exporter writes it), each made a flat record:
/// its fields, `body` and `attributes` with their `AnyValue`s unwrapped
/// (`{"key": "http.response.status_code", "value": {"intValue": "503"}}` ->
/// `"http.response.status_code": 503`), and the resource's attributes under `resource`.
/// An unset `timeUnixNano` (0) gives way to `observedTimeUnixNano`.
pub(super) fn expand_otlp<'a>(
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
pub(super) fn otlp_records(entries: &Entries<'_>) -> Option<Vec<Result<String, Rejection>>> {
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
pub(super) fn any_value(v: &serde_json::Value) -> serde_json::Value {
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
pub(super) fn key_values(list: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
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
pub(super) fn is_kv_list(items: &[serde_json::Value]) -> bool {
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
pub(super) fn objects_of_kv_lists(value: &mut serde_json::Value) -> bool {
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
pub(super) fn object_of_tags(value: &mut serde_json::Value) -> bool {
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
pub(super) fn without_kv_lists(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    memchr::memmem::find(bytes, b"\"value\"").or_else(|| memchr::memmem::find(bytes, b"tags\""))?;
    let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
    objects_of_kv_lists(&mut v).then(|| v.to_string())
}

/// An event that borrows nothing (from a record built here rather than read).
pub(super) fn into_static(e: Event<'_>) -> Event<'static> {
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
        service: own(e.service),
        retry_after_s: e.retry_after_s,
        category: e.category,
        retryable: e.retryable,
        class: e.class,
        details: own(e.details),
        downstream: own(e.downstream),
        extra: e.extra,
    }
}

pub(super) fn expand_envelope<'a>(
    entries: &Entries<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
    cache: &mut KeyCache,
) -> Option<Vec<Result<Event<'a>, Rejection>>> {
    let items = envelope_items(entries, cfg)?;
    Some(resolve_items(items, prefix, cfg, red, cache))
}

pub(super) fn resolve_items<'a>(
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

/// The records of a wrapper with no known name: the largest array of objects among the
/// values of `entries` and of the objects in them (down to three levels), when no other
/// array is as large. `None` when there is none, or two tie.
pub(super) fn wrapper_items<'a>(
    entries: &Entries<'a>,
) -> Option<Vec<&'a serde_json::value::RawValue>> {
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
pub(super) fn configured_items<'a>(
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
pub(super) fn envelope_items<'a>(
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
