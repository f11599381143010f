"""The shape of the notification rooms, read from the source: one door into alerting's tables,
one store for the delivery tables, and no import cycle among notification's modules (imports
inside functions included: those are the hidden ones)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import oncall

CORE = Path(oncall.__file__).parent
NOTIFICATION = CORE / "notification"
_ALERTING_TABLE = re.compile(r"\balerting\.[a-z_]+\b")
_DELIVERY_TABLE = re.compile(r"\bnotification\.(deliveries|attempts|circuits|rate_buckets)\b")


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "v1" not in p.relative_to(root).parts)


def _strings(path: Path) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def _sql_naming(pattern: re.Pattern[str], path: Path) -> list[str]:
    return [s for s in _strings(path) if pattern.search(s) and re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", s)]


def test_notification_reaches_alerting_tables_only_through_the_alerting_port() -> None:
    offenders = {str(p.relative_to(CORE)): found for p in _sources(NOTIFICATION)
                 if p.name != "alerting_port.py" and (found := _sql_naming(_ALERTING_TABLE, p))}
    assert offenders == {}


def test_only_the_delivery_store_has_sql_for_deliveries_attempts_circuits_and_buckets() -> None:
    store = NOTIFICATION / "delivery" / "store.py"
    offenders = {str(p.relative_to(CORE)): found for p in _sources(CORE)
                 if p != store and (found := _sql_naming(_DELIVERY_TABLE, p))}
    assert offenders == {}
    assert _sql_naming(_DELIVERY_TABLE, store)


def _module(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {t for t in (target, *(f"{target}.{a.name}" for a in node.names)) if t in known}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found - {name}


def test_no_import_cycle_among_notification_modules() -> None:
    paths = {_module(p): p for p in _sources(NOTIFICATION)}
    graph = {m: _imports(p, set(paths)) for m, p in paths.items()}
    cycles = []

    def visit(m: str, trail: list[str]) -> None:
        for n in sorted(graph[m]):
            if n in trail:
                cycles.append(trail[trail.index(n):] + [n])
            elif len(trail) < len(graph):
                visit(n, [*trail, n])

    for m in sorted(graph):
        visit(m, [m])
    # a package importing its own modules (``from . import x`` in __init__) is not a cycle of rooms
    cycles = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:], strict=False))]
    assert cycles == []
