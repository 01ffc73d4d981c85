"""The MSRV claim, checked against the lock file.

Reads `cargo metadata --locked` on stdin: every locked package's
`rust-version` must be at or below the library's, and README.md must state
the library's. Exits non-zero, naming the offenders, otherwise.
"""
import json
import re
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.load(sys.stdin)
root = next(p for p in meta["packages"] if p["name"] == "referral-engine")
msrv = root.get("rust_version")
if not msrv:
    sys.exit("referral-engine declares no rust-version")
over = sorted(
    f'{p["name"]} {p["version"]} needs {p["rust_version"]}'
    for p in meta["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
if over:
    sys.exit(f"the lock file breaks the MSRV {msrv}:\n  " + "\n  ".join(over))
with open("README.md", encoding="utf-8") as readme:
    stated = re.search(r"MSRV[^0-9]*([0-9]+\.[0-9]+)", readme.read())
if not stated or version(stated.group(1)) != version(msrv):
    sys.exit(f"README.md must state the MSRV as {msrv}")
print(f"MSRV {msrv}: every one of {len(meta['packages'])} locked packages builds on it")
