#!/usr/bin/env python3
"""Function benchmarks: the Rust `ingest` binary and the Python peer, side by side.

For every run, for each function (interleaved, so changing machine load hits both alike):
  1. a fresh moto on loopback with fresh tables and queues (the schema of crates/store);
  2. a Lambda Runtime API on loopback (bench/runtime_api.py); the function process is spawned
     with AWS_LAMBDA_RUNTIME_API pointing at it, like a Lambda execution environment;
  3. cold start = spawn -> first answer (init included); then N warm deliveries (new events
     plus provider retries), one at a time; latency = event handed out -> answer received;
  4. peak RSS (VmHWM) and CPU time of the process, read from /proc before it is stopped;
  5. the queue is drained between invocations (outside the timing: moto's SendMessage slows
     down as a queue grows) and must receive exactly one message per new event (the job check);
  6. extra cold starts (fresh process, one event each);
  7. with the ingest runs, the floor against the same moto: PutItem + SendMessage alone, one pair
     after each ingest invocation (interleaved, so both see the same load): raw HTTP from Python,
     boto3, and curl (C, timed by curl itself).
One more short pass per function runs through a counting proxy to measure AWS calls per event
at the emulator (kept out of the timed runs so the proxy's hop does not inflate latencies).

`--functions processor` (`make bench-processor`) measures the processor the same way, on SQS
batches of 1 and of 10 made from what the release ingest accepted (see `ProcessorRun` and
bench/processor.py), plus two sweeps, its two-UpdateItem floor and the end state of the ledger
and the status table.

Results: bench/results/<UTC stamp>/{results.json,summary.md,chart.png}, and bench/results/latest.
Nothing here asserts a target: benchmarks report, they never fail a build.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import awslocal  # noqa: E402
import events  # noqa: E402
import processor  # noqa: E402
from runtime_api import RuntimeAPI, decode_answer  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- machine ---------------------------------------------------------------------------------
def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def busy_fraction(before, after):
    total = after[0] - before[0]
    idle = after[1] - before[1]
    return (total - idle) / total if total else 0.0


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def proc_status(pid):
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(("VmHWM", "VmRSS")):
                key, val = line.split(":", 1)
                out[key] = int(val.split()[0])  # KiB
    except OSError:
        pass
    return out


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, ValueError, IndexError):
        return None


# --- functions --------------------------------------------------------------------------------
def lambda_env(api_port, endpoint, name):
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": awslocal.REGION,
        "AWS_DEFAULT_REGION": awslocal.REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        **awslocal.CREDS,
    }


def spec_ingest(args, res, api_port, endpoint):
    env = lambda_env(api_port, endpoint, "contract-hooks-ingest")
    env.update({
        "EVENTS_TABLE": res["events_table"],
        "STATUS_TABLE": res["status_table"],
        "QUEUE_URL": res["queue_url"],
        "WEBHOOK_SECRETS": events.SECRETS_JSON,
        "RUST_LOG": "info",
    })
    return [str(args.ingest_bin)], env, str(ROOT)


def spec_peer(args, res, api_port, endpoint):
    env = lambda_env(api_port, endpoint, "contract-hooks-peer")
    env.update({
        "IDEMPOTENCY_TABLE": res["idempotency_table"],
        "QUEUE_URL": res["queue_url"],
        "WEBHOOK_SECRETS": events.SECRETS_JSON,
        "LAMBDA_TASK_ROOT": str(HERE / "peer"),
    })
    return [str(args.bench_python), "-m", "awslambdaric", "handler.lambda_handler"], env, str(HERE / "peer")


def spec_processor(args, res, api_port, endpoint, bus=True):
    env = lambda_env(api_port, endpoint, "contract-hooks-processor")
    env.update({
        "EVENTS_TABLE": res["events_table"],
        "STATUS_TABLE": res["status_table"],
        "QUEUE_URL": res["queue_url"],
        # Publishing on (as deployed), or off: the "before" of issue 13.
        "EVENT_BUS_NAME": res["bus"] if bus else "",
        # The sweep test ages its items by one second instead of the default ten minutes.
        # Nothing else in the processor reads it.
        "SWEEP_AFTER_SECONDS": "1",
        "RUST_LOG": "info",
    })
    return [str(args.processor_bin)], env, str(ROOT)


def spec_processor_nobus(args, res, api_port, endpoint):
    return spec_processor(args, res, api_port, endpoint, bus=False)


SPECS = {"ingest": spec_ingest, "peer": spec_peer, "processor": spec_processor,
         "processor-nobus": spec_processor_nobus}
PROCESSORS = ("processor", "processor-nobus")


class Function:
    """One execution environment: the process plus its Runtime API."""

    def __init__(self, cmd, env, cwd, log_path):
        self.api = RuntimeAPI().start()
        env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.api.port}")
        self.log = open(log_path, "ab")
        self.cmd, self.env, self.cwd = cmd, env, cwd
        self.proc = None
        self.spawned_ns = None

    def spawn(self):
        self.spawned_ns = time.perf_counter_ns()
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def invoke(self, payload):
        return self.api.invoke(payload, timeout=60, alive=self.alive)

    def cold_start(self, inv):
        """Spawn → first answer (`cold_ms`) and spawn → first `next` (`init_ms`) for `inv`, the
        first invocation of this process."""
        return {"cold_ms": (inv.answered_ns - self.spawned_ns) / 1e6,
                "init_ms": (self.api.first_next_ns - self.spawned_ns) / 1e6}

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.api.stop()
        self.log.close()


def expected_ok(name, kind, status):
    if name == "ingest":
        return status == (202 if kind == "new" else 200)
    return status in (200, 202)


def run_function(args, name, run_idx, moto_url, res, outdir, warm_events, extra_colds, endpoint=None,
                 proxy=None, with_floor=False):
    """One measured run of one function. With `proxy`, AWS calls are attributed per invocation."""
    endpoint = endpoint or moto_url
    deliveries = list(events.Deliveries(args.samples, warm_events + 1, args.dup_ratio, seed=1000 + run_idx))
    cmd, env, cwd = SPECS[name](args, res, 0, endpoint)
    log_path = outdir / f"{name}-run{run_idx}{'-count' if proxy else ''}.log"
    load_before = os.getloadavg()
    cpu_before = cpu_times()

    drainer = awslocal.Drainer(moto_url)
    fn = Function(cmd, env, cwd, log_path)
    out = {"function": name, "run": run_idx, "events": len(deliveries), "errors": [], "latencies": []}
    received = 0
    calls = {"new": [], "dup": []}
    try:
        kind, provider, body = deliveries[0]
        payload = events.event_for(provider, body)
        before_calls = proxy.snapshot()[0] if proxy else None
        fn.spawn()
        inv = fn.invoke(payload)
        out.update(fn.cold_start(inv))
        out["cold_first_invoke_ms"] = (inv.answered_ns - inv.handed_out_ns) / 1e6
        status, _ = decode_answer(inv)
        if not expected_ok(name, kind, status):
            out["errors"].append(f"cold: {kind} -> {status} {inv.body[:200]!r}")
        if proxy:
            out["cold_calls"] = proxy.snapshot()[0] - before_calls
        received += drainer.drain(res["queue_url"])
        out["rss_after_cold_kib"] = proc_status(fn.proc.pid).get("VmRSS")
        floors = None
        if with_floor:
            # The floor is measured interleaved with the function's invocations (one pair after
            # each), against the same moto, so both see the same machine load at the same time.
            floors = {"raw": [], "boto3": [],
                      "raw_fn": awslocal.FloorRaw(int(moto_url.rsplit(":", 1)[1]), res["floor_table"], res["floor_queue_url"]),
                      "boto3_fn": awslocal.FloorBoto3(moto_url, res["floor_table"], res["floor_queue_url"]),
                      "curl": [],
                      "curl_fn": awslocal.FloorCurl(int(moto_url.rsplit(":", 1)[1]), res["floor_table"],
                                                    res["floor_queue_url"], str(outdir)) if shutil.which("curl") else None}
        cpu0 = proc_cpu_s(fn.proc.pid)
        statuses = {}
        for kind, provider, body in deliveries[1:]:
            payload = events.event_for(provider, body)
            c0 = proxy.snapshot()[0] if proxy else None
            inv = fn.invoke(payload)
            if proxy:
                calls[kind].append(proxy.snapshot()[0] - c0)
            status, _ = decode_answer(inv)
            statuses[f"{kind}:{status}"] = statuses.get(f"{kind}:{status}", 0) + 1
            if not expected_ok(name, kind, status):
                out["errors"].append(f"{kind} -> {status} {inv.body[:200]!r}")
            out["latencies"].append((kind, (inv.answered_ns - inv.handed_out_ns) / 1e3))  # µs
            # Outside the timed window: consume the queue (proxy runs: their counts are taken).
            received += drainer.drain(res["queue_url"])
            if floors is not None:
                for variant in ("raw", "boto3", "curl"):
                    if floors[f"{variant}_fn"] is not None:
                        floors[variant].append(floors[f"{variant}_fn"].pair() / 1e3)
                        drainer.drain(res["floor_queue_url"])
        cpu1 = proc_cpu_s(fn.proc.pid)
        st = proc_status(fn.proc.pid)
        out["peak_rss_kib"] = st.get("VmHWM")
        out["rss_end_kib"] = st.get("VmRSS")
        out["cpu_ms_per_warm_event"] = (cpu1 - cpu0) * 1000 / max(1, len(deliveries) - 1)
        out["statuses"] = statuses
        if floors is not None:
            floors["raw_fn"].close()
            # CPU time above was read around the loop, which includes the floor's calls; the
            # function itself was idle (parked in `next`) during them, so it is not inflated.
            out["floor_raw_us"] = floors["raw"]
            out["floor_boto3_us"] = floors["boto3"]
            out["floor_curl_us"] = floors["curl"]
    finally:
        fn.stop()
    if name == "ingest":
        out["log"] = ingest_log_stats(log_path)
    new_events = sum(1 for d in deliveries if d[0] == "new")
    out["new_events"] = new_events
    out["queue_received"] = received + drainer.drain(res["queue_url"])
    if out["queue_received"] != new_events:
        out["errors"].append(f"queue got {out['queue_received']} messages for {new_events} new events")
    if proxy:
        out["calls_new"] = calls["new"]
        out["calls_dup"] = calls["dup"]
        out["calls_by_op"] = proxy.snapshot()[1]

    # Extra cold starts: a fresh process for one new event each.
    colds = []
    for j in range(extra_colds):
        fn = Function(cmd, env, cwd, log_path)
        try:
            body = events._fresh_body("subnoto", args.samples["subnoto"][0], 10_000 + j)
            drainer.drain(res["queue_url"])
            fn.spawn()
            inv = fn.invoke(events.event_for("subnoto", body))
            colds.append({**fn.cold_start(inv), "peak_rss_kib": proc_status(fn.proc.pid).get("VmHWM")})
        finally:
            fn.stop()
    out["extra_colds"] = colds
    out["loadavg_before"] = load_before
    out["loadavg_after"] = os.getloadavg()
    out["cpu_busy_during"] = busy_fraction(cpu_before, cpu_times())
    return out


def ingest_log_stats(path):
    """Cross-check from ingest's own per-request log line: `aws_calls` and in-handler `latency_ms`
    by outcome (the CallCounter interceptor counts SDK operations)."""
    by = {}
    for line in open(path, "rb"):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("message") != "webhook":
            continue
        o = by.setdefault(doc.get("outcome"), {"n": 0, "aws_calls": [], "latency_ms": []})
        o["n"] += 1
        o["aws_calls"].append(doc.get("aws_calls", 0))
        o["latency_ms"].append(doc.get("latency_ms", 0.0))
    return {k: {"n": v["n"], "aws_calls_mean": statistics.fmean(v["aws_calls"]),
                "handler_p50_ms": pct(v["latency_ms"], 50)} for k, v in by.items()}


# --- the processor ------------------------------------------------------------------------------
class ProcessorRun:
    """One measured run of the processor. Its input is made the honest way: the release `ingest`
    (warm, in its own Runtime API) accepts freshly signed events, and the event source mapping
    receives what ingest put on the queue, `size` messages at a time, just before each invocation
    (so the queue stays short, as in production). Ingest, the receive and the delete are outside
    the timed window. With `proxy`, the processor's AWS calls are counted per invocation."""

    def __init__(self, args, run_idx, moto_url, res, outdir, records, proxy=None, name="processor"):
        self.args, self.moto_url, self.res, self.outdir, self.proxy = args, moto_url, res, outdir, proxy
        self.name, self.bus = name, name == "processor"
        self.tag = f"{name}-run{run_idx}{'-count' if proxy else ''}"
        self.log_path = outdir / f"{self.tag}.log"
        # About four events per contract / envelope.
        self.gen = events.NewEvents(args.samples, max(5, records // 8), seed=2000 + run_idx)
        self.esm = processor.EventSourceMapping(moto_url, res["queue_url"])
        self.out = {"function": name, "bus": self.bus, "run": run_idx, "errors": [], "latencies": [], "batch_item_failures": 0,
                    "invocations": 0, "subjects_per_batch10": [], "calls": []}
        self.seen, self.accepted, self.feeders = [], [], []

    def feeder(self, lease_s=None):
        cmd, env, cwd = spec_ingest(self.args, self.res, 0, self.moto_url)  # ingest never goes through the proxy
        if lease_s:
            env = dict(env, LEDGER_LEASE_SECONDS=str(lease_s))
        f = Function(cmd, env, cwd, self.outdir / f"{self.tag}-ingest.log")
        f.spawn()
        self.feeders.append(f)
        return f

    def accept(self, count, via):
        for _ in range(count):
            provider, body = self.gen.next()
            inv = via.invoke(events.event_for(provider, body))
            status, answer = decode_answer(inv)
            if status != 202:
                self.out["errors"].append(f"ingest answered {status} {inv.body[:200]!r}")
                continue
            key = answer.get("key", "") if isinstance(answer, dict) else ""
            self.accepted.append(key if key.startswith(provider + "#") else f"{provider}#{key}")

    def receive(self, count):
        msgs = self.esm.receive(count)
        if len(msgs) != count:
            self.out["errors"].append(f"the queue gave {len(msgs)} messages, {count} expected")
        return msgs

    def batch(self, fn, count, via):
        """`count` new events through ingest, then their batch to the processor."""
        self.accept(count, via)
        msgs = self.receive(count)
        return msgs, self.deliver(fn, msgs, f"batch{count}")

    def deliver(self, fn, msgs, phase):
        c0, ops0 = self.proxy.snapshot() if self.proxy else (None, None)
        ops0 = dict(ops0) if ops0 else {}
        inv = fn.invoke(self.esm.event(msgs))
        self.out["invocations"] += 1
        if self.proxy:
            c1, ops1 = self.proxy.snapshot()
            ops = {op: n - ops0.get(op, 0) for op, n in ops1.items() if n - ops0.get(op, 0)}
            self.out["calls"].append({"phase": phase, "records": len(msgs), "calls": c1 - c0, "ops": ops,
                                      "ids": [m["MessageId"] for m in msgs]})
        failed = processor.batch_failures(inv)
        if failed is None:
            self.out["errors"].append(f"{phase}: not a batch answer: ok={inv.ok} {inv.body[:200]!r}")
            failed = [m["MessageId"] for m in msgs]
        elif failed:
            self.out["errors"].append(f"{phase}: batchItemFailures {failed}")
        self.out["batch_item_failures"] += len(failed)
        self.esm.settle(msgs, set(failed))
        self.seen.extend(processor.message_event(m["Body"]) for m in msgs)
        return inv

    def sweep(self, fn, phase):
        c0 = self.proxy.snapshot()[0] if self.proxy else None
        inv = fn.invoke(processor.scheduled_event())
        calls = self.proxy.snapshot()[0] - c0 if self.proxy else None
        try:
            answer = json.loads(inv.body)
        except (TypeError, ValueError):
            answer = None
        if not inv.ok or not isinstance(answer, dict):
            self.out["errors"].append(f"{phase}: sweep failed: {inv.body[:200]!r}")
        return {"ms": (inv.answered_ns - inv.handed_out_ns) / 1e6, "answer": answer, "calls": calls}

    def run(self, n1, n10, extra_colds, endpoint, with_floor):
        out = self.out
        load_before = os.getloadavg()
        cpu_before = cpu_times()
        ingest = self.feeder()
        try:
            self.phases(ingest, n1, n10, extra_colds, endpoint, with_floor)
        finally:
            for f in self.feeders:
                f.stop()
        out["accepted"] = len(self.accepted)
        out["records"] = len(self.seen)
        errors, facts = processor.check_state(self.moto_url, self.res, self.seen, self.accepted, self.bus)
        out["errors"] += errors
        out["state"] = facts
        out["log"] = processor_log_stats(self.log_path)
        out["loadavg_before"] = load_before
        out["loadavg_after"] = os.getloadavg()
        out["cpu_busy_during"] = busy_fraction(cpu_before, cpu_times())
        return out

    def floors(self):
        """As for ingest, the floor runs interleaved with the function (one record after each
        batch of 1, one batch after each batch of 10), same moto, same moment, same load."""
        ddb, _ = awslocal.clients(self.moto_url)
        status_table = self.res["floor_table"].replace("floor", "floor-status")
        awslocal.create_simple_table(ddb, status_table, "pk")
        port = int(self.moto_url.rsplit(":", 1)[1])
        ledger, first = self.res["floor_table"], self.seen[0]
        floors = {"raw": awslocal.ProcessorFloorRaw(port, status_table, ledger, first),
                  "boto3": awslocal.ProcessorFloorBoto3(self.moto_url, status_table, ledger, first),
                  "curl": awslocal.ProcessorFloorCurl(port, status_table, ledger, first, str(self.outdir))
                  if shutil.which("curl") else None,
                  "raw10": awslocal.ProcessorFloorRawBatch(port, status_table, ledger, first)}
        for k in ("raw", "boto3", "curl", "raw10", "status_update", "mark_processed"):
            self.out[f"floor_{k}_us"] = []
        return floors

    def phases(self, ingest, n1, n10, extra_colds, endpoint, with_floor):
        out = self.out
        cmd, env, cwd = SPECS[self.name](self.args, self.res, 0, endpoint)
        fn = Function(cmd, env, cwd, self.log_path)
        floors = None
        try:
            self.accept(1, ingest)
            msgs = self.receive(1)
            fn.spawn()
            inv = self.deliver(fn, msgs, "cold")
            out.update(fn.cold_start(inv))
            out["cold_first_invoke_ms"] = (inv.answered_ns - inv.handed_out_ns) / 1e6
            out["rss_after_cold_kib"] = proc_status(fn.proc.pid).get("VmRSS")
            floors = self.floors() if with_floor else None

            cpu0 = proc_cpu_s(fn.proc.pid)
            for _ in range(n1):
                msgs, inv = self.batch(fn, 1, ingest)
                out["latencies"].append((1, [msgs[0]["MessageId"]], (inv.answered_ns - inv.handed_out_ns) / 1e3))
                if floors:
                    for k in ("raw", "boto3", "curl"):
                        if floors[k] is not None:
                            out[f"floor_{k}_us"].append(floors[k].pair(self.seen[-1]) / 1e3)
                    out["floor_status_update_us"].append(floors["raw"].split[0] / 1e3)
                    out["floor_mark_processed_us"].append(floors["raw"].split[1] / 1e3)
            cpu1 = proc_cpu_s(fn.proc.pid)
            for _ in range(n10):
                msgs, inv = self.batch(fn, 10, ingest)
                batch = self.seen[-len(msgs):]
                out["latencies"].append((10, [m["MessageId"] for m in msgs], (inv.answered_ns - inv.handed_out_ns) / 1e3))
                out["subjects_per_batch10"].append(len({f"{e['provider']}#{e.get('subject')}" for e in batch}))
                if floors:
                    out["floor_raw10_us"].append(floors["raw10"].batch(batch) / 1e3)
            cpu2 = proc_cpu_s(fn.proc.pid)
            st = proc_status(fn.proc.pid)
            out["peak_rss_kib"] = st.get("VmHWM")
            out["rss_end_kib"] = st.get("VmRSS")
            out["cpu_ms_per_batch1"] = (cpu1 - cpu0) * 1000 / max(1, n1)
            out["cpu_ms_per_batch10"] = (cpu2 - cpu1) * 1000 / max(1, n10)

            # The sweep: once with nothing pending, once with `sweep_pending` lost enqueues
            # (accepted by an ingest whose lease is 1 s, their messages deleted unread), aged past
            # the 1 s threshold; the messages it puts back are then processed like any batch.
            out["sweep_empty"] = self.sweep(fn, "sweep (nothing pending)")
            pending = self.args.sweep_pending
            if pending:
                self.accept(pending, self.feeder(lease_s=1))
                lost = self.esm.lose(pending)
                time.sleep(1.3)
                out["sweep_pending"] = self.sweep(fn, "sweep (pending)")
                back = self.esm.receive(pending)
                out["sweep_pending"].update(lost=lost, requeued_received=len(back))
                for i in range(0, len(back), 10):
                    self.deliver(fn, back[i:i + 10], "after sweep")
                answer = out["sweep_pending"]["answer"] or {}
                if answer.get("requeued") != lost or len(back) != lost:
                    out["errors"].append(f"sweep: {lost} lost, answer {answer}, {len(back)} messages back")
            out["peak_rss_after_sweep_kib"] = proc_status(fn.proc.pid).get("VmHWM")
        finally:
            fn.stop()
            if floors:
                for k in ("raw", "curl", "raw10"):
                    if floors[k] is not None:
                        floors[k].close()

        # Extra cold starts: a fresh process for a batch of one new event each.
        colds = []
        for _ in range(extra_colds):
            cold = Function(cmd, env, cwd, self.log_path)
            try:
                self.accept(1, ingest)
                msgs = self.receive(1)
                cold.spawn()
                inv = self.deliver(cold, msgs, "extra cold")
                colds.append({**cold.cold_start(inv), "peak_rss_kib": proc_status(cold.proc.pid).get("VmHWM")})
            finally:
                cold.stop()
        out["extra_colds"] = colds


def run_processor(args, run_idx, moto_url, res, outdir, n1, n10, extra_colds, endpoint=None, proxy=None,
                  with_floor=False, name="processor"):
    """See `ProcessorRun`."""
    run = ProcessorRun(args, run_idx, moto_url, res, outdir, 1 + n1 + 10 * n10 + extra_colds, proxy=proxy,
                       name=name)
    return run.run(n1, n10, extra_colds, endpoint or moto_url, with_floor)


def processor_log_stats(path):
    """From the processor's own log: each record's outcome (by messageId), the batch lines, and
    whether any line reports `aws_calls` (ingest's does; see BENCHMARKS.md)."""
    outcomes, batches, aws_calls = {}, [], []
    for line in open(path, "rb"):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("message") == "record":
            outcomes[doc.get("message_id")] = doc.get("outcome")
        elif doc.get("message") == "batch":
            batches.append({k: doc.get(k) for k in ("records", "processed", "superseded", "failed")})
        if "aws_calls" in doc:
            aws_calls.append(doc["aws_calls"])
    counts = {}
    for o in outcomes.values():
        counts[o] = counts.get(o, 0) + 1
    return {"outcomes": outcomes, "outcome_counts": counts, "batches": len(batches),
            "batch_failed": sum(b["failed"] or 0 for b in batches), "aws_calls_logged": aws_calls[:5]}


def summarize_processor_run(r):
    outcomes = r["log"]["outcomes"]
    b1 = [v for size, _, v in r["latencies"] if size == 1]
    b10 = [v for size, _, v in r["latencies"] if size == 10]
    by = {}
    for size, ids, v in r["latencies"]:
        if size == 1:
            by.setdefault(outcomes.get(ids[0], "?"), []).append(v)
    r["b1_p50_ms"] = pct(b1, 50) / 1e3 if b1 else None
    r["b1_p99_ms"] = pct(b1, 99) / 1e3 if b1 else None
    r["b1_mean_ms"] = statistics.fmean(b1) / 1e3 if b1 else None
    r["b1_by_outcome_p50_ms"] = {o: pct(v, 50) / 1e3 for o, v in by.items()}
    r["b1_by_outcome_n"] = {o: len(v) for o, v in by.items()}
    r["b10_p50_ms"] = pct(b10, 50) / 1e3 if b10 else None
    r["b10_p99_ms"] = pct(b10, 99) / 1e3 if b10 else None
    r["b10_mean_ms"] = statistics.fmean(b10) / 1e3 if b10 else None
    for k in ("raw", "boto3", "curl", "raw10", "status_update", "mark_processed"):
        xs = r.pop(f"floor_{k}_us", None)
        if xs:
            r[f"floor_{k}_p50_ms"] = pct(xs, 50) / 1e3
            r[f"floor_{k}_p99_ms"] = pct(xs, 99) / 1e3
    return r


def processor_item_sizes(endpoint, res):
    """Sizes (DynamoDB's rules) of the status items and of the ledger items before and after
    `mark_processed`, from what the run stored."""
    import report
    ddb, _ = awslocal.clients(endpoint)
    status = [report.item_size(it) for it in processor.scan(ddb, res["status_table"])]
    after, before, gsi = [], [], []
    proj = ["pk", "pending_shard", "received_at"] + awslocal.PENDING_INDEX_ATTRIBUTES
    for it in processor.scan(ddb, res["events_table"]):
        after.append(report.item_size(it))
        # The item as ingest left it: RECEIVED, in the pending index, no processed_at.
        it = {k: v for k, v in it.items() if k != "processed_at"}
        it["status"] = {"S": "RECEIVED"}
        it["pending_shard"] = {"S": "07"}
        before.append(report.item_size(it))
        gsi.append(report.item_size({k: v for k, v in it.items() if k in proj}) + 100)
    return {"status_items": len(status), "status_mean_bytes": statistics.fmean(status), "status_max_bytes": max(status),
            "ledger_items": len(after), "ledger_before_mean_bytes": statistics.fmean(before),
            "ledger_before_max_bytes": max(before), "ledger_after_mean_bytes": statistics.fmean(after),
            "ledger_after_max_bytes": max(after), "gsi_mean_bytes": statistics.fmean(gsi), "gsi_max_bytes": max(gsi),
            "ledger_wru": statistics.fmean(report.wru(max(b, a)) for b, a in zip(before, after)),
            "status_wru": statistics.fmean(report.wru(x) for x in status)}


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def count_summary(r):
    """Calls per record in the counting pass: batches of 1 by the record's outcome, batches of 10,
    cold, and the sweeps."""
    outcomes = r["log"]["outcomes"]
    by = {}
    for c in r["calls"]:
        if c["phase"] == "batch1":
            by.setdefault(outcomes.get(c["ids"][0], "?"), []).append(c["calls"])
    b10 = [c["calls"] / c["records"] for c in r["calls"] if c["phase"] == "batch10"]
    r["calls_per_record_b1"] = {o: statistics.fmean(v) for o, v in by.items()}
    r["calls_per_record_b1_n"] = {o: len(v) for o, v in by.items()}
    r["calls_per_record_b10"] = statistics.fmean(b10) if b10 else None
    r["calls_cold"] = next((c["calls"] for c in r["calls"] if c["phase"] == "cold"), None)
    b10_batches = [c for c in r["calls"] if c["phase"] == "batch10"]
    r["calls_per_batch10"] = statistics.fmean(c["calls"] for c in b10_batches) if b10_batches else None
    r["put_events_per_batch10"] = (statistics.fmean(sum(n for op, n in c.get("ops", {}).items() if "PutEvents" in op)
                                                    for c in b10_batches) if b10_batches else None)
    b1_batches = [c for c in r["calls"] if c["phase"] == "batch1"]
    r["put_events_per_batch1"] = (statistics.fmean(sum(n for op, n in c.get("ops", {}).items() if "PutEvents" in op)
                                                   for c in b1_batches) if b1_batches else None)
    return (f"calls/record, batch of 1 by outcome {r['calls_per_record_b1']}, batch of 10 "
            f"{r['calls_per_record_b10']}, cold {r['calls_cold']}, sweep empty {r['sweep_empty']['calls']}, "
            f"sweep pending {r.get('sweep_pending', {}).get('calls')} ({r.get('sweep_pending', {}).get('answer')})")


def summarize_run(r):
    lat_all = [v for _, v in r["latencies"]]
    lat_new = [v for k, v in r["latencies"] if k == "new"]
    lat_dup = [v for k, v in r["latencies"] if k == "dup"]
    r["warm_p50_ms"] = pct(lat_all, 50) / 1e3
    r["warm_p99_ms"] = pct(lat_all, 99) / 1e3
    r["warm_mean_ms"] = statistics.fmean(lat_all) / 1e3
    r["new_p50_ms"] = pct(lat_new, 50) / 1e3
    r["new_p99_ms"] = pct(lat_new, 99) / 1e3
    r["new_mean_ms"] = statistics.fmean(lat_new) / 1e3
    r["dup_p50_ms"] = pct(lat_dup, 50) / 1e3 if lat_dup else None
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, default=300, help="warm deliveries per run (after the cold one)")
    ap.add_argument("--dup-ratio", type=float, default=0.2, help="share of deliveries that are retries")
    ap.add_argument("--extra-colds", type=int, default=4, help="extra cold starts per run and function")
    ap.add_argument("--count-events", type=int, default=40, help="deliveries in the call-counting pass")
    ap.add_argument("--functions", default="ingest,peer", help="any of ingest, peer, processor")
    ap.add_argument("--ingest-bin", type=Path, default=ROOT / "target/release/ingest")
    ap.add_argument("--processor-bin", type=Path, default=ROOT / "target/release/processor")
    ap.add_argument("--batch1", type=int, default=150, help="processor: warm invocations with a batch of 1 per run")
    ap.add_argument("--batch10", type=int, default=30, help="processor: warm invocations with a batch of 10 per run")
    ap.add_argument("--sweep-pending", type=int, default=10,
                    help="processor: lost enqueues the second sweep finds (0: skip that sweep)")
    ap.add_argument("--count-batch1", type=int, default=30, help="processor: batches of 1 in the call-counting pass")
    ap.add_argument("--count-batch10", type=int, default=5, help="processor: batches of 10 in the call-counting pass")
    ap.add_argument("--bench-python", type=Path, default=HERE / ".venv/bin/python")
    ap.add_argument("--moto-python", type=Path, default=ROOT / ".venv/bin/python")
    ap.add_argument("--samples-dir", type=Path, default=ROOT / "samples")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--no-floor", action="store_true", help="skip the PutItem + SendMessage floor")
    args = ap.parse_args()

    functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    for f in functions:
        if f not in SPECS:
            ap.error(f"unknown function {f}")
    any_processor = any(f in PROCESSORS for f in functions)
    if ("ingest" in functions or any_processor) and not args.ingest_bin.exists():
        ap.error(f"{args.ingest_bin} not found: cargo build --release --bin ingest")
    if any_processor and not args.processor_bin.exists():
        ap.error(f"{args.processor_bin} not found: cargo build --release --bin processor")
    args.samples = events.load_samples(args.samples_dir)
    launcher = str(ROOT / "crates/testkit/moto_server.py")

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    outdir = args.out / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    results = {
        "started_utc": stamp,
        "machine": machine(),
        "params": {"runs": args.runs, "events": args.events, "dup_ratio": args.dup_ratio,
                   "extra_colds": args.extra_colds, "count_events": args.count_events, "batch1": args.batch1,
                   "batch10": args.batch10, "sweep_pending": args.sweep_pending, "count_batch1": args.count_batch1,
                   "count_batch10": args.count_batch10},
        "binaries": {},
        "runs": [],
        "floor": [],
        "counts": [],
        "processor_runs": [],
        "processor_counts": [],
        "processor_nobus_runs": [],
        "processor_nobus_counts": [],
    }
    for name, path in (("ingest", args.ingest_bin), ("processor", args.processor_bin)):
        if name in functions or (name == "ingest" and any_processor) or (name == "processor" and any_processor):
            st = path.stat()
            results["binaries"][name] = {"path": str(path), "bytes": st.st_size,
                                         "mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime))}
    results["packages"] = package_sizes()
    print(f"results -> {outdir}", flush=True)

    # Call counting pass (through the proxy), once per function.
    for name in functions:
        moto = awslocal.Moto(str(args.moto_python), launcher)
        proxy = awslocal.CountingProxy(moto.port)
        try:
            res = awslocal.create_resources(moto.url, uuid.uuid4().hex[:8])
            if name in PROCESSORS:
                r = run_processor(args, 0, moto.url, res, outdir, args.count_batch1, args.count_batch10, 0,
                                  endpoint=proxy.url, proxy=proxy, name=name)
                r["calls_by_op"] = proxy.snapshot()[1]
                r.pop("latencies", None)
                results["processor_counts" if name == "processor" else "processor_nobus_counts"].append(r)
                print(f"[count] {name}: {count_summary(r)}, ops {r['calls_by_op']}, errors {r['errors'][:3]}",
                      flush=True)
                continue
            r = run_function(args, name, 0, moto.url, res, outdir, args.count_events, 0, endpoint=proxy.url,
                             proxy=proxy)
            r.pop("latencies", None)
            results["counts"].append(r)
            cn, cd = r["calls_new"], r["calls_dup"]
            print(f"[count] {name}: calls/new {statistics.fmean(cn):.2f}, calls/dup "
                  f"{statistics.fmean(cd) if cd else float('nan'):.2f}, cold {r.get('cold_calls')}, "
                  f"ops {r['calls_by_op']} errors {r['errors'][:3]}", flush=True)
        finally:
            proxy.stop()
            moto.stop()

    # Timed runs, functions interleaved.
    for i in range(1, args.runs + 1):
        for name in functions:
            moto = awslocal.Moto(str(args.moto_python), launcher)
            try:
                res = awslocal.create_resources(moto.url, uuid.uuid4().hex[:8])
                if name in PROCESSORS:
                    r = summarize_processor_run(run_processor(args, i, moto.url, res, outdir, args.batch1, args.batch10,
                                                              args.extra_colds, with_floor=not args.no_floor,
                                                              name=name))
                    if i == 1:
                        r["item_sizes"] = processor_item_sizes(moto.url, res)
                    results["processor_runs" if name == "processor" else "processor_nobus_runs"].append(r)
                    print(f"[run {i}] {name}: cold {r['cold_ms']:.1f} ms (init {r['init_ms']:.1f}), batch of 1 p50 "
                          f"{r['b1_p50_ms']:.2f} p99 {r['b1_p99_ms']:.2f} ms, batch of 10 p50 {r['b10_p50_ms']:.2f} p99 "
                          f"{r['b10_p99_ms']:.2f} ms, floor raw p50 {r.get('floor_raw_p50_ms', float('nan')):.2f} ms, "
                          f"RSS {r['peak_rss_kib'] / 1024:.1f} MiB, cpu {r['cpu_ms_per_batch1']:.2f} / "
                          f"{r['cpu_ms_per_batch10']:.2f} ms, sweeps {r['sweep_empty']['ms']:.1f} / "
                          f"{r.get('sweep_pending', {}).get('ms', float('nan')):.1f} ms, state {r['state']}, "
                          f"load {r['loadavg_before'][0]:.2f}, errors {len(r['errors'])} {r['errors'][:2]}", flush=True)
                    continue
                r = summarize_run(run_function(args, name, i, moto.url, res, outdir, args.events, args.extra_colds,
                                               with_floor=(name == "ingest" and not args.no_floor)))
                results["runs"].append(r)
                print(f"[run {i}] {name}: cold {r['cold_ms']:.1f} ms (init {r['init_ms']:.1f}), warm p50 "
                      f"{r['warm_p50_ms']:.2f} p99 {r['warm_p99_ms']:.2f} ms, new p50 {r['new_p50_ms']:.2f} ms, "
                      f"RSS {r['peak_rss_kib'] / 1024:.1f} MiB, cpu/event {r['cpu_ms_per_warm_event']:.2f} ms, "
                      f"load {r['loadavg_before'][0]:.2f}, errors {len(r['errors'])} {r['errors'][:2]}", flush=True)
                if r.get("floor_raw_us"):
                    raw, b3, cu = r.pop("floor_raw_us"), r.pop("floor_boto3_us"), r.pop("floor_curl_us")
                    f = {"run": i, "raw_p50_ms": pct(raw, 50) / 1e3, "raw_p99_ms": pct(raw, 99) / 1e3,
                         "raw_mean_ms": statistics.fmean(raw) / 1e3,
                         "boto3_p50_ms": pct(b3, 50) / 1e3, "boto3_p99_ms": pct(b3, 99) / 1e3,
                         "boto3_mean_ms": statistics.fmean(b3) / 1e3}
                    if cu:
                        f.update({"curl_p50_ms": pct(cu, 50) / 1e3, "curl_p99_ms": pct(cu, 99) / 1e3})
                    results["floor"].append(f)
                    print(f"[run {i}] floor (interleaved): raw p50 {f['raw_p50_ms']:.2f} ms, boto3 p50 "
                          f"{f['boto3_p50_ms']:.2f} ms, curl p50 {f.get('curl_p50_ms', float('nan')):.2f} ms",
                          flush=True)
                if i == 1:
                    r["item_sizes"] = item_sizes(moto.url, res, name)
            finally:
                moto.stop()
            # The raw latencies stay in the JSON (for the chart), in µs.

    results["finished_utc"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (outdir / "results.json").write_text(json.dumps(results, indent=1))
    latest = args.out / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(outdir.name)
    if not args.no_report:
        import report
        report.main([str(outdir / "results.json")])


def package_sizes():
    """The arm64 Lambda packages `make package` builds, if they are there (not built here)."""
    out = {}
    for fn in ("ingest", "processor", "archiver"):
        for name in ("bootstrap", "bootstrap.zip"):
            path = ROOT / "target/lambda" / fn / name
            if path.exists():
                st = path.stat()
                out[f"{fn}/{name}"] = {"bytes": st.st_size,
                                       "mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime))}
    return out


def item_sizes(endpoint, res, name):
    """DynamoDB item sizes (bytes, by DynamoDB's rules) and write units of what the run stored."""
    import report
    ddb, _ = awslocal.clients(endpoint)
    table = res["events_table"] if name == "ingest" else res["idempotency_table"]
    items = []
    kwargs = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    items = [it for it in items if not it.get("pk", {}).get("S", "").startswith("floor")]
    sizes = [report.item_size(it) for it in items]
    out = {"table": table, "items": len(items), "mean_bytes": statistics.fmean(sizes) if sizes else 0,
           "max_bytes": max(sizes) if sizes else 0}
    if name == "ingest":
        proj = ["pk", "pending_shard", "received_at"] + awslocal.PENDING_INDEX_ATTRIBUTES
        gsi = [report.item_size({k: v for k, v in it.items() if k in proj}) + 100 for it in items]
        out["gsi_mean_bytes"] = statistics.fmean(gsi) if gsi else 0
        out["gsi_max_bytes"] = max(gsi) if gsi else 0
    return out


if __name__ == "__main__":
    main()
