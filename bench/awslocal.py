"""The local AWS side of the bench: moto on loopback, the resources, a counting proxy, the floor.

* moto is started with the test harness's launcher (`crates/testkit/moto_server.py`, from the
  project's `.venv`), on a free loopback port, fresh for every run.
* Resources are created with boto3 to the same definitions as `crates/store/src/schema.rs`
  (ledger table with TTL and the sparse `pending-index`, status table, queue + DLQ with the
  redrive policy), plus Powertools' default idempotency table (`id`, TTL `expiration`) for the peer.
* `CountingProxy` forwards every request to moto and counts the AWS operations
  (`X-Amz-Target`, or `Action=` for query-protocol calls), so calls per event are measured at the
  emulator for both functions alike.
* `floor_*` time the bare PutItem + SendMessage round trips the ingest hot path makes;
  `ProcessorFloor*` the two UpdateItems the processor makes per record.
"""

import base64
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

REGION = "us-east-1"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# schema.rs
PENDING_INDEX = "pending-index"
PENDING_INDEX_ATTRIBUTES = ["event", "enqueue_attempts", "lease_until", "status"]
MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_SECS = 60


class Moto:
    def __init__(self, python: str, launcher: str):
        env = dict(os.environ, **CREDS, AWS_DEFAULT_REGION=REGION)
        self.proc = subprocess.Popen(
            [python, launcher, "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"moto did not start (got {line!r})")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the launcher stops when stdin closes
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.proc.kill()
                self.proc.wait()


def clients(endpoint: str):
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"})
    kw = dict(endpoint_url=endpoint, region_name=REGION, config=cfg,
              aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"])
    return boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)


def create_ledger_table(ddb, name):
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "pending_shard", "AttributeType": "S"},
            {"AttributeName": "received_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{
            "IndexName": PENDING_INDEX,
            "KeySchema": [
                {"AttributeName": "pending_shard", "KeyType": "HASH"},
                {"AttributeName": "received_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": PENDING_INDEX_ATTRIBUTES},
        }],
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})


def create_simple_table(ddb, name, key, ttl=None):
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
    )
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": ttl, "Enabled": True})


def create_queues(sqs, name):
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
    return sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECS), "RedrivePolicy": redrive},
    )["QueueUrl"]


def create_bus(endpoint: str, name: str, subscriber_url: str):
    """The contract events' bus, with a rule sending everything from contract-hooks to
    `subscriber_url` (what a user's system would subscribe), so EventBridge does in moto what it
    does in AWS: match and deliver every entry the processor puts."""
    _, sqs = clients(endpoint)
    events = boto3.client("events", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"])
    events.create_event_bus(Name=name)
    arn = sqs.get_queue_attributes(QueueUrl=subscriber_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"{name}-all", EventBusName=name, EventPattern=json.dumps({"source": ["contract-hooks"]}))
    events.put_targets(Rule=f"{name}-all", EventBusName=name, Targets=[{"Id": "subscriber", "Arn": arn}])


def create_resources(endpoint: str, suffix: str):
    """Fresh resources; returns the names and URL both functions need."""
    ddb, sqs = clients(endpoint)
    res = {
        "events_table": f"bench-events-{suffix}",
        "status_table": f"bench-status-{suffix}",
        "idempotency_table": f"bench-idempotency-{suffix}",
    }
    create_ledger_table(ddb, res["events_table"])
    create_simple_table(ddb, res["status_table"], "pk")
    create_simple_table(ddb, res["idempotency_table"], "id", ttl="expiration")
    res["queue_url"] = create_queues(sqs, f"bench-events-{suffix}")
    # The floor writes to its own ledger-shaped table and queue, so the function's queue check
    # (one message per new event) stays exact.
    res["floor_table"] = f"bench-floor-{suffix}"
    create_ledger_table(ddb, res["floor_table"])
    res["floor_queue_url"] = create_queues(sqs, f"bench-floor-{suffix}")
    # The processor's bus (used when publishing is on) and its subscriber.
    res["bus"] = f"bench-contracts-{suffix}"
    res["subscriber_url"] = sqs.create_queue(QueueName=f"bench-subscriber-{suffix}")["QueueUrl"]
    create_bus(endpoint, res["bus"], res["subscriber_url"])
    return res


class QuietServer(ThreadingHTTPServer):
    """Peers that go away mid-connection (a stopped function) are expected, not errors."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


# --- counting proxy -------------------------------------------------------------------------
class CountingProxy:
    """Loopback HTTP proxy in front of moto that counts AWS operations by name."""

    def __init__(self, upstream_port: int):
        self.counts = {}
        self.total = 0
        self.lock = threading.Lock()
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                op = self.headers.get("X-Amz-Target")
                if not op:
                    query = parse_qs(self.path.split("?", 1)[1]) if "?" in self.path else {}
                    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
                    op = (form.get("Action") or query.get("Action") or [f"{self.command} {self.path}"])[0]
                with proxy.lock:
                    proxy.counts[op] = proxy.counts.get(op, 0) + 1
                    proxy.total += 1
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self._headers_buffer.append(b"\r\n" + data)  # one write: no Nagle stall
                self.flush_headers()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return self.total, dict(self.counts)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- the floor: PutItem + SendMessage and nothing else ----------------------------------------
def _ledger_like_item(key: str, body: str, now_ms: int, wire: bool = False):
    """An item shaped like ingest's ledger entry (same attributes, similar sizes)."""
    return {
        "pk": {"S": key},
        "status": {"S": "RECEIVED"},
        "provider": {"S": "subnoto"},
        "event_type": {"S": "ENVELOPE_SIGNED"},
        "event": {"S": body},
        "body": {"B": base64.b64encode(body.encode()).decode() if wire else body.encode()},
        "body_encoding": {"S": "identity"},
        "headers": {"M": {"content-type": {"S": "application/json"}, "user-agent": {"S": "subnoto-webhooks/1.0"},
                          "x-webhook-id": {"S": "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a"},
                          "x-webhook-signature": {"S": "t=1795371690059,v1=" + "0" * 64}}},
        "received_at": {"N": str(now_ms)},
        "lease_until": {"N": str(now_ms + 30_000)},
        "enqueue_attempts": {"N": "1"},
        "expires_at": {"N": str(now_ms // 1000 + 30 * 86400)},
        "pending_shard": {"S": "07"},
        "subject": {"S": "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f"},
    }


def _put_params(table: str, key: str, body: str, now_ms: int, wire: bool = False):
    return {
        "TableName": table,
        "Item": _ledger_like_item(key, body, now_ms, wire),
        "ConditionExpression": "attribute_not_exists(#pk) OR #exp < :now",
        "ExpressionAttributeNames": {"#pk": "pk", "#exp": "expires_at"},
        "ExpressionAttributeValues": {":now": {"N": str(now_ms // 1000)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _sample_body(i: int) -> str:
    return json.dumps({
        "eventUuid": str(uuid.uuid4()), "eventType": "ENVELOPE_SIGNED", "eventTime": 1795341600000 + i,
        "webhookUuid": "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a", "teamUuid": "b7e6d5c4-3b2a-4190-8f7e-6d5c4b3a2918",
        "data": {"workspaceUuid": "a1b2c3d4-e5f6-4789-9abc-def012345678",
                 "envelopeUuid": "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f",
                 "recipientEmail": "john.doe@example.com", "recipientName": "John Doe"}}, separators=(",", ":"))


class FloorBoto3:
    """PutItem + SendMessage with persistent boto3 clients: the SDK-inclusive floor."""

    def __init__(self, endpoint: str, table: str, queue_url: str):
        self.ddb, self.sqs = clients(endpoint)
        self.table, self.queue_url = table, queue_url
        self.i = 0
        for _ in range(3):  # open the connections
            self.pair()

    def pair(self) -> int:
        self.i += 1
        body = _sample_body(self.i)
        params = _put_params(self.table, f"floor-boto3#{uuid.uuid4()}", body, int(time.time() * 1000))
        t0 = time.perf_counter_ns()
        self.ddb.put_item(**params)
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
        return time.perf_counter_ns() - t0


class FloorRaw:
    """The same two calls as bare HTTP round trips on one keep-alive connection: requests are
    built and SigV4-signed (botocore) before the clock starts, so only the emulator's round
    trips (plus http.client's small parsing cost) are timed."""

    def __init__(self, port: int, table: str, queue_url: str):
        self.creds = Credentials(CREDS["AWS_ACCESS_KEY_ID"], CREDS["AWS_SECRET_ACCESS_KEY"])
        self.url = f"http://127.0.0.1:{port}/"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.table, self.queue_url = table, queue_url
        self.i = 0
        for _ in range(3):
            self.pair()

    def _signed(self, service, target, payload):
        req = AWSRequest(method="POST", url=self.url, data=json.dumps(payload).encode(), headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
        SigV4Auth(self.creds, service, REGION).add_auth(req)
        return dict(req.headers.items()), req.body

    def pair(self) -> int:
        self.i += 1
        body = _sample_body(self.i)
        put = self._signed("dynamodb", "DynamoDB_20120810.PutItem",
                           _put_params(self.table, f"floor-raw#{uuid.uuid4()}", body, int(time.time() * 1000), wire=True))
        send = self._signed("sqs", "AmazonSQS.SendMessage", {"QueueUrl": self.queue_url, "MessageBody": body})
        t0 = time.perf_counter_ns()
        for headers, data in (put, send):
            self.conn.request("POST", "/", body=data, headers=headers)
            resp = self.conn.getresponse()
            payload = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"floor call failed: {resp.status} {payload[:200]!r}")
        return time.perf_counter_ns() - t0

    def close(self):
        self.conn.close()


class FloorCurl(FloorRaw):
    """The same two calls made by curl (libcurl, C), timed by curl itself (`time_total`: connect,
    send, wait, receive), so no Python runs inside the timed part. One curl process per pair,
    both requests in it (`--next`); process start-up is outside curl's timer."""

    def __init__(self, port: int, table: str, queue_url: str, workdir: str):
        self.workdir = workdir
        super().__init__(port, table, queue_url)

    def pair(self) -> int:
        self.i += 1
        body = _sample_body(self.i)
        put = self._signed("dynamodb", "DynamoDB_20120810.PutItem",
                           _put_params(self.table, f"floor-curl#{uuid.uuid4()}", body, int(time.time() * 1000), wire=True))
        send = self._signed("sqs", "AmazonSQS.SendMessage", {"QueueUrl": self.queue_url, "MessageBody": body})
        return _curl_total_ns(self.url, [put, send], self.workdir)

    def close(self):
        pass


# --- the processor's floor: the two UpdateItems of one record, nothing else -------------------
def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def status_update_params(table: str, event: dict, rank_class: int, event_time: int, now_ms: int):
    """The first UpdateItem of `StatusTable::apply` (crates/store/src/status_table.rs) for a queue
    message's normalised event: the same update and condition expressions, names and values.
    The rank (class, time) is the caller's, so the floor can keep the condition true."""
    names, values, sets, adds = {"#pk": "pk"}, {}, [], []

    def put(attribute, value, add=False):
        names[f"#{attribute}"] = attribute
        values[f":{attribute}"] = value
        (adds if add else sets).append(f"#{attribute} :{attribute}" if add else f"#{attribute} = :{attribute}")

    put("provider", {"S": event["provider"]})
    put("subject", {"S": event["subject"]})
    put("rank_class", {"N": str(rank_class)})
    put("event_time", {"N": str(event_time)})
    put("last_event_key", {"S": event["key"]})
    put("last_event_type", {"S": event["event_type"]})
    put("updated_at", {"N": str(now_ms)})
    if event.get("_status"):
        put("status", {"S": event["_status"]})
    # Each field with its rank attribute (`rank_text`: class, time + 2^63 zero-padded, key).
    rank = {"S": f"{rank_class}|{event_time + 2 ** 63:020d}|{event['key']}"}
    for name in ("title", "reference", "workspace", "document_id", "counterparty"):
        if event.get(name):
            put(name, {"S": event[name]})
            put(f"{name}_rank", rank)
    if event.get("external_metadata") is not None:
        put("external_metadata", {"S": _canonical(event["external_metadata"])})
        put("external_metadata_rank", rank)
    if event.get("_signer"):
        put("signers", {"SS": [event["_signer"]]}, add=True)
    expr = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
    return {
        "TableName": table,
        "Key": {"pk": {"S": f"{event['provider']}#{event['subject']}"}},
        "UpdateExpression": expr,
        "ConditionExpression": "attribute_not_exists(#pk) OR attribute_not_exists(#rank_class) OR #rank_class < :rank_class"
                               " OR (#rank_class = :rank_class AND (#event_time < :event_time OR (#event_time = :event_time"
                               " AND #last_event_key < :last_event_key)))",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def mark_processed_params(table: str, key: str, now_ms: int):
    """`Ledger::mark_processed` (crates/store/src/ledger.rs)."""
    return {
        "TableName": table,
        "Key": {"pk": {"S": key}},
        "UpdateExpression": "SET #status = :processed, #at = :now REMOVE #shard",
        "ConditionExpression": "attribute_exists(#pk)",
        "ExpressionAttributeNames": {"#status": "status", "#at": "processed_at", "#shard": "pending_shard", "#pk": "pk"},
        "ExpressionAttributeValues": {":processed": {"S": "PROCESSED"}, ":now": {"N": str(now_ms)}},
    }


class _ProcessorFloorRequests:
    """What one floor record needs: a ledger-shaped item to mark (put before the clock starts)
    and the two updates. The status update goes to the real subject's item in the floor's own
    status table, with rank (2, an ever-growing time), so its condition always holds: the floor is
    the two-call path of a record that becomes its subject's state."""

    def _setup(self, status_table: str, ledger_table: str, sample_event: dict):
        self.status_table, self.ledger_table = status_table, ledger_table
        self.last_event = sample_event
        self.seq = 0

    def _requests(self, event):
        self.seq += 1
        event = event if event and event.get("subject") else self.last_event
        self.last_event = event
        now_ms = int(time.time() * 1000)
        key = f"floor#{uuid.uuid4()}"
        body = _canonical({k: v for k, v in event.items() if not k.startswith("_")})
        put = {"TableName": self.ledger_table, "Item": _ledger_like_item(key, body, now_ms, wire=self.wire)}
        update = status_update_params(self.status_table, event, 2, 10 ** 13 + now_ms * 1000 + self.seq, now_ms)
        mark = mark_processed_params(self.ledger_table, key, now_ms)
        return put, update, mark


class ProcessorFloorBoto3(_ProcessorFloorRequests):
    """The two UpdateItems with a persistent boto3 client."""

    wire = False

    def __init__(self, endpoint: str, status_table: str, ledger_table: str, sample_event: dict):
        self.ddb, _ = clients(endpoint)
        self._setup(status_table, ledger_table, sample_event)
        for _ in range(3):
            self.pair()

    def pair(self, event=None) -> int:
        put, update, mark = self._requests(event)
        self.ddb.put_item(**put)
        t0 = time.perf_counter_ns()
        self.ddb.update_item(**update)
        self.ddb.update_item(**mark)
        return time.perf_counter_ns() - t0


class ProcessorFloorRaw(_ProcessorFloorRequests, FloorRaw):
    """The two UpdateItems as bare HTTP round trips, SigV4-signed before the clock starts."""

    wire = True

    def __init__(self, port: int, status_table: str, ledger_table: str, sample_event: dict):
        self._setup(status_table, ledger_table, sample_event)
        FloorRaw.__init__(self, port, ledger_table, None)

    def _send(self, headers, data):
        self.conn.request("POST", "/", body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"floor call failed: {resp.status} {payload[:200]!r}")

    def _signed_record(self, event):
        put, update, mark = self._requests(event)
        self._send(*self._signed("dynamodb", "DynamoDB_20120810.PutItem", put))  # outside the clock
        return [self._signed("dynamodb", "DynamoDB_20120810.UpdateItem", p) for p in (update, mark)]

    def pair(self, event=None) -> int:
        """Both calls; `self.split` keeps each one's time (status update, mark processed)."""
        calls = self._signed_record(event)
        marks = [time.perf_counter_ns()]
        for headers, data in calls:
            self._send(headers, data)
            marks.append(time.perf_counter_ns())
        self.split = [b - a for a, b in zip(marks, marks[1:])]
        return marks[-1] - marks[0]


class ProcessorFloorCurl(ProcessorFloorRaw):
    """The two UpdateItems made by curl, timed by curl itself (see `FloorCurl`)."""

    def __init__(self, port: int, status_table: str, ledger_table: str, sample_event: dict, workdir: str):
        self.workdir = workdir
        super().__init__(port, status_table, ledger_table, sample_event)

    def pair(self, event=None) -> int:
        return _curl_total_ns(self.url, self._signed_record(event), self.workdir)


class ProcessorFloorRawBatch(ProcessorFloorRaw):
    """A batch of records' UpdateItem pairs scheduled as the processor schedules them: the
    records of one subject one after another on one connection, different subjects at once on
    their own connections. Timed from the release of the first request to the last answer."""

    def __init__(self, port: int, status_table: str, ledger_table: str, sample_event: dict, width: int = 10):
        from concurrent.futures import ThreadPoolExecutor

        self.port = port
        self.pool = ThreadPoolExecutor(max_workers=width)
        self.conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(width)]
        super().__init__(port, status_table, ledger_table, sample_event)

    def _chain_on(self, conn, calls):
        for headers, data in calls:
            conn.request("POST", "/", body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"floor call failed: {resp.status} {payload[:200]!r}")

    def batch(self, events) -> int:
        chains = {}
        for e in events:
            e = e if e.get("subject") else self.last_event
            chains.setdefault(f"{e['provider']}#{e['subject']}", []).extend(self._signed_record(e))
        t0 = time.perf_counter_ns()
        futures = [self.pool.submit(self._chain_on, self.conns[k], calls) for k, calls in enumerate(chains.values())]
        for f in futures:
            f.result()
        return time.perf_counter_ns() - t0

    def close(self):
        super().close()
        for c in self.conns:
            c.close()
        self.pool.shutdown()


def _curl_total_ns(url: str, signed, workdir: str) -> int:
    """Runs the signed requests in one curl process (`--next`); the sum of curl's `time_total`."""
    cmd = ["curl", "-sS", "--http1.1"]
    for n, (headers, data) in enumerate(signed):
        path = os.path.join(workdir, f"floor-curl-{n}.json")
        with open(path, "wb") as f:
            f.write(data)
        if n:
            cmd.append("--next")
        cmd += ["-o", "/dev/null", "-w", "%{http_code} %{time_total}\\n", "-X", "POST", url, "--data-binary", f"@{path}"]
        for k, v in headers.items():
            if k.lower() not in ("content-length", "host"):
                cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout.split()
    codes, times = out[0::2], out[1::2]
    if codes != ["200"] * len(signed):
        raise RuntimeError(f"curl floor calls failed: {out}")
    return int(sum(float(t) for t in times) * 1e9)


class Drainer:
    """Consumes a queue between invocations, as the processor's event source mapping would.

    moto's SendMessage gets slower as a queue grows (measured here: about +2.5 ms per 100 waiting
    messages), so a queue nobody consumes would make every later call slower and the comparison
    depend on how many events came before. Draining keeps every queue near empty, like
    production, and counts what arrived (the job check: one message per new event)."""

    def __init__(self, endpoint: str):
        _, self.sqs = clients(endpoint)

    def drain(self, queue_url: str) -> int:
        got = 0
        while True:
            msgs = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=0, VisibilityTimeout=30).get("Messages", [])
            if not msgs:
                return got
            got += len(msgs)
            self.sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(msgs)])
