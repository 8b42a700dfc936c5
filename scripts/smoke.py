#!/usr/bin/env python3
"""Smoke test of the release binary with real clients: boto3 and the aws CLI.

Starts `target/release/kms serve` (what `cargo run --release -- serve` runs)
on a free loopback port with a fresh data directory, drives it, restarts it,
and stops everything it started.
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
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

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


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


def aws(endpoint, creds_file, *args):
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=creds_file, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_PAGER="")
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    out = subprocess.run([os.path.join(VENV_BIN, "aws"), "kms", *args, "--endpoint-url", endpoint, "--output", "json"],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"aws kms {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def main():
    work = tempfile.mkdtemp(prefix="kms-smoke-")
    data = os.path.join(work, "data")
    port = free_port()
    server = Server(data, port)
    try:
        creds_file = os.path.join(data, "credentials")
        assert oct(os.stat(creds_file).st_mode & 0o777) == "0o600"
        ak, sk = read_credentials(creds_file)

        # aws CLI with the bootstrap credentials.
        assert aws(server.endpoint, creds_file, "list-keys")["Keys"] == []
        key = aws(server.endpoint, creds_file, "create-key", "--description", "smoke")["KeyMetadata"]
        assert key["Arn"].endswith(key["KeyId"])
        pt_file = os.path.join(work, "pt.bin")
        open(pt_file, "wb").write(b"smoke test plaintext")
        enc = aws(server.endpoint, creds_file, "encrypt", "--key-id", key["KeyId"],
                  "--plaintext", f"fileb://{pt_file}", "--encryption-context", "app=smoke")
        assert enc["KeyId"] == key["Arn"]
        ct_file = os.path.join(work, "ct.bin")
        open(ct_file, "wb").write(base64.b64decode(enc["CiphertextBlob"]))
        dec = aws(server.endpoint, creds_file, "decrypt", "--ciphertext-blob", f"fileb://{ct_file}",
                  "--encryption-context", "app=smoke")
        assert base64.b64decode(dec["Plaintext"]) == b"smoke test plaintext"
        print("aws CLI: list-keys, create-key, encrypt, decrypt ok")

        # boto3.
        kms = client(server.endpoint, ak, sk)
        k = kms.create_key()["KeyMetadata"]
        assert kms.describe_key(KeyId=k["Arn"])["KeyMetadata"]["KeyId"] == k["KeyId"]
        blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"boto3", EncryptionContext={"a": "1", "b": "2"})["CiphertextBlob"]
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"b": "2", "a": "1"})
        assert out["Plaintext"] == b"boto3" and out["KeyId"] == k["Arn"]
        expect_error("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
        expect_error("NotFoundException", kms.describe_key, KeyId="alias/nothing")
        e = expect_error("ValidationException", kms.encrypt, KeyId=k["KeyId"], Plaintext=b"x" * 4097)
        assert "Member must have length less than or equal to 4096" in str(e)
        expect_error("InvalidSignatureException", client(server.endpoint, ak, "x" * 40).list_keys)
        expect_error("UnrecognizedClientException", client(server.endpoint, "AKIAAAAAAAAAAAAAAAAA", sk).list_keys)
        print("boto3: create, describe, encrypt, decrypt, errors ok")

        # The operator CLI creates a second user whose credentials work.
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=creds_file, AWS_ENDPOINT_URL_KMS=server.endpoint)
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        out = subprocess.run([KMS, "admin", "create-user", "--name", "smoke-user"], env=env,
                             capture_output=True, text=True, check=True)
        user = json.loads(out.stdout)
        assert user["Arn"] == "arn:aws:iam::111122223333:user/smoke-user", user
        kms2 = client(server.endpoint, user["AccessKeyId"], user["SecretAccessKey"])
        assert any(x["KeyId"] == k["KeyId"] for x in kms2.list_keys()["Keys"])
        print("kms admin create-user: credentials work")
    finally:
        server.stop()

    # Restart: the ciphertext made before decrypts after.
    server = Server(data, port)
    try:
        out = client(server.endpoint, ak, sk).decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1", "b": "2"})
        assert out["Plaintext"] == b"boto3"
        print("restart: decrypt ok")
    finally:
        server.stop()
    print("smoke test passed")


if __name__ == "__main__":
    main()
