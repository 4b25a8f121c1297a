#!/usr/bin/env python3
"""The package's import graph: modules, arrows, circles and floors (issue 30).

Reads every module under ``unetvocalsep/`` with :mod:`ast` (nothing is
imported) and counts the imports of one package module by another, at the top
of a file or inside a function alike.

- **circles**: groups of modules that import each other (strongly connected
  components of more than one module);
- **floors**: the length of the longest chain of imports, circles counted as
  one floor: a module that imports no package module is on floor 1.

Usage::

    python scripts/import_graph.py            # the summary
    python scripts/import_graph.py --floors   # and each floor's modules
    python scripts/import_graph.py --json     # everything, machine-readable
"""
import argparse
import ast
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unetvocalsep")
PACKAGE = "unetvocalsep"


def module_name(path, root=ROOT):
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    if rel.endswith("__init__"):
        rel = rel[:-len("__init__")].rstrip(".")
    return PACKAGE + ("." + rel if rel else "")


def modules(root=ROOT):
    """``{module name: path}`` of every ``.py`` file of the package."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                out[module_name(path, root)] = path
    return out


def _resolve(current, is_package, node, known):
    """The package modules an ImportFrom / Import node names."""
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith(PACKAGE) and name:
                found.add(name)
        return found
    base = current if is_package else current.rpartition(".")[0]
    if node.level:
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = base + ("." + node.module if node.module else "")
    else:
        target = node.module or ""
    if not target.startswith(PACKAGE):
        return found
    for alias in node.names:   # `from . import audio` names a module
        sub = f"{target}.{alias.name}"
        if sub in known:
            found.add(sub)
            continue
        name = target
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def graph(root=ROOT):
    """``{module: set of package modules it imports}`` (itself excluded)."""
    mods = modules(root)
    edges = {}
    for name, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith("__init__.py")
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= _resolve(name, is_package, node, mods)
        deps.discard(name)
        edges[name] = deps
    return edges


def circles(edges):
    """Strongly connected components (Tarjan), as sorted lists; singletons included."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def floors(edges):
    """``{module: floor}``: 1 + the highest floor it imports (circles share one floor)."""
    comps = circles(edges)
    comp_of = {m: i for i, c in enumerate(comps) for m in c}
    floor = {}

    def level(i):
        if i not in floor:
            floor[i] = 0   # guard; components form a DAG
            deps = {comp_of[w] for m in comps[i] for w in edges[m]} - {i}
            floor[i] = 1 + max((level(j) for j in deps), default=0)
        return floor[i]

    return {m: level(comp_of[m]) for m in edges}


def _top_level_names(tree):
    """Names a module defines itself, and names it only imports (at its top level)."""
    defined, imported = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defined.add(n.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
    return defined, imported - defined


def relays(root=ROOT):
    """Imports of a name through a module that only imports it: ``(importer, via, name)``."""
    mods = modules(root)
    trees = {}
    for name, path in mods.items():
        with open(path, encoding="utf-8") as f:
            trees[name] = ast.parse(f.read(), path)
    names = {m: _top_level_names(t) for m, t in trees.items()}
    out = []
    for name, tree in trees.items():
        is_package = mods[name].endswith("__init__.py")
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            for target in _resolve(name, is_package, node, mods):
                if target.endswith(tuple("." + a.name for a in node.names)):
                    continue   # `from . import module`
                defined, only_imported = names[target]
                for alias in node.names:
                    if alias.name in only_imported and target != PACKAGE \
                            and not target.endswith("__init__"):
                        out.append((name, target, alias.name))
    return sorted(set(out))


def summary(edges):
    """Counts: modules, arrows, circles (lists), floors."""
    fl = floors(edges)
    return {"modules": len(edges), "arrows": sum(len(d) for d in edges.values()),
            "circles": [c for c in circles(edges) if len(c) > 1],
            "floors": max(fl.values()) if fl else 0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--floors", action="store_true", help="list each floor's modules")
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    p.add_argument("--relays", action="store_true",
                   help="list names imported through a module that only imports them")
    args = p.parse_args(argv)
    edges = graph()
    s = summary(edges)
    if args.json:
        print(json.dumps(dict(s, floor=floors(edges), imports={k: sorted(v) for k, v in edges.items()}),
                         indent=1))
        return 0
    print(f"{s['modules']} modules, {s['arrows']} arrows, {s['floors']} floors, "
          f"{len(s['circles'])} circles")
    for c in s["circles"]:
        print("  circle: " + " <-> ".join(m.replace(PACKAGE + ".", "") for m in c))
    found = relays()
    print(f"{len(found)} names imported through a relay")
    if args.relays:
        for importer, via, name in found:
            print(f"  {importer.replace(PACKAGE + '.', '')}: {name} via {via.replace(PACKAGE + '.', '')}")
    if args.floors:
        fl = floors(edges)
        for k in range(1, s["floors"] + 1):
            print(f"  floor {k}: " + ", ".join(sorted(m.replace(PACKAGE + ".", "")
                                                       for m, f in fl.items() if f == k)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
