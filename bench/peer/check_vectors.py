"""Checks the peer's verification against the signature vectors (vectors/signatures.json).

    bench/.venv/bin/python bench/peer/check_vectors.py [path/to/signatures.json]

The peer is the providers' sample code; it is not expected to match every edge case the Rust
verifier handles (several v1 values, form bodies' content-type rules, ...). This prints where
they differ, so BENCHMARKS.md can say what the peer does and does not do.
"""
import base64
import json
import os
import sys
import time
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[1] / "vectors" / "signatures.json"
doc = json.loads(path.read_text())

agree = differ = 0
for v in doc["vectors"]:
    env = {"WEBHOOK_SECRETS": json.dumps({v["provider"]: v["secrets"]}), "IDEMPOTENCY_TABLE": "x",
           "QUEUE_URL": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    with mock.patch.dict(os.environ, env):
        sys.modules.pop("handler", None)
        sys.path.insert(0, str(HERE))
        import handler  # noqa: E402
    body = base64.b64decode(v["body_b64"])
    headers = {k.lower(): val for k, val in v["headers"].items()}
    with mock.patch.object(time, "time", return_value=v["now_ms"] / 1000):
        try:
            ok = (handler.verify_spotdraft if v["provider"] == "spotdraft" else handler.verify_subnoto)(body, headers)
        except Exception as e:  # noqa: BLE001
            ok = f"raised {type(e).__name__}"
    expect = v["expect"] == "valid"
    if ok is expect:
        agree += 1
    else:
        differ += 1
        print(f"differs: {v['name']}: peer {ok}, expected {v['expect']}")
print(f"{agree} agree, {differ} differ")
