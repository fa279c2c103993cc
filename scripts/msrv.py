#!/usr/bin/env python3
"""The declared minimum Rust version holds: no locked dependency (for
Linux, as built here) declares a higher `rust-version` than the workspace's
`Cargo.toml`. Run by .ci/run; exits 1 with the offenders named."""
import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.check_output(
        [
            "cargo", "metadata", "--format-version", "1", "--locked",
            "--filter-platform", "x86_64-unknown-linux-gnu",
        ]
    )
)
in_build = {node["id"] for node in meta["resolve"]["nodes"]}
members = set(meta["workspace_members"])
declared = {p["name"]: p.get("rust_version") for p in meta["packages"] if p["id"] in members}
product = declared.get("secret-sync")
if not product:
    sys.exit("Cargo.toml declares no rust-version for secret-sync")
needed = sorted(
    (
        (version(p["rust_version"]), p["name"], p["version"])
        for p in meta["packages"]
        if p["id"] in in_build and p["id"] not in members and p.get("rust_version")
    ),
    reverse=True,
)
too_new = [(v, n, pv) for v, n, pv in needed if v > version(product)]
if too_new:
    for v, name, pv in too_new:
        print(f"{name} {pv} needs Rust {'.'.join(map(str, v))}, above the declared {product}")
    sys.exit(1)
top = needed[0] if needed else None
if top:
    print(f"rust-version {product} holds: the most any locked dependency needs is "
          f"{'.'.join(map(str, top[0]))} ({top[1]} {top[2]})")
else:
    print(f"rust-version {product} holds")
