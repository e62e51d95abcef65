#!/usr/bin/env python3
"""Memory and time against the time span (issue 28): `errscope analyze` on generated
high-cardinality exports of 1 M records over 7, 30, 90 and 365 days, and 5 M records over
90 days; median wall time and peak resident memory of interleaved rounds.

    python3 benches/time_span.py [--rounds 3] [--work DIR] [--bin PATH]

The inputs are generated once into --work (`errscope generate --high-cardinality
--records N --days D --seed 42`, deterministic; about 7 GB in all) and reused. Peak memory
is the child's own (os.wait4 rusage). The target: every row within 512 MiB and within
1.3x of the 7-day peak.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import tempfile

# The same build and measurement as the engines' comparison.
from compare_engines import errscope_binary, run
CASES = [(1_000_000, 7), (1_000_000, 30), (1_000_000, 90), (1_000_000, 365), (5_000_000, 90)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "errscope-span"))
    ap.add_argument("--bin")
    a = ap.parse_args()
    binary = a.bin or errscope_binary()
    work = pathlib.Path(a.work)
    inputs = {}
    for records, days in CASES:
        d = work / f"high-{records}-{days}d"
        if not (d / "errors.ndjson").exists():
            subprocess.run([binary, "generate", "--high-cardinality", "--records", str(records),
                            "--days", str(days), "--seed", "42", "--out", str(d)],
                           check=True, capture_output=True)
        inputs[(records, days)] = d / "errors.ndjson"
    got = {c: [] for c in CASES}
    for r in range(a.rounds):
        for c in CASES:
            out = work / "out"
            wall, mem, _cpu = run([binary, "analyze", str(inputs[c]), "--out", str(out), "-q"])
            got[c].append((wall, mem))
    base = statistics.median(m for _, m in got[CASES[0]])
    print("| records | days | input | median wall | median peak RSS | vs 7 days | rates output |")
    print("|---|---|---|---|---|---|---|")
    for c in CASES:
        wall = statistics.median(w for w, _ in got[c])
        mem = statistics.median(m for _, m in got[c])
        subprocess.run([binary, "analyze", str(inputs[c]), "--out", str(work / "out"), "-q"], check=True)
        rates = sum(f.stat().st_size for f in (work / "out" / "rates").iterdir())
        size = inputs[c].stat().st_size
        print(f"| {c[0]:,} | {c[1]} | {size / 1e6:,.0f} MB | {wall:.2f} s | {mem:.0f} MiB | "
              f"{mem / base:.2f}x | {rates / 1e6:,.1f} MB |")


if __name__ == "__main__":
    main()
