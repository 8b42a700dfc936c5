#!/usr/bin/env python3
"""Where the server's CPU goes, from a perf profile taken by
`scripts/bench.sh --profile` (or by hand, see docs/PERFORMANCE.md).

Reads `perf script -F comm,tid,ip,sym` output (call graphs, leaf first) on
stdin and prints
  - each sample put in the first matching part of the request path below,
  - the functions with the most samples in their own code (self),
  - the kms functions with the most samples below them (inclusive).
With --us-per-request (the server's CPU per request from kms-bench's JSON)
the shares are also shown in microseconds per request.
Standard library only."""

import argparse
import collections
import re
import sys

# First match wins, so the more specific parts come first.
PARTS = [
    ("audit writer thread: write, fsync, hash chain, digests", r"kms_audit::writer::Writer::run"),
    ("audit event built on the request path (JSON)", r"kms_api::audit::event"),
    ("audit hand-off to the writer", r"AuditSink|kms_audit::writer::.*record"),
    ("authorization (policy evaluation, grants)", r"authz::|kms_policy::|grants?::"),
    ("SigV4 verification", r"sigv4::Verifier::verify"),
    ("access log line (tracing fmt to stderr)", r"tracing_core::event::Event::dispatch|tracing_subscriber"),
    ("metrics", r"kms_api::metrics"),
    ("request id (UUID from the DRBG)", r"new_request_id"),
    ("operation: JSON decode, key lookup, crypto, JSON encode", r"kms_api::dispatch"),
    # Not the listener (`kms_api::listen::serve`): hyper's connection task,
    # under which every other part runs.
    ("other request handling in kms_api", r"kms_api::(?!listen::)"),
    ("response send: writev on loopback TCP (kernel, incl. delivery to the client)", r"writev"),
    ("request receive: recv (kernel)", r"__libc_recv|recvfrom"),
    ("HTTP layer: hyper parse/encode, body collect, Api::handle glue, frees", r"hyper::|http_body_util|http::header"),
    ("tokio scheduler, epoll, timers", r"tokio::runtime|epoll|park"),
    ("redb store", r"redb::"),
]


def read_samples(stream):
    samples, cur = [], None
    for line in stream:
        if not line.strip():
            if cur is not None:
                samples.append(cur)
                cur = None
            continue
        if not line.startswith(("\t", " ")):
            cur = []
            continue
        fields = line.strip().split(None, 1)
        sym = fields[1] if len(fields) > 1 else "?"
        if cur is not None:
            cur.append(re.sub(r"\s*\(inlined\)$", "", sym))
    if cur:
        samples.append(cur)
    return samples


def short(sym):
    """Drop generic arguments, keep the path."""
    for _ in range(4):
        sym = re.sub(r"<[^<>]*>", "", sym)
    return sym[:100]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--us-per-request", type=float, help="server CPU microseconds per request")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()

    samples = read_samples(sys.stdin)
    n = len(samples)
    if n == 0:
        print("no samples")
        return 1
    per = a.us_per_request

    def show(count, name):
        us = f"  {per * count / n:6.1f} us/req" if per else ""
        return f"{100 * count / n:5.1f}%{us}  {name}"

    parts = [(name, re.compile(rx)) for name, rx in PARTS]
    by_part = collections.Counter()
    for st in samples:
        for name, rx in parts:
            if any(rx.search(f) for f in st):
                by_part[name] += 1
                break
        else:
            by_part["other"] += 1
    print(f"# server CPU by part of the request path ({n} samples)")
    for name, c in by_part.most_common():
        print(show(c, name))

    self_counts = collections.Counter(short(st[0]) for st in samples if st)
    print(f"\n# top {a.top} functions by self samples")
    for name, c in self_counts.most_common(a.top):
        print(show(c, name))

    incl = collections.Counter()
    for st in samples:
        for f in {short(f) for f in st if f.startswith("kms")}:
            incl[f] += 1
    print(f"\n# top {a.top} kms functions by inclusive samples")
    for name, c in incl.most_common(a.top):
        print(show(c, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
