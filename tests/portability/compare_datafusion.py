"""Runs each query of a folder on Apache DataFusion over an events Parquet dataset (and the
anomalies beside it, for an analyze output) and
compares the rows with errscope's own result of the same query.

usage: compare_datafusion.py EVENTS_DIR CASES_DIR
CASES_DIR holds, per query, NAME.sql (the SQL as errscope ran it, parameters substituted,
from `errscope query --print-sql`) and NAME.ndjson (errscope's result, `--format ndjson`).
Exits 0 when every query gives the same rows, in the same order, on both engines.
"""
import datetime
import json
import math
import pathlib
import sys

import datafusion


def norm(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return int(v)
    return v


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def main():
    events_dir, cases = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    ctx = datafusion.SessionContext()
    ctx.register_parquet("events", str(events_dir), file_extension=".parquet")
    # Beside the events of an analyze output: its incidents.
    anomalies = events_dir.parent / "anomalies.parquet"
    if anomalies.exists():
        ctx.register_parquet("anomalies", str(anomalies))
    failures = 0
    files = sorted(cases.glob("*.sql"))
    if not files:
        print(f"no queries in {cases}")
        return 1
    for sql_file in files:
        name = sql_file.stem
        expected = [
            {k: norm(v) for k, v in json.loads(line).items()}
            for line in (cases / f"{name}.ndjson").read_text().splitlines()
            if line.strip()
        ]
        try:
            table = ctx.sql(sql_file.read_text()).to_arrow_table()
        except Exception as e:  # noqa: BLE001 - report any engine error per query
            print(f"FAIL {name}: DataFusion error: {e}")
            failures += 1
            continue
        got = [{k: norm(v) for k, v in row.items()} for row in table.to_pylist()]
        problems = []
        if table.column_names != (list(expected[0].keys()) if expected else table.column_names):
            problems.append(f"columns {table.column_names} != {list(expected[0].keys())}")
        if len(got) != len(expected):
            problems.append(f"{len(got)} rows on DataFusion, {len(expected)} on errscope")
        for i, (g, e) in enumerate(zip(got, expected)):
            diffs = [k for k in e if not same(g.get(k), e[k])]
            if diffs:
                problems.append(f"row {i}: " + ", ".join(f"{k}: {g.get(k)!r} != {e[k]!r}" for k in diffs))
                if len(problems) > 5:
                    break
        if problems:
            failures += 1
            print(f"FAIL {name}:\n  " + "\n  ".join(problems))
        else:
            print(f"ok   {name}: {len(got)} rows equal")
    print(f"{len(files) - failures}/{len(files)} queries give the same result on DataFusion {datafusion.__version__}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
