"""`make sam-test`: the functions under AWS SAM, for real.

Run by `make sam-test` with the Python of .venv-sam (it has the SAM CLI, boto3 and
SAM's YAML reader). One function per step; each prints one line with its time:

  engine      a reachable Docker engine, else Debian's docker.io started here
              (own data folder and socket; stopped by PID at the end)
  image       the Lambda base image, else a stand-in built with debootstrap
  build       `sam build` of template.yaml (a copy for the host's architecture),
              debug mode unless SAM_TEST_RELEASE=1
  moto        moto on the host with the template's resources (`contract-hooks-local dev
              --resources-only`, which also starts the local SpotDraft stand-in),
              both reachable from containers through DNAT rules
  events      `make events` into .sam-test/events (the committed events/ stay as
              they are), checked against the file list in events/; SpotDraft
              there is the stand-in
  invoke      `sam local invoke` of every function with every event file, each
              answer compared with expected.json (the archiver's also with the
              outcome it logged per record), then what the archiver left: the
              dead letters on the archive DLQ, the key pointers on the status item
  api         `sam local start-api`, `contract-hooks send` of every sample over
              HTTP, the processor invoked with what landed on the queue, and
              `contract-hooks status` of every contract and envelope

and ends with "sam-test: N passed, M failed". Whatever it started (dockerd, moto,
start-api) is stopped and the network rule and sysctl are undone on the way out,
also on failure or Ctrl-C. Logs of every command: .sam-test/logs/.

Environment: SAM_TEST_DIR (default .sam-test), SAM_TEST_RELEASE=1 (release build),
SAM_TEST_KEEP_ENGINE=1 (leave a dockerd started here running; you stop it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("SAM_TEST_DIR", ROOT / ".sam-test")).resolve()
LOGS = WORK / "logs"
SAM_BIN = Path(sys.executable).parent / "sam"
DEV_VENV_BIN = ROOT / ".venv" / "bin"


# --------------------------------------------------------------------------- functions
# Each function in template.yaml that sam-test runs: its logical id and its folder
# under events/. Invoked in this order (ingest fills the ledger the processor reads).
# A new function is one line here; its events and expected.json entries come from
# `make events`. The answers are checked by the keys of its expected.json entries
# (see check_answer); a new kind of expectation needs a branch there.
@dataclass(frozen=True)
class Function:
    logical_id: str
    events_dir: str


FUNCTIONS = [
    Function("IngestFunction", "ingest"),
    Function("ProcessorFunction", "processor"),
    Function("ArchiverFunction", "archiver"),
]

INGEST = "IngestFunction"
PROCESSOR = "ProcessorFunction"
ARCHIVER = "ArchiverFunction"
LAMBDA_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine()
]
BASE_IMAGE = f"public.ecr.aws/lambda/provided:al2023-{LAMBDA_ARCH}"
# Raise when the stand-in's recipe changes: an older stand-in is then rebuilt.
STAND_IN_VERSION = "2"


# --------------------------------------------------------------------------- plumbing
@dataclass
class State:
    env: dict = field(default_factory=dict)  # environment of every command we run
    cleanups: list = field(default_factory=list)  # (what, callable), undone in reverse
    passed: int = 0
    failed: int = 0
    failures: list = field(default_factory=list)
    moto_port: int = 0
    moto_proc: subprocess.Popen | None = None
    bridge: str = ""
    bridge_ip: str = ""
    cli: Path | None = None  # contract-hooks: send, status
    local: Path | None = None  # contract-hooks-local: dev --resources-only
    events_signed_at: float = 0.0
    synced: dict = field(default_factory=dict)  # (provider, id) -> state after the invoke step


S = State()


def say(msg: str) -> None:
    print(msg, flush=True)


def check(ok: bool, what: str, detail: str = "", *, count_pass: bool = True) -> bool:
    """One test: counted, and printed when it fails. Bookkeeping checks (is every
    event file in expected.json, ...) pass count_pass=False: only a failure counts."""
    if ok:
        S.passed += count_pass
    else:
        S.failed += 1
        S.failures.append(what)
        say(f"  FAIL {what}" + (f": {detail}" if detail else ""))
    return ok


def log_path(name: str) -> Path:
    LOGS.mkdir(parents=True, exist_ok=True)
    return LOGS / (name.replace("/", "_") + ".log")


def run(cmd: list, log: str, *, check_rc=True, timeout=None, env=None, cwd=ROOT, stdin=None):
    """Runs cmd with its stdout and stderr in logs/<log>.log; returns (rc, stdout)."""
    path = log_path(log)
    with open(path, "w") as err:
        err.write("$ " + " ".join(map(str, cmd)) + "\n")
        err.flush()
        p = subprocess.run(
            [str(c) for c in cmd],
            cwd=cwd,
            env=env or S.env,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            text=True,
            timeout=timeout,
        )
        err.write("--- stdout\n" + p.stdout)
    if check_rc and p.returncode != 0:
        tail = [l for l in path.read_text().splitlines() if l.strip() and l != "--- stdout"][-8:]
        raise StepError(f"`{' '.join(map(str, cmd[:4]))} …` exited {p.returncode}; see {path}\n    "
                        + "\n    ".join(tail))
    return p.returncode, p.stdout


class StepError(Exception):
    pass


def on_exit(what: str, fn: Callable[[], None]) -> None:
    S.cleanups.append((what, fn))


def cleanup() -> None:
    while S.cleanups:
        what, fn = S.cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep undoing the rest
            say(f"  cleanup: {what} failed: {e}")


def stop_pid(proc: subprocess.Popen, sig=signal.SIGTERM, wait=30) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(pred: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise StepError(f"{what} not ready after {seconds:.0f} s")


def port_open(port: int, host="127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sbin(name: str) -> str:
    """A system tool (dockerd, iptables, debootstrap, ip) even when sbin is not on PATH."""
    return shutil.which(name, path=S.env["PATH"] + ":/usr/sbin:/sbin") or name


def apt_install(*packages: str) -> None:
    say(f"  installing {' '.join(packages)} from Debian (apt-get)")
    env = dict(S.env, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update"], f"apt-update-{packages[0]}", env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *packages], f"apt-install-{packages[0]}", env=env)


def base_env() -> dict:
    """The environment SAM and the tools run in: no real AWS credentials (SAM would
    hand them to the functions and call STS), no telemetry or version check."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop("CARGO_TARGET_DIR", None)  # SAM's Rust builder copies from ./target/lambda
    # A real SpotDraft workspace stays out: `contract-hooks-local dev` starts its local
    # stand-in instead, the archiver's events expect the stand-in's answers.
    for var in ("SPOTDRAFT_API_BASE_URL", "SPOTDRAFT_API_CREDENTIALS"):
        env.pop(var, None)
    # A private HOME (below) must not hide the Rust toolchain.
    for var, default in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
        env.setdefault(var, str(Path.home() / default))
    home = WORK / "home"
    (home / ".aws-sam").mkdir(parents=True, exist_ok=True)
    (home / ".aws-sam" / "metadata.json").write_text(
        json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()})
    )
    env.update(
        HOME=str(home),
        SAM_CLI_TELEMETRY="0",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        # cargo-lambda, and the python3 with ziglang that cargo-lambda links with.
        PATH=f"{DEV_VENV_BIN}:{env.get('PATH', '')}",
    )
    if os.environ.get("SAM_TEST_RELEASE") != "1":
        # SAM's cargo-lambda builder leaves out --release in this mode
        # (aws_lambda_builders/workflows/rust_cargo/actions.py).
        env["SAM_BUILD_MODE"] = "debug"
    return env


# --------------------------------------------------------------------------- steps
def docker_reachable() -> bool:
    if not shutil.which("docker", path=S.env["PATH"]):
        return False
    return run(["docker", "info"], "docker-info", check_rc=False, timeout=20)[0] == 0


def step_engine() -> str:
    """A Docker engine: the one the client reaches, else Debian's started here."""
    if docker_reachable():
        return "using the Docker engine already running"
    if sbin("dockerd") == "dockerd" or not shutil.which(
        "docker", path=S.env["PATH"]
    ):
        apt_install("docker.io", "iptables")
        # Where systemd runs, installing the package starts the system's engine.
        if docker_reachable():
            return "installed Debian's docker.io; using the engine it started"
    bridge_existed = Path("/sys/class/net/docker0").exists()
    data = WORK / "docker"
    # Sockets live in a short path (unix socket paths are limited to 108 bytes).
    run_dir = Path(tempfile.mkdtemp(prefix="sam-test-docker-"))
    sock = run_dir / "docker.sock"
    log = open(log_path("dockerd"), "w")
    proc = subprocess.Popen(
        [
            sbin("dockerd"),
            "--data-root", data / "data",
            "--exec-root", run_dir / "exec",
            "--pidfile", run_dir / "dockerd.pid",
            "-H", f"unix://{sock}",
            # No rules of its own, no forwarding: containers reach only the host.
            "--iptables=false",
            "--ip-forward=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=S.env,
    )

    def stop_dockerd():
        if os.environ.get("SAM_TEST_KEEP_ENGINE") == "1":
            say(f"  dockerd left running (pid {proc.pid}, DOCKER_HOST=unix://{sock})")
            return
        stop_pid(proc, wait=60)
        shutil.rmtree(run_dir, ignore_errors=True)
        if not bridge_existed:  # dockerd leaves the bridge it made behind
            run([sbin("ip"), "link", "delete", "docker0"], "bridge-delete", check_rc=False)

    on_exit("stop dockerd", stop_dockerd)
    S.env["DOCKER_HOST"] = f"unix://{sock}"
    wait_for(
        lambda: proc.poll() is None
        and run(["docker", "info"], "docker-info", check_rc=False, timeout=10)[0] == 0,
        60,
        "dockerd",
    )
    # Containers an interrupted earlier run left behind (this engine is ours alone).
    run(["docker", "container", "prune", "--force"], "docker-prune")
    return f"started Debian's dockerd (pid {proc.pid}, data in {data.relative_to(ROOT) if data.is_relative_to(ROOT) else data})"


def step_image() -> str:
    """The Lambda base image SAM runs provided.al2023 functions on."""
    rc, label = run(["docker", "image", "inspect", "--format",
                     '{{index .Config.Labels "contract-hooks.stand-in"}}', BASE_IMAGE],
                    "image-inspect", check_rc=False)
    if rc == 0 and label.strip() in ("", "<no value>"):
        return f"{BASE_IMAGE} present"
    if rc == 0 and label.strip() == STAND_IN_VERSION:
        return f"{BASE_IMAGE} present (the stand-in built earlier from Debian packages)"
    if run(["docker", "pull", BASE_IMAGE], "image-pull", check_rc=False, timeout=120)[0] == 0:
        return f"pulled {BASE_IMAGE}"
    say(f"  {BASE_IMAGE} cannot be pulled (no registry): building a stand-in from Debian packages")
    # SAM builds its emulator image on top of the base once; drop one built on an older base.
    rapid = BASE_IMAGE.replace(":al2023-", ":al2023-rapid-")
    run(["docker", "image", "rm", "--force", rapid], "image-rm-rapid", check_rc=False)
    if sbin("debootstrap") == "debootstrap":
        apt_install("debootstrap")
    rootfs = Path(tempfile.mkdtemp(prefix="sam-test-rootfs-"))
    try:
        # ca-certificates: the functions call AWS over TLS (the real image has them too).
        run([sbin("debootstrap"), "--variant=minbase", "--include=ca-certificates", "bookworm", rootfs],
            "debootstrap", timeout=900)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(
            [
                "docker", "import",
                "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
                "--change", "ENV LAMBDA_TASK_ROOT=/var/task",
                "--change", "WORKDIR /var/task",
                "--change", f"LABEL contract-hooks.stand-in={STAND_IN_VERSION}",
                "--change", 'LABEL org.opencontainers.image.description="stand-in for the Lambda '
                'base image (Debian 12 minbase), built by make sam-test without a registry"',
                "-", BASE_IMAGE,
            ],
            "image-import",
            stdin=tar.stdout,
        )
        tar.wait()
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return f"built a stand-in for {BASE_IMAGE}: Debian 12 minbase (debootstrap), not Amazon Linux"


def local_template() -> Path:
    """template.yaml for the host's architecture, each function also declaring
    AWS_ENDPOINT_URL (SAM's --env-vars sets only declared variables). The
    deployable template stays arm64 and free of it."""
    from samcli.yamlhelper import yaml_dump, yaml_parse

    t = yaml_parse((ROOT / "template.yaml").read_text())
    t.setdefault("Globals", {}).setdefault("Function", {})["Architectures"] = [LAMBDA_ARCH]
    for name, res in t.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.setdefault("Properties", {})
        if "Architectures" in props:
            props["Architectures"] = [LAMBDA_ARCH]
        variables = props.setdefault("Environment", {}).setdefault("Variables", {})
        variables["AWS_ENDPOINT_URL"] = ""
    out = WORK / "template.yaml"
    out.write_text(
        f"# Written by sam/sam_test.py from template.yaml: {LAMBDA_ARCH}, AWS_ENDPOINT_URL declared.\n"
        + yaml_dump(t)
    )
    return out


def step_build() -> str:
    """sam build (cargo-lambda) of the template, for the host's architecture."""
    template = local_template()
    run(
        [
            SAM_BIN, "build", "--beta-features",
            "--template-file", template,
            "--base-dir", ROOT,
            "--build-dir", WORK / "build",
        ],
        "sam-build",
        timeout=3600,
    )
    mode = S.env.get("SAM_BUILD_MODE", "release")
    return f"{LAMBDA_ARCH}, {mode}: " + ", ".join(
        f"{f.logical_id} {(WORK / 'build' / f.logical_id / 'bootstrap').stat().st_size >> 20} MiB"
        for f in FUNCTIONS
    )


def start_moto() -> None:
    """moto on loopback with the template's resources (a fresh ledger each time)."""
    state = WORK / "dev"
    shutil.rmtree(state, ignore_errors=True)
    log = open(log_path("moto"), "a")
    proc = subprocess.Popen(
        [S.local, "dev", "--resources-only", "--moto-port", str(S.moto_port),
         "--state-dir", state, "--python", DEV_VENV_BIN / "python"],
        cwd=ROOT, env=S.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    S.moto_proc = proc
    wait_for(lambda: (state / "env").exists() or proc.poll() is not None, 60, "moto")
    if proc.poll() is not None:
        raise StepError(f"contract-hooks-local dev exited {proc.returncode}; see {log_path('moto')}")


def stop_moto() -> None:
    if S.moto_proc:
        stop_pid(S.moto_proc, signal.SIGINT)  # Ctrl-C: it stops moto with it
        S.moto_proc = None


def step_moto() -> str:
    """moto for the functions in containers: DNAT from the bridge to loopback."""
    run(["cargo", "build", "-q", "-p", "contract-hooks", "-p", "contract-hooks-local"], "cargo-build-cli",
        timeout=3600)
    _, meta = run(["cargo", "metadata", "-q", "--format-version", "1", "--no-deps"], "cargo-metadata")
    S.cli = Path(json.loads(meta)["target_directory"]) / "debug" / "contract-hooks"
    S.local = S.cli.with_name("contract-hooks-local")
    S.moto_port = free_port()
    on_exit("stop moto", stop_moto)
    start_moto()

    _, bridge = run(
        ["docker", "network", "inspect", "bridge", "--format",
         '{{index .Options "com.docker.network.bridge.name"}}'],
        "bridge",
    )
    S.bridge = bridge.strip() or "docker0"
    # The bridge's own address (docker's IPAM record may leave the gateway out).
    _, addr = run([sbin("ip"), "-4", "-o", "addr", "show", "dev", S.bridge], "bridge-address")
    S.bridge_ip = addr.split(" inet ")[1].split("/")[0]
    sysctl = Path(f"/proc/sys/net/ipv4/conf/{S.bridge}/route_localnet")
    before = sysctl.read_text().strip()
    sysctl.write_text("1")  # lets the DNAT rules below reach 127.0.0.1
    on_exit("reset route_localnet", lambda: sysctl.write_text(before))
    forward_to_loopback(S.moto_port, "moto")
    standin = standin_port()
    forward_to_loopback(standin, "spotdraft-standin")
    return (f"127.0.0.1:{S.moto_port}, SpotDraft stand-in 127.0.0.1:{standin}, reached from "
            f"containers as host.docker.internal ({S.bridge} {S.bridge_ip})")


def forward_to_loopback(port: int, what: str) -> None:
    """A DNAT rule: containers reach 127.0.0.1:port of the host at the bridge's
    address (host.docker.internal); deleted on the way out."""
    rule = ["PREROUTING", "-i", S.bridge, "-d", S.bridge_ip, "-p", "tcp",
            "--dport", str(port), "-j", "DNAT",
            "--to-destination", f"127.0.0.1:{port}"]
    run([sbin("iptables"), "-t", "nat", "-I", *rule], f"iptables-add-{what}")
    on_exit(f"delete the DNAT rule ({what})",
            lambda: run([sbin("iptables"), "-t", "nat", "-D", *rule], f"iptables-del-{what}"))


def standin_port() -> int:
    """The port of the SpotDraft stand-in `contract-hooks-local dev` started (on loopback)."""
    url = dev_env().get("SPOTDRAFT_API_BASE_URL", "")
    prefix = "http://127.0.0.1:"
    if not url.startswith(prefix) or not url[len(prefix):].isdigit():
        raise StepError(f"contract-hooks-local dev did not start the local SpotDraft stand-in (SPOTDRAFT_API_BASE_URL {url!r})")
    return int(url[len(prefix):])


def step_events() -> str:
    """Fresh events (Subnoto signatures expire) with this moto's queue; the env file
    for --env-vars gets AWS_ENDPOINT_URL for every function."""
    out = generate_events()
    env = json.loads((out / "env.json").read_text())
    for f in FUNCTIONS:
        env.setdefault(f.logical_id, {})["AWS_ENDPOINT_URL"] = f"http://host.docker.internal:{S.moto_port}"
    (WORK / "env.json").write_text(json.dumps(env, indent=2))

    fresh = sorted(str(p.relative_to(out)) for p in out.rglob("*.json"))
    committed = sorted(str(p.relative_to(ROOT / "events")) for p in (ROOT / "events").rglob("*.json"))
    check(fresh == committed, "events/ matches `make events`",
          f"only fresh: {sorted(set(fresh) - set(committed))}, only committed: {sorted(set(committed) - set(fresh))}")
    return f"{len(fresh) - 2} events"


# Subnoto signatures are good for 5 minutes (SignatureToleranceSeconds); the invoke step
# can take longer on a busy machine, so it signs the events anew when they are this old.
RESIGN_AFTER_S = 150


def generate_events() -> Path:
    """`make events` into .sam-test/events, with this moto's queues and the
    SpotDraft stand-in as the archiver's container reaches it."""
    out = WORK / "events"
    shutil.rmtree(out, ignore_errors=True)
    vars = dev_env()
    args = (f"--queue-url {vars['QUEUE_URL']} --archive-queue-url {vars['ARCHIVE_QUEUE_URL']} "
            f"--archive-dlq-url {vars['ARCHIVE_DLQ_URL']} "
            f"--spotdraft-standin-url http://host.docker.internal:{standin_port()}")
    run(["make", "-s", "events", f"EVENTS_OUT={out}", f"EVENTS_ARGS={args}"], "make-events")
    S.events_signed_at = time.monotonic()
    return out


def dev_env() -> dict:
    vars = {}
    for line in (WORK / "dev" / "env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            vars[k.strip()] = v.strip().strip("'")
    return vars


def sam_invoke(function: str, event: Path, log: str) -> tuple[dict | None, float]:
    """sam local invoke; returns the function's answer (None if it gave none)."""
    t0 = time.monotonic()
    rc, out = run(
        [SAM_BIN, "local", "invoke", function,
         "--template-file", WORK / "build" / "template.yaml",
         "--event", event, "--env-vars", WORK / "env.json",
         "--skip-pull-image", "--add-host", "host.docker.internal:host-gateway"],
        log, check_rc=False, timeout=300,
    )
    took = time.monotonic() - t0
    lines = [l for l in out.splitlines() if l.strip().startswith("{")]
    if rc != 0 or not lines:
        return None, took
    try:
        return json.loads(lines[-1]), took
    except json.JSONDecodeError:
        return None, took


def check_answer(name: str, expected: dict, answer: dict | None, seen_keys: set) -> None:
    """Compares one answer with its expected.json entry, by the entry's keys."""
    if answer is None or "errorType" in answer or "errorMessage" in answer:
        check(False, name, f"no answer or an error: {answer}; see {log_path(name)}")
        return
    known = {"function", "statusCode", "ledger_key", "batchItemFailures", "sweep", "outcomes"}
    unknown = set(expected) - known
    if unknown:
        check(False, name, f"sam_test.py does not know how to check {sorted(unknown)}")
        return
    if "statusCode" in expected:
        want = expected["statusCode"]
        key = expected.get("ledger_key")
        if key is not None and key in seen_keys:
            want = 200  # the ledger has it already: a duplicate
        if key is not None:
            seen_keys.add(key)
        check(answer.get("statusCode") == want, name,
              f"statusCode {answer.get('statusCode')}, expected {want}: {answer.get('body')}")
    if "batchItemFailures" in expected:
        got = sorted(i["itemIdentifier"] for i in answer.get("batchItemFailures", []))
        want = sorted(i["itemIdentifier"] for i in expected["batchItemFailures"])
        check(got == want, name, f"batchItemFailures {got}, expected {want}")
    if expected.get("sweep"):
        check(True, name)  # an answer without an error is what the sweep owes
    if "outcomes" in expected:
        logged = logged_outcomes(name)
        for want in expected["outcomes"]:
            got = logged.get(want["messageId"])
            want = {k: v for k, v in want.items() if k != "messageId"}
            check(got == want, f"{name}: outcome", f"logged {got}, expected {want}")


def logged_outcomes(name: str) -> dict:
    """What the function logged for each record of an invocation (its JSON log
    lines `"message": "record"` in the invoke log): messageId -> {outcome, reason}."""
    out = {}
    for line in log_path(name).read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("message") == "record" and "outcome" in entry:
            out[entry.get("message_id")] = {k: entry[k] for k in ("outcome", "reason") if k in entry}
    return out


def step_invoke() -> str:
    """sam local invoke of every function with every event file."""
    events = WORK / "events"
    expected = json.loads((events / "expected.json").read_text())["events"]
    known = {f.logical_id for f in FUNCTIONS}
    for path, exp in expected.items():
        check(exp["function"] in known, f"{path}: function {exp['function']} is in sam_test.FUNCTIONS",
              count_pass=False)
    seen_keys: set = set()
    count, slowest, resigned = 0, 0.0, 0
    for f in FUNCTIONS:
        files = sorted((events / f.events_dir).glob("*.json"))
        check(bool(files), f"events/{f.events_dir}/ has events for {f.logical_id}", count_pass=False)
        for file in files:
            name = f"{f.events_dir}/{file.name}"
            exp = expected.get(name)
            if not check(exp is not None and exp["function"] == f.logical_id,
                         f"{name} in expected.json for {f.logical_id}", count_pass=False):
                continue
            if time.monotonic() - S.events_signed_at > RESIGN_AFTER_S:
                generate_events()  # same files, new timestamps and signatures
                resigned += 1
            answer, took = sam_invoke(f.logical_id, file, name)
            check_answer(name, exp, answer, seen_keys)
            count, slowest = count + 1, max(slowest, took)
    check_archiver_effects(events, expected)
    # What the processor made of events/processor/sqs-*.json (every sample): the API
    # step must reach the same states through HTTP, the queue and the processor.
    for provider, _, ident in samples():
        S.synced[(provider, ident)] = synced_state(provider, ident, "invoke")
        check(S.synced[(provider, ident)] is not None, f"status {provider} {ident} after invoke")
    return f"{count} invocations, slowest {slowest:.1f} s, events signed anew {resigned}x"


def check_archiver_effects(events: Path, expected: dict) -> None:
    """What the archiver's invocations left in moto: each dead letter on the
    archive DLQ with its reason (nothing else there), and the stand-in's key
    pointers recorded on the status item of each contract a metadata job named."""
    import boto3

    archiver = {path: exp for path, exp in expected.items() if exp["function"] == ARCHIVER}
    outcomes = [o for exp in archiver.values() for o in exp.get("outcomes", [])]
    vars = dev_env()
    sqs = boto3.client("sqs", endpoint_url=vars["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    reasons = []
    for _ in range(100):
        got = sqs.receive_message(QueueUrl=vars["ARCHIVE_DLQ_URL"], MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"], VisibilityTimeout=60)
        messages = got.get("Messages", [])
        if not messages:
            break
        reasons += [m.get("MessageAttributes", {}).get("error", {}).get("StringValue") for m in messages]
    want = sorted(o["reason"] for o in outcomes if o["outcome"] == "dead_lettered")
    check(sorted(reasons, key=str) == want, "archiver: the archive DLQ holds each dead letter with its reason",
          f"{sorted(reasons, key=str)}, expected {want}")

    subjects = set()
    for path, exp in archiver.items():
        if any(o["outcome"] == "metadata_captured" for o in exp.get("outcomes", [])):
            for record in json.loads((events / path).read_text())["Records"]:
                subjects.add(json.loads(record["body"])["detail"]["subject"])
    check(bool(subjects), "archiver: a metadata job expects the stand-in's key pointers", count_pass=False)
    for subject in sorted(subjects):
        rc, out = run([S.cli, "status", "spotdraft", subject, "--json", "--env-file", WORK / "dev" / "env"],
                      f"status-archiver-spotdraft-{subject}", check_rc=False)
        item = json.loads(out) if rc == 0 else {}
        text = item.get("key_pointers") or "[]"
        values = json.loads(text)
        ok = (bool(values) and all(v.get("field_name") for v in values)
              and item.get("key_pointers_sha256") == hashlib.sha256(text.encode()).hexdigest())
        check(ok, f"archiver: key pointers of spotdraft {subject} on its status item",
              f"key_pointers {text[:200]}, key_pointers_sha256 {item.get('key_pointers_sha256')}")


def synced_state(provider: str, ident: str, phase: str) -> tuple | None:
    """`contract-hooks status`: (status, last event type, last event key), or None."""
    rc, out = run([S.cli, "status", provider, ident, "--json", "--env-file", WORK / "dev" / "env"],
                  f"status-{phase}-{provider}-{ident}", check_rc=False)
    if rc != 0:
        return None
    item = json.loads(out)
    return item.get("status"), item.get("last_event_type"), item.get("last_event_key")


def samples() -> list[tuple[str, Path, str]]:
    """(provider, sample file, contract or envelope id) for every sample."""
    out = []
    for p in sorted((ROOT / "samples").glob("*.json")):
        body = json.loads(p.read_text())
        provider = p.name.split("-")[0]
        if provider == "spotdraft":
            ident = str(body["contract_id"])
        elif provider == "docusign":
            ident = body["data"]["envelopeId"]
        else:
            ident = body["data"]["envelopeUuid"]
        out.append((provider, p, ident))
    return out


def send(url: str, provider: str, sample: Path, secret: str, extra=()) -> int | None:
    rc, out = run(
        [S.cli, "send", "--provider", provider, "--url", url, *extra, sample],
        f"send-{provider}-{sample.stem}", check_rc=False, timeout=60,
        env=dict(S.env, CONTRACT_HOOKS_SECRET=secret),
    )
    first = out.split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else None


def http_status(url: str, method: str) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code


def drain_queue_into_processor() -> int:
    """What Lambda's SQS event source mapping does, once: receive what ingest queued,
    invoke the processor with it, delete what it did not report as failed."""
    import boto3

    vars = dev_env()
    sqs = boto3.client("sqs", endpoint_url=vars["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    total = 0
    for batch in range(100):
        got = sqs.receive_message(QueueUrl=vars["QUEUE_URL"], MaxNumberOfMessages=10,
                                  AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            break
        records = [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:contract-hooks-events",
            "awsRegion": "us-east-1",
        } for m in messages]
        event = WORK / f"queue-batch-{batch}.json"
        event.write_text(json.dumps({"Records": records}))
        answer, _ = sam_invoke(PROCESSOR, event, f"api-processor-batch-{batch}")
        name = f"processor on queue batch {batch} ({len(messages)} messages)"
        check_answer(name, {"function": PROCESSOR, "batchItemFailures": []}, answer, set())
        failed = {i["itemIdentifier"] for i in (answer or {}).get("batchItemFailures", [])}
        done = [m for m in messages if answer is not None and m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=vars["QUEUE_URL"], Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        total += len(messages)
    return total


def step_api() -> str:
    """sam local start-api on a fresh ledger, the samples sent over HTTP, the queue
    drained into the processor, then the synced status of each contract/envelope."""
    stop_moto()
    start_moto()  # a fresh ledger: the invoke step stored every sample already
    port = free_port()
    log = open(log_path("start-api"), "w")
    api = subprocess.Popen(
        [SAM_BIN, "local", "start-api",
         "--template-file", WORK / "build" / "template.yaml",
         "--env-vars", WORK / "env.json", "--skip-pull-image",
         "--warm-containers", "EAGER", "--host", "127.0.0.1", "--port", str(port),
         "--add-host", "host.docker.internal:host-gateway"],
        cwd=ROOT, env=S.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    on_exit("stop sam local start-api", lambda: stop_pid(api, signal.SIGINT, wait=60))
    wait_for(lambda: port_open(port) or api.poll() is not None, 120, "sam local start-api")
    if api.poll() is not None:
        raise StepError(f"sam local start-api exited {api.returncode}; see {log_path('start-api')}")
    base = f"http://127.0.0.1:{port}/webhooks"

    # The test secrets the events are signed with (inline in env.json for ingest).
    env = json.loads((WORK / "env.json").read_text())
    secrets = {p: keys[0] for p, keys in json.loads(env[INGEST]["WEBHOOK_SECRETS"]).items()}
    t0 = time.monotonic()
    check(http_status(f"{base}/spotdraft", "GET") == 405, "GET /webhooks/spotdraft answers 405")
    sent = samples()
    accepted = 0
    for provider, sample, _ in sent:
        status = send(f"{base}/{provider}", provider, sample, secrets[provider])
        # DocuSign Connect counts only 200 as delivered: ingest answers it so.
        want = 200 if provider == "docusign" else 202
        accepted += status == want
        check(status == want, f"send {sample.name}", f"HTTP {status}, expected {want}")
    provider, sample, _ = sent[0]
    status = send(f"{base}/{provider}", provider, sample, secrets[provider])
    check(status == 200, f"send {sample.name} again (duplicate)", f"HTTP {status}, expected 200")
    wrong = base64.b64encode(b"not the configured key").decode()  # valid for every scheme
    status = send(f"{base}/{provider}", provider, sample, wrong)
    check(status == 401, f"send {sample.name} with a wrong secret", f"HTTP {status}, expected 401")
    per_request = (time.monotonic() - t0) / (len(sent) + 3)

    queued = drain_queue_into_processor()
    check(queued == accepted, "every accepted event was queued once", f"{queued} queued, {accepted} accepted")

    for subject, want in sorted(S.synced.items()):
        got = synced_state(*subject, "api")
        check(got == want, f"status {' '.join(subject)}", f"{got}, expected {want}")
        say(f"  status {' '.join(subject)}: {' '.join(map(str, got or ('-',)))}")
    return f"{len(sent) + 3} requests, {per_request:.2f} s each; {queued} queued and processed"


STEPS = [
    ("engine", step_engine),
    ("image", step_image),
    ("build", step_build),
    ("moto", step_moto),
    ("events", step_events),
    ("invoke", step_invoke),
    ("api", step_api),
]


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(LOGS, ignore_errors=True)
    S.env = base_env()

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    t_all = time.monotonic()
    try:
        for name, fn in STEPS:
            t0 = time.monotonic()
            failed_before = S.failed
            try:
                note = fn()
            except Exception as e:  # noqa: BLE001 - any failure ends the run, cleanly
                check(False, f"step {name}", str(e))
                say(f"sam-test: {name:<7} FAILED after {time.monotonic() - t0:6.1f} s")
                break
            ok = "ok" if S.failed == failed_before else f"{S.failed - failed_before} failed"
            if ok == "ok":
                S.passed += 1
            say(f"sam-test: {name:<7} {ok} in {time.monotonic() - t0:6.1f} s  ({note})")
    except KeyboardInterrupt as e:
        check(False, "interrupted", str(e))
    finally:
        t0 = time.monotonic()
        cleanup()
        say(f"sam-test: cleanup done in {time.monotonic() - t0:.1f} s; total {time.monotonic() - t_all:.1f} s; logs in {LOGS}")
    if S.failures:
        say("failed: " + "; ".join(S.failures))
    say(f"sam-test: {S.passed} passed, {S.failed} failed")
    return 1 if S.failed else 0


if __name__ == "__main__":
    sys.exit(main())
