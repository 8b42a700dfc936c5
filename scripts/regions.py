#!/usr/bin/env python3
"""Multi-Region keys across two real servers: two `kms serve` processes on
loopback, each with its own data directory and region, configured as each
other's peers (docs/REGIONS.md). With boto3 and the AWS Encryption SDK 4:

1. ReplicateKey from A (us-east-1) makes the replica in B (eu-west-1):
   Creating, then Enabled; DescribeKey in both shows the set.
2. The Encryption SDK's multi-Region keyring (create_aws_kms_mrk_multi_keyring,
   one client per region) encrypts in A and decrypts in B, and the other way.
3. A rotation of the primary reaches the replica.
4. B stopped during ReplicateKey: A answers Creating, and the replica is
   made when B starts again.
5. UpdatePrimaryRegion moves the primary to B; A follows B.
6. Each side's audit trail records its end: ReplicateKey in A, the replica's
   creation and syncs in B.

Prints one line per check; stops at the first failure with both servers' logs.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsMrkMultiKeyringInput
from aws_cryptographic_material_providers.mpl.references import IClientSupplier
from aws_encryption_sdk import CommitmentPolicy
from botocore.config import Config

from kmstest import KMS, Server, expect_error, free_port, read_credentials

A, B = "us-east-1", "eu-west-1"
SECRET = "the peer secret of this two-server test, 48 chars"


def config(path, region, peer_region, peer_port, secret_file):
    with open(path, "w") as f:
        f.write(f'region = "{region}"\n[peers]\nsecret_file = "{secret_file}"\ntimeout_secs = 2\n'
                f'[peers.regions]\n{peer_region} = "http://127.0.0.1:{peer_port}"\n')
    return path


class Side:
    """One server of the pair: its region, port, data directory and clients."""

    def __init__(self, work, region, port, peer_region, peer_port, secret_file):
        self.region, self.port = region, port
        self.data = os.path.join(work, region)
        self.cfg = config(os.path.join(work, f"{region}.toml"), region, peer_region, peer_port, secret_file)
        self.server = None

    def start(self):
        self.server = Server(self.data, self.port, extra=("--config", self.cfg))
        self.ak, self.sk = read_credentials(os.path.join(self.data, "credentials"))
        self.kms = boto3.client("kms", endpoint_url=self.server.endpoint, region_name=self.region,
                                aws_access_key_id=self.ak, aws_secret_access_key=self.sk,
                                config=Config(retries={"max_attempts": 1}))

    def stop(self):
        if self.server:
            self.server.stop()
            self.server = None


def wait(what, fn, timeout=20):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - the peer may be starting
            last = e
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last})")


def state(side, key_id):
    return side.kms.describe_key(KeyId=key_id)["KeyMetadata"]


def mrk_keyring(a, b, arn):
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    # The keyring picks the client of the region it is asked about.
    clients = {a.region: a.kms, b.region: b.kms}

    class Supplier(IClientSupplier):
        def get_client(self, param):
            return clients[param.region]

    return mpl.create_aws_kms_mrk_multi_keyring(
        input=CreateAwsKmsMrkMultiKeyringInput(generator=arn, client_supplier=Supplier()))


def esdk_across(a, b, key_id):
    """Encrypt with A's ARN of the key, decrypt with B's (and back)."""
    esdk = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    arn = lambda side: f"arn:aws:kms:{side.region}:111122223333:key/{key_id}"  # noqa: E731
    for src, dst in ((a, b), (b, a)):
        message = f"sealed in {src.region}".encode()
        ct, _ = esdk.encrypt(source=message, keyring=mrk_keyring(src, dst, arn(src)),
                             encryption_context={"purpose": "mrk"})
        pt, header = esdk.decrypt(source=ct, keyring=mrk_keyring(dst, src, arn(dst)))
        assert pt == message, (src.region, dst.region)
        assert header.encryption_context["purpose"] == "mrk"
    print("AWS Encryption SDK multi-Region keyring: encrypted in each region, decrypted in the other")


def audit_events(side):
    """The side's audit trail, read with `kms audit query`."""
    out = subprocess.run([KMS, "audit", "query", "--dir", os.path.join(side.data, "audit")],
                         capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def main():
    started = time.time()
    work = tempfile.mkdtemp(prefix="kms-regions-")
    secret_file = os.path.join(work, "peer.secret")
    with open(secret_file, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(secret_file, 0o600)
    pa, pb = free_port(), free_port()
    a = Side(work, A, pa, B, pb, secret_file)
    b = Side(work, B, pb, A, pa, secret_file)
    try:
        a.start()
        b.start()
        run(a, b)
    except BaseException:
        for s in (a, b):
            if s.server:
                sys.stderr.write(f"--- {s.region} log ---\n")
                s.server.dump_log()
        raise
    finally:
        a.stop()
        b.stop()
    print(f"regions test passed in {time.time() - started:.0f}s")


def run(a, b):
    key = a.kms.create_key(MultiRegion=True, Description="mrk primary")["KeyMetadata"]
    key_id = key["KeyId"]
    assert key_id.startswith("mrk-"), key_id
    assert key["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": key["Arn"], "Region": A},
        "ReplicaKeys": [],
    }, key["MultiRegionConfiguration"]
    r = a.kms.replicate_key(KeyId=key_id, ReplicaRegion=B, Description="replica in B")
    assert r["ReplicaKeyMetadata"]["KeyState"] == "Creating", r["ReplicaKeyMetadata"]
    assert r["ReplicaKeyMetadata"]["Arn"] == f"arn:aws:kms:{B}:111122223333:key/{key_id}"
    m = wait("replica Enabled in B", lambda: (s := state(b, key_id))["KeyState"] == "Enabled" and s)
    assert m["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert m["Description"] == "replica in B"
    primary = state(a, key_id)
    assert [k["Region"] for k in primary["MultiRegionConfiguration"]["ReplicaKeys"]] == [B]
    assert m["CurrentKeyMaterialId"] == primary["CurrentKeyMaterialId"]
    expect_error("UnsupportedOperationException", b.kms.replicate_key, KeyId=key_id, ReplicaRegion="ap-south-1")
    expect_error("AlreadyExistsException", a.kms.replicate_key, KeyId=key_id, ReplicaRegion=B)
    print("ReplicateKey: Creating, then Enabled in the other server; errors as AWS")

    blob = a.kms.encrypt(KeyId=key_id, Plaintext=b"from A")["CiphertextBlob"]
    assert b.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from A"
    esdk_across(a, b, key_id)

    a.kms.rotate_key_on_demand(KeyId=key_id)
    rotated = wait("rotation in A", lambda: (c := state(a, key_id)["CurrentKeyMaterialId"]) != primary["CurrentKeyMaterialId"] and c)
    wait("rotation reaches B", lambda: state(b, key_id)["CurrentKeyMaterialId"] == rotated)
    assert len(b.kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1
    assert b.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from A", "old ciphertext still decrypts"
    print("a rotation of the primary reaches the replica")

    other = a.kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    b.stop()
    r = a.kms.replicate_key(KeyId=other, ReplicaRegion=B)
    assert r["ReplicaKeyMetadata"]["KeyState"] == "Creating"
    time.sleep(2)
    b.start()
    wait("replica made after B's restart", lambda: state(b, other)["KeyState"] == "Enabled", timeout=30)
    print("B down during ReplicateKey: the replica is made when B is back")

    a.kms.update_primary_region(KeyId=key_id, PrimaryRegion=B)
    wait("B is the primary", lambda: (s := state(b, key_id))["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
         and s["KeyState"] == "Enabled")
    wait("A is a replica", lambda: (s := state(a, key_id))["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
         and s["KeyState"] == "Enabled" and s["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == B)
    expect_error("UnsupportedOperationException", a.kms.enable_key_rotation, KeyId=key_id)
    b.kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    wait("A follows B's rotation setting", lambda: a.kms.get_key_rotation_status(KeyId=key_id).get("RotationPeriodInDays") == 90)
    esdk_across(b, a, key_id)
    print("UpdatePrimaryRegion moved the primary to B; A follows it")

    # Each trail records its end (written before the reply; service events within a second).
    def trail_has(side, name):
        return any(e.get("eventName") == name and key_id in json.dumps(e) for e in audit_events(side))
    wait("A's trail", lambda: trail_has(a, "ReplicateKey") and trail_has(a, "UpdatePrimaryRegion"))
    wait("B's trail", lambda: trail_has(b, "ReplicateKey") and trail_has(b, "SynchronizeMultiRegionKey"))
    print("audit: ReplicateKey and UpdatePrimaryRegion in A, the replica's creation and syncs in B")


if __name__ == "__main__":
    main()
