"""Layers point one way (docs/ARCHITECTURE.md): no module imports a higher layer, and no import circles.

Every ``from .x import`` / ``import e3d.x`` in e3d/, at module level or inside a function, counts.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# low → high; a module may import its own layer or lower ones
LAYERS = [
    {"errors", "units", "metrics", "cache"},
    {"molecule"},
    {"fragments", "geometry", "corpus", "provenance", "cards", "data", "data.xtb", "data.dft"},  # molecule helpers, labellers, cards
    {"composite", "model"},
    {"edges"},
    {"pairs"},
    {"references", "bde", "additivity", "thermo", "bondtypes", "scan", "ensemble", "scaling", "calculator", "evaluate", "export",
     "throughput", "convergence", "verdict", "inheritance", "fresh_readout", "within_type"},
    {"precompute", "report", "study", "batch", "family", "train", "compiled", "bde_check",
     "data.frames", "data.build", "data.delta", "data.model_minima", "data.qm9", "data.spice", "data.atct", "data.cached",
     "data.edge_prior", "data.locality"},
    {"cli", "__main__", ""},
]
LAYER = {m: k for k, layer in enumerate(LAYERS) for m in layer}


def imports():
    """{module: {imported e3d modules}} with names relative to the package ("" = e3d itself)."""
    graph = {}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "e3d")):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), os.path.join(ROOT, "e3d"))[:-3].replace(os.sep, ".")
            mod = "" if rel == "__init__" else rel.removesuffix(".__init__")
            pkg = mod if f == "__init__.py" else mod.rpartition(".")[0]
            targets = set()
            for node in ast.walk(ast.parse(open(os.path.join(dirpath, f)).read())):
                if isinstance(node, ast.ImportFrom) and node.level:
                    base = pkg.split(".") if pkg else []
                    base = base[:len(base) - (node.level - 1)]
                    if node.module:
                        targets.add(".".join(base + [node.module]))
                    else:  # from . import x
                        targets.update(".".join(base + [a.name]) for a in node.names)
                elif isinstance(node, ast.Import):
                    targets.update(a.name.removeprefix("e3d.") for a in node.names if a.name.startswith("e3d."))
            graph[mod] = {t for t in targets if t != mod}
    return graph


def test_every_module_has_a_layer():
    assert set(imports()) <= set(LAYER), sorted(set(imports()) - set(LAYER))


def test_no_upward_import():
    upward = [(m, t) for m, ts in imports().items() for t in ts if t in LAYER and LAYER[t] > LAYER[m]]
    assert not upward, upward


def test_no_import_circle():
    graph = imports()
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError("import circle: " + " → ".join(stack[stack.index(m):] + [m]))
        if m in seen:
            return
        stack.append(m)
        for t in graph.get(m, ()):
            visit(t)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)
