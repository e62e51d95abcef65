//! `errscope inspect`'s view of the walk: what each input field of a record became.

#[allow(unused_imports)] // the parent's names, as one module split by concern
use super::*;

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
    trace_records(text, cfg, 1)?.into_iter().next()
}

/// [`trace_record`] for every record a text holds, up to `max`: each record of an
/// envelope (CloudTrail's `Records`, an OTLP export's log records), not only the first
/// (a CloudTrail file's `errorCode` is often in its third record).
pub fn trace_records(text: &str, cfg: &MappingConfig, max: usize) -> Option<Vec<Vec<FieldUse>>> {
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
    // The walk of each of a document's records (the first `max`).
    let each = |texts: &mut dyn Iterator<Item = &str>| -> Vec<Vec<FieldUse>> {
        texts
            .take(max)
            .filter_map(|r| Some(trace_entries(parse_object(r).ok()?, cfg)))
            .collect()
    };
    // An OTLP/JSON export: its log records, flattened as ingest does.
    if let Some(records) = otlp_records(&entries) {
        let records: Vec<String> = records.into_iter().filter_map(Result::ok).collect();
        return Some(each(&mut records.iter().map(String::as_str)));
    }
    // An envelope (as ingest tells one): its records.
    if let Some(items) = envelope_items(&entries, cfg) {
        return Some(each(&mut items.iter().map(|i| i.get())));
    }
    // A wrapper without a known name (as [`map_object_text`] tells one).
    let mapped = map_entries(entries.clone(), None, cfg, false, &mut KeyCache::default());
    let items = lacks_timestamp(&mapped)
        .then(|| wrapper_items(&entries))
        .flatten();
    // As ingest: only a list whose records are events is a wrapper.
    let is_event = |item: &serde_json::value::RawValue| {
        parse_object(item.get()).is_ok_and(|e| {
            matches!(
                map_entries(e, None, cfg, false, &mut KeyCache::default()),
                Mapped::One(_)
            )
        })
    };
    if let Some(items) = items.filter(|i| i.first().is_some_and(|f| is_event(f))) {
        return Some(each(&mut items.iter().map(|i| i.get())));
    }
    Some(vec![trace_entries(entries, cfg)])
}

/// The traced walk of one record's entries.
fn trace_entries<'a>(entries: Entries<'a>, cfg: &MappingConfig) -> Vec<FieldUse> {
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
    out
}
