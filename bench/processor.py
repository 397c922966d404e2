"""The processor's side of the bench: SQS batches as the event source mapping hands them over,
and the state the ledger and the status table must end in.

* `EventSourceMapping` receives from the real queue (what the real `ingest` sent), wraps the
  messages into the Lambda SQS event (the shape `sam local generate-event sqs receive-message`
  prints, with the real messageId, receiptHandle, body, attributes, messageAttributes, md5s and
  eventSourceARN) and, after the invocation, deletes every message not listed in
  `batchItemFailures`, as Lambda's poller does. None of this is inside the timed window.
* `annotate` and `expected_status` restate the sync rules of crates/store/src/sync.rs
  (status per event, rank class, rank order, signers) in Python, so the final status table can
  be checked against the maximum over the events each subject received, whatever the order.
"""

import json
import time
import uuid

import awslocal

SUBNOTO_STATUS = {
    "ENVELOPE_CREATED": "CREATED",
    "ENVELOPE_SENT": "SENT",
    "ENVELOPE_OPENED": "SENT",
    "ENVELOPE_SIGNED": "SIGNING",
    "ENVELOPE_COMPLETED": "COMPLETED",
    "ENVELOPE_DECLINED": "DECLINED",
    "ENVELOPE_CANCELED": "CANCELED",
    "ENVELOPE_CANCELLED": "CANCELED",
}
TERMINAL = {"COMPLETED", "DECLINED", "CANCELED"}
# Subnoto's rank class is its lifecycle stage (crates/store/src/sync.rs); SpotDraft's statuses
# all share class 1, and an event without a status is class 0.
SUBNOTO_CLASS = {"CREATED": 1, "SENT": 2, "SIGNING": 3, **{s: 4 for s in TERMINAL}}
# What Lambda copies from ReceiveMessage's attributes into an SQS record (standard queue).
RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                     "AWSTraceHeader")


def scheduled_event() -> bytes:
    """An EventBridge scheduled rule's event (the sweep's trigger)."""
    return json.dumps({
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": awslocal.REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/contract-hooks-ProcessorFunctionSweep"],
        "detail": {},
    }).encode("utf-8")


def sqs_record(message: dict, queue_arn: str) -> dict:
    attributes = {k: v for k, v in message.get("Attributes", {}).items() if k in RECORD_ATTRIBUTES}
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": attr.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": attr["DataType"],
            }
            for name, attr in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": awslocal.REGION,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class EventSourceMapping:
    """Lambda's SQS poller, on the real queue: receive a batch, invoke, delete what succeeded."""

    def __init__(self, endpoint: str, queue_url: str):
        _, self.sqs = awslocal.clients(endpoint)
        self.queue_url = queue_url
        self.arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def receive(self, count: int, wait_s: float = 5.0):
        """Up to `count` messages (fewer only if the queue stays short for `wait_s`): like a
        batching window that closes when the batch is full."""
        got = []
        deadline = time.monotonic() + wait_s
        while len(got) < count and time.monotonic() < deadline:
            got += self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, count - len(got)), WaitTimeSeconds=0,
                AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
        return got

    def event(self, messages) -> bytes:
        return json.dumps({"Records": [sqs_record(m, self.arn) for m in messages]}).encode("utf-8")

    def settle(self, messages, failed_ids):
        """Deletes the messages that did not fail; the failed ones come back after the
        visibility timeout (and reach the DLQ after the max receive count)."""
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(done[i:i + 10])])

    def lose(self, count: int) -> int:
        """Receives and deletes `count` messages without processing them: lost enqueues, which
        only the sweep can recover."""
        msgs = self.receive(count)
        self.settle(msgs, set())
        return len(msgs)

    def depth(self, queue_url=None):
        a = self.sqs.get_queue_attributes(QueueUrl=queue_url or self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def batch_failures(inv):
    """The itemIdentifiers of a batch answer, or None when the answer is not a batch response."""
    if not inv.ok:
        return None
    try:
        doc = json.loads(inv.body)
        return [f["itemIdentifier"] for f in doc.get("batchItemFailures", [])]
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


# --- the sync rules, restated (crates/store/src/sync.rs, status_table.rs) --------------------
def annotate(event: dict, received_at_ms: int) -> dict:
    """The event plus `_status`, `_class`, `_time` and `_signer` as the processor derives them."""
    out = dict(event)
    if event["provider"] == "spotdraft":
        status = (event.get("status") or "").strip() or None
    else:
        status = SUBNOTO_STATUS.get(event["event_type"].strip().upper())
    out["_status"] = status
    if status is None:
        out["_class"] = 0
    elif event["provider"] == "subnoto":
        out["_class"] = SUBNOTO_CLASS[status]
    else:
        out["_class"] = 1
    out["_time"] = event["occurred_at_ms"] if event.get("occurred_at_ms") is not None else received_at_ms
    signer = event.get("signer") or {}
    identity = (signer.get("email") or "").strip() or (signer.get("name") or "").strip()
    out["_signer"] = identity or None
    return out


def message_event(body: str) -> dict:
    msg = json.loads(body)
    return annotate(msg["event"], msg["received_at_ms"])


def expected_status(events):
    """{status pk: (status, last_event_key, rank_class, signers)} after every event was applied."""
    best, signers = {}, {}
    for e in events:
        if not e.get("subject"):
            continue
        pk = f"{e['provider']}#{e['subject']}"
        rank = (e["_class"], e["_time"], e["key"].encode("utf-8"))
        if pk not in best or rank > best[pk][0]:
            best[pk] = (rank, e)
        if e["_signer"]:
            signers.setdefault(pk, set()).add(e["_signer"])
    return {pk: (e["_status"], e["key"], e["_class"], signers.get(pk, set())) for pk, (_, e) in best.items()}


def scan(ddb, table):
    items, kwargs = [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def bus_deliveries(sqs, subscriber_url):
    """Every event the bus's subscriber queue received: {detail-type: [detail, ...]}."""
    out = {}
    while True:
        page = sqs.receive_message(QueueUrl=subscriber_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = page.get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            e = json.loads(m["Body"])
            out.setdefault(e["detail-type"], []).append(e["detail"])
        sqs.delete_message_batch(QueueUrl=subscriber_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])


def check_state(endpoint: str, res: dict, events, accepted_keys, bus=False):
    """The end state: every accepted event's ledger item PROCESSED and out of the pending index,
    every subject's status item equal to the maximum over its events, queue and DLQ empty; with
    publishing on, exactly one bus entry per processed event (`Contract Status Changed` when it
    changed its subject's status, else `Contract Event`), each id once (none when off).
    Returns (errors, facts)."""
    ddb, sqs = awslocal.clients(endpoint)
    errors = []
    published = bus_deliveries(sqs, res["subscriber_url"])
    entries = [d for kind in ("Contract Event", "Contract Status Changed") for d in published.get(kind, [])]
    ids = {d["id"] for d in entries}
    processed_keys = {f"{e['provider']}#{e['key']}" for e in events}
    if bus and (len(entries) != len(ids) or ids != processed_keys):
        errors.append(f"bus: {len(entries)} entries ({len(ids)} ids) for "
                      f"{len(processed_keys)} processed events")
    if bus and len(entries) != sum(map(len, published.values())):
        errors.append(f"bus: unexpected detail-types {sorted(published)}")
    if not bus and published:
        errors.append(f"publishing off, yet the bus delivered {sum(map(len, published.values()))} events")
    ledger = {it["pk"]["S"]: it for it in scan(ddb, res["events_table"])}
    missing = [k for k in accepted_keys if k not in ledger]
    not_done = [k for k, it in ledger.items() if it.get("status", {}).get("S") != "PROCESSED"]
    pending = [k for k, it in ledger.items() if "pending_shard" in it or "processed_at" not in it]
    if missing:
        errors.append(f"{len(missing)} accepted events have no ledger item")
    if not_done:
        errors.append(f"{len(not_done)} ledger items not PROCESSED, e.g. {not_done[:2]}")
    if pending:
        errors.append(f"{len(pending)} ledger items still pending or without processed_at")
    status_items = {it["pk"]["S"]: it for it in scan(ddb, res["status_table"])}
    expected = expected_status(events)
    wrong = []
    for pk, (status, key, rank_class, signers) in expected.items():
        it = status_items.get(pk)
        got = None if it is None else (it.get("status", {}).get("S"), it["last_event_key"]["S"],
                                       int(it["rank_class"]["N"]), set(it.get("signers", {}).get("SS", [])))
        if got != (status, key, rank_class, signers):
            wrong.append((pk, got, (status, key, rank_class, sorted(signers))))
    extra = set(status_items) - set(expected)
    if wrong:
        errors.append(f"{len(wrong)} status items differ from the expected state, e.g. {wrong[:1]}")
    if extra:
        errors.append(f"{len(extra)} unexpected status items")
    dlq_url = res["queue_url"] + "-dlq"
    for name, url in (("queue", res["queue_url"]), ("DLQ", dlq_url)):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        left = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
        if left:
            errors.append(f"{name} holds {left} messages at the end")
    facts = {"bus_contract_events": len(published.get("Contract Event", [])),
             "bus_status_changes": len(published.get("Contract Status Changed", [])),
             "ledger_items": len(ledger), "ledger_processed": len(ledger) - len(not_done),
             "status_items": len(status_items), "status_expected": len(expected), "status_matching": len(expected) - len(wrong)}
    return errors, facts
