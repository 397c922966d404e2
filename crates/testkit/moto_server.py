"""Start moto in server mode on loopback and print the port.

Used by the Rust test harness and `make dev`. Port 0 (the default) picks a free
port. The server stops when standard input closes, so it never outlives the
process that started it.
"""
import sys

from moto.server import ThreadedMotoServer

port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print(server._server.server_port, flush=True)
try:
    sys.stdin.read()
finally:
    server.stop()
