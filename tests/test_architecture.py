"""The import graph of the package: layers point one way, no cycles, no private names.

The layers are the architecture map of ``docs/architecture.md``; a module may import from its
own layer or below, never above. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "talentsim"

LAYERS: list[tuple[str, ...]] = [
    # foundations: units, seeds, versions, designs, the compiled building blocks
    (
        "units",
        "_text",
        "paths",
        "glossary",
        "versions",
        "progress",
        "interrupts",
        "seeds",
        "designs",
        "compiled.compat",
        "compiled.records",
        "compiled.draws",
        "compiled.choice",
        "compiled.offers",
        "compiled.ties",
        "compiled.clock",
        "compiled.search",
    ),
    ("terms",),  # the utility terms, declared once
    ("compiled.decisions", "compiled", "hashing"),  # the step compiled against the terms
    ("scenario", "builders", "limits"),  # the schema (weights and switches derive from the terms)
    ("population", "network"),  # state
    ("kernels",),  # the rules on arrays
    ("model",),
    ("results", "mean_field", "run_statistics"),
    (
        "store",
        "sweepfile",
        "experiments",
        "compare",
        "analysis",
        "sensitivity_analysis",
        "targets",
        "smm",
        "priors",
        "_pyabc_sampler",
        "_dask_terms",
        "approximate_bayes",
    ),
    ("validation", "calibration"),
    (
        "plots",
        "plots.style",
        "plots.run",
        "plots.sweep",
        "plots.comparison",
        "plots.calibration",
        "plots.validation",
        "report",
        "viz",
        "schema_doc",
    ),
    ("cli", "__main__"),
    ("",),  # the package itself
]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _ours(module: str | None) -> bool:
    return module is not None and (module == "talentsim" or module.startswith("talentsim."))


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """(module imported, name imported or "", line) of each talentsim import in a file.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    found.append(
                        (alias.name.removeprefix("talentsim").lstrip("."), "", node.lineno)
                    )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
            module = str(node.module).removeprefix("talentsim").lstrip(".")
            for alias in node.names:
                sub = f"{module}.{alias.name}".lstrip(".")
                if sub in MODULES:
                    found.append((sub, "", node.lineno))
                else:
                    found.append((module, alias.name, node.lineno))
    return found


def _edges() -> list[tuple[str, str, str, int]]:
    return [
        (name, target, imported, line)
        for name, path in MODULES.items()
        for target, imported, line in _imports(path)
        if target != name
    ]


def test_every_module_has_a_layer() -> None:
    assert set(MODULES) <= set(RANK), f"add to LAYERS: {sorted(set(MODULES) - set(RANK))}"


def test_no_module_imports_a_layer_above_it() -> None:
    upward = [
        f"talentsim.{name} (line {line}) imports talentsim.{target}"
        for name, target, _, line in _edges()
        if RANK[target] > RANK[name]
    ]
    assert not upward, "\n".join(upward)


def test_no_module_imports_the_package_init() -> None:
    offenders = [
        f"talentsim.{name} (line {line}) imports the package ({imported or 'talentsim'})"
        for name, target, imported, line in _edges()
        if target == "" and name != ""
    ]
    assert not offenders, "\n".join(offenders)


def test_no_private_name_is_imported_across_modules() -> None:
    private = [
        f"talentsim.{name} (line {line}) imports {imported} from talentsim.{target}"
        for name, target, imported, line in _edges()
        if imported.startswith("_") and not imported.endswith("__")  # dunders are public
    ]
    assert not private, "\n".join(private)


def test_the_import_graph_has_no_cycles() -> None:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, target, _, _ in _edges():
        graph[name].add(target)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from talentsim.cli import main\nfrom talentsim.model import _x\n"
        "if TYPE_CHECKING:\n    from talentsim.viz import launch\n"
    )
    assert sorted(_imports(probe)) == [("cli", "main", 1), ("model", "_x", 2)]
