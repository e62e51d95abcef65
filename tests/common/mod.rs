//! Helpers shared by the CLI tests: run the binary, read the outputs back as data.
#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The errscope binary, run like assert_cmd's `Command` (std only: see `testutil`).
pub struct Cmd {
    cmd: std::process::Command,
    stdin: Vec<u8>,
}

pub fn errscope() -> Cmd {
    Cmd {
        cmd: std::process::Command::new(env!("CARGO_BIN_EXE_errscope")),
        stdin: Vec::new(),
    }
}

impl Cmd {
    pub fn arg(&mut self, a: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(
        &mut self,
        a: I,
    ) -> &mut Self {
        self.cmd.args(a);
        self
    }

    pub fn env(
        &mut self,
        k: impl AsRef<std::ffi::OsStr>,
        v: impl AsRef<std::ffi::OsStr>,
    ) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<std::path::Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn write_stdin(&mut self, data: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = data.into();
        self
    }

    pub fn assert(&mut self) -> Assert {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("errscope runs");
        let mut stdin = child.stdin.take().expect("piped");
        let data = std::mem::take(&mut self.stdin);
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let output = child.wait_with_output().expect("errscope finishes");
        writer.join().expect("stdin writer");
        Assert { output }
    }
}

/// A finished run.
pub struct Assert {
    output: std::process::Output,
}

impl Assert {
    pub fn get_output(&self) -> &std::process::Output {
        &self.output
    }

    fn describe(&self) -> String {
        format!(
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    pub fn success(self) -> Self {
        assert!(
            self.output.status.success(),
            "expected success; {}",
            self.describe()
        );
        self
    }

    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.output.status.code(), Some(code), "{}", self.describe());
        self
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every file under `dir`, sorted, relative to `dir`.
/// Every file under `dir` (relative, sorted) and its bytes: what "left as it was" compares.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(dir.join(&p)).unwrap();
            (p, b)
        })
        .collect()
}

/// What a run printed on stderr.
pub fn stderr_of(a: &Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// What a run printed on stdout.
pub fn stdout_of(a: &Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Reads every Parquet file of `<out>/events`, in path order.
pub fn read_events(out: &Path) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for rel in files_under(&out.join("events")) {
        assert!(
            rel.extension().is_some_and(|e| e == "parquet"),
            "unexpected file {rel:?}"
        );
        let f = File::open(out.join("events").join(&rel)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    batches
}

pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// The values of a string column (Utf8 or Utf8View) across batches.
pub fn strings(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let col = b
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        for i in 0..col.len() {
            out.push(if col.is_null(i) {
                None
            } else {
                Some(match col.data_type() {
                    DataType::Utf8View => col.as_string_view().value(i).to_string(),
                    DataType::Utf8 => col.as_string::<i32>().value(i).to_string(),
                    other => panic!("{name} is {other}"),
                })
            });
        }
    }
    out
}

pub fn null_count(batches: &[RecordBatch], name: &str) -> usize {
    batches
        .iter()
        .map(|b| b.column_by_name(name).unwrap().null_count())
        .sum()
}

/// Every string cell of the events, plus the text of every other output file.
pub fn all_output_text(out: &Path) -> String {
    let batches = read_events(out);
    let mut text = String::new();
    if let Some(b) = batches.first() {
        for f in b.schema().fields() {
            if matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View) {
                for v in strings(&batches, f.name()).into_iter().flatten() {
                    text.push_str(&v);
                    text.push('\n');
                }
            }
        }
    }
    for rel in files_under(out) {
        if rel.extension().is_some_and(|e| e != "parquet") {
            text.push_str(&String::from_utf8_lossy(
                &std::fs::read(out.join(rel)).unwrap(),
            ));
        }
    }
    text
}

pub fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// Asserts the manifest's per-file and total counts reconcile, and match the outputs.
pub fn assert_reconciles(out: &Path) -> serde_json::Value {
    let m = manifest(out);
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let mut sum_events = 0;
    let mut sum_quarantined = 0;
    for f in m["inputs"].as_array().unwrap() {
        assert_eq!(
            n(f, "events") + n(f, "out_of_range") + n(f, "duplicates") + n(f, "quarantined"),
            n(f, "records") + n(f, "expanded"),
            "{f}"
        );
        if f["layout"] == "lines" {
            assert_eq!(
                n(f, "lines"),
                n(f, "blank") + n(f, "records") + n(f, "continuation"),
                "{f}"
            );
        }
        sum_events += n(f, "events");
        sum_quarantined += n(f, "quarantined");
    }
    let t = &m["totals"];
    assert_eq!(n(t, "events"), sum_events);
    assert_eq!(n(t, "quarantined"), sum_quarantined);
    assert_eq!(
        row_count(&read_events(out)) as u64,
        sum_events,
        "events on disk"
    );
    let q = std::fs::read_to_string(out.join("quarantine.ndjson")).unwrap();
    assert_eq!(
        q.lines().count() as u64,
        sum_quarantined,
        "quarantine lines"
    );
    for line in q.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["file"].is_string() && v["line"].is_u64() && v["reason"].is_string(),
            "{v}"
        );
    }
    m
}

/// `errscope ingest -q sample-data --out <dir>/sample`; returns the output folder.
pub fn ingest_sample(dir: &Path) -> PathBuf {
    let out = dir.join("sample");
    ingest(&[repo_path("sample-data")], &out).success();
    out
}

/// `errscope ingest -q <inputs>... --out <out>`, not yet asserted.
pub fn ingest<P: AsRef<std::ffi::OsStr>>(inputs: &[P], out: &Path) -> Assert {
    errscope()
        .args(["ingest", "-q"])
        .args(inputs)
        .arg("--out")
        .arg(out)
        .assert()
}

/// `errscope generate <args>... --out <out>`, asserted successful.
pub fn generate(args: &[&str], out: &Path) {
    errscope()
        .arg("generate")
        .args(args)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

/// `errscope analyze -q <input> --out <out> <extra>...`, not yet asserted.
pub fn analyze(input: &Path, out: &Path, extra: &[&str]) -> Assert {
    errscope()
        .args(["analyze", "-q"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

/// `errscope analyze --json -q <input> --out <out>`, asserted successful (exit 0): its
/// summary.json from stdout.
pub fn analyze_json(input: &Path, out: &Path) -> serde_json::Value {
    let a = analyze(input, out, &["--json"]).success();
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

/// The id of the first incident of an analyze output (anomalies.csv's first row).
pub fn first_incident_id(out: &Path) -> String {
    let csv = std::fs::read_to_string(out.join("anomalies.csv")).unwrap();
    let row = csv.lines().nth(1).expect("an incident");
    row.split(',').next().unwrap().to_string()
}
