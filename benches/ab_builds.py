#!/usr/bin/env python3
"""A/B of two (or more) errscope binaries on one input: `analyze INPUT --out DIR -q`, the
binaries in turn (A B A B ...), a warm-up round first; prints each one's median wall time,
its runs, median CPU time (user + system, the child's own rusage) and peak resident memory.

    python3 benches/ab_builds.py BIN_A,BIN_B INPUT [ROUNDS]

Build the "before" binary from a worktree of the older commit with the same
CARGO_TARGET_DIR and copy it aside; then `cargo clean -p errscope --release` before building
the "after" one in the main checkout: the worktree's build leaves the main checkout's
errscope looking fresh while target/release/errscope is the worktree's (checked: without
the clean, the "after" binary was the "before" one). The input of the comparison job: `errscope generate --out DIR
--records 3500000 --days 1 --shape flat` (deterministic).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    bins = sys.argv[1].split(",")
    inp = sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    res = {b: [] for b in bins}
    work = tempfile.mkdtemp(prefix="errscope-ab-")
    try:
        for r in range(rounds + 1):
            for i, b in enumerate(bins):
                out = os.path.join(work, f"out-{i}")
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                p = subprocess.Popen([b, "analyze", inp, "--out", out, "-q"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.perf_counter() - start
                if os.waitstatus_to_exitcode(status) not in (0, 5):
                    raise SystemExit(f"{b} failed ({status})")
                if r > 0:  # round 0 warms the page cache
                    res[b].append((wall, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for b in bins:
        ws = [x[0] for x in res[b]]
        print(f"{b}: wall median {statistics.median(ws):.2f}s (runs {' '.join(f'{w:.2f}' for w in ws)}), "
              f"cpu median {statistics.median(x[2] for x in res[b]):.2f}s, "
              f"peak {max(x[1] for x in res[b]):.0f} MiB")


if __name__ == "__main__":
    main()
