#!/usr/bin/env python3
"""Key-material lifecycle against the release binary, with boto3 and the
`cryptography` package: rotation (automatic, on demand, ListKeyRotations),
imported key material (every wrapping algorithm and wrapping key size AWS
allows outside China, symmetric, HMAC, RSA and ECC material), expiry,
DeleteImportedKeyMaterial, on-demand rotation of imported keys, and a restart.

Sections 1-4 run on `kms serve --dev`, whose clock `kms admin clock advance`
moves. `--dev` keeps its store in memory, and a server with a data directory
has the system clock, so the restart check (section 5) runs on a second
server with a data directory and uses only operations that need no clock.

Prints one line per check group; stops at the first failure with the response.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import boto3
import botocore.exceptions
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from kmstest import KMS, Server, client, free_port, read_credentials

DAY = 86400
HEX64 = re.compile(r"[a-f0-9]{64}")
ON_DEMAND_LIMIT = 25
WRAPPING_ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]
WRAPPING_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
NO_EXPIRY = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


class Failure(Exception):
    pass


def show(r):
    if isinstance(r, dict):
        r = {k: v for k, v in r.items() if k != "ResponseMetadata"}

    def enc(v):
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, (bytes, bytearray)):
            b = base64.b64encode(v).decode()
            return b if len(b) <= 80 else b[:80] + "..."
        return repr(v)
    return json.dumps(r, default=enc, indent=1)


def check(cond, msg, resp=None):
    if not cond:
        raise Failure(msg if resp is None else f"{msg}\n  response: {show(resp)}")


def near(when, expected, tol, msg, resp):
    check(isinstance(when, datetime) and abs(when.timestamp() - expected) <= tol,
          f"{msg}: expected about {datetime.fromtimestamp(expected, timezone.utc).isoformat()} (+-{tol}s)", resp)


def expect(code, fn, message=None, pattern=None, **kw):
    """The call fails with `code` (and, if given, exactly `message` or a
    message matching the regex `pattern`); returns the message."""
    try:
        r = fn(**kw)
    except botocore.exceptions.ClientError as err:
        got, msg = err.response["Error"]["Code"], err.response["Error"].get("Message", "")
        check(got == code, f"{fn.__name__}: expected {code}, got {got}: {msg!r}", err.response)
        check(message is None or msg == message, f"{fn.__name__} {code}: expected message {message!r}, got {msg!r}")
        check(pattern is None or re.fullmatch(pattern, msg), f"{fn.__name__} {code}: message {msg!r} !~ {pattern!r}")
        return msg
    raise Failure(f"{fn.__name__}: expected {code}, the call succeeded\n  response: {show(r)}")


def poll(what, fn, pred, timeout):
    deadline = time.time() + timeout
    while True:
        r = fn()
        if pred(r):
            return r
        check(time.time() < deadline, f"{what}: not within {timeout}s", r)
        time.sleep(0.1)


class Env:
    """A running server, its clients, and where its clock stands."""

    def __init__(self, server, ak, sk):
        self.server = server
        self.kms = client(server.endpoint, ak, sk)
        # Without client-side validation, for out-of-range values botocore refuses itself.
        self.raw = boto3.client("kms", endpoint_url=server.endpoint, region_name="us-east-1",
                                aws_access_key_id=ak, aws_secret_access_key=sk,
                                config=Config(retries={"max_attempts": 1}, parameter_validation=False))
        self.admin_env = dict(os.environ, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk,
                              AWS_ENDPOINT_URL_KMS=server.endpoint)
        self.offset = 0.0

    def now(self):
        return time.time() + self.offset

    def advance(self, by):
        out = subprocess.run([KMS, "admin", "clock", "advance", by], env=self.admin_env, capture_output=True, text=True)
        check(out.returncode == 0, f"kms admin clock advance {by} failed: {out.stderr}{out.stdout}")
        self.offset = json.loads(out.stdout)["Now"] - time.time()

    # Short forms of the calls used everywhere.
    def create(self, **kw):
        return self.kms.create_key(**kw)["KeyMetadata"]

    def describe(self, kid):
        return self.kms.describe_key(KeyId=kid)["KeyMetadata"]

    def status(self, kid):
        r = self.kms.get_key_rotation_status(KeyId=kid)
        r.pop("ResponseMetadata", None)
        return r

    def encrypt(self, kid, pt):
        return self.kms.encrypt(KeyId=kid, Plaintext=pt)["CiphertextBlob"]

    def rotations(self, kid, include="ROTATIONS_ONLY"):
        out, kw = [], {"KeyId": kid, "IncludeKeyMaterial": include}
        while True:
            r = self.kms.list_key_rotations(**kw)
            out += r["Rotations"]
            if not r.get("Truncated"):
                return out
            kw["Marker"] = r["NextMarker"]

    def rotate_now(self, key):
        """RotateKeyOnDemand, then wait (10 s at most, as AWS's tests do) for it to finish."""
        r = self.kms.rotate_key_on_demand(KeyId=key["KeyId"])
        check(r["KeyId"] == key["Arn"], "RotateKeyOnDemand returns the key ARN", r)
        poll("OnDemandRotationStartDate to go away", lambda: self.status(key["KeyId"]),
             lambda s: "OnDemandRotationStartDate" not in s, 10)

    def decrypts(self, kid, blob, pt, material_id, what):
        d = self.kms.decrypt(CiphertextBlob=blob)
        check(d["Plaintext"] == pt, f"{what}: Decrypt gives the plaintext", d)
        check(d.get("KeyMaterialId") == material_id, f"{what}: Decrypt KeyMaterialId names {material_id}", d)

    # Imported material.
    def params(self, kid, alg="RSAES_OAEP_SHA_256", spec="RSA_2048"):
        return self.kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm=alg, WrappingKeySpec=spec)

    def import_(self, kid, material, alg="RSAES_OAEP_SHA_256", spec="RSA_2048", **kw):
        p = self.params(kid, alg, spec)
        args = dict(NO_EXPIRY) if "ValidTo" not in kw else {}
        args.update(kw)
        r = self.kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"],
                                         EncryptedKeyMaterial=wrap(p["PublicKey"], alg, material), **args)
        r.pop("ResponseMetadata", None)
        return r


def wrap(spki, alg, material):
    """What AWS's documentation says to send: RSA-OAEP of the material, or for
    RSA_AES_KEY_WRAP_* RSA-OAEP of a fresh AES-256 key then RFC 5649 AES key
    wrap with padding of the material under it."""
    pub = serialization.load_der_public_key(spki)
    h = hashes.SHA1() if alg.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)
    if alg.startswith("RSA_AES_KEY_WRAP"):
        aes = os.urandom(32)
        return pub.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)
    return pub.encrypt(material, oaep)


def pkcs8(priv):
    return priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())


def spki(priv):
    return priv.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def local_hmac(key, h, msg):
    m = hmac.HMAC(key, h)
    m.update(msg)
    return m.finalize()


# ---------------------------------------------------------------- 1. rotation

def rotation_status(e):
    k = e.create(Description="rotation")
    kid, arn = k["KeyId"], k["Arn"]
    check(HEX64.fullmatch(k.get("CurrentKeyMaterialId", "")), "CreateKey: symmetric AWS_KMS key has CurrentKeyMaterialId", k)
    s = e.status(kid)
    check(s.get("KeyRotationEnabled") is False, "GetKeyRotationStatus of a new key: disabled", s)
    check("RotationPeriodInDays" not in s and "NextRotationDate" not in s,
          "disabled rotation: no RotationPeriodInDays/NextRotationDate", s)
    check(s.get("KeyId") in (arn, kid), "GetKeyRotationStatus KeyId names the key", s)
    e.kms.enable_key_rotation(KeyId=kid)
    s = e.status(kid)
    check(s["KeyRotationEnabled"] is True and s.get("RotationPeriodInDays") == 365, "EnableKeyRotation default 365", s)
    near(s.get("NextRotationDate"), e.now() + 365 * DAY, DAY, "NextRotationDate about now+365d", s)
    e.kms.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
    s = e.status(kid)
    check(s["KeyRotationEnabled"] is True and s.get("RotationPeriodInDays") == 90, "EnableKeyRotation 90", s)
    near(s.get("NextRotationDate"), e.now() + 90 * DAY, DAY, "NextRotationDate about now+90d", s)
    for bad, text in ((89, "greater than or equal to 90"), (2561, "less than or equal to 2560")):
        msg = expect("ValidationException", e.raw.enable_key_rotation, KeyId=kid, RotationPeriodInDays=bad)
        check(f"Value '{bad}' at 'rotationPeriodInDays'" in msg and text in msg, f"period {bad}: message {msg!r}")
    print("rotation status: disabled/enabled shapes, default 365, period 90, 89 and 2561 refused: ok")
    return k, s


def automatic_and_on_demand(e, k, s):
    kid, arn = k["KeyId"], k["Arn"]
    m0, next0 = k["CurrentKeyMaterialId"], s["NextRotationDate"]
    c0 = e.encrypt(kid, b"c0")
    e.advance("91d")
    rots = poll("an AUTOMATIC rotation after clock advance 91d", lambda: e.rotations(kid), lambda r: len(r) == 1, 5)
    r = rots[0]
    check(r.get("KeyMaterialState") == "CURRENT" and r.get("RotationType") == "AUTOMATIC", "automatic rotation entry", r)
    check(HEX64.fullmatch(r.get("KeyMaterialId", "")) and r.get("KeyId") in (arn, kid), "rotation entry ids", r)
    rd = r.get("RotationDate")
    check(isinstance(rd, datetime) and next0.timestamp() - DAY <= rd.timestamp() <= e.now() + 60,
          "RotationDate between the scheduled date and now", r)
    check("ImportState" not in r and "ExpirationModel" not in r, "no import fields on an AWS_KMS key's entry", r)
    m1 = e.describe(kid).get("CurrentKeyMaterialId")
    check(m1 == r["KeyMaterialId"] and m1 != m0, f"DescribeKey CurrentKeyMaterialId moved from {m0} to the new one", r)
    s = e.status(kid)
    near(s.get("NextRotationDate"), e.now() + 90 * DAY, 2 * DAY, "NextRotationDate moved on by a period", s)
    check(s["NextRotationDate"] > next0, "NextRotationDate later than before", s)
    print("automatic rotation: clock advance 91d rotates, CurrentKeyMaterialId and NextRotationDate move: ok")

    next1 = s["NextRotationDate"]
    c1 = e.encrypt(kid, b"c1")
    e.rotate_now(k)
    s = e.status(kid)
    check(s.get("NextRotationDate") == next1, "an on-demand rotation leaves NextRotationDate alone", s)
    m2 = e.describe(kid)["CurrentKeyMaterialId"]
    check(m2 not in (m0, m1), "on-demand rotation changes CurrentKeyMaterialId", e.describe(kid))
    c2 = e.encrypt(kid, b"c2")
    e.rotate_now(k)
    m3 = e.describe(kid)["CurrentKeyMaterialId"]
    check(m3 not in (m0, m1, m2), "second on-demand rotation changes CurrentKeyMaterialId", e.describe(kid))
    for blob, pt, m in ((c0, b"c0", m0), (c1, b"c1", m1), (c2, b"c2", m2)):
        e.decrypts(kid, blob, pt, m, f"ciphertext {pt.decode()} from before a rotation")
    e.decrypts(kid, e.encrypt(kid, b"c3"), b"c3", m3, "a new ciphertext")
    re_ = e.kms.re_encrypt(CiphertextBlob=c0, DestinationKeyId=kid)
    check(re_.get("SourceKeyMaterialId") == m0 and re_.get("DestinationKeyMaterialId") == m3,
          "ReEncrypt to the same key: SourceKeyMaterialId old, DestinationKeyMaterialId current", re_)
    gdk = e.kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
    check(gdk.get("KeyMaterialId") == m3, "GenerateDataKey KeyMaterialId is the current material", gdk)
    print("on-demand rotation: ARN returned, old ciphertexts decrypt with their KeyMaterialId, ReEncrypt: ok")

    only = e.rotations(kid)
    check([x["KeyMaterialId"] for x in only] == [m1, m2, m3], "ROTATIONS_ONLY: the three rotations, oldest first",
          {"Rotations": only})
    check([x.get("RotationType") for x in only] == ["AUTOMATIC", "ON_DEMAND", "ON_DEMAND"], "rotation types",
          {"Rotations": only})
    check([x["KeyMaterialState"] for x in only] == ["NON_CURRENT", "NON_CURRENT", "CURRENT"], "material states",
          {"Rotations": only})
    everything = e.rotations(kid, "ALL_KEY_MATERIAL")
    first = [x for x in everything if x["KeyMaterialId"] == m0]
    check(len(everything) == 4 and len(first) == 1, "ALL_KEY_MATERIAL adds the first material", {"Rotations": everything})
    check("RotationDate" not in first[0] and "RotationType" not in first[0]
          and first[0]["KeyMaterialState"] == "NON_CURRENT", "first material: no RotationDate/RotationType", first[0])
    for include, full in (("ALL_KEY_MATERIAL", everything), ("ROTATIONS_ONLY", only)):
        walked, marker, pages = [], None, 0
        while True:
            kw = {"KeyId": kid, "IncludeKeyMaterial": include, "Limit": 1, **({"Marker": marker} if marker else {})}
            r = e.kms.list_key_rotations(**kw)
            pages += 1
            check(len(r["Rotations"]) == 1 and pages <= len(full), f"{include} Limit=1 page {pages}", r)
            walked += r["Rotations"]
            if not r.get("Truncated"):
                check("NextMarker" not in r, "last page has no NextMarker", r)
                break
            check(r.get("NextMarker"), "a truncated page has NextMarker", r)
            marker = r["NextMarker"]
        check(walked == full, f"{include}: Limit=1 pages walk every entry in order", {"walked": walked, "full": full})
    expect("InvalidMarkerException", e.kms.list_key_rotations, KeyId=kid, Marker="not-a-marker")
    print("ListKeyRotations: ROTATIONS_ONLY, ALL_KEY_MATERIAL, Limit=1 pagination, bad marker: ok")

    for _ in range(ON_DEMAND_LIMIT - 2):
        e.rotate_now(k)
    expect("LimitExceededException", e.kms.rotate_key_on_demand, KeyId=kid,
           message="The on-demand rotations limit has been reached for the given keyId. "
                   f"No more on-demand rotations can be performed for this key: {arn}")
    check(len(e.rotations(kid)) == ON_DEMAND_LIMIT + 1, "25 on-demand + 1 automatic rotation listed")
    print(f"on-demand limit: {ON_DEMAND_LIMIT} rotations, then LimitExceededException with AWS's text: ok")


def rotation_refusals(e):
    rsa_k = e.create(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    expect("UnsupportedOperationException", e.kms.rotate_key_on_demand, KeyId=rsa_k["KeyId"], message="")
    e.kms.disable_key(KeyId=rsa_k["KeyId"])
    expect("DisabledException", e.kms.rotate_key_on_demand, KeyId=rsa_k["KeyId"], message=f"{rsa_k['Arn']} is disabled.")
    sym = e.create()
    e.kms.disable_key(KeyId=sym["KeyId"])
    expect("DisabledException", e.kms.rotate_key_on_demand, KeyId=sym["KeyId"], message=f"{sym['Arn']} is disabled.")
    hmac_k = e.create(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    ecc_k = e.create(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    rsa_enc = e.create(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    for k in (hmac_k, ecc_k, rsa_enc):
        expect("UnsupportedOperationException", e.kms.enable_key_rotation, KeyId=k["KeyId"])
        s = e.status(k["KeyId"])
        check(s.get("KeyRotationEnabled") is False, f"GetKeyRotationStatus of a {k['KeySpec']} key: false", s)
        check("CurrentKeyMaterialId" not in e.describe(k["KeyId"]), f"{k['KeySpec']}: no CurrentKeyMaterialId")
    expect("UnsupportedOperationException", e.kms.rotate_key_on_demand, KeyId=hmac_k["KeyId"])
    print("rotation refusals: RSA/HMAC on demand, disabled keys, EnableKeyRotation on HMAC/ECC/RSA: ok")


def rotation_deletion_and_disabled(e):
    k = e.create()
    kid = k["KeyId"]
    e.kms.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
    e.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    s = e.status(kid)
    check(s.get("KeyRotationEnabled") is False, "PendingDeletion: KeyRotationEnabled false", s)
    e.kms.cancel_key_deletion(KeyId=kid)
    s = e.status(kid)
    check(s.get("KeyRotationEnabled") is True and s.get("RotationPeriodInDays") == 90,
          "after CancelKeyDeletion: rotation enabled again, period kept", s)
    print("rotation and deletion: false while PendingDeletion, true after CancelKeyDeletion: ok")

    # Cancelled deletion leaves the key Disabled: its rotation date passes while disabled.
    check(e.describe(kid)["KeyState"] == "Disabled", "a cancelled deletion leaves the key Disabled", e.describe(kid))
    m0 = k["CurrentKeyMaterialId"]
    e.advance("91d")
    time.sleep(1)
    d = e.describe(kid)
    check(d.get("CurrentKeyMaterialId") == m0, "a disabled key does not rotate", d)
    check(e.status(kid).get("KeyRotationEnabled") is True, "a disabled key keeps its rotation status", e.status(kid))
    e.kms.enable_key(KeyId=kid)
    d = poll("rotation right after EnableKey", lambda: e.describe(kid),
             lambda d: d.get("CurrentKeyMaterialId") != m0, 5)
    rots = e.rotations(kid)
    check(len(rots) == 1 and rots[0].get("RotationType") == "AUTOMATIC"
          and rots[0]["KeyMaterialId"] == d["CurrentKeyMaterialId"], "one AUTOMATIC rotation", {"Rotations": rots})
    print("disabled key: no rotation while disabled, rotates right after EnableKey: ok")


# ---------------------------------------------------------------- 2. import

def import_shapes(e):
    k = e.create(Origin="EXTERNAL", Description="imported")
    kid, arn = k["KeyId"], k["Arn"]
    check(k["KeyState"] == "PendingImport" and k["Enabled"] is False and k["Origin"] == "EXTERNAL",
          "CreateKey Origin=EXTERNAL: PendingImport, disabled", k)
    check("CurrentKeyMaterialId" not in k and "ExpirationModel" not in k, "no CurrentKeyMaterialId/ExpirationModel yet", k)
    check("CurrentKeyMaterialId" not in e.describe(kid), "DescribeKey before import: no CurrentKeyMaterialId", e.describe(kid))
    for spec, bits in (("RSA_2048", 2048), ("RSA_3072", 3072), ("RSA_4096", 4096)):
        p = e.params(kid, "RSAES_OAEP_SHA_256", spec)
        check(p["KeyId"] == arn and len(p["ImportToken"]) > 0, "GetParametersForImport KeyId (ARN) and ImportToken", p)
        check(serialization.load_der_public_key(p["PublicKey"]).key_size == bits, f"PublicKey is DER SPKI of {spec}", p)
        near(p.get("ParametersValidTo"), e.now() + DAY, 120, "ParametersValidTo about now+24h", p)
    pending = f"{arn} is pending import."
    expect("KMSInvalidStateException", e.kms.encrypt, KeyId=kid, Plaintext=b"x", message=pending)
    expect("KMSInvalidStateException", e.kms.rotate_key_on_demand, KeyId=kid, message=pending)
    material = os.urandom(32)
    p = e.params(kid)
    expect("ValidationException", e.kms.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", material),
           message="A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    r = e.import_(kid, material)
    check(r.get("KeyId") == arn and HEX64.fullmatch(r.get("KeyMaterialId", "")), "ImportKeyMaterial: ARN + KeyMaterialId", r)
    d = e.describe(kid)
    check(d["KeyState"] == "Enabled" and d["Enabled"] is True, "imported key is Enabled", d)
    check(d.get("ExpirationModel") == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in d, "ExpirationModel, no ValidTo", d)
    check(d.get("CurrentKeyMaterialId") == r["KeyMaterialId"], "CurrentKeyMaterialId is the imported material", d)
    e.decrypts(kid, e.encrypt(kid, b"imported"), b"imported", r["KeyMaterialId"], "imported symmetric key")
    expect("UnsupportedOperationException", e.kms.enable_key_rotation, KeyId=kid)
    print("import shapes: PendingImport, parameters, pending-import errors, validTo required, import, round trip: ok")


def import_symmetric_matrix(e):
    for alg in WRAPPING_ALGORITHMS:
        for spec in WRAPPING_SPECS:
            k = e.create(Origin="EXTERNAL")
            r = e.import_(k["KeyId"], os.urandom(32), alg, spec)
            e.decrypts(k["KeyId"], e.encrypt(k["KeyId"], b"m"), b"m", r.get("KeyMaterialId"), f"symmetric {alg} {spec}")
    print(f"import symmetric: {len(WRAPPING_ALGORITHMS)} wrapping algorithms x {len(WRAPPING_SPECS)} wrapping keys: ok")


HMACS = [("HMAC_224", 28, "HMAC_SHA_224", hashes.SHA224), ("HMAC_256", 32, "HMAC_SHA_256", hashes.SHA256),
         ("HMAC_384", 48, "HMAC_SHA_384", hashes.SHA384), ("HMAC_512", 64, "HMAC_SHA_512", hashes.SHA512)]


def import_hmac(e):
    for i, (spec, n, mac_alg, h) in enumerate(HMACS):
        k = e.create(Origin="EXTERNAL", KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
        material = os.urandom(n)
        r = e.import_(k["KeyId"], material, WRAPPING_ALGORITHMS[i], WRAPPING_SPECS[i % 3])
        check(r.get("KeyId") == k["Arn"], f"{spec} ImportKeyMaterial KeyId", r)
        d = e.describe(k["KeyId"])
        check(d["KeyState"] == "Enabled" and "CurrentKeyMaterialId" not in d, f"{spec}: Enabled, no CurrentKeyMaterialId", d)
        mac = e.kms.generate_mac(KeyId=k["KeyId"], MacAlgorithm=mac_alg, Message=b"hello")["Mac"]
        check(mac == local_hmac(material, h(), b"hello"), f"{spec}: GenerateMac equals HMAC over the imported key")
        v = e.kms.verify_mac(KeyId=k["KeyId"], MacAlgorithm=mac_alg, Message=b"hello", Mac=mac)
        check(v["MacValid"] is True, f"{spec}: VerifyMac", v)
    print("import HMAC_224/256/384/512: GenerateMac equals local HMAC: ok")


ECCS = [("ECC_NIST_P256", ec.SECP256R1, "ECDSA_SHA_256", hashes.SHA256),
        ("ECC_NIST_P384", ec.SECP384R1, "ECDSA_SHA_384", hashes.SHA384),
        ("ECC_NIST_P521", ec.SECP521R1, "ECDSA_SHA_512", hashes.SHA512),
        ("ECC_SECG_P256K1", ec.SECP256K1, "ECDSA_SHA_256", hashes.SHA256)]


def import_asymmetric_key(e, spec, priv, alg, wrap_spec):
    k = e.create(Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")
    check(k["KeyState"] == "PendingImport", f"{spec} EXTERNAL: PendingImport", k)
    r = e.import_(k["KeyId"], pkcs8(priv), alg, wrap_spec)
    check(r.get("KeyId") == k["Arn"], f"{spec} ImportKeyMaterial KeyId", r)
    d = e.describe(k["KeyId"])
    check(d["KeyState"] == "Enabled" and "CurrentKeyMaterialId" not in d, f"{spec}: Enabled, no CurrentKeyMaterialId", d)
    pub = e.kms.get_public_key(KeyId=k["KeyId"])
    check(pub["PublicKey"] == spki(priv), f"{spec} {alg}: GetPublicKey is the SPKI of the imported private key", pub)
    return k


def sign_verify(e, k, priv, sig_alg, verify):
    sig = e.kms.sign(KeyId=k["KeyId"], Message=b"signed", MessageType="RAW", SigningAlgorithm=sig_alg)["Signature"]
    try:
        verify(priv.public_key(), sig)
    except Exception as err:
        raise Failure(f"{k['KeySpec']} {sig_alg}: the signature does not verify locally ({err!r})")


def import_asymmetric(e):
    rsa_priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for alg, wrap_spec in (("RSA_AES_KEY_WRAP_SHA_256", "RSA_3072"), ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048")):
        k = import_asymmetric_key(e, "RSA_2048", rsa_priv, alg, wrap_spec)
        sign_verify(e, k, rsa_priv, "RSASSA_PSS_SHA_256", lambda p, s: p.verify(
            s, b"signed", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()))
        sign_verify(e, k, rsa_priv, "RSASSA_PKCS1_V1_5_SHA_256",
                    lambda p, s: p.verify(s, b"signed", padding.PKCS1v15(), hashes.SHA256()))
    for i, (spec, curve, sig_alg, h) in enumerate(ECCS):
        priv = ec.generate_private_key(curve())
        oaep = ("RSAES_OAEP_SHA_256" if i % 2 else "RSAES_OAEP_SHA_1", "RSA_3072" if i % 2 else "RSA_4096")
        aes = ("RSA_AES_KEY_WRAP_SHA_1" if i % 2 else "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048")
        for alg, wrap_spec in (oaep, aes):
            k = import_asymmetric_key(e, spec, priv, alg, wrap_spec)
            sign_verify(e, k, priv, sig_alg, lambda p, s: p.verify(s, b"signed", ec.ECDSA(h())))
    print("import RSA_2048 (RSA_AES wraps) and ECC P256/P384/P521/P256K1 (OAEP and RSA_AES): "
          "GetPublicKey, Sign verified locally: ok")


def import_errors(e):
    k, other = e.create(Origin="EXTERNAL"), e.create(Origin="EXTERNAL")
    kid = k["KeyId"]
    material = os.urandom(32)
    p = e.params(kid)
    blob = wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", material)
    expect("InvalidImportTokenException", e.kms.import_key_material, KeyId=kid,
           ImportToken=os.urandom(len(p["ImportToken"])), EncryptedKeyMaterial=blob, **NO_EXPIRY)
    po = e.params(other["KeyId"])
    expect("InvalidImportTokenException", e.kms.import_key_material, KeyId=kid, ImportToken=po["ImportToken"],
           EncryptedKeyMaterial=wrap(po["PublicKey"], "RSAES_OAEP_SHA_256", material), **NO_EXPIRY)
    for alg, at in (("RSAES_OAEP_SHA_256", 10), ("RSA_AES_KEY_WRAP_SHA_256", -5)):
        p = e.params(kid, alg)
        bad = bytearray(wrap(p["PublicKey"], alg, material))
        bad[at] ^= 0x01
        expect("InvalidCiphertextException", e.kms.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
               EncryptedKeyMaterial=bytes(bad), **NO_EXPIRY)
    p = e.params(kid)
    expect("ValidationException", e.kms.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", material),
           ValidTo=datetime.fromtimestamp(e.now() + 400 * DAY, timezone.utc), ExpirationModel="KEY_MATERIAL_EXPIRES")
    expect("ValidationException", e.kms.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", material),
           ValidTo=datetime.fromtimestamp(e.now() + DAY, timezone.utc), **NO_EXPIRY)
    check(e.describe(kid)["KeyState"] == "PendingImport", "failed imports leave the key PendingImport", e.describe(kid))
    e.import_(kid, material)
    p = e.params(kid)
    expect("IncorrectKeyMaterialException", e.kms.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
           ImportType="EXISTING_KEY_MATERIAL", **NO_EXPIRY)
    h = e.create(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    e.import_(h["KeyId"], os.urandom(32))
    p = e.params(h["KeyId"])
    expect("IncorrectKeyMaterialException", e.kms.import_key_material, KeyId=h["KeyId"], ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)), **NO_EXPIRY)
    p = e.params(other["KeyId"])
    e.advance("25h")
    expect("ExpiredImportTokenException", e.kms.import_key_material, KeyId=other["KeyId"], ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", material), **NO_EXPIRY)
    aws_k = e.create()
    expect("UnsupportedOperationException", e.kms.get_parameters_for_import, KeyId=aws_k["KeyId"],
           WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048",
           message=f"{aws_k['Arn']} origin is AWS_KMS which is not valid for this operation.")
    print("import errors: bad/foreign/expired token, corrupted material, ValidTo rules, "
          "different material, AWS_KMS origin: ok")


# ---------------------------------------------------------------- 3. expiry and deletion

def expiry_and_deletion(e):
    k = e.create(Origin="EXTERNAL")
    kid, arn = k["KeyId"], k["Arn"]
    material = os.urandom(32)
    valid_to = int(e.now()) + 2 * DAY
    r = e.import_(kid, material, ValidTo=datetime.fromtimestamp(valid_to, timezone.utc),
                  ExpirationModel="KEY_MATERIAL_EXPIRES")
    mid = r["KeyMaterialId"]
    d = e.describe(kid)
    check(d.get("ExpirationModel") == "KEY_MATERIAL_EXPIRES", "DescribeKey ExpirationModel KEY_MATERIAL_EXPIRES", d)
    near(d.get("ValidTo"), valid_to, 1, "DescribeKey ValidTo", d)
    c1 = e.encrypt(kid, b"c1")
    e.advance("3d")
    d = poll("the key to go to PendingImport when its material expires", lambda: e.describe(kid),
             lambda d: d["KeyState"] == "PendingImport", 5)
    check(d["Enabled"] is False, "expired material: Enabled false", d)
    expect("KMSInvalidStateException", e.kms.encrypt, KeyId=kid, Plaintext=b"x", message=f"{arn} is pending import.")
    expect("KMSInvalidStateException", e.kms.decrypt, CiphertextBlob=c1)
    r = e.import_(kid, material)
    check(r.get("KeyMaterialId") == mid, "re-import of the same material: the same KeyMaterialId", r)
    d = e.describe(kid)
    check(d["KeyState"] == "Enabled" and d.get("ExpirationModel") == "KEY_MATERIAL_DOES_NOT_EXPIRE"
          and "ValidTo" not in d, "re-imported without expiry: Enabled, DOES_NOT_EXPIRE, no ValidTo", d)
    e.decrypts(kid, c1, b"c1", mid, "ciphertext from before expiry")
    print("expiry: ValidTo shown, clock advance 3d -> PendingImport, re-import restores, c1 decrypts: ok")

    r = e.kms.delete_imported_key_material(KeyId=kid)
    check(r.get("KeyId") == arn and r.get("KeyMaterialId") in (None, "", mid), "DeleteImportedKeyMaterial response", r)
    d = e.describe(kid)
    check(d["KeyState"] == "PendingImport" and d["Enabled"] is False, "after delete: PendingImport", d)
    check("ExpirationModel" not in d and "ValidTo" not in d, "after delete: no ExpirationModel/ValidTo", d)
    check(d.get("CurrentKeyMaterialId") == mid, "after delete: CurrentKeyMaterialId still there (as AWS)", d)
    expect("KMSInvalidStateException", e.kms.encrypt, KeyId=kid, Plaintext=b"x", message=f"{arn} is pending import.")
    e.import_(kid, material)
    e.decrypts(kid, c1, b"c1", mid, "ciphertext from before DeleteImportedKeyMaterial")
    print("DeleteImportedKeyMaterial: PendingImport, ExpirationModel gone, CurrentKeyMaterialId kept, re-import: ok")


# ---------------------------------------------------------------- 4. on-demand rotation of imported keys

def imported_rotation(e):
    k = e.create(Origin="EXTERNAL")
    kid, arn = k["KeyId"], k["Arn"]
    a, b = os.urandom(32), os.urandom(32)
    id_a = e.import_(kid, a)["KeyMaterialId"]
    ca = e.encrypt(kid, b"under A")
    check(e.rotations(kid) == [], "ROTATIONS_ONLY of a never-rotated imported key is empty")
    r = e.import_(kid, b, ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="material B")
    id_b = r.get("KeyMaterialId", "")
    check(HEX64.fullmatch(id_b) and id_b != id_a, "NEW_KEY_MATERIAL import returns a new KeyMaterialId", r)
    d = e.describe(kid)
    check(d.get("CurrentKeyMaterialId") == id_a and d["KeyState"] == "Enabled", "A stays current until rotation", d)
    entries = {x["KeyMaterialId"]: x for x in e.rotations(kid, "ALL_KEY_MATERIAL")}
    check(set(entries) == {id_a, id_b}, "ALL_KEY_MATERIAL lists A and B", entries)
    check(entries[id_a]["KeyMaterialState"] == "CURRENT" and entries[id_a].get("ImportState") == "IMPORTED",
          "A: CURRENT, IMPORTED", entries[id_a])
    eb = entries[id_b]
    check(eb["KeyMaterialState"] == "PENDING_ROTATION" and eb.get("ImportState") == "IMPORTED"
          and "RotationDate" not in eb and "RotationType" not in eb, "B: PENDING_ROTATION, no rotation fields", eb)
    check(eb.get("KeyMaterialDescription") == "material B" and eb.get("ExpirationModel") == "KEY_MATERIAL_DOES_NOT_EXPIRE",
          "B: description and ExpirationModel", eb)
    e.decrypts(kid, e.encrypt(kid, b"still A"), b"still A", id_a, "Encrypt while B is pending")
    p = e.params(kid)
    expect("KMSInvalidStateException", e.kms.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
           EncryptedKeyMaterial=wrap(p["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
           ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY,
           # The key named by its ARN (AWS-recorded, see docs/OPERATIONS.md).
           pattern=rf"New key material \(id: [a-f0-9]{{64}}\) cannot be imported into KMS key {re.escape(k['Arn'])}, "
                   rf"because another key material \(id: {id_b}\) is pending rotation\.")
    e.rotate_now(k)
    d = e.describe(kid)
    check(d.get("CurrentKeyMaterialId") == id_b and d["KeyState"] == "Enabled", "after rotation B is current", d)
    entries = {x["KeyMaterialId"]: x for x in e.rotations(kid, "ALL_KEY_MATERIAL")}
    check(entries[id_a]["KeyMaterialState"] == "NON_CURRENT" and entries[id_b]["KeyMaterialState"] == "CURRENT"
          and entries[id_b].get("RotationType") == "ON_DEMAND" and "RotationDate" in entries[id_b],
          "A NON_CURRENT, B CURRENT ON_DEMAND", entries)
    only = e.rotations(kid)
    check([x["KeyMaterialId"] for x in only] == [id_b], "ROTATIONS_ONLY: B only", {"Rotations": only})
    e.decrypts(kid, ca, b"under A", id_a, "ciphertext under A after rotating to B")
    e.decrypts(kid, e.encrypt(kid, b"under B"), b"under B", id_b, "new ciphertext")
    expect("KMSInvalidStateException", e.kms.rotate_key_on_demand, KeyId=kid,
           message=f"No available key material pending rotation for the key: {arn}.")
    print("imported rotation: NEW_KEY_MATERIAL pending, second refused, RotateKeyOnDemand, A still decrypts: ok")


# ---------------------------------------------------------------- 5. restart

def persistent_setup(e):
    saved = {"cts": []}
    k = e.create()
    e.kms.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=180)
    for i in range(3):
        m = e.describe(k["KeyId"])["CurrentKeyMaterialId"]
        saved["cts"].append((k["KeyId"], e.encrypt(k["KeyId"], b"aws %d" % i), b"aws %d" % i, m))
        if i < 2:
            e.rotate_now(k)
    x = e.create(Origin="EXTERNAL")
    id_a = e.import_(x["KeyId"], os.urandom(32), "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")["KeyMaterialId"]
    saved["cts"].append((x["KeyId"], e.encrypt(x["KeyId"], b"ext a"), b"ext a", id_a))
    id_b = e.import_(x["KeyId"], os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    e.rotate_now(x)
    saved["cts"].append((x["KeyId"], e.encrypt(x["KeyId"], b"ext b"), b"ext b", id_b))
    saved["pending"] = e.import_(x["KeyId"], os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    y = e.create(Origin="EXTERNAL")
    y_material = os.urandom(32)
    id_y = e.import_(y["KeyId"], y_material)["KeyMaterialId"]
    saved["deleted"] = (y["KeyId"], y_material, e.encrypt(y["KeyId"], b"ext y"), id_y)
    e.kms.delete_imported_key_material(KeyId=y["KeyId"])
    h = e.create(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    h_material = os.urandom(32)
    e.import_(h["KeyId"], h_material)
    saved["hmac"] = (h["KeyId"], h_material)
    priv = ec.generate_private_key(ec.SECP384R1())
    saved["ecc"] = (import_asymmetric_key(e, "ECC_NIST_P384", priv, "RSAES_OAEP_SHA_256", "RSA_3072"), priv)
    saved["keys"] = {kk["KeyId"]: (e.describe(kk["KeyId"]), e.rotations(kk["KeyId"], "ALL_KEY_MATERIAL"))
                     for kk in (k, x)}
    saved["status"] = e.status(k["KeyId"])
    saved["x"] = x
    return saved


def persistent_verify(e, saved):
    for kid, blob, pt, m in saved["cts"]:
        e.decrypts(kid, blob, pt, m, "after restart")
    for kid, (desc, rots) in saved["keys"].items():
        d = e.describe(kid)
        for f in ("KeyState", "CurrentKeyMaterialId", "ExpirationModel"):
            check(d.get(f) == desc.get(f), f"after restart: DescribeKey {f} unchanged", {"before": desc, "after": d})
        got = e.rotations(kid, "ALL_KEY_MATERIAL")
        check(got == rots, "after restart: ListKeyRotations unchanged", {"before": rots, "after": got})
    s = e.status(saved["cts"][0][0])
    check(s == saved["status"], "after restart: GetKeyRotationStatus unchanged", {"before": saved["status"], "after": s})
    x = saved["x"]
    e.rotate_now(x)
    check(e.describe(x["KeyId"])["CurrentKeyMaterialId"] == saved["pending"], "pending material rotates after restart")
    kid, material, blob, m = saved["deleted"]
    check(e.describe(kid)["KeyState"] == "PendingImport", "deleted material stays deleted", e.describe(kid))
    e.import_(kid, material)
    e.decrypts(kid, blob, b"ext y", m, "re-imported after restart")
    kid, material = saved["hmac"]
    mac = e.kms.generate_mac(KeyId=kid, MacAlgorithm="HMAC_SHA_256", Message=b"m")["Mac"]
    check(mac == local_hmac(material, hashes.SHA256(), b"m"), "imported HMAC key after restart")
    k, priv = saved["ecc"]
    check(e.kms.get_public_key(KeyId=k["KeyId"])["PublicKey"] == spki(priv), "imported ECC key after restart")
    sign_verify(e, k, priv, "ECDSA_SHA_384", lambda p, s: p.verify(s, b"signed", ec.ECDSA(hashes.SHA384())))


def restart(work):
    data = os.path.join(work, "data")
    port = free_port()
    server = Server(data, port)
    try:
        ak, sk = read_credentials(os.path.join(data, "credentials"))
        saved = run_on(server, lambda: persistent_setup(Env(server, ak, sk)))
    finally:
        server.stop()
    server = Server(data, port)
    try:
        run_on(server, lambda: persistent_verify(Env(server, ak, sk), saved))
    finally:
        server.stop()
    print("restart (data directory, no --dev): rotated, imported, pending and deleted material all kept: ok")


# ----------------------------------------------------------------

def run_on(server, fn):
    """Run fn; on a failure print it with the end of the server log and exit 1."""
    try:
        return fn()
    except (Failure, AssertionError) as err:
        msg = str(err)
    except botocore.exceptions.ClientError as err:
        msg = f"{err.operation_name} failed unexpectedly: {err}\n  response: {show(err.response)}"
    server.dump_log()
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def dev_checks(e):
    k = e.create()
    check(k["Arn"].startswith("arn:aws:kms:us-east-1:000000000000:key/"), "--dev server answers CreateKey", k)
    print("harness: --dev server up, CreateKey ok")
    k, s = rotation_status(e)
    automatic_and_on_demand(e, k, s)
    rotation_refusals(e)
    rotation_deletion_and_disabled(e)
    import_shapes(e)
    import_symmetric_matrix(e)
    import_hmac(e)
    import_asymmetric(e)
    import_errors(e)
    expiry_and_deletion(e)
    imported_rotation(e)


def main():
    started = time.time()
    work = tempfile.mkdtemp(prefix="kms-lifecycle-")
    server = Server(os.path.join(work, "dev"), free_port(), extra=("--dev",))
    try:
        run_on(server, lambda: dev_checks(Env(server, "test", "test")))
    finally:
        server.stop()
    restart(work)
    print(f"lifecycle test passed in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
