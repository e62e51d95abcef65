#!/usr/bin/env python3
"""Reading from a bucket against reading the same bytes from disk: wall time and peak RSS
of `errscope analyze` on one large object (streamed, never held whole) and on many small
objects (fetched ahead, `[storage] concurrency`), interleaved rounds, medians.

Needs an S3-compatible server in AWS_ENDPOINT_URL with AWS_ACCESS_KEY_ID/SECRET and a
bucket (SeaweedFS as .ci/run starts it), boto3 in the Python that runs this, and a release
build:

    python3 benches/object_storage.py BUCKET [ROUNDS]
"""
import os, re, statistics, subprocess, sys, tempfile

import boto3

BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/errscope-target")), "release", "errscope")


def run(args):
    t = subprocess.run(["/usr/bin/time", "-f", "%e %M", BIN, *args, "-q"], capture_output=True, text=True)
    if t.returncode != 0:
        sys.exit(f"{args}: exit {t.returncode}\n{t.stderr}")
    wall, kb = t.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024


def main():
    bucket, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    work = tempfile.mkdtemp()
    subprocess.run([BIN, "generate", "--records", "1500000", "--out", f"{work}/big"], check=True, capture_output=True)
    big = f"{work}/big/errors.ndjson"
    s3.upload_file(big, bucket, "bench/big/errors.ndjson")
    os.makedirs(f"{work}/small")
    with open(big) as f:
        for i in range(2000):
            lines = [next(f) for _ in range(30)]
            p = f"{work}/small/part-{i:04}.ndjson"
            open(p, "w").writelines(lines)
            s3.upload_file(p, bucket, f"bench/small/part-{i:04}.ndjson")
    for n in (1, 8):
        open(f"{work}/c{n}.toml", "w").write(f"[storage]\nconcurrency = {n}\n")
    cases = {
        f"one object, {os.path.getsize(big) / 1e6:.0f} MB, local file": [big],
        "one object, in the bucket": [f"s3://{bucket}/bench/big/errors.ndjson"],
        "2000 small objects, local files": [f"{work}/small"],
        "2000 small objects, bucket, concurrency 1": [f"s3://{bucket}/bench/small/", "--config", f"{work}/c1.toml"],
        "2000 small objects, bucket, concurrency 8": [f"s3://{bucket}/bench/small/", "--config", f"{work}/c8.toml"],
    }
    got = {k: [] for k in cases}
    for _ in range(rounds):
        for name, args in cases.items():
            got[name].append(run(["analyze", *args, "--out", f"{work}/out"]))
    print("| case | median wall | median peak RSS |\n|---|---|---|")
    for name, runs in got.items():
        print(f"| {name} | {statistics.median(w for w, _ in runs):.2f} s | {statistics.median(m for _, m in runs):.0f} MiB |")


if __name__ == "__main__":
    main()
