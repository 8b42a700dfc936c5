#!/usr/bin/env python3
"""Summary of a scripts/bench.sh run: kms/moto ratios and the project's
performance targets (docs/PERFORMANCE.md), from kms-bench's JSON reports.
Standard library only."""

import argparse
import json
import sys

# The project's targets.
ENCRYPT_MIN_RPS = 30_000
ENCRYPT_MIN_CEILING_PCT = 70
MOTO_MIN_RATIO = 100
MOTO_RATIO_OPS = ("encrypt-32", "decrypt", "generate-data-key")
P99_MAX_MS = 10
P99_CONNECTIONS = 64
SCALE_KEYS = 100_000
SCALE_MAX_RSS_MB = 200
LIST_FLAT_MAX_RATIO = 1.5
# Sign RSA-2048 >= 80 % of aws-lc-rs's own rate on every CPU (crypto-baseline);
# Sign P-256 >= 80 % of the Encrypt rate of the same run.
SIGN_RSA_MIN_OF_RAW = 0.80
SIGN_P256_MIN_OF_ENCRYPT = 0.80
# A run of at least 60 s: Encrypt p99.9 and max.
STALL_RUN_S = 60
STALL_P999_MAX_MS = 20
STALL_MAX_MS = 50
# The 1,000,000-key targets (issue 19): RSS, start-up, CreateKey rate at
# the scale run's connections, bytes of data directory (without audit/) per key.
BIG_SCALE_KEYS = 1_000_000
BIG_SCALE_MAX_RSS_MB = 600
BIG_SCALE_MAX_STARTUP_MS = 2000
BIG_SCALE_MIN_CREATE_RPS = 5000
BIG_SCALE_MAX_BYTES_PER_KEY = 1024


def load(path):
    with open(path) as f:
        return json.load(f)


def by_op(report):
    return {r["operation"]: r for r in report["results"]}


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def metric_values(path):
    """name{labels} -> value for the plain (unlabelled or labelled) samples."""
    values = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or " " not in line:
                    continue
                name, _, value = line.rstrip().rpartition(" ")
                try:
                    values[name] = float(value)
                except ValueError:
                    pass
    except OSError:
        pass
    return values


def audit_summary(path):
    """One line on the audit trail's group commit, from /metrics."""
    if not path:
        return
    m = metric_values(path)
    fsyncs = m.get("kms_audit_fsync_seconds_count")
    if not fsyncs:
        return
    events = m.get("kms_audit_records_total", 0)
    fsync_s = m.get("kms_audit_fsync_seconds_sum", 0)
    print(f"# kms audit trail over the whole load run: {events:,.0f} events in {fsyncs:,.0f} write+fsync batches "
          f"(mean batch {events / fsyncs:.1f} events, mean write+fsync {1000 * fsync_s / fsyncs:.2f} ms)")
    print()


def generators(reports, crypto, checks):
    """Side by side per load generator: Encrypt and the others against
    /health (rate and server CPU), Sign against raw aws-lc-rs and Encrypt,
    and the stall target for runs of 60 s or more."""
    rows = [["run (generator)", "operation", "req/s", "x health req/s", "srv CPU us/req", "x health CPU",
             "gen CPU us/req", "p99.9 ms", "max ms"]]
    raw = {r["operation"]: r for r in crypto["results"]} if crypto else {}
    for rep in reports:
        ops = by_op(rep)
        gen = rep.get("generator", "signing")
        name = f"{rep['label']} ({gen.split(' (')[0]})"
        health = ops.get("health")
        for op, r in ops.items():
            x_rate = x_cpu = "-"
            cpu, gcpu = r.get("server_cpu_us_per_request"), r.get("client_cpu_us_per_request")
            if health and op != "health" and health["rps"]:
                x_rate = f"{r['rps'] / health['rps']:.2f}"
                if cpu and health.get("server_cpu_us_per_request"):
                    x_cpu = f"{cpu / health['server_cpu_us_per_request']:.2f}"
            rows.append([name, op, f"{r['rps']:,.0f}", x_rate, "-" if cpu is None else f"{cpu:.1f}", x_cpu,
                         "-" if gcpu is None else f"{gcpu:.1f}", f"{r['latency_ms']['p99_9']:.2f}",
                         f"{r['latency_ms']['max']:.2f}"])
        enc = ops.get("encrypt-32")
        # The main load run's own ceiling check is below.
        if enc and health and health["rps"] and rep.get("label") != "kms":
            ratio = enc["rps"] / health["rps"]
            checks.append((f"encrypt-32 >= {ENCRYPT_MIN_CEILING_PCT}% of health, {name}", f"{100 * ratio:.0f}%",
                           100 * ratio >= ENCRYPT_MIN_CEILING_PCT))
        if enc and ops.get("sign-p256") and enc["rps"]:
            ratio = ops["sign-p256"]["rps"] / enc["rps"]
            checks.append((f"sign-p256 >= {SIGN_P256_MIN_OF_ENCRYPT:.0%} of encrypt-32, {name}", f"{ratio:.0%}",
                           ratio >= SIGN_P256_MIN_OF_ENCRYPT))
        if ops.get("sign-rsa2048") and raw.get("sign-rsa2048"):
            base = raw["sign-rsa2048"]["per_second"]
            srv = ops["sign-rsa2048"]
            ratio = srv["rps"] / base
            # The same ratio from CPU time (what it would be on two otherwise
            # idle cores): aws-lc-rs's CPU per signature over the server's and
            # the generator's per request.
            by_cpu = ""
            per_req = (srv.get("server_cpu_us_per_request") or 0) + (srv.get("client_cpu_us_per_request") or 0)
            if per_req and raw["sign-rsa2048"].get("cpu_us_per_signature"):
                by_cpu = f" (by CPU: {raw['sign-rsa2048']['cpu_us_per_signature'] / per_req:.0%})"
            checks.append((f"sign-rsa2048 >= {SIGN_RSA_MIN_OF_RAW:.0%} of aws-lc-rs ({base:,.0f}/s), {name}",
                           f"{ratio:.0%}{by_cpu}", ratio >= SIGN_RSA_MIN_OF_RAW))
        if enc and rep.get("duration_s", 0) >= STALL_RUN_S:
            lat = enc["latency_ms"]
            checks.append((f"encrypt-32 over {rep['duration_s']:.0f} s: p99.9 <= {STALL_P999_MAX_MS} ms, "
                           f"max <= {STALL_MAX_MS} ms, {name}", f"{lat['p99_9']:.1f} / {lat['max']:.1f} ms",
                           lat["p99_9"] <= STALL_P999_MAX_MS and lat["max"] <= STALL_MAX_MS))
    if len(rows) > 1:
        print("# load generators side by side (x health: the operation over /health in the same run)")
        print(table(rows))
        print()
    if crypto:
        print("# aws-lc-rs outside the server: " + ", ".join(
            f"{r['operation']} {r['per_second']:,.0f}/s on {r['threads']} threads" for r in crypto["results"]))
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kms", help="the load run's report (signing generator)")
    ap.add_argument("--report", action="append", default=[],
                    help="another kms-bench (or bench_wrk.py) report: replay, wrk, sign, stall runs")
    ap.add_argument("--crypto", help="kms-bench crypto-baseline's report")
    ap.add_argument("--kms-metrics", help="the server's /metrics after the load run")
    ap.add_argument("--moto")
    ap.add_argument("--scale")
    ap.add_argument("--scale-server")
    ap.add_argument("--connections", type=int, default=64)
    a = ap.parse_args()

    kms = by_op(load(a.kms)) if a.kms else {}
    audit_summary(a.kms_metrics)
    checks = []  # (target, measured, ok: True, False or None for n/a)
    reports = ([load(a.kms)] if a.kms else []) + [load(p) for p in a.report]
    generators(reports, load(a.crypto) if a.crypto else None, checks)

    if a.moto:
        moto_report = load(a.moto)
        moto = by_op(moto_report)
        rows = [["operation", "kms req/s", "moto req/s", "kms/moto", "kms p99 ms", "moto p99 ms"]]
        for op, m in moto.items():
            k = kms.get(op)
            if k is None:
                continue
            ratio = k["rps"] / m["rps"] if m["rps"] else float("inf")
            rows.append([op, f"{k['rps']:.0f}", f"{m['rps']:.0f}", f"{ratio:.0f}x",
                         f"{k['latency_ms']['p99']:.3f}", f"{m['latency_ms']['p99']:.3f}"])
            if op in MOTO_RATIO_OPS:
                checks.append((f"{op}: >= {MOTO_MIN_RATIO}x moto", f"{ratio:.0f}x", ratio >= MOTO_MIN_RATIO))
        print(f"# kms vs moto (kms: {load(a.kms)['connections']} connections, "
              f"moto: {moto_report['connections']} connections)")
        print(table(rows))
        print()

    enc = kms.get("encrypt-32")
    if enc:
        checks.append((f"encrypt-32: >= {ENCRYPT_MIN_RPS:,} req/s", f"{enc['rps']:,.0f}", enc["rps"] >= ENCRYPT_MIN_RPS))
        pct = enc.get("percent_of_ceiling")
        if pct is not None:
            checks.append((f"encrypt-32: >= {ENCRYPT_MIN_CEILING_PCT}% of the ceiling (health)",
                           f"{pct:.0f}%", pct >= ENCRYPT_MIN_CEILING_PCT))
    if a.connections == P99_CONNECTIONS:
        for op, r in kms.items():
            if op == "health":
                continue
            p99 = r["latency_ms"]["p99"]
            checks.append((f"{op}: p99 <= {P99_MAX_MS} ms at {P99_CONNECTIONS} connections",
                           f"{p99:.2f} ms", p99 <= P99_MAX_MS))
    for op, r in kms.items():
        if r["errors"]:
            checks.append((f"{op}: no errors", str(r["errors"]), False))

    if a.scale:
        s = load(a.scale)
        created = s["create"]["created"]
        # Below the target's key count a check says nothing: n/a.
        full = None if created < SCALE_KEYS else True
        if a.scale_server:
            srv = load(a.scale_server)
            rss_mb = srv["rss_kb_after_create"] / 1024
            checks.append((f"{SCALE_KEYS:,} keys: RSS <= {SCALE_MAX_RSS_MB} MB",
                           f"{rss_mb:.0f} MB ({created:,} keys)", full and rss_mb <= SCALE_MAX_RSS_MB))
        ratio = s["list"]["end_to_start_p50_ratio"]
        checks.append((f"{SCALE_KEYS:,} keys: ListKeys page p50 end/start <= {LIST_FLAT_MAX_RATIO}",
                       f"{ratio:.2f} ({created:,} keys)", full and ratio <= LIST_FLAT_MAX_RATIO))
        big = None if created < BIG_SCALE_KEYS else True
        n = f"{BIG_SCALE_KEYS:,} keys"
        rps = s["create"]["keys_per_second"]
        checks.append((f"{n}: CreateKey >= {BIG_SCALE_MIN_CREATE_RPS:,}/s", f"{rps:,.0f} ({created:,} keys)",
                       big and rps >= BIG_SCALE_MIN_CREATE_RPS))
        checks.append((f"{n}: ListKeys page p50 end/start <= {LIST_FLAT_MAX_RATIO}", f"{ratio:.2f}",
                       big and ratio <= LIST_FLAT_MAX_RATIO))
        if a.scale_server:
            srv = load(a.scale_server)
            rss_mb = srv["rss_kb_after_create"] / 1024
            checks.append((f"{n}: RSS <= {BIG_SCALE_MAX_RSS_MB} MB", f"{rss_mb:.0f} MB",
                           big and rss_mb <= BIG_SCALE_MAX_RSS_MB))
            ms = srv["startup_ms"]
            checks.append((f"{n}: start-up <= {BIG_SCALE_MAX_STARTUP_MS} ms", f"{ms:.0f} ms",
                           big and ms <= BIG_SCALE_MAX_STARTUP_MS))
            per_key = srv["data_dir_bytes"] / max(created, 1)
            disk = srv.get("data_dir_disk_bytes", srv["data_dir_bytes"]) / max(created, 1)
            checks.append((f"{n}: data directory (without audit/) <= {BIG_SCALE_MAX_BYTES_PER_KEY} B/key",
                           f"{per_key:.0f} B/key ({disk:.0f} on disk)", big and per_key <= BIG_SCALE_MAX_BYTES_PER_KEY))

    rows = [["target", "measured", "met"]]
    rows += [[t, m, "n/a" if ok is None else "yes" if ok else "NO"] for t, m, ok in checks]
    print("# targets")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
