#!/usr/bin/env python3
"""wrk runs for scripts/bench.sh --wrk, in kms-bench's report format.

  bench_wrk.py run --op OP --wrk-output FILE --time FILE --server-ticks T0 T1
      one wrk run (its output ends with the `kms-bench-wrk {...}` line that
      the script of `kms-bench wrk-script` prints; FILE of --time holds
      bash's `time` of wrk as "user system") as one JSON line
  bench_wrk.py report --runs FILE --connections N --duration S --warmup S --threads T --json OUT
      every operation's median run (by req/s) as a kms-bench load report,
      and its table on stdout

Standard library only."""

import argparse
import json
import sys

TICKS_PER_SECOND = 100


def run(a):
    line = None
    with open(a.wrk_output) as f:
        for text in f:
            if text.startswith("kms-bench-wrk "):
                line = json.loads(text[len("kms-bench-wrk "):])
    if line is None:
        sys.exit(f"bench_wrk.py: no kms-bench-wrk line in {a.wrk_output} (not a kms-bench wrk script?)")
    with open(a.time) as f:
        user, system = (float(v) for v in f.read().split()[-2:])
    line["op"] = a.op
    line["server_cpu_s"] = (a.server_ticks[1] - a.server_ticks[0]) / TICKS_PER_SECOND
    line["client_cpu_s"] = user + system
    print(json.dumps(line))


def result(r, ceiling):
    secs = r["duration_us"] / 1e6
    errors = sum(r["errors"].values())
    ok = r["requests"] - r["errors"]["status"]
    rps = ok / secs if secs else 0.0
    lat = r["latency_us"]
    per = lambda s: s * 1e6 / ok if ok else None  # noqa: E731
    return {
        "operation": r["op"],
        "requests": ok,
        "rps": rps,
        "percent_of_ceiling": 100 * rps / ceiling if ceiling else None,
        "latency_ms": {k: lat[k] / 1000 for k in ("mean", "p50", "p99", "p99_9", "max")},
        "errors": errors,
        "wrk_errors": r["errors"],
        "server_cpu_s": r["server_cpu_s"],
        "client_cpu_s": r["client_cpu_s"],
        "server_cpu_us_per_request": per(r["server_cpu_s"]),
        "client_cpu_us_per_request": per(r["client_cpu_s"]),
        "runs_rps": [],
    }


def report(a):
    runs = {}
    with open(a.runs) as f:
        for text in f:
            r = json.loads(text)
            runs.setdefault(r["op"], []).append(r)
    results = []
    for op, rs in runs.items():
        scored = sorted(((result(r, None)["rps"], r) for r in rs), key=lambda x: x[0])
        median = scored[len(scored) // 2][1]
        results.append((median, [s for s, _ in scored]))
    ceiling = next((result(m, None)["rps"] for m, _ in results if m["op"] == "health"), None)
    out = []
    for m, all_rps in results:
        r = result(m, ceiling)
        r["runs_rps"] = all_rps
        out.append(r)
    doc = {"mode": "load", "label": "kms-wrk", "endpoint": "", "connections": a.connections,
           "warmup_s": a.warmup, "duration_s": a.duration, "client_threads": a.threads,
           "generator": "wrk (one pre-signed request)", "results": out}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    rows = [["operation", "req/s", "% ceiling", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
             "srv CPU us/req", "gen CPU us/req"]]
    fmt = lambda v, d: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    for r in out:
        lat = r["latency_ms"]
        rows.append([r["operation"], f"{r['rps']:.0f}", fmt(r["percent_of_ceiling"], 0), f"{lat['p50']:.3f}",
                     f"{lat['p99']:.3f}", f"{lat['p99_9']:.3f}", f"{lat['max']:.3f}", str(r["errors"]),
                     fmt(r["server_cpu_us_per_request"], 1), fmt(r["client_cpu_us_per_request"], 1)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"# kms-wrk: {a.connections} connections | {a.duration} s after {a.warmup} s warm-up | "
          f"load generator: wrk, {a.threads} threads, one pre-signed request")
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    for r in out:
        if len(r["runs_rps"]) > 1:
            print(f"{r['operation']}: median of {len(r['runs_rps'])} runs (req/s: "
                  f"{', '.join(f'{v:.0f}' for v in r['runs_rps'])})")
        if r["errors"]:
            print(f"errors ({r['operation']}): {r['wrk_errors']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--op", required=True)
    r.add_argument("--wrk-output", required=True)
    r.add_argument("--time", required=True)
    r.add_argument("--server-ticks", type=float, nargs=2, required=True)
    p = sub.add_parser("report")
    p.add_argument("--runs", required=True)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--warmup", type=float, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--json", required=True)
    a = ap.parse_args()
    run(a) if a.cmd == "run" else report(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
