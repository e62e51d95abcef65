//! Reads one source: detects compression by magic bytes and the layout by content, then
//! splits it into records (lines, multi-line objects, array elements) with their starting
//! line, in bounded chunks. Reading never needs more memory than one chunk plus one record.

use std::io::{self, BufRead, BufReader, Read};

use super::json::StringState;
use super::source::Source;

/// Target size of a chunk's record bytes before it is handed to a decoder.
pub const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_RECORDS: usize = 16 * 1024;
/// Bytes of an oversized record kept for its quarantine excerpt.
const HEAD_BYTES: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// One record per line: NDJSON, text logs with JSON payloads, pretty-printed objects.
    Lines,
    /// A JSON array of records.
    JsonArray,
}

/// Where a record's bytes are in its chunk.
#[derive(Debug, Clone)]
pub struct RecordSpan {
    pub line: u64,
    pub start: usize,
    pub end: usize,
    /// Set when the record was larger than the limit: its full size (only a head is kept).
    pub oversize: Option<usize>,
}

/// How a source ended, sent with its last chunk.
#[derive(Debug, Clone)]
pub struct FileEnd {
    pub compression: Option<Compression>,
    pub layout: Option<Layout>,
    pub bytes: u64,
    /// Why the source could not be read to its end.
    pub error: Option<String>,
    /// The error struck after the lines counted so far (not at open).
    pub mid_read: bool,
}

/// A batch of records from one source.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub file: usize,
    pub data: Vec<u8>,
    pub records: Vec<RecordSpan>,
    pub lines: u64,
    pub blank: u64,
    pub end: Option<FileEnd>,
}

impl Chunk {
    fn new(file: usize) -> Self {
        Chunk {
            file,
            data: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            // A full chunk of ~300-byte records holds ~3,500: room for them at once
            // instead of a dozen doublings, each a copy.
            records: Vec::with_capacity(4096),
            lines: 0,
            blank: 0,
            end: None,
        }
    }

    fn full(&self) -> bool {
        self.data.len() >= CHUNK_BYTES || self.records.len() >= CHUNK_RECORDS
    }
}

/// Counts bytes read from the underlying file (compressed size).
struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Tracks JSON nesting across bytes, to know when a multi-line value is complete.
#[derive(Debug, Default, Clone, Copy)]
struct Nesting {
    depth: i64,
    strings: StringState,
    started: bool,
}

impl Nesting {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.strings.structural(b) {
                match b {
                    b'{' | b'[' => {
                        self.depth += 1;
                        self.started = true;
                    }
                    b'}' | b']' => self.depth -= 1,
                    _ => {}
                }
            }
        }
    }

    fn open(&self) -> bool {
        self.started && (self.depth > 0 || self.strings.in_string())
    }
}

/// Sends chunks; returns false when the receiver is gone (the run is stopping).
pub trait ChunkSink {
    fn send(&mut self, chunk: Chunk) -> bool;
}

impl<F: FnMut(Chunk) -> bool> ChunkSink for F {
    fn send(&mut self, chunk: Chunk) -> bool {
        self(chunk)
    }
}

struct Splitter<'s> {
    file: usize,
    max_record: usize,
    chunk: Chunk,
    sink: &'s mut dyn ChunkSink,
    alive: bool,
}

impl Splitter<'_> {
    fn flush(&mut self) {
        let next = Chunk::new(self.file);
        let chunk = std::mem::replace(&mut self.chunk, next);
        if self.alive {
            self.alive = self.sink.send(chunk);
        }
    }

    fn maybe_flush(&mut self) {
        if self.chunk.full() {
            self.flush();
        }
    }

    fn push(&mut self, line: u64, bytes: &[u8], full_len: usize) {
        let start = self.chunk.data.len();
        let oversize = (full_len > self.max_record).then_some(full_len);
        let keep = if oversize.is_some() {
            &bytes[..bytes.len().min(HEAD_BYTES)]
        } else {
            bytes
        };
        self.chunk.data.extend_from_slice(keep);
        self.chunk.records.push(RecordSpan {
            line,
            start,
            end: self.chunk.data.len(),
            oversize,
        });
        self.maybe_flush();
    }
}

/// Reads a line into `buf` (without its `\n`), keeping at most `max` bytes; returns the
/// line's full length, or `None` at end of input.
fn read_line_bounded(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0usize;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any.then_some(total));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        let room = (max + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&avail[..take.min(room)]);
        total += take;
        r.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Some(total));
        }
    }
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| c.is_ascii_whitespace())
}

/// Whether a line opens a JSON value it does not close (a pretty-printed payload).
fn opens_value(line: &[u8]) -> Option<Nesting> {
    let last = line.iter().rev().find(|c| !c.is_ascii_whitespace())?;
    if matches!(last, b'}' | b']') && line.first() == Some(&b'{') {
        return None;
    }
    let first_brace = memchr::memchr2(b'{', b'[', line)?;
    let mut n = Nesting::default();
    n.feed(&line[first_brace..]);
    n.open().then_some(n)
}

/// Where [`split_lines`] is: the line number, and a record that continues on the next
/// lines (start line, bytes, nesting).
#[derive(Default)]
struct Lines {
    lineno: u64,
    pending: Option<(u64, Vec<u8>, Nesting)>,
}

impl Lines {
    /// One line (without its `\n`; `full_len` is its length before any cut).
    fn take(&mut self, line: &[u8], full_len: usize, sp: &mut Splitter) {
        self.lineno += 1;
        sp.chunk.lines += 1;
        let mut body: &[u8] = line;
        if self.lineno == 1 {
            body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        }
        if let Some(b) = body.strip_suffix(b"\r") {
            body = b;
        }
        if is_blank(body) {
            sp.chunk.blank += 1;
            return;
        }
        if let Some((start, mut acc, mut nest)) = self.pending.take() {
            let continues = matches!(body.first(), Some(b' ' | b'\t' | b'}' | b']'));
            if continues && acc.len() + body.len() < sp.max_record {
                acc.push(b'\n');
                acc.extend_from_slice(body);
                nest.feed(body);
                if nest.open() {
                    self.pending = Some((start, acc, nest));
                } else {
                    sp.push(start, &acc, acc.len());
                }
                return;
            }
            sp.push(start, &acc, acc.len());
        }
        if full_len > sp.max_record {
            sp.push(self.lineno, body, full_len);
        } else if let Some(nest) = opens_value(body) {
            self.pending = Some((self.lineno, body.to_vec(), nest));
        } else {
            sp.push(self.lineno, body, body.len());
        }
    }

    fn finish(&mut self, sp: &mut Splitter) {
        if let Some((start, acc, _)) = self.pending.take() {
            sp.push(start, &acc, acc.len());
        }
    }
}

fn split_lines(r: &mut dyn BufRead, sp: &mut Splitter) -> io::Result<()> {
    let mut line = Vec::with_capacity(4096);
    let mut lines = Lines::default();
    while sp.alive {
        // A whole line in the reader's buffer is split where it is; one that runs past
        // the buffer (or the record limit) is gathered into `line` first.
        let used = match r.fill_buf() {
            Ok([]) => break,
            Ok(avail) => match memchr::memchr(b'\n', avail) {
                Some(i) if i <= sp.max_record => {
                    lines.take(&avail[..i], i, sp);
                    Some(i + 1)
                }
                _ => None,
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                lines.finish(sp);
                return Err(e);
            }
        };
        if let Some(n) = used {
            r.consume(n);
            continue;
        }
        match read_line_bounded(r, &mut line, sp.max_record) {
            Ok(Some(n)) => lines.take(&line, n, sp),
            Ok(None) => break,
            Err(e) => {
                lines.finish(sp);
                return Err(e);
            }
        }
    }
    lines.finish(sp);
    Ok(())
}

/// Splits a JSON array (or several, or top-level objects) into its elements.
fn split_array(r: &mut dyn BufRead, sp: &mut Splitter) -> io::Result<()> {
    let mut line: u64 = 1;
    let mut depth: i64 = 0; // 1 inside the top-level array
    let mut elem: Vec<u8> = Vec::new();
    let mut elem_len = 0usize;
    let mut elem_line = 0u64;
    let mut in_elem = false;
    let mut nest = Nesting::default();
    let mut scalar_elem = false;
    let mut first = true;
    let mut last_was_newline = true;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sp.chunk.lines += line - 1;
                return Err(e);
            }
        };
        if avail.is_empty() || !sp.alive {
            break;
        }
        let mut i = 0;
        if first {
            first = false;
            if avail.starts_with(b"\xEF\xBB\xBF") {
                i = 3;
            }
        }
        let n = avail.len();
        while i < n {
            let b = avail[i];
            if in_elem {
                let ends_scalar = scalar_elem
                    && !nest.strings.in_string()
                    && (b == b',' || b == b']' || b.is_ascii_whitespace());
                if !ends_scalar {
                    if elem_len < sp.max_record {
                        elem.push(b);
                    }
                    elem_len += 1;
                    nest.feed(std::slice::from_ref(&b));
                }
                if b == b'\n' {
                    line += 1;
                }
                last_was_newline = b == b'\n';
                let done = if scalar_elem {
                    ends_scalar
                } else {
                    !nest.open()
                };
                if done {
                    sp.push(elem_line, &elem, elem_len);
                    elem.clear();
                    elem_len = 0;
                    in_elem = false;
                    if ends_scalar && b == b']' {
                        depth -= 1;
                    }
                }
                i += 1;
                continue;
            }
            match b {
                b'\n' => line += 1,
                b' ' | b'\t' | b'\r' | b',' => {}
                b'[' if depth == 0 => depth = 1,
                b']' if depth == 1 => depth = 0,
                _ => {
                    in_elem = true;
                    elem_line = line;
                    nest = Nesting::default();
                    scalar_elem = !matches!(b, b'{' | b'[');
                    elem.push(b);
                    elem_len = 1;
                    nest.feed(&[b]);
                }
            }
            last_was_newline = b == b'\n';
            i += 1;
        }
        r.consume(n);
    }
    if in_elem {
        sp.push(elem_line, &elem, elem_len);
    }
    sp.chunk.lines += if last_was_newline { line - 1 } else { line };
    Ok(())
}

/// Opens and reads one source, sending its records in chunks. The last chunk carries
/// [`FileEnd`]. Returns false if the sink went away.
pub fn read_source(
    file: usize,
    source: &Source,
    max_record: usize,
    sink: &mut dyn ChunkSink,
) -> bool {
    let mut sp = Splitter {
        file,
        max_record,
        chunk: Chunk::new(file),
        sink,
        alive: true,
    };
    let mut end = FileEnd {
        compression: None,
        layout: None,
        bytes: 0,
        error: None,
        mid_read: false,
    };
    let raw: Box<dyn Read + Send> = match source {
        Source::Read(input) => match input.open() {
            Ok(r) => r,
            Err(e) => {
                end.error = Some(format!("cannot open: {e}"));
                Box::new(io::empty())
            }
        },
        Source::Skipped { .. } => Box::new(io::empty()),
        Source::Missing { reason, .. } => {
            end.error = Some(reason.clone());
            Box::new(io::empty())
        }
    };
    if end.error.is_none() {
        let mut counting = Counting {
            inner: raw,
            bytes: 0,
        };
        let result = read_body(&mut counting, &mut sp, &mut end);
        end.bytes = counting.bytes;
        if let Err(e) = result {
            end.error = Some(describe_io(&e));
            end.mid_read = true;
        }
    }
    sp.chunk.end = Some(end);
    sp.flush();
    sp.alive
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("input ends early, the file is truncated: {e}"),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => format!("corrupt data: {e}"),
        _ => e.to_string(),
    }
}

fn read_body<R: Read + Send>(raw: &mut R, sp: &mut Splitter, end: &mut FileEnd) -> io::Result<()> {
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = loop {
        match buffered.fill_buf() {
            Ok(h) => break h,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if let Some(kind) = unsupported_format(head) {
        end.compression = Some(Compression::None);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{kind}, not a text log"),
        ));
    } else {
        Compression::None
    };
    end.compression = Some(compression);
    let mut text: Box<dyn BufRead> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            256 * 1024,
            zstd::stream::read::Decoder::with_buffer(buffered)?,
        )),
    };
    let head = text.fill_buf()?;
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if body.starts_with(&[0xff, 0xfe]) || body.starts_with(&[0xfe, 0xff]) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "UTF-16 text is not supported: convert it to UTF-8",
        ));
    }
    if body.iter().take(8192).any(|&b| b == 0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "binary content (NUL bytes), not a text log",
        ));
    }
    let first = body.iter().find(|c| !c.is_ascii_whitespace()).copied();
    let layout = if first == Some(b'[') {
        Layout::JsonArray
    } else {
        Layout::Lines
    };
    end.layout = Some(layout);
    match layout {
        Layout::Lines => split_lines(&mut *text, sp),
        Layout::JsonArray => split_array(&mut *text, sp),
    }
}

/// Names formats we recognise but do not read, so the error says what the file is.
fn unsupported_format(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"PAR1") {
        Some("a Parquet file")
    } else if head.starts_with(b"BZh") {
        Some("bzip2-compressed data (decompress it first)")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz-compressed data (decompress it first)")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("a zip archive (extract it first)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = (Vec<(u64, String, Option<usize>)>, u64, u64, Option<FileEnd>);

    fn split(input: &[u8], max: usize) -> Split {
        let dir = crate::testutil::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, input).unwrap();
        let mut chunks = Vec::new();
        let mut sink = |c: Chunk| {
            chunks.push(c);
            true
        };
        read_source(0, &Source::file(p), max, &mut sink);
        let mut recs = Vec::new();
        let (mut lines, mut blank) = (0, 0);
        let mut end = None;
        for c in chunks {
            lines += c.lines;
            blank += c.blank;
            for r in &c.records {
                recs.push((
                    r.line,
                    String::from_utf8_lossy(&c.data[r.start..r.end]).into_owned(),
                    r.oversize,
                ));
            }
            if c.end.is_some() {
                end = c.end;
            }
        }
        (recs, lines, blank, end)
    }

    #[test]
    fn ndjson_with_bom_crlf_and_blank_lines() {
        let (recs, lines, blank, end) = split(b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"a\":2}", 1000);
        assert_eq!(
            recs.iter().map(|r| (r.0, r.1.as_str())).collect::<Vec<_>>(),
            [(1, "{\"a\":1}"), (4, "{\"a\":2}")]
        );
        assert_eq!((lines, blank), (4, 2));
        assert_eq!(end.unwrap().layout, Some(Layout::Lines));
    }

    #[test]
    fn pretty_objects_and_text_payloads_join_their_lines() {
        let input = b"{\n  \"a\": 1,\n  \"b\": {\"c\": \"}\"}\n}\n{\"a\":2}\n2024-01-15 ERROR x: {\n  \"k\": [1,\n 2]\n}\nplain text\n";
        let (recs, lines, _, _) = split(input, 1000);
        assert_eq!(recs.len(), 4, "{recs:?}");
        assert_eq!(recs[0].0, 1);
        assert!(recs[0].1.ends_with('}'));
        assert_eq!(recs[1], (5, "{\"a\":2}".into(), None));
        assert_eq!(recs[2].0, 6);
        assert!(recs[2].1.ends_with("2]\n}"), "{:?}", recs[2].1);
        assert_eq!(recs[3].1, "plain text");
        assert_eq!(lines, 10);
    }

    #[test]
    fn a_broken_line_does_not_swallow_the_next_records() {
        let (recs, ..) = split(b"{\"a\": \"unterminated\n{\"a\":2}\n", 1000);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].1, "{\"a\":2}");
    }

    #[test]
    fn arrays_split_into_elements_with_their_lines() {
        let input = b"[\n  {\"a\": \"[,]\"},\n  {\"b\": [1, {\"c\": 2}]},\n  42, \"s,\"\n]\n";
        let (recs, lines, _, end) = split(input, 1000);
        let got: Vec<(u64, &str)> = recs.iter().map(|r| (r.0, r.1.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "{\"a\": \"[,]\"}"),
                (3, "{\"b\": [1, {\"c\": 2}]}"),
                (4, "42"),
                (4, "\"s,\"")
            ]
        );
        assert_eq!(lines, 5);
        assert_eq!(end.unwrap().layout, Some(Layout::JsonArray));
    }

    #[test]
    fn oversized_records_keep_a_head_only() {
        let long = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}\n", "x".repeat(5000));
        let (recs, ..) = split(long.as_bytes(), 1000);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].2, Some(5008));
        assert!(recs[0].1.len() <= HEAD_BYTES);
        assert_eq!(recs[1].1, "{\"b\":1}");
    }

    #[test]
    fn compressed_inputs_and_truncation() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            writeln!(gz, "{{\"i\":{i},\"pad\":\"{}\"}}", "y".repeat(i % 97)).unwrap();
        }
        let gz = gz.finish().unwrap();
        let (recs, lines, _, end) = split(&gz, 1 << 20);
        assert_eq!((recs.len(), lines), (2000, 2000));
        let end = end.unwrap();
        assert_eq!(end.compression, Some(Compression::Gzip));
        assert!(end.error.is_none());

        let (recs, _, _, end) = split(&gz[..gz.len() / 2], 1 << 20);
        assert!(recs.len() > 100 && recs.len() < 2000, "{}", recs.len());
        assert!(end.unwrap().error.unwrap().contains("truncated"));

        let z = zstd::encode_all(&b"{\"a\":1}\n{\"a\":2}\n"[..], 3).unwrap();
        let (recs, _, _, end) = split(&z, 1000);
        assert_eq!(recs.len(), 2);
        assert_eq!(end.unwrap().compression, Some(Compression::Zstd));
    }

    #[test]
    fn binary_is_refused_with_a_reason() {
        let (recs, _, _, end) = split(b"\x00\x01\x02garbage\x00", 1000);
        assert!(recs.is_empty());
        assert!(end.unwrap().error.unwrap().contains("binary"));
        let (_, _, _, end) = split(b"PAR1....", 1000);
        assert!(end.unwrap().error.unwrap().contains("Parquet"));
    }
}
