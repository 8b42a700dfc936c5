"""Walk the pinned botocore model and try every member of every operation:
a wrongly typed value must get SerializationException, an out-of-range one
(too long, too short, too large, not in the enum, not matching the pattern,
too many items) ValidationException in AWS's format naming the member's
path (`tags.1.member.tagKey`). Never a 5xx, never a dropped connection.

Usage: model_walk.py BOTOCORE_DIR   (the pinned botocore of tools/codegen)
Runs the release binary in --dev mode on a free loopback port.
"""
import gzip
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import kmstest

# A value that satisfies each pattern of the model (checked below).
PATTERN_SAMPLES = {
    "AccountIdType": "111122223333",
    "AliasNameType": "alias/walk",
    "BackingKeyIdType": "ab12",
    "BackingKeyIdResponseType": "ab12",
    "CloudHsmClusterIdType": "cluster-abcdefghijk",
    "GrantConstraintSourceArnType": "arn:aws:s3:us-east-1:111122223333:bucket",
    "GrantNameType": "walk",
    "KeyMaterialDescriptionType": "walk",
    "MarkerType": "walk",
    "PolicyNameType": "default",
    "PolicyType": "{}",
    "PrincipalIdType": "arn:aws:iam::000000000000:root",
    "RegionType": "us-west-2",
    "ServicePrincipalType": "a.b.c",
    "XksKeyIdType": "walk",
    "XksProxyAuthenticationAccessKeyIdType": "ABCDEFGHIJKLMNOPQRST",
    "XksProxyAuthenticationRawSecretAccessKeyType": "abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
    "XksProxyUriEndpointType": "https://walk.example",
    "XksProxyUriPathType": "/kms/xks/v1",
    "XksProxyVpcEndpointServiceNameType": "com.amazonaws.vpce.us-east-1.vpce-svc-0abc",
}

PATTERN_BREAKERS = [" ", "!", "\u0100", "a b", "UPPER", "x"]


def java_to_python(p):
    return p.replace("\\u", "\\u")  # Python's re reads \uXXXX in str patterns


def load(botocore_dir):
    base = os.path.join(botocore_dir, "data", "kms", "2014-11-01", "service-2.json")
    if os.path.exists(base):
        return json.load(open(base))
    return json.loads(gzip.open(base + ".gz").read())


class Walker:
    def __init__(self, model):
        self.m = model
        self.sh = model["shapes"]
        self.failures = []
        self.checked = 0

    # ---------------------------------------------------------- values

    def valid(self, name, depth=0):
        s = self.sh[name]
        t = s["type"]
        if t == "string":
            if "enum" in s:
                return s["enum"][0]
            if "pattern" in s:
                v = PATTERN_SAMPLES[name]
                assert re.fullmatch(java_to_python(s["pattern"]), v), (name, v)
                return v
            return "a" * max(s.get("min", 1), 1)
        if t == "blob":
            import base64
            return base64.b64encode(b"x" * max(s.get("min", 1), 1)).decode()
        if t in ("integer", "long"):
            return s.get("min", 1)
        if t == "boolean":
            return False
        if t == "timestamp":
            return 1700000000
        if t == "list":
            return [self.valid(s["member"]["shape"], depth + 1)] * max(s.get("min", 1), 1)
        if t == "map":
            return {}
        if t == "structure":
            return {m: self.valid(self.sh[name]["members"][m]["shape"], depth + 1) for m in s.get("required", [])}
        raise SystemExit(f"no value for {name} ({t})")

    def wrong_type(self, name):
        """A value of another JSON type, and the SerializationException text."""
        t = self.sh[name]["type"]
        if t in ("string", "blob"):
            return 5, "NUMBER_VALUE can not be converted to a String"
        if t in ("integer", "long"):
            return "abc", "STRING_VALUE can not be converted to an Integer"
        if t == "boolean":
            return "abc", "STRING_VALUE can not be converted to a Boolean"
        if t == "timestamp":
            return [1], "Start of list found where not expected"
        if t == "list":
            return "x", "Expected list or null"
        if t == "map":
            return 5, "Expected map or null"
        if t == "structure":
            return "x", "Expected null"
        raise SystemExit(t)

    def out_of_range(self, name):
        """Values that break one constraint of the shape."""
        s = self.sh[name]
        t = s["type"]
        out = []
        if t == "string":
            if "enum" in s:
                out.append("NOT_IN_THE_ENUM")
            if "max" in s:
                out.append("a" * (s["max"] + 1))
            if s.get("min", 0) > 0:
                out.append("")
            if "pattern" in s:
                for b in PATTERN_BREAKERS:
                    if not re.fullmatch(java_to_python(s["pattern"]), b):
                        out.append(b)
                        break
        elif t == "blob":
            import base64
            if "max" in s:
                out.append(base64.b64encode(b"x" * (s["max"] + 1)).decode())
            if s.get("min", 0) > 0:
                out.append("")
        elif t in ("integer", "long"):
            if "max" in s:
                out.append(s["max"] + 1)
            if "min" in s:
                out.append(s["min"] - 1)
        elif t == "list":
            member = self.valid(s["member"]["shape"])
            if "max" in s:
                out.append([member] * (s["max"] + 1))
            if s.get("min", 0) > 0:
                out.append([])
        return out

    # ---------------------------------------------------------- the walk

    def members(self, shape, path, depth=0):
        """(json path as keys, AWS path, member shape) for every member, nested."""
        s = self.sh[shape]
        for m, mem in s["members"].items():
            ms = mem["shape"]
            aws = path + m[0].lower() + m[1:]
            yield [m], aws, ms
            t = self.sh[ms]["type"]
            if depth < 3 and t == "structure":
                for keys, p, x in self.members(ms, aws + ".", depth + 1):
                    yield [m] + keys, p, x
            if depth < 3 and t == "list" and self.sh[self.sh[ms]["member"]["shape"]]["type"] == "structure":
                inner = self.sh[ms]["member"]["shape"]
                for keys, p, x in self.members(inner, aws + ".1.member.", depth + 1):
                    yield [m, 0] + keys, p, x

    def request(self, op, keys, value):
        shape = self.m["operations"][op]["input"]["shape"]
        body = self.valid(shape)
        node, sh = body, shape
        for i, k in enumerate(keys[:-1]):
            s = self.sh[sh]
            if isinstance(k, int):
                sh = s["member"]["shape"]
                if not node:
                    node.append(self.valid(sh))
                node = node[0]
            else:
                sh = s["members"][k]["shape"]
                if k not in node:
                    node[k] = self.valid(sh) if self.sh[sh]["type"] != "list" else [self.valid(self.sh[sh]["member"]["shape"])]
                node = node[k]
        node[keys[-1]] = value
        return body

    def run(self, send):
        for op in sorted(self.m["operations"]):
            shape = self.m["operations"][op]["input"]["shape"]
            for keys, aws, ms in self.members(shape, ""):
                value, message = self.wrong_type(ms)
                self.expect(send, op, keys, aws, value, "SerializationException", message)
                for v in self.out_of_range(ms):
                    self.expect(send, op, keys, aws, v, "ValidationException", None)

    def expect(self, send, op, keys, aws, value, want, message):
        self.checked += 1
        body = self.request(op, keys, value)
        status, reply = send(op, body)
        got = (reply.get("__type", ""), reply.get("message", reply.get("Message", "")))
        what = f"{op} {aws}={json.dumps(value)[:40]}"
        if status >= 500 or status == 0:
            self.failures.append(f"{what}: HTTP {status} {got}")
            return
        if got[0] != want:
            self.failures.append(f"{what}: {got[0]} ({got[1][:160]}), expected {want}")
            return
        if message is not None and got[1] != message:
            self.failures.append(f"{what}: message {got[1]!r}, expected {message!r}")
        if want == "ValidationException":
            fmt = r"^\d+ validation errors? detected: (.*; )?Value( '.*'| null)? at '" + re.escape(aws) + \
                  r"' failed to satisfy constraint: Member must "
            if not re.search(fmt, got[1], re.S):
                self.failures.append(f"{what}: message {got[1][:200]!r} does not name '{aws}' in AWS's format")


def main():
    model = load(sys.argv[1])
    walker = Walker(model)
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "data")
        server = kmstest.Server(data, kmstest.free_port(), extra=["--dev"])
        creds = Credentials("test", "test")
        try:
            def send(op, body):
                data_bytes = json.dumps(body).encode()
                req = AWSRequest(method="POST", url=server.endpoint + "/", data=data_bytes, headers={
                    "X-Amz-Target": "TrentService." + op,
                    "Content-Type": "application/x-amz-json-1.1",
                })
                SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
                r = urllib.request.Request(server.endpoint + "/", data=data_bytes, headers=dict(req.headers.items()),
                                           method="POST")
                try:
                    with urllib.request.urlopen(r, timeout=30) as resp:
                        return resp.status, json.loads(resp.read() or b"{}")
                except urllib.error.HTTPError as e:
                    raw = e.read()
                    try:
                        return e.code, json.loads(raw or b"{}")
                    except ValueError:
                        return e.code, {"__type": "not JSON", "message": raw[:100].decode(errors="replace")}
                except Exception as e:  # a dropped connection
                    return 0, {"__type": type(e).__name__, "message": str(e)}
            walker.run(send)
        except BaseException:
            server.dump_log()
            raise
        finally:
            server.stop()
    ops = len(model["operations"])
    print(f"model walk: {walker.checked} requests over {ops} operations, {len(walker.failures)} failures")
    for f in walker.failures:
        print("  " + f)
    sys.exit(1 if walker.failures else 0)


if __name__ == "__main__":
    main()
