"""A minimal Lambda Runtime API (the interface a deployed function polls), on loopback.

Endpoints (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
  GET  /2018-06-01/runtime/invocation/next            long-polls for the next event
  POST /2018-06-01/runtime/invocation/{id}/response   the function's answer
  POST /2018-06-01/runtime/invocation/{id}/error      an invocation error
  POST /2018-06-01/runtime/init/error                 the function failed to start

Timing: the clock starts right before the event is written to the function (the `next` answer)
and stops when the function's `response` (or `error`) request has been read in full. One
invocation at a time, as one Lambda execution environment does.
"""

import json
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class QuietServer(ThreadingHTTPServer):
    """A function stopped between invocations drops its connection: expected, not an error."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Invocation:
    def __init__(self, payload: bytes):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.handed_out_ns = None
        self.answered_ns = None
        self.ok = None
        self.body = None
        self.done = threading.Event()


class RuntimeAPI:
    def __init__(self):
        self.pending = queue.Queue()
        self.inflight = {}
        self.lock = threading.Lock()
        self.first_next_ns = None
        self.init_error = None
        self.init_failed = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, code: int, body: bytes = b"", headers=None):
                # Status line, headers and body leave in one write (and TCP_NODELAY is set):
                # a split write would meet Nagle + delayed ACK and add ~40 ms stalls.
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self._headers_buffer.append(b"\r\n" + body)
                self.flush_headers()

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404, b'{"error":"unknown path"}')
                if api.first_next_ns is None:
                    api.first_next_ns = time.perf_counter_ns()
                inv = api.pending.get()
                if inv is None:  # shutting down: keep the function parked
                    api.pending.put(None)
                    time.sleep(3600)
                    return
                with api.lock:
                    api.inflight[inv.id] = inv
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": inv.id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 10_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                }
                inv.handed_out_ns = time.perf_counter_ns()
                self._reply(200, inv.payload, headers)

            def do_POST(self):
                body = self._read_body()
                now = time.perf_counter_ns()
                if self.path == f"{PREFIX}/init/error":
                    api.init_error = body.decode("utf-8", "replace")
                    api.init_failed.set()
                    return self._reply(202, b'{"status":"OK"}')
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api.lock:
                        inv = api.inflight.pop(parts[1], None)
                    if inv is None:
                        return self._reply(400, b'{"error":"unknown request id"}')
                    inv.answered_ns = now
                    inv.ok = parts[2] == "response"
                    inv.body = body
                    self._reply(202, b'{"status":"OK"}')
                    inv.done.set()
                    return
                self._reply(404, b'{"error":"unknown path"}')

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def invoke(self, payload: bytes, timeout: float = 30.0, alive=None) -> Invocation:
        inv = Invocation(payload)
        self.pending.put(inv)
        deadline = time.monotonic() + timeout
        while not inv.done.wait(0.02):
            if self.init_failed.is_set():
                raise RuntimeError(f"function init failed: {self.init_error}")
            if alive is not None and not alive():
                raise RuntimeError("function process exited")
            if time.monotonic() > deadline:
                raise TimeoutError("function did not answer in time")
        return inv

    def stop(self):
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


def decode_answer(inv: Invocation):
    """(status code, body dict) of an API Gateway proxy answer."""
    try:
        doc = json.loads(inv.body)
        status = int(doc.get("statusCode", 0))
        body = doc.get("body") or ""
        try:
            body = json.loads(body)
        except (TypeError, ValueError):
            pass
        return status, body
    except (TypeError, ValueError, AttributeError):
        return 0, inv.body
