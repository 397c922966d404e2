#!/usr/bin/env python3
"""Writes the seed corpus into fuzz/corpus/<target>/seed-* from the repository's test data.

Sources (issue 8, part 4): the sample bodies in samples/ and the
signature vectors in vectors/signatures.json. Only the seed-* files
are kept in git; whatever libFuzzer adds next to them is ignored.

Usage: python3 fuzz/seed_corpus.py [DATA_DIR]   (default: the repo root; DATA_DIR holds samples/ and vectors/)
"""

import base64
import json
import struct
import sys
import urllib.parse
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else FUZZ.parent


def write(target, name, data):
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seed-{name}").write_bytes(data)


def verify_input(provider, now_ms, sig, content_type, secrets, body, resign=False):
    """The byte layout documented in fuzz_targets/verify.rs."""
    flags = (1 if provider == "subnoto" else 0) | 4
    flags |= 2 if resign else 0
    flags |= 8 if sig is not None else 0
    head = bytes([flags]) + struct.pack("<qI", now_ms, 0xFFFFFFFF)
    lines = [sig or "", content_type, "\t".join(secrets)]
    return head + "".join(line + "\n" for line in lines).encode() + body


def main():
    samples = sorted((DATA / "samples").glob("*.json"))
    for path in samples:
        body = path.read_bytes()
        write("parse_json", path.stem, body)
        if path.name.startswith("subnoto-"):
            form = urllib.parse.urlencode({"payload": body.decode()}).encode()
            write("parse_form", path.stem, form)
        provider = path.name.split("-", 1)[0]
        write("verify", f"resigned-{path.stem}",
              verify_input(provider, 1_795_341_600_000, None, "application/json", [], body, True))

    vectors = json.loads((DATA / "vectors" / "signatures.json").read_text())["vectors"]
    seen = set()
    for v in vectors:
        kind = v["name"].rsplit("-", 1)[0]
        malformed = "malformed-header" in kind
        if kind in seen and not malformed:
            continue  # one vector per kind, every malformed header
        seen.add(kind)
        headers = {k.lower(): val for k, val in v["headers"].items()}
        body = base64.b64decode(v["body_b64"])
        if v["provider"] == "subnoto":
            sig = headers.get("x-webhook-signature")
            if sig is not None:
                write("subnoto_header", v["name"], sig.encode())
        else:
            sig = headers.get("x-sd-webhook-content-hash")
        write("verify", v["name"],
              verify_input(v["provider"], v["now_ms"], sig, v["content_type"], v["secrets"], body))
        if v["content_type"].startswith("application/x-www-form-urlencoded"):
            write("parse_form", v["name"], body)

    count = sum(1 for _ in (FUZZ / "corpus").glob("*/seed-*"))
    size = sum(p.stat().st_size for p in (FUZZ / "corpus").glob("*/seed-*"))
    print(f"seed corpus: {count} files, {size} bytes in {FUZZ / 'corpus'}")


if __name__ == "__main__":
    main()
