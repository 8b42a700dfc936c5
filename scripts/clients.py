#!/usr/bin/env python3
"""Real clients against the release binary: the AWS Encryption SDK for Python 4
(KMS keyring over an endpoint-overridden boto3 client), aws-encryption-cli,
and OpenBao auto-unsealing with its awskms seal, across a restart of both."""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput
from aws_encryption_sdk import CommitmentPolicy

from kmstest import ROOT, VENV_BIN, Server, aws_env, client, free_port, read_credentials, stop_process

ESDK_CLI = os.path.join(ROOT, ".venv-esdk-cli", "bin", "aws-encryption-cli")
BAO = os.path.join(VENV_BIN, "bao")


def esdk_round_trip(endpoint, ak, sk, key_arn):
    kms_client = client(endpoint, ak, sk)
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    keyring = mpl.create_aws_kms_keyring(input=CreateAwsKmsKeyringInput(kms_key_id=key_arn, kms_client=kms_client))
    esdk = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    message = b"the AWS Encryption SDK, unchanged" * 100
    context = {"purpose": "kms-test", "tenant": "a"}
    ciphertext, _ = esdk.encrypt(source=message, keyring=keyring, encryption_context=context)
    assert message not in ciphertext
    plaintext, header = esdk.decrypt(source=ciphertext, keyring=keyring, encryption_context=context)
    assert plaintext == message
    assert header.encryption_context["tenant"] == "a"
    # A tampered message does not decrypt.
    bad = bytearray(ciphertext)
    bad[-40] ^= 1
    try:
        esdk.decrypt(source=bytes(bad), keyring=keyring)
        raise AssertionError("tampered message decrypted")
    except AssertionError:
        raise
    except Exception:
        pass
    print("AWS Encryption SDK 4 (KMS keyring): round trip ok")


def esdk_cli_round_trip(endpoint, creds_file, key_arn, work):
    env = aws_env(endpoint, creds_file)
    src = os.path.join(work, "plain.txt")
    enc = os.path.join(work, "plain.txt.encrypted")
    out = os.path.join(work, "plain.txt.decrypted")
    with open(src, "wb") as f:
        f.write(os.urandom(10000))
    common = ["--wrapping-keys", f"key={key_arn}", "--commitment-policy", "require-encrypt-require-decrypt", "-S"]
    subprocess.run([ESDK_CLI, "--encrypt", "--input", src, "--output", enc, "--encryption-context", "app=cli", *common],
                   env=env, check=True)
    subprocess.run([ESDK_CLI, "--decrypt", "--input", enc, "--output", out, "--encryption-context", "app=cli", *common],
                   env=env, check=True)
    assert open(src, "rb").read() == open(out, "rb").read()
    print("aws-encryption-cli: file round trip ok")


class Bao:
    def __init__(self, work, port, kms_endpoint, ak, sk, key_id):
        self.addr = f"http://127.0.0.1:{port}"
        self.config = os.path.join(work, "bao.hcl")
        with open(self.config, "w") as f:
            f.write(f'''
storage "file" {{ path = "{os.path.join(work, 'bao-data')}" }}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
seal "awskms" {{
  region     = "us-east-1"
  access_key = "{ak}"
  secret_key = "{sk}"
  kms_key_id = "{key_id}"
  endpoint   = "{kms_endpoint}"
}}
api_addr = "{self.addr}"
disable_mlock = true
''')
        self.log_path = os.path.join(work, f"bao-{port}.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        env = dict(os.environ, BAO_ADDR=self.addr)
        self.proc = subprocess.Popen([BAO, "server", f"-config={self.config}"], stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.dump()
                raise SystemExit(f"bao exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.addr + "/v1/sys/seal-status", timeout=1).read()
                return
            except Exception:
                time.sleep(0.2)
        self.dump()
        raise SystemExit("bao did not start")

    def status(self):
        return json.loads(urllib.request.urlopen(self.addr + "/v1/sys/seal-status", timeout=5).read())

    def wait_unsealed(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            st = self.status()
            if st.get("initialized") and not st.get("sealed"):
                return st
            time.sleep(0.3)
        self.dump()
        raise AssertionError(f"bao stayed sealed: {self.status()}")

    def cli(self, *args):
        env = dict(os.environ, BAO_ADDR=self.addr)
        out = subprocess.run([BAO, *args], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            self.dump()
            raise AssertionError(f"bao {' '.join(args)}: {out.stderr}")
        return out.stdout

    def dump(self):
        try:
            sys.stderr.write(open(self.log_path).read()[-5000:])
        except OSError:
            pass

    def stop(self):
        if self.proc:
            stop_process(self.proc)
            self.log.close()


def openbao_auto_unseal(work, kms_server, data, kms_port, ak, sk, key_id):
    bao = Bao(work, free_port(), kms_server.endpoint, ak, sk, key_id)
    bao.start()
    try:
        init = json.loads(bao.cli("operator", "init", "-recovery-shares=1", "-recovery-threshold=1", "-format=json"))
        assert init.get("root_token")
        bao.wait_unsealed()
        token = init["root_token"]
        env_token = ["-address", bao.addr]
        os.environ["BAO_TOKEN"] = token
        bao.cli("secrets", "enable", *env_token, "-path=kv", "kv")
        bao.cli("kv", "put", *env_token, "kv/app", "password=s3cret")
        print("OpenBao: initialised and auto-unsealed through the awskms seal")
    finally:
        bao.stop()
    # Restart both: OpenBao must unseal again through the restarted kms.
    kms_server.stop()
    kms_server = Server(data, kms_port)
    try:
        bao.start()
        try:
            bao.wait_unsealed()
            got = bao.cli("kv", "get", "-address", bao.addr, "-field=password", "kv/app").strip()
            assert got == "s3cret", got
            print("OpenBao: unsealed again after a restart of both")
        finally:
            bao.stop()
    finally:
        kms_server.stop()


def main():
    work = tempfile.mkdtemp(prefix="kms-clients-")
    data = os.path.join(work, "data")
    port = free_port()
    server = Server(data, port)
    stopped = False
    try:
        creds_file = os.path.join(data, "credentials")
        ak, sk = read_credentials(creds_file)
        kms = client(server.endpoint, ak, sk)
        key = kms.create_key(Description="clients")["KeyMetadata"]
        kms.create_alias(AliasName="alias/clients", TargetKeyId=key["KeyId"])
        esdk_round_trip(server.endpoint, ak, sk, key["Arn"])
        esdk_cli_round_trip(server.endpoint, creds_file, key["Arn"], work)
        seal_key = kms.create_key(Description="openbao seal")["KeyMetadata"]
        stopped = True
        openbao_auto_unseal(work, server, data, port, ak, sk, seal_key["KeyId"])
    except BaseException:
        server.dump_log()
        raise
    finally:
        if not stopped:
            server.stop()
    print("client tests passed")


if __name__ == "__main__":
    main()
