#!/usr/bin/env python3
"""Fails if the modules of any crate import each other in a circle.

Imports run one way, down the layers (docs/architecture.md): a module may use its
children and modules below it, never one that (directly or around a circle) uses it.
This reads every `crate::...` path outside `#[cfg(test)]` code, maps it to the module
that holds it, and reports every strongly connected group of more than one module.
"""
import os
import re
import sys

CRATES = ["blockstore", "repl", "gateway", "loadgen"]


def module_of(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def graph(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                files[module_of(src, os.path.join(root, n))] = os.path.join(root, n)
    edges = {m: set() for m in files}
    for m, path in files.items():
        text = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
        for p in re.findall(r"crate::((?:\w+::)*\w+)", text):
            parts = tuple(p.split("::"))
            target = next((parts[:i] for i in range(len(parts), 0, -1) if parts[:i] in files), None)
            # Naming an ancestor (a re-export) is not an import across layers.
            if target and target != m and m[: len(target)] != target:
                edges[m].add(target)
    return edges


def circles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append("::".join(w) or "crate")
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    bad = 0
    for crate in CRATES:
        for group in circles(graph(os.path.join(root, crate, "src"))):
            print(f"{crate}: modules import each other in a circle: {', '.join(group)}")
            bad += 1
    if bad:
        sys.exit(1)
    print("imports run one way in " + ", ".join(CRATES))


if __name__ == "__main__":
    main()
