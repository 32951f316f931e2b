#!/usr/bin/env python3
"""Runs the Google Benchmark microbenchmarks (build-bench/strait_micro) and writes
bench/results/micro-<date>.md and .json, each figure beside issue 5's target. Started by
bench/run.sh; extra arguments after `--` go to the benchmark binary."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name prefix -> (target description, limit in ns or None, what to compare)
TARGETS = {
    "BM_Route_": ("route lookup < 100 ns median at 10,000 hosts", 100.0),
    "BM_EndpointSliceUpdate10k": ("endpoint change routed within 10 ms (controller share)", 10e6),
    "BM_Translate10k": ("route change routed within 50 ms at 10,000 Ingresses "
                        "(translation alone; file mode also compares, see Equivalent)", 50e6),
}
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def fmt_time(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=os.path.join(ROOT, "build-bench", "strait_micro"))
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--results-dir", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("extra", nargs="*", help="arguments for the benchmark binary (after --)")
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        p.error(f"no microbenchmark binary at {args.binary} (bench/run.sh builds it)")

    with tempfile.TemporaryDirectory(prefix="strait-micro-") as tmp:
        out_json = os.path.join(tmp, "micro.json")
        argv = [args.binary, f"--benchmark_repetitions={args.repetitions}",
                "--benchmark_report_aggregates_only=true", f"--benchmark_out={out_json}",
                "--benchmark_out_format=json"] + [a for a in args.extra if a]
        print("running: " + " ".join(argv), file=sys.stderr, flush=True)
        subprocess.run(argv, check=True, timeout=1800)
        data = json.load(open(out_json))

    rows = [b for b in data["benchmarks"] if b.get("aggregate_name") == "median"]
    cvs = {b["run_name"]: b for b in data["benchmarks"] if b.get("aggregate_name") == "cv"}
    ctx = data["context"]
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    date = datetime.datetime.now(datetime.timezone.utc)

    md = [f"# Microbenchmarks ({date.strftime('%Y-%m-%d %H:%M UTC')})", ""]
    md.append(f"Machine: {ctx.get('num_cpus')} cores, {model}; load average "
              f"{' '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))} at the start (shared "
              f"machine). strait commit {commit}, Release build (build-bench/), Google Benchmark "
              f"(Debian's libbenchmark, itself built without optimisation: its own loop overhead "
              f"is in every figure). Median of {args.repetitions} repetitions; cv = coefficient "
              f"of variation across them.")
    md.append("")
    md.append("Corpus: 10,000 Ingresses, one host each (every fifth a `*.` wildcard), 10 paths "
              "each (100,000: Exact, Prefix, ImplementationSpecific, up to 8 segments deep), "
              "10,000 Services, 50,000 endpoints (one EndpointSlice of 5 per Service). "
              "`_LongNames`: the same with realistic namespace/Service names "
              "(`team-7-production/checkout-service-1234`) instead of `ns7/svc1234`.")
    md.append("")
    md.append("| benchmark | median time | cv | counters | target | vs target |")
    md.append("|---|---:|---:|---|---|---:|")
    for b in rows:
        name = b["run_name"]
        ns = b["real_time"] * UNIT_NS[b["time_unit"]]
        cv = cvs.get(name, {}).get("real_time")
        skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
                "iterations", "real_time", "cpu_time", "time_unit", "aggregate_name",
                "aggregate_unit", "family_index", "per_family_instance_index"}
        counters = []
        for k, v in b.items():
            if k in skip or not isinstance(v, (int, float)):
                continue
            if k == "bytes_per_second":
                counters.append(f"{v / 1e9:.2f} GB/s")
            elif k == "items_per_second":
                counters.append(f"{v / 1e6:.2f} M/s")
            elif k == "ingresses_per_s":
                counters.append(f"{v:,.0f} Ingresses/s")
            elif k == "snapshot_bytes_per_route":
                counters.append(f"{v:,.0f} B of Snapshot per route (target < 2 KB)")
            else:
                counters.append(f"{k}={v:g}")
        target, ratio = "", ""
        for prefix, (desc, limit) in TARGETS.items():
            if name.startswith(prefix):
                target, ratio = desc, f"{ns / limit:.2f}x"
        md.append(f"| {name} | {fmt_time(ns)} | {cv * 100:.0f}% | {'; '.join(counters)} "
                  f"| {target} | {ratio} |" if cv is not None else
                  f"| {name} | {fmt_time(ns)} | | {'; '.join(counters)} | {target} | {ratio} |")
    md.append("")
    md.append("vs target: measured / target (below 1.00x meets it).")
    text = "\n".join(md) + "\n"

    os.makedirs(args.results_dir, exist_ok=True)
    stem = os.path.join(args.results_dir, f"micro-{date.strftime('%Y-%m-%d')}")
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump(data, f, indent=1)
    print(text)
    print(f"written: {stem}.md, {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
