#!/usr/bin/env python3
"""The audit trail against the release binary: a crash test (kill -9 under
load; after a restart every request that got a reply has its event, and the
log still verifies), and an export read back by trailscraper, a CloudTrail
log reader from PyPI."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import botocore.exceptions

from kmstest import KMS, ROOT, Server, client, free_port, read_credentials

TRAILSCRAPER = os.path.join(ROOT, ".venv-trailscraper", "bin", "trailscraper")


def kms_audit(*args):
    out = subprocess.run([KMS, "audit", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"kms audit {' '.join(args)}: {out.stderr}")
    return out.stdout


def main():
    work = tempfile.mkdtemp(prefix="kms-audit-")
    data = os.path.join(work, "data")
    audit_dir = os.path.join(data, "audit")
    port = free_port()
    server = Server(data, port)
    ak, sk = read_credentials(os.path.join(data, "credentials"))
    key = client(server.endpoint, ak, sk).create_key()["KeyMetadata"]["KeyId"]

    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker():
        kms = client(server.endpoint, ak, sk)
        while not stop.is_set():
            try:
                r = kms.encrypt(KeyId=key, Plaintext=b"crash test")
                with lock:
                    acknowledged.append(r["ResponseMetadata"]["RequestId"])
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                return  # the server is gone

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(3)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    server.log.close()
    assert len(acknowledged) > 100, f"only {len(acknowledged)} requests completed before the kill"

    # Restart (recovery drops a torn last line), then stop cleanly.
    server = Server(data, port)
    server.stop()
    logged = {json.loads(line)["requestID"] for line in kms_audit("query", "--dir", audit_dir).splitlines()}
    missing = [r for r in acknowledged if r not in logged]
    assert not missing, f"{len(missing)} acknowledged requests have no audit event, e.g. {missing[:3]}"
    print(kms_audit("verify", "--dir", audit_dir).strip())
    print(f"crash test: all {len(acknowledged)} acknowledged requests are in the audit log after kill -9")

    # Export, then read it back with a CloudTrail tool.
    export_dir = os.path.join(work, "export")
    files = kms_audit("export", "--dir", audit_dir, "--out", export_dir, "--event-name", "Encrypt").split()
    assert files and all(f.endswith(".json.gz") and "/AWSLogs/111122223333/CloudTrail/us-east-1/" in f for f in files)
    out = subprocess.run([TRAILSCRAPER, "select", "--log-dir", export_dir, "--from", "-7days", "--to", "now"],
                         capture_output=True, text=True, check=True)
    records = json.loads(out.stdout)["Records"]
    encrypts = [r for r in records if r["eventName"] == "Encrypt" and "errorCode" not in r]
    assert len(encrypts) >= len(acknowledged), (len(encrypts), len(acknowledged))
    assert all(r["eventSource"] == "kms.amazonaws.com" for r in records)
    print(f"export: trailscraper read {len(records)} CloudTrail records")


if __name__ == "__main__":
    main()
