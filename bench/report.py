#!/usr/bin/env python3
"""Summary table, cost model and chart from a harness results.json.

    python bench/report.py bench/results/latest/results.json

Writes summary.md, summary.json and chart.png next to the results file.
"""

import json
import math
import statistics
import sys
from pathlib import Path

# --- Unit prices, us-east-1, on-demand, as known on 2025-06 (not re-checked online from this
# machine: verify at https://aws.amazon.com/<service>/pricing/ before quoting). Free tiers ignored.
PRICES = {
    "as_of": "2025-06 (to be verified against the AWS pricing pages)",
    "region": "us-east-1",
    "lambda_arm64_gb_s": 0.0000133334,  # USD per GB-second, arm64, first 7.5 G GB-s/month
    "lambda_request": 0.20 / 1e6,  # USD per request
    "apigw_http_request": 1.00 / 1e6,  # HTTP API, first 300 M requests/month, per 512 KB
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit (1 KB), since the 2024-11-01 cut
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit (4 KB strongly / 8 KB eventually consistent)
    "eventbridge_put": 1.00 / 1e6,  # custom events published (PutEvents), per entry per 64 KB chunk
}
MEMORY_GB = 128 / 1024
# Lambda gives a function CPU in proportion to memory: 1,769 MB = one vCPU.
VCPU_MB = 1769


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --- DynamoDB item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
def _number_size(text):
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _value_size(v):
    (t, x), = v.items()
    if t == "S":
        return len(x.encode("utf-8"))
    if t == "N":
        return _number_size(x)
    if t == "B":
        return len(x) if isinstance(x, (bytes, bytearray)) else len(x.value if hasattr(x, "value") else x)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "SS":
        return sum(len(s.encode("utf-8")) for s in x)
    if t == "NS":
        return sum(_number_size(n) for n in x)
    if t == "BS":
        return sum(len(b) for b in x)
    if t == "M":
        return 3 + sum(len(k.encode("utf-8")) + _value_size(val) + 1 for k, val in x.items())
    if t == "L":
        return 3 + sum(_value_size(val) + 1 for val in x)
    raise ValueError(t)


def item_size(item):
    return sum(len(k.encode("utf-8")) + _value_size(v) for k, v in item.items())


def wru(size_bytes):
    return max(1, math.ceil(size_bytes / 1024))


# --- summary ------------------------------------------------------------------------------------
def cold_start_summary(rs):
    """Cold start over every sample of the runs `rs` (first invocation plus the extra colds)."""
    colds = [r["cold_ms"] for r in rs] + [c["cold_ms"] for r in rs for c in r.get("extra_colds", [])]
    inits = [r["init_ms"] for r in rs] + [c["init_ms"] for r in rs for c in r.get("extra_colds", [])]
    return {
        "runs": len(rs),
        "cold_samples": len(colds),
        "cold_ms": median(colds),
        "cold_min_ms": min(colds),
        "cold_max_ms": max(colds),
        "init_ms": median(inits),
    }


def summarize(results):
    out = {"functions": {}}
    runs = results["runs"]
    for name in sorted({r["function"] for r in runs}):
        rs = [r for r in runs if r["function"] == name]
        billed = [statistics.fmean(math.ceil(v / 1e3) for _, v in r["latencies"]) for r in rs]
        count = next((c for c in results.get("counts", []) if c["function"] == name), None)
        s = {
            **cold_start_summary(rs),
            "warm_p50_ms": median(r["warm_p50_ms"] for r in rs),
            "warm_p99_ms": median(r["warm_p99_ms"] for r in rs),
            "warm_mean_ms": median(r["warm_mean_ms"] for r in rs),
            "new_p50_ms": median(r["new_p50_ms"] for r in rs),
            "new_p99_ms": median(r["new_p99_ms"] for r in rs),
            "dup_p50_ms": median(r["dup_p50_ms"] for r in rs),
            "new_p50_runs": [round(r["new_p50_ms"], 3) for r in rs],
            "billed_ms_mean": median(billed),
            "peak_rss_mib": median(r["peak_rss_kib"] / 1024 for r in rs),
            "peak_rss_max_mib": max(r["peak_rss_kib"] / 1024 for r in rs),
            "cold_rss_mib": median(c["peak_rss_kib"] / 1024 for r in rs for c in r.get("extra_colds", [])
                                   if c.get("peak_rss_kib")),
            "cpu_ms_per_event": median(r["cpu_ms_per_warm_event"] for r in rs),
            "errors": sum(len(r["errors"]) for r in rs),
            "error_samples": [e for r in rs for e in r["errors"]][:5],
            "loadavg_1m": [round(r["loadavg_before"][0], 2) for r in rs],
            "cpu_busy": [round(r["cpu_busy_during"], 2) for r in rs],
        }
        logs = [r["log"] for r in rs if r.get("log")]
        if logs:
            s["handler_p50_accepted_ms"] = median(l["accepted"]["handler_p50_ms"] for l in logs if "accepted" in l)
            s["log_aws_calls"] = {o: median(l[o]["aws_calls_mean"] for l in logs if o in l)
                                  for o in sorted({o for l in logs for o in l})}
        if count:
            s["calls_new"] = statistics.fmean(count["calls_new"]) if count["calls_new"] else None
            s["calls_dup"] = statistics.fmean(count["calls_dup"]) if count["calls_dup"] else None
            s["calls_cold"] = count.get("cold_calls")
            s["calls_by_op"] = count.get("calls_by_op")
        sizes = next((r.get("item_sizes") for r in rs if r.get("item_sizes")), None)
        if sizes:
            s["item_sizes"] = sizes
        out["functions"][name] = s
    fl = results.get("floor", [])
    if fl:
        out["floor"] = {
            "raw_p50_ms": median(f["raw_p50_ms"] for f in fl),
            "raw_p99_ms": median(f["raw_p99_ms"] for f in fl),
            "boto3_p50_ms": median(f["boto3_p50_ms"] for f in fl),
            "boto3_p99_ms": median(f["boto3_p99_ms"] for f in fl),
            "raw_p50_runs": [round(f["raw_p50_ms"], 3) for f in fl],
        }
        if all("curl_p50_ms" in f for f in fl):
            out["floor"]["curl_p50_ms"] = median(f["curl_p50_ms"] for f in fl)
            out["floor"]["curl_p99_ms"] = median(f["curl_p99_ms"] for f in fl)
    if fl and "ingest" in out["functions"]:
        ing = {r["run"]: r for r in runs if r["function"] == "ingest"}
        out["floor_ratio_runs"] = [round(ing[f["run"]]["new_p50_ms"] / f["raw_p50_ms"], 2) for f in fl if f["run"] in ing]
    out["cost"] = cost_model(out, results["params"]["dup_ratio"])
    out["targets"] = targets(out)
    proc = summarize_processor(results)
    if proc:
        out["processor"] = proc
        out["processor_cost"] = processor_cost(proc)
    publishing = summarize_publishing(results)
    if publishing:
        out["publishing"] = publishing
    return out


def summarize_publishing(results):
    """Publishing on (`processor`) against off (`processor-nobus`), same binary, runs interleaved:
    the issue-13 "before and after". Per side: medians over runs of p50/p99 and CPU per batch,
    and from the call-counting pass the AWS calls and PutEvents calls per batch."""
    sides = {"on": (results.get("processor_runs"), results.get("processor_counts")),
             "off": (results.get("processor_nobus_runs"), results.get("processor_nobus_counts"))}
    if not all(rs for rs, _ in sides.values()):
        return None
    out = {}
    for side, (rs, counts) in sides.items():
        count = (counts or [{}])[0]
        b10 = [c for c in count.get("calls", []) if c["phase"] == "batch10"]
        b1 = [c for c in count.get("calls", []) if c["phase"] == "batch1"]
        out[side] = {
            "runs": len(rs),
            "b1_p50_ms": median(r["b1_p50_ms"] for r in rs),
            "b1_p99_ms": median(r["b1_p99_ms"] for r in rs),
            "b10_p50_ms": median(r["b10_p50_ms"] for r in rs),
            "b10_p99_ms": median(r["b10_p99_ms"] for r in rs),
            "b1_p50_runs": [None if r["b1_p50_ms"] is None else round(r["b1_p50_ms"], 2) for r in rs],
            "b10_p50_runs": [None if r["b10_p50_ms"] is None else round(r["b10_p50_ms"], 2) for r in rs],
            "cpu_ms_per_batch1": median(r["cpu_ms_per_batch1"] for r in rs),
            "cpu_ms_per_batch10": median(r["cpu_ms_per_batch10"] for r in rs),
            "peak_rss_mib": median(r["peak_rss_kib"] / 1024 for r in rs),
            "cold_ms": median(r["cold_ms"] for r in rs),
            "calls_per_batch1": statistics.fmean(c["calls"] for c in b1) if b1 else None,
            "calls_per_batch10": statistics.fmean(c["calls"] for c in b10) if b10 else None,
            "calls_per_batch10_max": max((c["calls"] for c in b10), default=None),
            "put_events_per_batch1": count.get("put_events_per_batch1"),
            "put_events_per_batch10": count.get("put_events_per_batch10"),
            "bus": [{k: r["state"].get(k) for k in ("bus_contract_events", "bus_status_changes")} for r in rs],
            "errors": sum(len(r["errors"]) for r in rs) + len(count.get("errors", [])),
        }
    return out


def markdown_publishing(s):
    p = s["publishing"]
    on, off = p["on"], p["off"]
    lines = ["## processor: publishing contract events (issue 13)", "",
             "Same release binary, `EVENT_BUS_NAME` set (on: a moto bus whose rule delivers every event to a "
             "subscriber queue) or empty (off); runs interleaved, medians over runs.", "",
             "| | off (before) | on (after) | difference |", "|---|---|---|---|"]
    def row(label, key, nd=2, unit=""):
        a, b = off.get(key), on.get(key)
        diff = "" if a is None or b is None else f"{b - a:+.{nd}f}{unit}"
        lines.append(f"| {label} | {fmt(a, nd)}{unit} | {fmt(b, nd)}{unit} | {diff} |")
    row("AWS calls per batch of 10 (mean)", "calls_per_batch10")
    row("PutEvents calls per batch of 10", "put_events_per_batch10")
    row("AWS calls per batch of 1 (mean)", "calls_per_batch1")
    row("PutEvents calls per batch of 1", "put_events_per_batch1")
    row("batch of 1 p50", "b1_p50_ms", unit=" ms")
    row("batch of 1 p99", "b1_p99_ms", unit=" ms")
    row("batch of 10 p50", "b10_p50_ms", unit=" ms")
    row("batch of 10 p99", "b10_p99_ms", unit=" ms")
    row("CPU per batch of 1", "cpu_ms_per_batch1", unit=" ms")
    row("CPU per batch of 10", "cpu_ms_per_batch10", unit=" ms")
    row("cold start (init + first batch)", "cold_ms", 1, " ms")
    row("peak RSS", "peak_rss_mib", 1, " MiB")
    lines += ["", f"Per-run batch-of-10 p50, off: {off['b10_p50_runs']}, on: {on['b10_p50_runs']}. "
              f"Bus deliveries checked per run (on): {on['bus']}; errors off {off['errors']}, on {on['errors']}.", ""]
    return "\n".join(lines)


def summarize_processor(results):
    """Medians over runs of the processor's per-run figures (cold start over every sample)."""
    rs = results.get("processor_runs") or []
    if not rs:
        return None
    def billed(size):
        return median(statistics.fmean(math.ceil(v / 1e3) for n, _, v in r["latencies"] if n == size) for r in rs)

    def outcome_p50(outcome):
        return median(r["b1_by_outcome_p50_ms"].get(outcome) for r in rs)

    s = {
        **cold_start_summary(rs),
        "cold_first_invoke_ms": median(r["cold_first_invoke_ms"] for r in rs),
        "b1_p50_ms": median(r["b1_p50_ms"] for r in rs),
        "b1_p99_ms": median(r["b1_p99_ms"] for r in rs),
        "b1_mean_ms": median(r["b1_mean_ms"] for r in rs),
        "b1_updated_p50_ms": outcome_p50("updated"),
        "b1_superseded_p50_ms": outcome_p50("superseded"),
        "b10_p50_ms": median(r["b10_p50_ms"] for r in rs),
        "b10_p99_ms": median(r["b10_p99_ms"] for r in rs),
        "b10_mean_ms": median(r["b10_mean_ms"] for r in rs),
        "b1_p50_runs": [round(r["b1_p50_ms"], 2) for r in rs],
        "b10_p50_runs": [round(r["b10_p50_ms"], 2) for r in rs],
        "billed_ms_b1": billed(1),
        "billed_ms_b10": billed(10),
        "subjects_per_batch10": median(statistics.fmean(r["subjects_per_batch10"]) for r in rs if r["subjects_per_batch10"]),
        "peak_rss_mib": median(r["peak_rss_kib"] / 1024 for r in rs),
        "peak_rss_max_mib": max(r["peak_rss_kib"] / 1024 for r in rs),
        "peak_rss_after_sweep_max_mib": max(r["peak_rss_after_sweep_kib"] / 1024 for r in rs),
        "cold_rss_mib": median(c["peak_rss_kib"] / 1024 for r in rs for c in r.get("extra_colds", [])
                               if c.get("peak_rss_kib")),
        "cpu_ms_per_batch1": median(r["cpu_ms_per_batch1"] for r in rs),
        "cpu_ms_per_batch10": median(r["cpu_ms_per_batch10"] for r in rs),
        "sweep_empty_ms": median(r["sweep_empty"]["ms"] for r in rs),
        "sweep_pending_ms": median(r["sweep_pending"]["ms"] for r in rs if r.get("sweep_pending")),
        "sweep_pending_answers": [r["sweep_pending"]["answer"] for r in rs if r.get("sweep_pending")][:1],
        "invocations": sum(r["invocations"] for r in rs),
        "records": sum(r["records"] for r in rs),
        "batch_item_failures": sum(r["batch_item_failures"] for r in rs),
        "state": [r["state"] for r in rs],
        "superseded_share": statistics.fmean(r["log"]["outcome_counts"].get("superseded", 0) / max(1, r["records"])
                                             for r in rs),
        "aws_calls_in_log": any(r["log"]["aws_calls_logged"] for r in rs),
        "errors": sum(len(r["errors"]) for r in rs),
        "error_samples": [e for r in rs for e in r["errors"]][:5],
        "loadavg_1m": [round(r["loadavg_before"][0], 2) for r in rs],
        "cpu_busy": [round(r["cpu_busy_during"], 2) for r in rs],
    }
    floor = {}
    for k in ("raw", "boto3", "curl", "raw10", "status_update", "mark_processed"):
        if all(f"floor_{k}_p50_ms" in r for r in rs):
            floor[f"{k}_p50_ms"] = median(r[f"floor_{k}_p50_ms"] for r in rs)
            floor[f"{k}_p99_ms"] = median(r[f"floor_{k}_p99_ms"] for r in rs)
    if floor:
        s["floor"] = floor
        s["b1_vs_raw_runs"] = [round(r["b1_p50_ms"] / r["floor_raw_p50_ms"], 2) for r in rs]
        s["b1_updated_vs_raw_runs"] = [round(r["b1_by_outcome_p50_ms"]["updated"] / r["floor_raw_p50_ms"], 2)
                                       for r in rs if "updated" in r["b1_by_outcome_p50_ms"]]
        if "raw10_p50_ms" in floor:
            s["b10_vs_raw10_runs"] = [round(r["b10_p50_ms"] / r["floor_raw10_p50_ms"], 2) for r in rs]
    count = (results.get("processor_counts") or [None])[0]
    if count:
        s["calls"] = {
            "per_record_b1_by_outcome": count.get("calls_per_record_b1"),
            "per_record_b1_n": count.get("calls_per_record_b1_n"),
            "per_record_b10": count.get("calls_per_record_b10"),
            "cold_invocation": count.get("calls_cold"),
            "sweep_empty": count["sweep_empty"]["calls"],
            "sweep_pending": (count.get("sweep_pending") or {}).get("calls"),
            "sweep_pending_items": (count.get("sweep_pending") or {}).get("lost"),
            "by_op": count.get("calls_by_op"),
            "superseded_share": count["log"]["outcome_counts"].get("superseded", 0) / max(1, count["records"]),
        }
    sizes = next((r.get("item_sizes") for r in rs if r.get("item_sizes")), None)
    if sizes:
        s["item_sizes"] = sizes
    return s


def processor_cost(s):
    """USD per million events through the processor. Two bounds for the batch size the event
    source mapping hands over: 10 (a busy queue) and 1 (a trickle: without a batching window a
    poller invokes with whatever one receive returned). Per record: the status-table UpdateItem,
    plus a second one when the event is superseded (the failed conditional write is billed too),
    and the ledger's mark-processed UpdateItem, billed at the larger of the item before and after,
    plus one index write for the pending-index entry it removes."""
    p = PRICES
    sizes = s.get("item_sizes") or {}
    status_wru = wru(sizes.get("status_max_bytes", 1024))
    ledger_wru = sizes.get("ledger_wru", 2)
    gsi_wru = wru(sizes.get("gsi_max_bytes", 1024))
    share = s["superseded_share"]
    wru_record = status_wru * (1 + share) + ledger_wru + gsi_wru
    # Publishing on: the bus entries per record, counted at the subscriber (one per record:
    # Contract Status Changed for a change, else Contract Event); every entry is under 64 KB.
    records = sum(st.get("ledger_processed", 0) for st in s["state"])
    entries = sum((st.get("bus_contract_events") or 0) + (st.get("bus_status_changes") or 0) for st in s["state"])
    entries_per_record = entries / records if records else 0.0
    out = {"wru_per_record": wru_record, "status_wru": status_wru, "ledger_wru": ledger_wru, "gsi_wru": gsi_wru,
           "superseded_share": share, "bus_entries_per_record": entries_per_record}
    for size, key in ((10, "b10"), (1, "b1")):
        invocations = 1e6 / size
        cpu = s[f"cpu_ms_per_batch{size}"]
        for label, ms in (("local", s[f"billed_ms_{key}"]),
                          ("cpu_scaled", s[f"billed_ms_{key}"] + cpu * (VCPU_MB / 128 - 1))):
            lam_dur = invocations * ms / 1000 * MEMORY_GB * p["lambda_arm64_gb_s"]
            lam_req = invocations * p["lambda_request"]
            sqs = invocations * 2 * p["sqs_request"]  # one ReceiveMessage + one DeleteMessageBatch per batch
            ddb = 1e6 * wru_record * p["dynamodb_wru"]
            bus = 1e6 * entries_per_record * p["eventbridge_put"]
            out[f"{key}_{label}"] = {"billed_ms": ms, "invocations": invocations, "lambda_duration": lam_dur,
                                     "lambda_requests": lam_req, "sqs": sqs, "dynamodb": ddb, "eventbridge": bus,
                                     "total": lam_dur + lam_req + sqs + ddb + bus}
    # The sweep runs every 5 minutes whatever the traffic: 8,640 runs a month of 16 queries that
    # find nothing (0.5 RRU each, the minimum for an eventually consistent read).
    runs = 30 * 24 * 12
    out["sweep_month"] = {"runs": runs,
                          "lambda": runs * (p["lambda_request"] + math.ceil(s["sweep_empty_ms"]) / 1000 * MEMORY_GB
                                            * p["lambda_arm64_gb_s"]),
                          "dynamodb_reads": runs * 16 * 0.5 * p["dynamodb_rru"]}
    return out


def cost_model(summary, dup_ratio):
    """USD per million webhook deliveries (a share `dup_ratio` of them retries), ingest side only:
    Lambda requests + duration at 128 MB arm64, API Gateway HTTP API, DynamoDB on-demand writes,
    SQS SendMessage. Downstream (the processor, SQS receive/delete) is left out for both."""
    p = PRICES
    new, dup = 1e6 * (1 - dup_ratio), 1e6 * dup_ratio
    out = {"dup_ratio": dup_ratio, "prices": p}
    for name, s in summary["functions"].items():
        sizes = s.get("item_sizes") or {}
        if name == "ingest":
            table_wru = wru(sizes.get("mean_bytes", 1024))
            gsi_wru = wru(sizes.get("gsi_mean_bytes", 1024))
            wru_new = table_wru + gsi_wru  # the put also writes the sparse index
            wru_dup = table_wru  # a failed conditional put is charged for the item size
        else:
            done_wru = wru(sizes.get("mean_bytes", 1024))
            wru_new = 1 + done_wru  # PutItem INPROGRESS (< 1 KB) + UpdateItem COMPLETED
            wru_dup = 1
        scaled_ms = s["billed_ms_mean"] + s["cpu_ms_per_event"] * (VCPU_MB / 128 - 1)
        rows = {}
        for label, ms in (("local", s["billed_ms_mean"]), ("cpu_scaled", scaled_ms)):
            lam_dur = 1e6 * ms / 1000 * MEMORY_GB * p["lambda_arm64_gb_s"]
            lam_req = 1e6 * p["lambda_request"]
            apigw = 1e6 * p["apigw_http_request"]
            ddb = (new * wru_new + dup * wru_dup) * p["dynamodb_wru"]
            sqs = new * p["sqs_request"]
            rows[label] = {"billed_ms": ms, "lambda_duration": lam_dur, "lambda_requests": lam_req,
                           "apigw": apigw, "dynamodb": ddb, "sqs": sqs,
                           "total": lam_dur + lam_req + apigw + ddb + sqs}
        out[name] = {"wru_new": wru_new, "wru_dup": wru_dup, **rows,
                     "per_1000_cold_starts": 1000 * s["cold_ms"] / 1000 * MEMORY_GB * p["lambda_arm64_gb_s"]}
    return out


def targets(summary):
    f = summary["functions"]
    out = {}
    if "ingest" in f and "peer" in f:
        ratio = f["ingest"]["cold_ms"] / f["peer"]["cold_ms"]
        out["cold_start"] = {"ratio": ratio, "target": "<= 0.1", "met": ratio <= 0.1}
    if "ingest" in f and summary.get("floor"):
        fl = summary["floor"]
        out["warm_vs_floor_raw"] = {"ratio": f["ingest"]["new_p50_ms"] / fl["raw_p50_ms"], "target": "<= 1.2"}
        out["warm_vs_floor_raw"]["met"] = out["warm_vs_floor_raw"]["ratio"] <= 1.2
        out["warm_vs_floor_boto3"] = {"ratio": f["ingest"]["new_p50_ms"] / fl["boto3_p50_ms"], "target": "<= 1.2"}
        out["warm_vs_floor_boto3"]["met"] = out["warm_vs_floor_boto3"]["ratio"] <= 1.2
        if fl.get("curl_p50_ms"):
            r = f["ingest"]["new_p50_ms"] / fl["curl_p50_ms"]
            out["warm_vs_floor_curl"] = {"ratio": r, "target": "<= 1.2", "met": r <= 1.2}
        # Per run: each run's ingest p50 against the floor measured interleaved with it.
        out["warm_vs_floor_raw"]["per_run"] = summary.get("floor_ratio_runs", [])
        lowest = min(v for k, v in fl.items() if k.endswith("_p50_ms"))
        r = f["ingest"]["new_p50_ms"] / lowest
        out["warm_vs_floor_lowest"] = {"ratio": r, "floor_ms": lowest, "target": "<= 1.2", "met": r <= 1.2}
    if "ingest" in f:
        out["peak_rss"] = {"mib": f["ingest"]["peak_rss_max_mib"], "target": "< 20", "met": f["ingest"]["peak_rss_max_mib"] < 20}
    return out


def fmt(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def cost_table(header, columns, rows):
    """A cost table in markdown: `header` names the columns, each of `columns` is a dict of
    figures, and each row is (label, key, decimals)."""
    lines = ["| | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    for label, key, nd in rows:
        lines.append(f"| {label} | " + " | ".join(fmt(col.get(key), nd) for col in columns) + " |")
    return lines


def markdown(results, s):
    m = results["machine"]
    head = (f"Run {results['started_utc']} → {results['finished_utc']}; {m['nproc']} × {m['cpu_model']}, "
            f"{m['mem_gib']} GiB, kernel {m['kernel']}, Python {m['python']}.\n")
    out = head
    if s["functions"]:
        out += "\n" + markdown_functions(results, s)
    if s.get("processor"):
        out += "\n" + markdown_processor(results, s)
    if s.get("publishing"):
        out += "\n" + markdown_publishing(s)
    return out


def markdown_processor(results, s):
    x, c = s["processor"], s["processor_cost"]
    prm = results["params"]
    lines = ["## processor (publishing to the bus on, as deployed; off: see the publishing section)", ""]
    lines.append(f"{x['runs']} runs × ({prm['batch1']} batches of 1 + {prm['batch10']} batches of 10) + 1 + "
                 f"{prm['extra_colds']} cold starts per run, input accepted by the release ingest; medians over runs. "
                 f"{x['invocations']} invocations, {x['records']} records, {x['batch_item_failures']} batch item "
                 f"failures, {x['errors']} errors {x['error_samples']}.")
    lines.append("")
    lines.append("| | value |")
    lines.append("|---|---:|")
    rows = [
        ("cold start: spawn → first answer, batch of 1 (ms)", x["cold_ms"], 1),
        ("  of which init: spawn → first `next` (ms)", x["init_ms"], 1),
        ("  first invocation alone (ms)", x["cold_first_invoke_ms"], 2),
        ("warm p50 / p99, batch of 1 (ms)", (x["b1_p50_ms"], x["b1_p99_ms"]), 2),
        ("  p50 of records that became the state (updated) / superseded (ms)",
         (x["b1_updated_p50_ms"], x["b1_superseded_p50_ms"]), 2),
        ("warm p50 / p99, batch of 10 (ms)", (x["b10_p50_ms"], x["b10_p99_ms"]), 2),
        ("  per record, p50 / 10 (ms)", x["b10_p50_ms"] / 10, 2),
        ("  distinct subjects per batch of 10 (mean)", x["subjects_per_batch10"], 1),
        ("peak RSS, VmHWM, after the batches (MiB)", x["peak_rss_mib"], 1),
        ("  max over runs, after the sweeps too (MiB)", x["peak_rss_after_sweep_max_mib"], 1),
        ("CPU time per invocation, batch of 1 / batch of 10 (ms)", (x["cpu_ms_per_batch1"], x["cpu_ms_per_batch10"]), 2),
        ("sweep, nothing pending / with pending items (ms)", (x["sweep_empty_ms"], x["sweep_pending_ms"]), 1),
    ]
    for label, v, nd in rows:
        val = " / ".join(fmt(e, nd) for e in v) if isinstance(v, tuple) else fmt(v, nd)
        lines.append(f"| {label} | {val} |")
    if x.get("calls"):
        k = x["calls"]
        lines.append(f"| AWS calls per record, batch of 1, by outcome (counted) | {k['per_record_b1_by_outcome']} "
                     f"(n {k['per_record_b1_n']}) |")
        lines.append(f"| AWS calls per record, batch of 10 | {fmt(k['per_record_b10'])} |")
        lines.append(f"| AWS calls: cold invocation / sweep, nothing pending / sweep, {k['sweep_pending_items']} pending | "
                     f"{k['cold_invocation']} / {k['sweep_empty']} / {k['sweep_pending']} |")
        lines.append(f"| operations in the counting pass | {k['by_op']} |")
    lines.append(f"| processor log reports aws_calls | {'yes' if x['aws_calls_in_log'] else 'no'} |")
    lines.append("| end state per run: ledger items PROCESSED / accepted; status items as expected / subjects | "
                 + "; ".join(f"{st['ledger_processed']}/{st['ledger_items']}, {st['status_matching']}/{st['status_expected']}"
                             for st in x["state"]) + " |")
    if x.get("floor"):
        fl = x["floor"]
        lines.append("")
        lines.append(f"Floor (status UpdateItem + ledger mark-processed UpdateItem, same moto): raw HTTP p50 "
                     f"{fmt(fl.get('raw_p50_ms'))} ms (p99 {fmt(fl.get('raw_p99_ms'))}; status update "
                     f"{fmt(fl.get('status_update_p50_ms'))}, mark processed {fmt(fl.get('mark_processed_p50_ms'))}); "
                     f"boto3 p50 {fmt(fl.get('boto3_p50_ms'))}; curl p50 {fmt(fl.get('curl_p50_ms'))}; 10 records on "
                     f"10 connections at once p50 {fmt(fl.get('raw10_p50_ms'))} ms.")
        lines.append(f"batch of 1 p50 ÷ raw floor p50, per run: {x['b1_vs_raw_runs']}; updated records only: "
                     f"{x['b1_updated_vs_raw_runs']}; batch of 10 ÷ 10-at-once floor: {x.get('b10_vs_raw10_runs')}")
    sz = x.get("item_sizes")
    if sz:
        lines.append("")
        lines.append(f"Item sizes (run 1): status item mean {sz['status_mean_bytes']:.0f} B (max {sz['status_max_bytes']}); "
                     f"ledger item before / after mark-processed mean {sz['ledger_before_mean_bytes']:.0f} / "
                     f"{sz['ledger_after_mean_bytes']:.0f} B (max {sz['ledger_after_max_bytes']}); pending-index entry "
                     f"mean {sz['gsi_mean_bytes']:.0f} B.")
    lines.append("")
    lines.append(f"Cost per million events (USD; {c['wru_per_record']:.2f} WRU per record = status {c['status_wru']} × "
                 f"(1 + {c['superseded_share']:.2f} superseded) + ledger {c['ledger_wru']:.2f} + index {c['gsi_wru']}):")
    lines.append("")
    lines += cost_table(
        ["batch 10, local ms", "batch 10, CPU-scaled", "batch 1, local ms", "batch 1, CPU-scaled"],
        [c[f"{key}_{sc}"] for key in ("b10", "b1") for sc in ("local", "cpu_scaled")],
        [("invocations", "invocations", 0), ("billed ms / invocation", "billed_ms", 1),
         ("Lambda duration", "lambda_duration", 4), ("Lambda requests", "lambda_requests", 4),
         ("SQS receive + delete", "sqs", 4), ("DynamoDB writes", "dynamodb", 4),
         (f"EventBridge PutEvents ({c['bus_entries_per_record']:.2f} entries per record)", "eventbridge", 4),
         ("total", "total", 4)])
    sw = c["sweep_month"]
    lines.append("")
    lines.append(f"Sweep every 5 minutes ({sw['runs']} runs a month, nothing pending): Lambda ${sw['lambda']:.4f}, "
                 f"DynamoDB reads ${sw['dynamodb_reads']:.4f} a month, whatever the traffic.")
    lines.append("")
    lines.append(f"Load (1-min loadavg at each run's start / CPU busy share during it): {x['loadavg_1m']} / {x['cpu_busy']}")
    return "\n".join(lines) + "\n"


def markdown_functions(results, s):
    f = s["functions"]
    i, p = f.get("ingest"), f.get("peer")
    lines = []
    prm = results["params"]
    lines.append(f"{prm['runs']} runs × {prm['events']} warm deliveries ({int(prm['dup_ratio'] * 100)} % retries) "
                 f"+ {prm['extra_colds']} extra cold starts per run and function; medians over runs.")
    lines.append("")
    lines.append("| | ingest (Rust) | peer (Python) | peer / ingest |")
    lines.append("|---|---:|---:|---:|")

    def row(label, key, nd=2, unit=""):
        a = i.get(key) if i else None
        b = p.get(key) if p else None
        r = (b / a) if (a and b) else None
        lines.append(f"| {label} | {fmt(a, nd)}{unit} | {fmt(b, nd)}{unit} | {fmt(r, 1)}× |" if r else
                     f"| {label} | {fmt(a, nd)}{unit} | {fmt(b, nd)}{unit} | – |")

    row("cold start: spawn → first answer (ms)", "cold_ms", 1)
    row("  of which init: spawn → first `next` (ms)", "init_ms", 1)
    row("warm p50, all deliveries (ms)", "warm_p50_ms")
    row("warm p99, all deliveries (ms)", "warm_p99_ms")
    row("warm p50, new events (ms)", "new_p50_ms")
    row("warm p99, new events (ms)", "new_p99_ms")
    row("warm p50, retries (ms)", "dup_p50_ms")
    row("peak RSS, VmHWM (MiB)", "peak_rss_mib", 1)
    row("CPU time per warm delivery (ms)", "cpu_ms_per_event", 2)
    row("AWS calls per new event", "calls_new", 2)
    row("AWS calls per retry", "calls_dup", 2)
    if i and i.get("handler_p50_accepted_ms") is not None:
        lines.append(f"| ingest's own log: handler p50 for new events (ms); aws_calls by outcome | "
                     f"{fmt(i['handler_p50_accepted_ms'])}; {i.get('log_aws_calls')} | | |")
    if s.get("floor"):
        fl = s["floor"]
        lines.append("")
        lines.append(f"Floor (PutItem + SendMessage, same moto): raw HTTP p50 {fmt(fl['raw_p50_ms'])} ms "
                     f"(p99 {fmt(fl['raw_p99_ms'])}); boto3 persistent client p50 {fmt(fl['boto3_p50_ms'])} ms "
                     f"(p99 {fmt(fl['boto3_p99_ms'])})" + (
                         f"; curl p50 {fmt(fl['curl_p50_ms'])} ms (p99 {fmt(fl['curl_p99_ms'])})." if fl.get("curl_p50_ms")
                         else "."))
    lines.append("")
    lines.append("Targets:")
    t = s["targets"]
    if "cold_start" in t:
        lines.append(f"- cold start ≤ 1/10 of the peer's: ingest/peer = {t['cold_start']['ratio']:.3f} → "
                     f"{'met' if t['cold_start']['met'] else 'NOT met'}")
    if "warm_vs_floor_raw" in t:
        lines.append(f"- warm ingest p50 (new events) ≤ 1.2× floor: {t['warm_vs_floor_raw']['ratio']:.2f}× the raw-HTTP "
                     f"floor (per run {t['warm_vs_floor_raw'].get('per_run')}) → "
                     f"{'met' if t['warm_vs_floor_raw']['met'] else 'NOT met'}; "
                     f"{t['warm_vs_floor_boto3']['ratio']:.2f}× the boto3 floor → "
                     f"{'met' if t['warm_vs_floor_boto3']['met'] else 'NOT met'}"
                     + (f"; {t['warm_vs_floor_curl']['ratio']:.2f}× the curl floor → "
                        f"{'met' if t['warm_vs_floor_curl']['met'] else 'NOT met'}" if "warm_vs_floor_curl" in t else ""))
    if "warm_vs_floor_lowest" in t:
        lines.append(f"  - against the lowest floor measured ({t['warm_vs_floor_lowest']['floor_ms']:.2f} ms): "
                     f"{t['warm_vs_floor_lowest']['ratio']:.2f}× → {'met' if t['warm_vs_floor_lowest']['met'] else 'NOT met'}")
    if "peak_rss" in t:
        lines.append(f"- peak RSS < 20 MiB: max over runs {t['peak_rss']['mib']:.1f} MiB → "
                     f"{'met' if t['peak_rss']['met'] else 'NOT met'}")
    pk = results.get("packages") or {}
    lines.append("")
    if pk:
        lines.append("arm64 packages (`make package`): " + "; ".join(
            f"{k} {v['bytes'] / 1024 / 1024:.2f} MiB ({v['bytes']:,} B, built {v['mtime_utc']})" for k, v in sorted(pk.items())))
    else:
        lines.append("arm64 packages: target/lambda/*/bootstrap.zip not present (run `make package`): not measured.")
    c = s["cost"]
    lines.append("")
    lines.append(f"Cost per million deliveries (USD, {c['prices']['region']}, prices as of {c['prices']['as_of']}; "
                 f"{int(c['dup_ratio'] * 100)} % retries):")
    lines.append("")
    lines += cost_table(
        ["ingest, local ms", "ingest, CPU-scaled", "peer, local ms", "peer, CPU-scaled"],
        [c.get(name, {}).get(sc, {}) for name in ("ingest", "peer") for sc in ("local", "cpu_scaled")],
        [("billed ms / invocation", "billed_ms", 1), ("Lambda duration", "lambda_duration", 4),
         ("Lambda requests", "lambda_requests", 4), ("API Gateway HTTP API", "apigw", 4),
         ("DynamoDB writes", "dynamodb", 4), ("SQS SendMessage", "sqs", 4), ("total", "total", 4)])
    lines.append("")
    for name in ("ingest", "peer"):
        if name in c:
            lines.append(f"- {name}: {c[name]['wru_new']} WRU per new event, {c[name]['wru_dup']} per retry; "
                         f"1,000 cold starts add ${c[name]['per_1000_cold_starts']:.5f} of duration.")
    lines.append("")
    lines.append("Load (1-min loadavg at each run's start / CPU busy share during it): "
                 + "; ".join(f"{n}: {f[n]['loadavg_1m']} / {f[n]['cpu_busy']}" for n in f))
    errs = {n: f[n]["errors"] for n in f}
    lines.append(f"Unexpected answers or queue mismatches: {errs}")
    return "\n".join(lines) + "\n"


def chart(results, s, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    f = s["functions"]
    names = [n for n in ("ingest", "peer") if n in f]
    labels = {"ingest": "ingest (Rust)", "peer": "peer (Python)"}
    colors = {"ingest": "#d95f02", "peer": "#7570b3"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))

    ax = axes[0]
    vals = [f[n]["cold_ms"] for n in names]
    bars = ax.bar([labels[n] for n in names], vals, color=[colors[n] for n in names])
    ax.set_yscale("log")
    ax.set_ylim(1, max(vals) * 3)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_title("Cold start: spawn → first answer")
    ax.set_ylabel("ms (log scale)")
    for b, v in zip(bars, vals):
        ax.annotate(f"{v:.0f} ms", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom")

    ax = axes[1]
    x = range(len(names))
    w = 0.38
    p50 = [f[n]["new_p50_ms"] for n in names]
    p99 = [f[n]["new_p99_ms"] for n in names]
    b1 = ax.bar([k - w / 2 for k in x], p50, w, label="p50", color=[colors[n] for n in names])
    b2 = ax.bar([k + w / 2 for k in x], p99, w, label="p99", color=[colors[n] for n in names], alpha=0.45)
    for bs, vs in ((b1, p50), (b2, p99)):
        for b, v in zip(bs, vs):
            ax.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    if s.get("floor"):
        ax.axhline(s["floor"]["raw_p50_ms"], color="k", ls="--", lw=1, label="floor p50 (2 calls, raw HTTP)")
        ax.axhline(s["floor"]["boto3_p50_ms"], color="gray", ls=":", lw=1, label="floor p50 (2 calls, boto3)")
        if s["floor"].get("curl_p50_ms"):
            ax.axhline(s["floor"]["curl_p50_ms"], color="tab:green", ls="-.", lw=1, label="floor p50 (2 calls, curl)")
    ax.set_xticks(list(x), [labels[n] for n in names])
    ax.set_title("Warm latency, new events (p50 solid, p99 light)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[2]
    vals = [f[n]["peak_rss_mib"] for n in names]
    bars = ax.bar([labels[n] for n in names], vals, color=[colors[n] for n in names])
    ax.axhline(20, color="k", ls="--", lw=1, label="target 20 MiB")
    ax.axhline(128, color="gray", ls=":", lw=1, label="Lambda memory 128 MB")
    for b, v in zip(bars, vals):
        ax.annotate(f"{v:.1f} MiB", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom")
    ax.set_title("Peak RSS (VmHWM)")
    ax.set_ylabel("MiB")
    ax.legend(fontsize=7, loc="upper left")

    m = results["machine"]
    fig.suptitle(f"contract-hooks ingest vs Python peer — moto on loopback, {m['nproc']} × {m['cpu_model']}, "
                 f"run {results['started_utc']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0] if argv else Path(__file__).resolve().parent / "results/latest/results.json")
    results = json.loads(path.read_text())
    s = summarize(results)
    md = markdown(results, s)
    (path.parent / "summary.md").write_text(md)
    (path.parent / "summary.json").write_text(json.dumps(s, indent=1))
    if s["functions"]:
        chart(results, s, path.parent / "chart.png")
    print(md)
    print(f"-> {path.parent / 'summary.md'}, {path.parent / 'chart.png'}")


if __name__ == "__main__":
    main()
