#!/usr/bin/env python3
"""The house rules that a reader cannot see break (exit 1 naming each):

- no type of src/ with more than 40 methods (a store, a client, a service
  that grew past that is two things under one name: split it by consumer);
- no raw sleep in tests/ (tests wait for a row or a signal: testkit's
  `eventually` and the maintenance loops' test signals; deliberate pacing
  is `testkit::pace`, which says so).
"""
import collections
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MAX_METHODS = 40


def rust_files(top):
    for d, _, files in os.walk(os.path.join(ROOT, top)):
        for f in files:
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def method_counts():
    counts = collections.Counter()
    block = re.compile(r"^impl(?:<[^>]*>)? (\w+)(?:<[^>]*>)? \{\n(.*?)^\}", re.S | re.M)
    method = re.compile(r"^    (?:pub(?:\([^)]*\))? )?(?:const )?(?:async )?fn ", re.M)
    for path in rust_files("src"):
        text = open(path, encoding="utf-8").read()
        for m in block.finditer(text):
            counts[m.group(1)] += len(method.findall(m.group(2)))
    return counts


def sleeps():
    raw = re.compile(r"\b(tokio::time::sleep|std::thread::sleep|thread::sleep)\s*\(")
    for path in rust_files("tests"):
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            if raw.search(line):
                yield f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()}"


def main():
    broken = []
    for name, n in method_counts().most_common():
        if n > MAX_METHODS:
            broken.append(f"{name} has {n} methods (at most {MAX_METHODS}): split it by consumer")
    for where in sleeps():
        broken.append(f"raw sleep in a test (wait for a row or a signal): {where}")
    for b in broken:
        print(b)
    if broken:
        sys.exit(1)
    biggest = method_counts().most_common(1)
    print(f"house rules hold (largest type: {biggest[0][1]} methods, {biggest[0][0]}; no raw sleep in tests/)")


if __name__ == "__main__":
    main()
