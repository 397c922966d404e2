"""The Python peer: what a team would write from the providers' sample code.

Same job as the Rust `ingest` function, the way the Python ecosystem does it:

* SpotDraft: lowercase hex HMAC-SHA512 of the raw body, keyed with the base64-decoded
  workspace key, compared with `X-SD-WEBHOOK-CONTENT-HASH` (the provider's sample).
* Subnoto: `X-Webhook-Signature: t=<unix ms>,v1=<hex>`, HMAC-SHA256 over `t:` + t + `:` + body
  with the secret's UTF-8 bytes, `t` within 5 minutes either way (the provider's sample).
* Accept once: Powertools for AWS Lambda idempotency with the DynamoDB persistence layer, keyed
  on Subnoto `eventUuid` or SHA-256 of SpotDraft's canonical JSON (the same dedup keys as ingest).
* Enqueue: boto3 SQS `send_message`, inside the idempotent function.

Run under the Lambda Runtime Interface Client: `python -m awslambdaric handler.lambda_handler`.
Clients and secrets are built at import (init), as Lambda best practice says.

Environment: WEBHOOK_SECRETS (the same JSON as ingest), IDEMPOTENCY_TABLE, QUEUE_URL, and the
usual AWS_REGION / credentials / AWS_ENDPOINT_URL.
"""

import base64
import hashlib
import hmac
import json
import os
import time
from urllib.parse import parse_qs

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

TOLERANCE_MS = 5 * 60 * 1000
SECRETS = json.loads(os.environ["WEBHOOK_SECRETS"])
SPOTDRAFT_KEYS = [base64.b64decode(k) for k in SECRETS.get("spotdraft", [])]
SUBNOTO_SECRETS = [s.encode("utf-8") for s in SECRETS.get("subnoto", [])]
QUEUE_URL = os.environ["QUEUE_URL"]

sqs = boto3.client("sqs")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
# The dedup window: 30 days, as ingest's ledger TTL.
config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=30 * 24 * 3600)


def _answer(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


# --- SpotDraft's sample verification -------------------------------------------------------
def verify_spotdraft(body: bytes, headers: dict) -> bool:
    received = headers.get("x-sd-webhook-content-hash", "")
    for key in SPOTDRAFT_KEYS:
        expected = hmac.new(key, body, hashlib.sha512).hexdigest()
        if hmac.compare_digest(expected, received):
            return True
    return False


# --- Subnoto's sample verification ---------------------------------------------------------
def verify_subnoto(body: bytes, headers: dict) -> bool:
    header = headers.get("x-webhook-signature", "")
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t"), parts.get("v1")
    if not t or not v1 or not t.isdigit():
        return False
    if abs(time.time() * 1000 - int(t)) > TOLERANCE_MS:
        return False
    signed = b"t:" + t.encode() + b":" + body
    for secret in SUBNOTO_SECRETS:
        expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, v1):
            return True
    return False


def dedup_key(provider: str, payload: dict) -> str:
    if provider == "subnoto" and payload.get("eventUuid"):
        return f"subnoto#{payload['eventUuid']}"
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{provider}#{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


@idempotent_function(data_keyword_argument="delivery", config=config, persistence_store=persistence)
def enqueue(delivery: dict) -> dict:
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps(delivery))
    return {"status": "accepted", "key": delivery["key"]}


def lambda_handler(event, context):
    config.register_lambda_context(context)
    path = event.get("rawPath") or event.get("path") or ""
    provider = path.rstrip("/").rsplit("/", 1)[-1]
    if provider not in ("spotdraft", "subnoto"):
        return _answer(404, {"error": "not found"})
    method = (event.get("requestContext", {}).get("http", {}).get("method")) or event.get("httpMethod")
    if method != "POST":
        return _answer(405, {"error": "method not allowed"})
    body = event.get("body") or ""
    body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}

    verified = verify_spotdraft(body, headers) if provider == "spotdraft" else verify_subnoto(body, headers)
    if not verified:
        return _answer(401, {"error": "invalid signature"})
    try:
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
        else:
            payload = json.loads(body)
    except (ValueError, KeyError):
        return _answer(400, {"error": "unreadable body"})

    key = dedup_key(provider, payload)
    received_at = int(time.time() * 1000)
    try:
        result = enqueue(delivery={"key": key, "provider": provider, "received_at": received_at, "event": payload})
    except Exception:  # noqa: BLE001 - any dependency failure is a retryable 503
        return _answer(503, {"error": "dependency failed"})
    return _answer(202, result)
