"""Fresh, signed API Gateway v2 (HTTP API) events: new deliveries plus retries.

Bodies come from the realistic samples (`samples/`), made unique per delivery the way real
events differ (a new Subnoto `eventUuid`; a new SpotDraft activity timestamp, so a new canonical
JSON and dedup key). A retry resends the same body, re-signed with a fresh Subnoto timestamp as the
provider would. Signing is plain Python hmac, with the public test secrets from the vectors.
"""

import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from pathlib import Path

SPOTDRAFT_KEY = "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="
SUBNOTO_SECRET = "whsec_subnoto_public_test_secret_0001"
SECRETS_JSON = json.dumps({"spotdraft": [SPOTDRAFT_KEY], "subnoto": [SUBNOTO_SECRET]})


def load_samples(samples_dir: Path):
    out = {"spotdraft": [], "subnoto": []}
    for path in sorted(samples_dir.glob("*.json")):
        provider = path.name.split("-", 1)[0]
        if provider in out:
            out[provider].append(json.loads(path.read_text()))
    if not out["spotdraft"] or not out["subnoto"]:
        raise SystemExit(f"no spotdraft/subnoto samples in {samples_dir}")
    return out


def sign(provider: str, body: bytes, now_ms: int) -> dict:
    if provider == "spotdraft":
        digest = hmac.new(base64.b64decode(SPOTDRAFT_KEY), body, hashlib.sha512).hexdigest()
        return {"x-sd-webhook-content-hash": digest}
    t = str(now_ms)
    mac = hmac.new(SUBNOTO_SECRET.encode(), b"t:" + t.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"x-webhook-id": "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a", "x-webhook-signature": f"t={t},v1={mac}"}


def apigw_v2(provider: str, body: bytes, now_ms: int) -> dict:
    """An HTTP API payload v2.0 event, as API Gateway hands it to the function."""
    headers = {
        "content-length": str(len(body)),
        "content-type": "application/json",
        "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "user-agent": f"{provider}-webhooks/1.0",
        "x-amzn-trace-id": f"Root=1-{now_ms // 1000:08x}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    headers.update(sign(provider, body, now_ms))
    path = f"/webhooks/{provider}"
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{provider}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": {"provider": provider},
        "isBase64Encoded": False,
        "body": body.decode("utf-8"),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": f"{provider}-webhooks/1.0",
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "routeKey": "POST /webhooks/{provider}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
    }


def _fresh_body(provider: str, template: dict, seq: int, subject: int = None) -> bytes:
    doc = json.loads(json.dumps(template))
    if provider == "subnoto":
        doc["eventUuid"] = str(uuid.uuid4())
        doc["eventTime"] = int(time.time() * 1000)
    else:
        data = doc.setdefault("activity_data", {})
        data["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{seq % 1000000:06d}Z"
    if subject is not None:
        _set_subject(provider, doc, subject, seq)
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8")


def _set_subject(provider: str, doc: dict, subject: int, seq: int):
    """Moves an event to contract / envelope number `subject` (the samples name only five), and
    gives a Subnoto signing event one of three signers, as an envelope with several recipients."""
    if provider == "spotdraft":
        doc["contract_id"] = 900_000 + subject
        return
    data = doc.setdefault("data", {})
    data["envelopeUuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-envelope-{subject}"))
    if "recipientEmail" in data:
        data["recipientEmail"] = f"signer{seq % 3}.{subject}@example.com"


class NewEvents:
    """New deliveries only (no retries: a retry puts nothing on the queue), alternating
    SpotDraft and Subnoto, each about one of `subjects` contracts / envelopes per provider picked
    at random (seeded), so a subject sees several events in any order of types, and a batch of
    10 mostly holds different subjects, as in production."""

    def __init__(self, samples, subjects: int, seed: int):
        self.samples = samples
        self.subjects = max(1, subjects)
        self.rng = random.Random(seed)
        self.seq = 0

    def next(self):
        self.seq += 1
        provider = "spotdraft" if self.seq % 2 else "subnoto"
        template = self.rng.choice(self.samples[provider])
        body = _fresh_body(provider, template, self.seq, subject=self.rng.randrange(self.subjects))
        return provider, body


class Deliveries:
    """A deterministic (seeded) sequence of deliveries: `(kind, provider, body)`, where kind is
    `new` or `dup`. A duplicate repeats one of the last few new bodies (a provider retry soon
    after the first delivery, well inside ingest's 30 s enqueue lease)."""

    def __init__(self, samples, count: int, dup_ratio: float, seed: int):
        self.samples = samples
        self.count = count
        self.dup_ratio = dup_ratio
        self.rng = random.Random(seed)
        self.recent = []
        self.seq = 0

    def __iter__(self):
        for i in range(self.count):
            if self.recent and i > 0 and self.rng.random() < self.dup_ratio:
                provider, body = self.rng.choice(self.recent[-8:])
                yield "dup", provider, body
                continue
            provider = "spotdraft" if i % 2 == 0 else "subnoto"
            template = self.rng.choice(self.samples[provider])
            self.seq += 1
            body = _fresh_body(provider, template, self.seq)
            self.recent.append((provider, body))
            yield "new", provider, body


def event_for(provider: str, body: bytes) -> bytes:
    """Signs now (Subnoto signatures expire after 5 minutes) and serialises the event."""
    now_ms = int(time.time() * 1000)
    return json.dumps(apigw_v2(provider, body, now_ms)).encode("utf-8")
