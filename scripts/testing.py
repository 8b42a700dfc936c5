#!/usr/bin/env python3
"""Features for testing applications, against the release binary with boto3
and the aws CLI (docs/QUOTAS.md, docs/FAULTS.md):

1. A quota of 50 Encrypt/s for one account: a burst of 500 calls with
   boto3's retries off gets ThrottlingException for the excess; with boto3's
   standard retry mode every call succeeds; another account is not affected.
2. Faults injected with `kms admin faults set` on a `--dev` server, seen by
   boto3 and by the aws CLI, and refused by a server without `--dev`.
3. A seed file (docs/SEEDS.md) with a fixed key id, fixed material and an
   alias: a ciphertext boto3 made with it decrypts in a fresh `--dev`
   server from the same seed; `kms admin reset` between two "tests" undoes
   what the first did; a bad seed stops the server with its line.
"""
import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.exceptions
from botocore.config import Config

from kmstest import KMS, VENV_BIN, Server, aws_env, expect_error, free_port, read_credentials

THROTTLED = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."


def boto(endpoint, ak, sk, retries):
    return boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=Config(retries=retries))


def quotas(work):
    cfg = os.path.join(work, "quotas.toml")
    with open(cfg, "w") as f:
        f.write("[quotas.accounts.111122223333]\ncryptographic-symmetric = 50\n")
    data = os.path.join(work, "quotas")
    server = Server(data, free_port(), extra=("--config", cfg))
    try:
        ak, sk = read_credentials(os.path.join(data, "credentials"))
        plain = boto(server.endpoint, ak, sk, {"total_max_attempts": 1, "mode": "standard"})
        key = plain.create_key()["KeyMetadata"]["KeyId"]
        def call(_):
            try:
                plain.encrypt(KeyId=key, Plaintext=b"x")
                return "ok"
            except botocore.exceptions.ClientError as e:
                err = e.response["Error"]
                assert (err["Code"], err["Message"]) == ("ThrottlingException", THROTTLED), err
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                return "throttled"

        started = time.time()
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(call, range(500)))
        ok, throttled = results.count("ok"), results.count("throttled")
        refill = int((time.time() - started) * 50) + 1
        assert throttled > 0 and 50 <= ok <= 50 + refill, (ok, throttled, refill)
        print(f"quota 50/s: a burst of 500 Encrypt calls (boto3, no retries): {ok} ok, {throttled} ThrottlingException")

        retrying = boto(server.endpoint, ak, sk, {"total_max_attempts": 10, "mode": "standard"})
        for _ in range(100):
            retrying.encrypt(KeyId=key, Plaintext=b"x")
        print("boto3 standard retry mode: 100 calls over the quota all succeed")

        env = dict(os.environ, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk, AWS_ENDPOINT_URL_KMS=server.endpoint)
        out = subprocess.run([KMS, "admin", "create-user", "--name", "other", "--account", "444455556666", "--admin"],
                             env=env, check=True, capture_output=True, text=True).stdout
        user = json.loads(out)
        other = boto(server.endpoint, user["AccessKeyId"], user["SecretAccessKey"], {"total_max_attempts": 1, "mode": "standard"})
        okey = other.create_key()["KeyMetadata"]["KeyId"]
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda _: other.encrypt(KeyId=okey, Plaintext=b"x"), range(300)))
        print("another account: a burst of 300 calls, none throttled")
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.stop()


def faults(work):
    server = Server(os.path.join(work, "dev"), free_port(), extra=("--dev",))
    try:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_ENDPOINT_URL_KMS=server.endpoint)
        kms = boto(server.endpoint, "test", "test", {"total_max_attempts": 1, "mode": "standard"})
        key = kms.create_key()["KeyMetadata"]["KeyId"]

        def admin(*args):
            return subprocess.run([KMS, "admin", "faults", *args], env=env, check=True, capture_output=True,
                                  text=True).stdout

        admin("set", "--operation", "Encrypt", "--error", "ThrottlingException", "--count", "2")
        expect_error("ThrottlingException", kms.encrypt, KeyId=key, Plaintext=b"x")
        expect_error("ThrottlingException", kms.encrypt, KeyId=key, Plaintext=b"x")
        kms.encrypt(KeyId=key, Plaintext=b"x")
        print("kms admin faults set --count 2: boto3 gets ThrottlingException twice, then succeeds")

        admin("set", "--operation", "DescribeKey", "--key", key, "--error", "KMSInternalException")
        cli_env = aws_env(server.endpoint, "/dev/null")
        cli_env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_MAX_ATTEMPTS="1",
                       AWS_RETRY_MODE="standard")
        out = subprocess.run([os.path.join(VENV_BIN, "aws"), "kms", "describe-key", "--key-id", key],
                             env=cli_env, capture_output=True, text=True)
        assert out.returncode != 0 and "KMSInternalException" in out.stderr, out.stderr
        listed = admin("list")
        assert '"Hits": 1' in listed, listed
        admin("clear")
        out = subprocess.run([os.path.join(VENV_BIN, "aws"), "kms", "describe-key", "--key-id", key],
                             env=cli_env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        print("aws CLI: KMSInternalException while the fault is set, an answer once cleared")

        admin("set", "--operation", "GenerateDataKey", "--latency-ms", "300")
        t = time.time()
        kms.generate_data_key(KeyId=key, KeySpec="AES_256")
        assert time.time() - t >= 0.3
        admin("clear")
        print("--latency-ms 300: GenerateDataKey answers after 300 ms")
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.stop()

    data = os.path.join(work, "nodev")
    server = Server(data, free_port())
    try:
        ak, sk = read_credentials(os.path.join(data, "credentials"))
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk, AWS_ENDPOINT_URL_KMS=server.endpoint)
        out = subprocess.run([KMS, "admin", "faults", "set", "--error", "ThrottlingException"], env=env,
                             capture_output=True, text=True)
        assert out.returncode != 0 and "UnsupportedOperationException" in out.stderr, out.stderr
        print("without --dev: kms admin faults set is refused")
    finally:
        server.stop()


SEED = '''
[[keys]]
id = "0a0a0a0a-0000-4000-8000-000000000001"
description = "payments"
aliases = ["alias/payments"]
material_seed = "testing.py"
'''


def seeds(work):
    seed = os.path.join(work, "seed.toml")
    with open(seed, "w") as f:
        f.write(SEED)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    server = Server(os.path.join(work, "seed-a"), free_port(), extra=("--dev", "--seed", seed))
    try:
        kms = boto(server.endpoint, "test", "test", {"total_max_attempts": 1, "mode": "standard"})
        blob = kms.encrypt(KeyId="alias/payments", Plaintext=b"made in run 1")["CiphertextBlob"]
    finally:
        server.stop()
    server = Server(os.path.join(work, "seed-b"), free_port(), extra=("--dev", "--seed", seed))
    try:
        kms = boto(server.endpoint, "test", "test", {"total_max_attempts": 1, "mode": "standard"})
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"made in run 1"
        print("seed with material_seed: a ciphertext from one --dev server decrypts in the next")

        # Test 1 changes things; the reset gives test 2 the seeded server.
        extra = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId="0a0a0a0a-0000-4000-8000-000000000001")
        kms.delete_alias(AliasName="alias/payments")
        started = time.time()
        subprocess.run([KMS, "admin", "--endpoint-url", server.endpoint, "reset"], env=env, check=True)
        took = time.time() - started
        expect_error("NotFoundException", kms.describe_key, KeyId=extra)
        meta = kms.describe_key(KeyId="alias/payments")["KeyMetadata"]
        assert (meta["KeyState"], meta["Description"]) == ("Enabled", "payments"), meta
        assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == ["0a0a0a0a-0000-4000-8000-000000000001"]
        print(f"kms admin reset: back to the seed ({took * 1000:.0f} ms with the CLI's start-up)")
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.stop()

    with open(seed, "w") as f:
        f.write(SEED + "grants = 3\n")
    port = free_port()
    out = subprocess.run([KMS, "serve", "--dev", "--seed", seed, "--listen", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "line 7" in out.stderr, out.stderr
    print("a bad seed file: the server does not start and names the line")


def main():
    started = time.time()
    work = tempfile.mkdtemp(prefix="kms-testing-")
    quotas(work)
    faults(work)
    seeds(work)
    print(f"testing features passed in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
