#!/usr/bin/env python3
"""Finds import cycles between the modules of src/ (exit 1 if any).

Two levels: rooms (the top-level modules: store, queue, web, ...) and
files (store::jobs, web::api::syncs, ...). An edge A -> B means a file of A
names a path into B (`use crate::b::...`, `crate::b::x(...)`,
`super::b::...`). A module and its own parent `mod.rs` are one node at the
room level; at the file level a child naming its parent's re-exports counts.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.replace(" ", "").replace("\n", "")
    if "{" not in tree:
        return [tree]
    i = tree.index("{")
    prefix, body = tree[:i], tree[i + 1 : tree.rindex("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p:
            out += [prefix + q for q in expand_use(p)]
    return out


def paths_in(text):
    text = strip_comments(text)
    found = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text, flags=re.S):
        found += expand_use(m.group(1))
    found += re.findall(r"(?<![:\w])((?:crate|super)(?:::\w+)+)", text)
    return found


def resolve(module, path, is_mod_file):
    parts = path.split("::")
    base = list(module) if is_mod_file else list(module)
    # In foo/bar.rs, `super` is foo; in foo/mod.rs, `super` is foo's parent.
    cur = list(module)
    while parts and parts[0] == "super":
        cur = cur[:-1]
        parts = parts[1:]
    if parts and parts[0] == "crate":
        cur, parts = [], parts[1:]
    elif parts and parts[0] == "self":
        parts = parts[1:]
    del base
    return tuple(cur + [p for p in parts if p not in ("self", "*")])


def main():
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                files[module_of(os.path.join(dirpath, n))] = os.path.join(dirpath, n)
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        with open(path) as f:
            text = f.read()
        is_mod = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
        for p in paths_in(text):
            target = resolve(mod, p, is_mod)
            # Longest known module that prefixes the target path.
            while target and target not in modules:
                target = target[:-1]
            if target and target != mod:
                edges[mod].add(target)
    bad = False
    for level in ("rooms", "files"):
        graph = {}
        for a, bs in edges.items():
            for b in bs:
                if level == "rooms":
                    ra, rb = a[:1], b[:1]
                    if ra == rb or not ra or not rb:
                        continue
                else:
                    ra, rb = a, b
                    # A parent module re-exporting its children is not a cycle.
                    if rb == ra[: len(rb)] or ra == rb[: len(ra)]:
                        continue
                graph.setdefault(ra, set()).add(rb)
                graph.setdefault(rb, set())
        for scc in sccs(graph):
            if len(scc) > 1:
                bad = True
                names = sorted("::".join(m) for m in scc)
                print(f"cycle between {level}: " + " <-> ".join(names))
                for a in sorted(scc):
                    for b in sorted(graph[a] & set(scc)):
                        print(f"    {'::'.join(a)} -> {'::'.join(b)}")
    if bad:
        sys.exit(1)
    print(f"no module cycles ({len(modules)} modules)")


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    main()
