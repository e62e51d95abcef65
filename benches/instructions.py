#!/usr/bin/env python3
"""Instructions executed by a whole `errscope analyze` run, and by its parts: a noise-free
A/B measure for a machine whose wall times swing by 10-20 % from one minute to the next.

    python3 benches/instructions.py [--records 1000000] [--work DIR] [BINARY ...]

Generates a flat input with `errscope generate` (deterministic: seed 42, one day), runs
each binary (default: this checkout, built in release mode) under valgrind's callgrind
(about 4 minutes per binary for 1 M records) and prints the total instruction count and
the inclusive count and share of each stage, side by side. A smaller input is quicker
but weighs the reports more: the rate tables follow keys x windows, not records (at
100,000 records the rates CSV and Parquet are over half of the run). Instruction counts do not see cache misses or SIMD
width, so a change that moves memory traffic shows better in perf or wall time; they are
for telling a 1-3 % change from noise, which wall time on this machine cannot.

The whole-run total is always comparable. A stage's count is its function's inclusive
count, so it reads 0 (or less than the stage did) in a build where the compiler inlined
that function into its caller: compare stage counts between builds only where the
function stands on its own (for example, stop 13's CSV writer was inlined into its
thread's closure, so its 0.55 G undercounts it).
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare_engines import ROOT, errscope_binary  # noqa: E402

# (label, function whose inclusive count is reported), in pipeline order.
STAGES = [
    ("read and split", "errscope::ingest::reader::read_source"),
    ("decode (all)", "errscope::ingest::decode::decode_chunk"),
    ("  secret prefilter", "errscope::ingest::redact::clean_records"),
    ("  mapping", "errscope::ingest::mapping::map_flat"),
    ("  column appends", "errscope::ingest::builder::EventBatchBuilder::append"),
    ("fold (collector)", "errscope::analyze::collect::Collector::observe"),
    ("events Parquet", "errscope::report::parquet::EventsWriter::write"),
    ("analysis", "errscope::analyze::analyze_events"),
    ("rates Parquet", "errscope::report::rates::write_parquet_with"),
    ("rates CSV", "errscope::report::csv::CsvFile::write"),
    ("charts", "errscope::report::chart::write_all"),
]


def measure(binary, src, work):
    """Total instructions and each stage's inclusive count, summed over threads (callgrind
    keeps one profile per thread: merged, the threads' interleaved stacks give inclusive
    counts that change from run to run)."""
    prefix = work / f"callgrind.{pathlib.Path(binary).name}.out"
    for old in work.glob(prefix.name + "*"):
        old.unlink()
    out_dir = work / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                    f"--callgrind-out-file={prefix}", binary, "analyze", "-q", str(src),
                    "--out", str(out_dir)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = 0
    counts = {label: 0 for label, _ in STAGES}
    for part in sorted(work.glob(prefix.name + "-*")):
        text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                               str(part)], check=True, capture_output=True, text=True).stdout
        m = re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M)
        total += int(m.group(1).replace(",", "")) if m else 0
        for label, func in STAGES:
            # The function's own line ("file:function [binary]"), not its inlined copies.
            m = re.search(r"^\s*([\d,]+) \([\d. ]+%\)\s+\S*:" + re.escape(func) + r" \[",
                          text, re.M)
            counts[label] += int(m.group(1).replace(",", "")) if m else 0
    return total, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--work", default=str(ROOT / "target" / "instructions"))
    ap.add_argument("binaries", nargs="*")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (Debian: apt-get install valgrind)")
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    binaries = args.binaries or [errscope_binary()]
    data = work / f"flat-{args.records}-42"
    src = data / "errors.ndjson"
    if not src.exists():
        subprocess.run([binaries[0], "generate", "--shape", "flat", "--records", str(args.records),
                        "--days", "1", "--seed", "42", "--out", str(data)],
                       check=True, stdout=subprocess.DEVNULL)
    results = [(b, *measure(b, src, work)) for b in binaries]
    print(f"{args.records} records; instructions (G) and share of the run")
    for k, b in enumerate(binaries):
        print(f"  {chr(65 + k)}: {b}")
    print(f"{'':20}" + "".join(f"{chr(65 + k):>16}" for k in range(len(results))))
    print(f"{'whole run':20}" + "".join(f"{t / 1e9:8.3f}  100.0%" for _, t, _ in results))
    for label, _ in STAGES:
        cells = "".join(f"{c[label] / 1e9:8.3f} {100 * c[label] / t:6.1f}%" for _, t, c in results)
        print(f"{label:20}{cells}")
    base = results[0][1]
    for k, (_, t, _) in enumerate(results[1:], start=1):
        print(f"{chr(65 + k)} against A: {100 * (t - base) / base:+.1f} % instructions")


if __name__ == "__main__":
    main()
