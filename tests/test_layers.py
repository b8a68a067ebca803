"""The rule of the layers (docs/ARCHITECTURE.md), checked on the source with ``ast``.

contracts <- stages <- pipelines / bench; serving depends on contracts only; no import cycles.
Every import counts, those inside functions too; imports under ``if TYPE_CHECKING:`` do not
(they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "serving", "pipelines", "bench")
SHARED = {"components", "components.contracts", "components.settings"}
"""What serving may import from components: the contracts and the project-wide settings."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if not p.name.endswith(("_pb2.py", "_pb2_grpc.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(name: str, path: Path) -> set[str]:
    """Every module (or module.attribute) ``path`` imports, absolute."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        targets = {resolve(n) for n in imported_names(name, path)
                   if n.split(".")[0] in PACKAGES}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def stage_of(module: str) -> str:
    """``components.judge.run`` -> ``components.judge``; top-level modules are their own."""
    return ".".join(module.split(".")[:2])


def test_serving_imports_no_offline_stage():
    graph = import_graph()
    bad = {m: sorted(t for t in targets if t.startswith("components") and t not in SHARED)
           for m, targets in graph.items() if m.startswith("serving")}
    assert not {m: t for m, t in bad.items() if t}, \
        "serving/ may import components.contracts and components.settings only"


def test_components_import_no_serving_pipelines_or_bench():
    graph = import_graph()
    bad = {m: sorted(t for t in targets if not t.startswith("components"))
           for m, targets in graph.items() if m.startswith("components")}
    assert not {m: t for m, t in bad.items() if t}


def test_contracts_import_nothing_of_the_project():
    assert import_graph()["components.contracts"] == set()


def test_no_import_cycles_between_modules():
    assert cycles(import_graph()) == []


def test_no_import_cycles_between_stages():
    stages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        stages.setdefault(stage_of(module), set()).update(
            stage_of(t) for t in targets if stage_of(t) != stage_of(module))
    assert cycles(stages) == []


def test_the_check_sees_a_cycle_and_a_serving_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    path = ROOT / "serving" / "gateway" / "service.py"
    assert "components.contracts" in imported_names("serving.gateway.service", path)
