//! The fast path for the common record: a flat JSON object scanned without serde's
//! visitor, giving the same event as the general walk (or handing the record over).

#[allow(unused_imports)] // the parent's names, as one module split by concern
use super::*;

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
            if let Some(scale) = top_key.scale {
                w.cands.scale = scale;
            }
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
pub(super) fn offer_common<'a>(
    cands: &mut Candidates<'a>,
    raw: &'a str,
    hit: Option<(Target, u8)>,
) -> bool {
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
pub(super) fn takes_text_as_is(target: Target) -> bool {
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
            | Target::SecurityAction
            | Target::Errors
            // Checked to be an address, a method.
            | Target::IpAddress
            | Target::Method
    )
}

/// `hay.starts_with(needle)` for the short needles of JSON keys: two overlapping word
/// loads each side instead of a call to `memcmp`.
pub(super) fn starts_with_short(hay: &[u8], needle: &[u8]) -> bool {
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

pub(super) fn bail<T>(w: Walker<'_, '_>) -> Option<T> {
    w.done();
    None
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline(always)]
pub(super) fn ws(b: &[u8], mut i: usize) -> usize {
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
pub(super) fn plain_string_end(b: &[u8], i: usize) -> Option<usize> {
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
pub(super) fn value_end(b: &[u8], i: usize) -> Option<usize> {
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
pub(super) fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
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
pub(super) fn object_end(b: &[u8], i: usize) -> Option<usize> {
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
