#!/usr/bin/env python3
"""errscope against DuckDB and chDB on the comparison job (../shared/bench, copied to
benches/anchors/): the same flat NDJSON file, the engines' smaller job (events Parquet and
three windowed aggregations) against the whole `errscope analyze` run (events, rates,
anomalies, detectors, charts, report).

    python3 benches/compare_engines.py [--records 3500000] [--rounds 3] [--work DIR]
        [--days 1] [--high-cardinality] [--engines errscope,duckdb,chdb[,ingest]]

`--high-cardinality` generates client IPs from all of 10.0.0.0/8 and 200 k users per
organisation (most IPs appear once); with `--days 3` it is the input of the memory
benchmark (issue 20): `--records 3500000` (1x) and `--records 35000000` (10x).

Sets up DuckDB and chDB in a virtual environment (benches/.venv, or $ERRSCOPE_BENCH_VENV),
builds errscope in release mode, generates the input with `errscope generate --shape flat`
(deterministic), then runs the engines in turn, A B C A B C ..., a warm-up round first, and
prints the median wall time, CPU time (user + system) and peak resident memory of each, the
ratio of errscope to the faster engine, the ratio of CPU times, and the paired ratio: the
median over rounds of each round's errscope / faster engine (steadier on a noisy machine).
Peak memory and CPU time are the child's own (os.wait4 rusage), not the machine's. With
`ingest` among the engines, `errscope ingest` alone runs in each round too (no fold,
analysis or reports; not counted as an engine), and its paired ratio and what the analysis
adds on top are printed.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def venv_python():
    venv = pathlib.Path(os.environ.get("ERRSCOPE_BENCH_VENV", ROOT / "benches" / ".venv"))
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ok = subprocess.run([str(py), "-c", "import duckdb, chdb"], capture_output=True).returncode == 0
    if not ok:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "duckdb", "chdb"], check=True)
    return str(py)


def errscope_binary():
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache" / "errscope-target"))
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": target})
    return str(pathlib.Path(target) / "release" / "errscope")


def run(cmd):
    """Runs cmd; returns (wall seconds, peak RSS MiB, CPU seconds: user + system)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{cmd[0]} failed ({code}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3_500_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default=str(ROOT / "target" / "bench"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--high-cardinality", action="store_true")
    ap.add_argument("--engines", default="errscope,duckdb,chdb",
                    help="comma-separated subset (errscope always runs); `ingest` adds "
                         "`errscope ingest` alone, to tell what the analysis costs")
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    py = venv_python()
    errscope = errscope_binary()
    kind = "high" if args.high_cardinality else "flat"
    data = work / f"{kind}-{args.records}-{args.days}d-{args.seed}"
    src = data / "errors.ndjson"
    if not src.exists():
        extra = ["--high-cardinality"] if args.high_cardinality else []
        subprocess.run([errscope, "generate", "--shape", "flat", "--records", str(args.records),
                        "--days", str(args.days), "--seed", str(args.seed), "--out", str(data),
                        *extra], check=True)
    size_mb = src.stat().st_size / 1e6
    print(f"input: {src} ({size_mb:.0f} MB, {args.records} records)", flush=True)

    anchors = ROOT / "benches" / "anchors"
    jobs = {
        "errscope": lambda out: [errscope, "analyze", "-q", str(src), "--out", out],
        # Not an engine: `errscope ingest` alone (read, map, classify, redact, the events
        # Parquet, no fold, analysis or reports), to tell what the analysis costs on top.
        "ingest": lambda out: [errscope, "ingest", "-q", str(src), "--out", out],
        "duckdb": lambda out: [py, str(anchors / "anchor_duckdb.py"), str(src), out],
        "chdb": lambda out: [py, str(anchors / "anchor_chdb.py"), str(src), out],
    }
    wanted = set(args.engines.split(",")) | {"errscope"}
    jobs = {k: v for k, v in jobs.items() if k in wanted}
    # Per engine, the (wall s, peak MiB, CPU s) of each round after the warm-up.
    runs = {k: [] for k in jobs}
    for rnd in range(args.rounds + 1):
        for name, cmd in jobs.items():
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            wall, rss, cpu_s = run(cmd(str(out)))
            label = "warm-up" if rnd == 0 else f"round {rnd}"
            print(f"{label:8} {name:9} {wall:7.2f} s  {rss:7.0f} MiB  {cpu_s:6.2f} CPU s", flush=True)
            if rnd > 0:
                runs[name].append((wall, rss, cpu_s))
    med = {k: statistics.median(w for w, _, _ in v) for k, v in runs.items()}
    peak = {k: max(p for _, p, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, _, c in v) for k, v in runs.items()}
    print()
    print(f"{'engine':9} {'median s':>9} {'MB/s':>7} {'peak MiB':>9} {'CPU s':>7} {'cores':>6}")
    for name in jobs:
        print(f"{name:9} {med[name]:9.2f} {size_mb / med[name]:7.0f} {peak[name]:9.0f}"
              f" {cpu[name]:7.2f} {cpu[name] / med[name]:6.2f}")
    engines = [k for k in jobs if k not in ("errscope", "ingest")]
    if not engines:
        print(f"errscope peak memory: {peak['errscope']:.0f} MiB (target <= 512)")
        return
    fastest = min(med[k] for k in engines)
    print(f"\nratio errscope / faster engine: {med['errscope'] / fastest:.2f} (target <= 0.5)")
    # CPU seconds (user + system, medians) say how much work each engine does, whatever
    # the wall clock's swings; on two cores a wall ratio of 0.5 needs about half the CPU.
    leaner = min(cpu[k] for k in engines)
    print(f"CPU ratio errscope / leaner engine: {cpu['errscope'] / leaner:.2f}")
    # Paired by round: the engines of one round ran minutes apart, so the machine's swings
    # (10-20 % between hours here) cancel more in each round's ratio than in the ratio of
    # medians taken over different rounds.
    def paired(job):
        return [runs[job][i][0] / min(runs[k][i][0] for k in engines)
                for i in range(len(runs[job]))]
    rounds = paired("errscope")
    print(f"paired ratio (median of each round's errscope / faster engine): "
          f"{statistics.median(rounds):.2f} (rounds: {', '.join(f'{r:.2f}' for r in rounds)})")
    if "ingest" in runs:
        alone = paired("ingest")
        print(f"errscope ingest alone / faster engine, paired: {statistics.median(alone):.2f}; "
              f"the fold, analysis and reports add {med['errscope'] - med['ingest']:.2f} s "
              f"({cpu['errscope'] - cpu['ingest']:.2f} CPU s)")
    print(f"errscope peak memory: {peak['errscope']:.0f} MiB (target <= 512)")


if __name__ == "__main__":
    main()
