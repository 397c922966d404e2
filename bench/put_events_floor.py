"""What one `PutEvents` call costs in moto, without the processor: the floor under the latency
that publishing adds in `make bench-processor` (issue 13).

Times `PutEvents` with 1, 2, 10 entries of a realistic detail size (a `Contract Event` of the
samples is about 1.2 KB), on a bus whose rule delivers every entry to an SQS queue (as in the
processor benchmark) and on a bus with no rule, so the share of moto's own rule matching and
SQS delivery shows. Client: boto3 with one attempt (what the harness uses for its floors). The
subscriber queue is drained after each call (untimed) unless --keep-messages: moto's SQS gets
slower as a queue grows, and the processor runs let theirs grow to ~650 messages.

    bench/.venv/bin/python bench/put_events_floor.py [--reps 200]
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import awslocal  # noqa: E402


def detail(i: int) -> str:
    return json.dumps({
        "version": "1", "id": f"spotdraft#{uuid.uuid4().hex}{i}", "provider": "spotdraft", "subject": str(48213 + i),
        "provider_event_type": "CONTRACT_STATUS_CHANGED", "status": "EXECUTED", "lifecycle": "executed",
        "occurred_at": "2026-11-22T10:02:11Z", "received_at": "2026-11-22T10:02:12.345Z",
        "rank": "3|01795341731904|" + "ab" * 32, "superseded": False, "redelivered": False,
        "title": "Master Services Agreement - Example Corp", "reference": "MSA-2026-0042",
        "contract_kind": "TEMPLATE_CONTRACT", "counterparty": "Example Corp",
        "external_metadata": {"crm_id": "0061U00000abcdEF", "region": "EMEA", "notes": "x" * 600},
    })


def drain(sqs, url):
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--keep-messages", action="store_true",
                    help="let the subscriber queue grow (as in the processor runs) instead of purging it")
    ap.add_argument("--moto-python", type=Path, default=ROOT / ".venv/bin/python")
    args = ap.parse_args()
    moto = awslocal.Moto(str(args.moto_python), str(ROOT / "crates/testkit/moto_server.py"))
    try:
        _, sqs = awslocal.clients(moto.url)
        events = boto3.client("events", endpoint_url=moto.url, region_name=awslocal.REGION,
                              config=awslocal.Config(retries={"max_attempts": 1, "mode": "standard"}),
                              aws_access_key_id=awslocal.CREDS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=awslocal.CREDS["AWS_SECRET_ACCESS_KEY"])
        subscriber = sqs.create_queue(QueueName="floor-subscriber")["QueueUrl"]
        awslocal.create_bus(moto.url, "floor-with-rule", subscriber)
        events.create_event_bus(Name="floor-no-rule")
        size = len(detail(0))
        print(f"detail size {size} B, {args.reps} calls each, moto {moto.url}")
        print("| bus | entries per call | p50 ms | p99 ms | mean ms | per entry (p50) |")
        print("|---|---:|---:|---:|---:|---:|")
        for bus in ("floor-no-rule", "floor-with-rule"):
            for n in (1, 2, 10):
                times = []
                for r in range(args.reps):
                    entries = [{"EventBusName": bus, "Source": "contract-hooks", "DetailType": "Contract Event",
                                "Detail": detail(r * 10 + i)} for i in range(n)]
                    t0 = time.perf_counter_ns()
                    out = events.put_events(Entries=entries)
                    times.append((time.perf_counter_ns() - t0) / 1e6)
                    if out.get("FailedEntryCount"):
                        raise SystemExit(f"moto refused entries: {out}")
                    if bus.endswith("with-rule") and not args.keep_messages:
                        drain(sqs, subscriber)  # untimed: the queue stays short
                p50 = pct(times, 50)
                print(f"| {'rule → SQS' if bus.endswith('with-rule') else 'no rule'} | {n} | {p50:.2f} | "
                      f"{pct(times, 99):.2f} | {statistics.fmean(times):.2f} | {p50 / n:.2f} |", flush=True)
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
