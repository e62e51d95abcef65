#!/usr/bin/env python3
"""The aggregation engines side by side (issue 26): `errscope analyze EVENTS` with the
local fold against `--engine sc://…` (a Spark cluster through Spark Connect), on events
datasets of 3.5 M and 35 M generated records; median wall time and errscope's own peak
resident memory (os.wait4 rusage: the cluster's JVMs are not errscope's).

    python3 benches/spark_engine.py --engine sc://127.0.0.1:15002 [--records 3500000,35000000]
        [--rounds 3] [--work DIR]

Start a cluster first as .ci/run does (standalone master, one worker, the Spark Connect
server; PyPI pyspark, Debian's JDK). The datasets are generated once into --work
(`errscope generate --shape flat --seed 42`, then `errscope ingest`) and reused; the logs
are deleted once ingested. Builds errscope with `--features spark` (needs protoc).
Rounds interleave the engines, local then Spark, after one warm-up run of each (the first
Spark query of a fresh server pays the JVM's warm-up).
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile

from compare_engines import ROOT, run


def binary():
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache" / "errscope-target"))
    subprocess.run(["cargo", "build", "--release", "-q", "--features", "spark"], cwd=ROOT,
                   check=True, env={**os.environ, "CARGO_TARGET_DIR": target})
    return str(pathlib.Path(target) / "release" / "errscope")


def dataset(bin_, work, records):
    ds = work / f"events-{records}"
    if (ds / "manifest.json").exists():
        return ds
    logs = work / f"logs-{records}"
    subprocess.run([bin_, "generate", "--shape", "flat", "--records", str(records), "--days", "1",
                    "--seed", "42", "--out", str(logs)], check=True, capture_output=True)
    subprocess.run([bin_, "ingest", "-q", str(logs), "--out", str(ds)], check=True)
    shutil.rmtree(logs)
    return ds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True, help="the Spark Connect URL, sc://HOST:PORT")
    ap.add_argument("--records", default="3500000,35000000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "errscope-spark-bench"))
    a = ap.parse_args()
    bin_ = binary()
    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(r) for r in a.records.split(",")]
    engines = {"local": [], "spark": [a.engine]}
    print("| records | events dataset | engine | median wall | errscope peak RSS | walls |")
    print("|---|---|---|---|---|---|")
    for records in sizes:
        ds = dataset(bin_, work, records)
        size = sum(f.stat().st_size for f in (ds / "events").rglob("*.parquet"))
        got = {e: [] for e in engines}
        for r in range(a.rounds + 1):
            for name, extra in engines.items():
                cmd = [bin_, "analyze", str(ds), "--out", str(work / f"out-{name}"), "-q"]
                cmd += ["--engine", extra[0]] if extra else []
                wall, mem, _ = run(cmd)
                if r > 0:  # round 0 warms up
                    got[name].append((wall, mem))
        for name in engines:
            walls = [w for w, _ in got[name]]
            mem = statistics.median(m for _, m in got[name])
            print(f"| {records:,} | {size / 1e6:,.0f} MB | {name} | {statistics.median(walls):.2f} s | "
                  f"{mem:.0f} MiB | {' / '.join(f'{w:.2f}' for w in walls)} |")


if __name__ == "__main__":
    main()
