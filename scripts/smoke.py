#!/usr/bin/env python3
"""Smoke test of the release binary with real clients: boto3 and the aws CLI.

Starts `target/release/kms serve` (what `cargo run --release -- serve` runs)
on a free loopback port with a fresh data directory, drives it, restarts it,
and stops everything it started.
"""
import base64
import json
import os
import subprocess
import tempfile

from kmstest import KMS, VENV_BIN, Server, aws_env, aws, client, expect_error, free_port, read_credentials


def main():
    work = tempfile.mkdtemp(prefix="kms-smoke-")
    data = os.path.join(work, "data")
    port = free_port()
    server = Server(data, port)
    try:
        run(server, work, data)
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.stop()

    # Restart: the ciphertext made before decrypts after.
    server = Server(data, port)
    try:
        ak, sk = read_credentials(os.path.join(data, "credentials"))
        kms = client(server.endpoint, ak, sk)
        with open(os.path.join(work, "restart.json")) as f:
            saved = json.load(f)
        out = kms.decrypt(CiphertextBlob=base64.b64decode(saved["blob"]), EncryptionContext={"a": "1", "b": "2"})
        assert out["Plaintext"] == b"boto3"
        print("restart: decrypt ok")
    finally:
        server.stop()

    dev_clock(work)
    print("smoke test passed")


def dev_clock(work):
    """`kms serve --dev`: test/test works, and `kms admin clock advance` ends a deletion window."""
    server = Server(os.path.join(work, "unused"), free_port(), extra=("--dev",))
    try:
        kms = client(server.endpoint, "test", "test")
        k = kms.create_key()["KeyMetadata"]
        assert k["Arn"].startswith("arn:aws:kms:us-east-1:000000000000:key/")
        kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=7)
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_ENDPOINT_URL_KMS=server.endpoint)
        subprocess.run([KMS, "admin", "clock", "advance", "8d"], env=env, check=True, capture_output=True)
        expect_error("NotFoundException", kms.describe_key, KeyId=k["KeyId"])
        assert kms.list_keys()["Keys"] == []
        print("--dev: clock advance 8d destroys a key scheduled for 7 days")
        # kms admin key-usage: the last use and who made it.
        used = kms.create_key()["KeyMetadata"]
        kms.encrypt(KeyId=used["KeyId"], Plaintext=b"x")
        out = subprocess.run([KMS, "admin", "key-usage", used["KeyId"]], env=env, check=True,
                             capture_output=True, text=True)
        usage = json.loads(out.stdout)
        assert usage["KeyId"] == used["Arn"] and usage["LastUsage"]["Operation"] == "Encrypt", usage
        assert usage["LastUsage"]["Principal"].endswith(":user/test") and usage["DeletionAllowed"], usage
        print("kms admin key-usage: last use, principal, deletion guard")
    except BaseException:
        server.dump_log()
        raise
    finally:
        server.stop()


def run(server, work, data):
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

    # The symmetric API through boto3 and the aws CLI.
    kms.create_alias(AliasName="alias/smoke", TargetKeyId=k["KeyId"])
    assert kms.describe_key(KeyId="alias/smoke")["KeyMetadata"]["Arn"] == k["Arn"]
    aliases = aws(server.endpoint, creds_file, "list-aliases")["Aliases"]
    assert [a["TargetKeyId"] for a in aliases if a["AliasName"] == "alias/smoke"] == [k["KeyId"]]
    dk = kms.generate_data_key(KeyId="alias/smoke", KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32 and dk["KeyId"] == k["Arn"]
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    re = kms.re_encrypt(CiphertextBlob=dk["CiphertextBlob"], DestinationKeyId=key["KeyId"],
                        DestinationEncryptionContext={"moved": "yes"})
    assert re["KeyId"] == key["Arn"] and re["SourceKeyId"] == k["Arn"]
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"moved": "yes"})["Plaintext"] == dk["Plaintext"]
    assert len(kms.generate_random(NumberOfBytes=16)["Plaintext"]) == 16
    aws(server.endpoint, creds_file, "tag-resource", "--key-id", k["KeyId"], "--tags", "TagKey=team,TagValue=core")
    assert kms.list_resource_tags(KeyId=k["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "core"}]
    policy = json.loads(aws(server.endpoint, creds_file, "get-key-policy", "--key-id", k["KeyId"],
                            "--policy-name", "default")["Policy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::111122223333:root"
    sched = kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=7)
    assert sched["KeyState"] == "PendingDeletion"
    expect_error("KMSInvalidStateException", kms.encrypt, KeyId="alias/smoke", Plaintext=b"x")
    kms.cancel_key_deletion(KeyId=k["KeyId"])
    assert kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    expect_error("DisabledException", kms.encrypt, KeyId=k["KeyId"], Plaintext=b"x")
    kms.enable_key(KeyId=k["KeyId"])
    print("symmetric API (aliases, data keys, re-encrypt, tags, policy, deletion): ok")

    # ML-KEM through boto3 and the aws CLI; kyber-py encapsulates to the public key.
    from kyber_py.ml_kem import pkcs
    kem = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]
    assert kem["EncapsulationAlgorithms"] == ["ML_KEM"] and kem["KeyUsage"] == "ENCAPSULATE_DECAPSULATE"
    spki = kms.get_public_key(KeyId=kem["KeyId"])["PublicKey"]
    params, ek = pkcs.ek_from_der(spki)
    secret, ct = params.encaps(ek)
    got = kms.decapsulate(KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=ct)
    assert got["SharedSecret"] == secret and got["KeyId"] == kem["Arn"]
    enc = kms.encapsulate(KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM")
    assert len(enc["SharedSecretCiphertextBlob"]) == 1088 and len(enc["SharedSecret"]) == 32
    # The aws CLI here predates Encapsulate; it reads the key as any other.
    described = aws(server.endpoint, creds_file, "describe-key", "--key-id", kem["KeyId"])["KeyMetadata"]
    assert described["KeySpec"] == "ML_KEM_768" and described["KeyState"] == "Enabled"
    expect_error("InvalidCiphertextException", kms.decapsulate, KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM",
                 SharedSecretCiphertextBlob=ct[:-1])
    # No custom key store (and no HSM configured); a bad member is AWS's ValidationException.
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []
    expect_error("CustomKeyStoreNotFoundException", kms.connect_custom_key_store, CustomKeyStoreId="cks-1234567890abcdef0")
    e = expect_error("ValidationException", kms.create_key, Tags=[{"TagKey": "k" * 129, "TagValue": "v"}])
    assert "at 'tags.1.member.tagKey'" in e.response["Error"]["Message"], e
    print("ML-KEM (boto3, kyber-py; aws CLI describe-key), custom key stores, validation: ok")

    # Rotation and import as a new user tries them, with the aws CLI
    # (scripts/lifecycle.py checks them in depth).
    rk = aws(server.endpoint, creds_file, "create-key")["KeyMetadata"]["KeyId"]
    aws(server.endpoint, creds_file, "enable-key-rotation", "--key-id", rk, "--rotation-period-in-days", "180")
    st = aws(server.endpoint, creds_file, "get-key-rotation-status", "--key-id", rk)
    assert st["KeyRotationEnabled"] is True and st["RotationPeriodInDays"] == 180, st
    assert aws(server.endpoint, creds_file, "rotate-key-on-demand", "--key-id", rk)["KeyId"].endswith(rk)
    listed = aws(server.endpoint, creds_file, "list-key-rotations", "--key-id", rk,
                 "--include-key-material", "ALL_KEY_MATERIAL")
    assert len(listed["Rotations"]) in (1, 2), listed  # the on-demand one may still be in progress
    ext = aws(server.endpoint, creds_file, "create-key", "--origin", "EXTERNAL")["KeyMetadata"]
    assert ext["KeyState"] == "PendingImport" and ext["Origin"] == "EXTERNAL", ext
    params = aws(server.endpoint, creds_file, "get-parameters-for-import", "--key-id", ext["KeyId"],
                 "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048")
    assert params["KeyId"] == ext["Arn"] and params["ImportToken"] and params["PublicKey"], params
    print("aws CLI: enable-key-rotation, rotate-key-on-demand, list-key-rotations, create-key --origin EXTERNAL, "
          "get-parameters-for-import: ok")

    # The operator CLI creates a second user whose credentials work.
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=creds_file, AWS_ENDPOINT_URL_KMS=server.endpoint)
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    out = subprocess.run([KMS, "admin", "create-user", "--name", "smoke-user"], env=env,
                         capture_output=True, text=True, check=True)
    user = json.loads(out.stdout)
    assert user["Arn"] == "arn:aws:iam::111122223333:user/smoke-user", user
    kms2 = client(server.endpoint, user["AccessKeyId"], user["SecretAccessKey"])
    # No identity policy yet: refused, with AWS's message.
    e = expect_error("AccessDeniedException", kms2.list_keys)
    assert "because no identity-based policy allows the kms:ListKeys action" in str(e), e
    subprocess.run([KMS, "admin", "put-user-policy", "--user", "smoke-user", "--policy-name", "list",
                    "--policy-document",
                    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:List*","Resource":"*"}]}'],
                   env=env, check=True)
    assert any(x["KeyId"] == k["KeyId"] for x in kms2.list_keys()["Keys"])
    print("kms admin create-user: credentials work")

    # Roles: an aws CLI profile with role_arn assumes the role through our STS.
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}'
    subprocess.run([KMS, "admin", "create-role", "--name", "app", "--assume-role-policy-document", trust],
                   env=env, check=True, capture_output=True)
    subprocess.run([KMS, "admin", "put-role-policy", "--role", "app", "--policy-name", "crypto", "--policy-document",
                    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ListKeys"],"Resource":"*"}]}'],
                   env=env, check=True)
    config = os.path.join(work, "aws-config")
    with open(config, "w") as f:
        f.write(f"[profile app]\nrole_arn = arn:aws:iam::111122223333:role/app\nsource_profile = default\n"
                f"region = us-east-1\nendpoint_url = {server.endpoint}\n")
    # HOME in the work dir: the aws CLI caches assumed-role credentials under
    # ~/.aws/cli/cache, and a session from an earlier run must not be reused.
    role_env = dict(aws_env(server.endpoint, creds_file), AWS_CONFIG_FILE=config, AWS_ENDPOINT_URL_STS=server.endpoint,
                    HOME=work)
    out = subprocess.run([os.path.join(VENV_BIN, "aws"), "sts", "get-caller-identity", "--profile", "app", "--output", "json"],
                         env=role_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ident = json.loads(out.stdout)
    assert ident["Arn"].startswith("arn:aws:sts::111122223333:assumed-role/app/"), ident
    out = subprocess.run([os.path.join(VENV_BIN, "aws"), "kms", "encrypt", "--profile", "app", "--key-id", key["KeyId"],
                          "--plaintext", f"fileb://{pt_file}", "--output", "json"], env=role_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([os.path.join(VENV_BIN, "aws"), "kms", "create-key", "--profile", "app", "--output", "json"],
                         env=role_env, capture_output=True, text=True)
    assert out.returncode != 0 and "AccessDeniedException" in out.stderr, out.stderr
    print("aws CLI with a role_arn profile: AssumeRole, then KMS as the role: ok")
    with open(os.path.join(work, "restart.json"), "w") as f:
        json.dump({"blob": base64.b64encode(blob).decode()}, f)


if __name__ == "__main__":
    main()
