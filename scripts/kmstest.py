"""Helpers shared by the real-client test scripts: start and stop the release
binary on a free loopback port, build boto3 clients, check AWS errors."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KMS = os.path.join(ROOT, "target", "release", "kms")
VENV_BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir, port, extra=()):
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(os.path.dirname(data_dir), f"server-{port}.log"), "ab")
        self.proc = subprocess.Popen(
            [KMS, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}", *extra],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited with {self.proc.returncode}")
                time.sleep(0.1)
        raise SystemExit("server did not become healthy")

    def dump_log(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace")[-5000:])

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def stop_process(proc):
    """SIGTERM, then SIGKILL after 30 s; waits for the process either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_credentials(path):
    creds = {}
    for line in open(path):
        if "=" in line:
            k, v = line.split("=", 1)
            creds[k.strip()] = v.strip()
    return creds["aws_access_key_id"], creds["aws_secret_access_key"]


def client(endpoint, ak, sk):
    return boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(retries={"max_attempts": 1}))


def expect_error(code, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


def aws_env(endpoint, creds_file):
    """Environment for a client that finds everything the AWS way."""
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=creds_file, AWS_DEFAULT_REGION="us-east-1",
               AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_PAGER="", AWS_ENDPOINT_URL_KMS=endpoint)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(k, None)
    return env


def aws(endpoint, creds_file, *args):
    env = aws_env(endpoint, creds_file)
    out = subprocess.run([os.path.join(VENV_BIN, "aws"), "kms", *args, "--endpoint-url", endpoint, "--output", "json"],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"aws kms {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else None


