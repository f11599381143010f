"""The shape of the core, read from its source: no import cycles between modules, the gRPC
services never import the HTTP server, domain errors know no transport, and the server
wires every service of the composition root (``Context``).

The import graph holds every import a module executes, at its top or inside a function
(a cycle hidden in a function is still a cycle), but not those under ``if TYPE_CHECKING:``,
which never run. Importing ``a.b.c`` also runs ``a/b/__init__.py``; that is the package
itself, not an edge of the graph.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import oncall
from oncall.context import Context

ROOT = Path(oncall.__file__).parent


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skipped


def import_graph() -> dict[str, set[str]]:
    """Module → the oncall modules it imports when it runs."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = {name for name, _ in files}
    graph: dict[str, set[str]] = {}
    for (name, is_package), path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        edges.add(f"{source}.{alias.name}")  # from package import submodule
                    elif source in modules:
                        edges.add(source)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Any]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
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


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function() -> None:
    # the finder itself, on a graph with one two-module cycle and a three-module one
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set(), "d": {"e"}, "e": {"f"}, "f": {"d"}}
    assert sorted(cycles(graph)) == [["a", "b"], ["d", "e", "f"]]


def test_the_graph_reads_imports_inside_functions_and_relative_ones() -> None:
    graph = import_graph()
    assert "oncall.routing.route" in graph["oncall.escalation.engine"]  # a relative import at the top
    assert "oncall.server" in graph["oncall.cli.server"]  # an import inside a command function


def test_no_module_of_the_core_is_in_an_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_grpc_services_never_import_the_http_server() -> None:
    graph = import_graph()
    crossing = sorted(
        (module, imported) for module, edges in graph.items() if module.startswith("oncall.rpc")
        for imported in edges if imported == "oncall.http" or imported.startswith("oncall.http.")
    )
    assert crossing == []


def test_domain_errors_and_the_store_edge_know_no_transport() -> None:
    for module in ("errors.py", "store/errors.py"):
        tree = ast.parse((ROOT / module).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"grpc", "aiohttp"}, module


async def test_the_server_wires_every_service_of_the_context(server: Any) -> None:
    ctx: Context = server.ctx
    made_on_first_use = {"notification_watcher"}  # by the first WatchNotification
    unwired = [f.name for f in dataclasses.fields(Context)
               if f.name not in made_on_first_use and getattr(ctx, f.name) is None]
    assert unwired == []
    assert not hasattr(ctx, "extras")
