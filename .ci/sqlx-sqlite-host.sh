#!/usr/bin/env bash
# A host that uses sqlx's SQLite can enable the crate's `sqlite` store in the
# same build: cargo resolves both (they link one `sqlite3`). Checked by
# resolving such a host, outside the workspace, against this checkout.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
host="$(mktemp -d)"
trap 'rm -rf "$host"' EXIT
mkdir -p "$host/src"
: > "$host/src/lib.rs"
cat > "$host/Cargo.toml" <<TOML
[package]
name = "sqlx-sqlite-host"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
referral-engine = { path = "$repo", features = ["sqlite"] }
sqlx = { version = "0.9", default-features = false, features = ["sqlite", "runtime-tokio"] }

[workspace]
TOML
cargo metadata --format-version 1 --manifest-path "$host/Cargo.toml" > "$host/metadata.json"
python3 - "$host/metadata.json" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
linked = sorted(f'{p["name"]} {p["version"]}' for p in meta["packages"] if p["name"] == "libsqlite3-sys")
if len(linked) != 1:
    sys.exit(f"expected one libsqlite3-sys, found {linked}")
print(f"a host with sqlx's sqlite and referral-engine's sqlite resolves: one {linked[0]}")
PY
