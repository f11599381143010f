"""The contract's gate (datasette's): every hook is documented, its reference page is what its docstring says,
and some test exercises it. A new hook fails here until it has all three."""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest
from oncall_hookspecs import hookspecs
from oncall_hookspecs.markers import PROJECT

ROOT = Path(__file__).resolve().parents[2]
#: where the tests of the repository live (the suite, the contract's, the kit's and each plugin's)
TEST_DIRS = [ROOT / "tests", ROOT / "hookspecs" / "tests", ROOT / "testkit" / "tests", *ROOT.glob("plugins/*/tests")]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_hook_docs", ROOT / "scripts" / "gen_hook_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
HOOKS = GEN.hook_names()


def test_the_contract_declares_hooks_and_a_family_for_each() -> None:
    assert HOOKS, "no hookspecs found"
    assert set(HOOKS) == set(hookspecs.FAMILIES), "every hook needs its family in hookspecs.FAMILIES"
    for name in HOOKS:
        assert hasattr(getattr(hookspecs, name), f"{PROJECT}_spec")


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring_documenting_each_parameter(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    text, params = GEN.split_docstring(spec.__doc__)
    assert text, f"{hook} has no docstring"
    for name in inspect.signature(spec).parameters:
        assert params.get(name, "").strip(), f"{hook}: document '{name}' with ':param {name}: …'"
    assert set(params) <= set(inspect.signature(spec).parameters), f"{hook} documents a parameter it doesn't take"


def test_a_parameter_documented_across_lines_is_read_whole_and_one_left_out_is_missing() -> None:
    text, params = GEN.split_docstring("""Register things.

    :param register: call with each
        :class:`Thing`, once.
    """)
    assert text == "Register things."
    assert params == {"register": "call with each `Thing`, once."}
    assert GEN.split_docstring("Register things.")[1] == {}


def test_the_reference_pages_are_what_the_docstrings_say() -> None:
    assert GEN.stale() == [], "the hook reference is stale: run ./dev hook-docs and commit hookspecs/docs/hooks/"


@functools.cache
def _hook_tests() -> dict[str, list[str]]:
    """hook name → the tests named ``test_hook_<hook>…`` whose body names the hook, across every test directory."""
    found: dict[str, list[str]] = {}
    for directory in TEST_DIRS:
        for path in directory.rglob("test_*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
                names |= {n.arg for n in ast.walk(node) if isinstance(n, ast.keyword) and n.arg}
                names |= {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                for hook in HOOKS:
                    if node.name.startswith(f"test_hook_{hook}") and hook in names:
                        found.setdefault(hook, []).append(f"{path.relative_to(ROOT)}::{node.name}")
    return found


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_that_exercises_it(hook: str) -> None:
    assert _hook_tests().get(hook), (
        f"{hook} has no test: write one named test_hook_{hook}_… that implements the hook and shows the core "
        "using what it registered (tests/test_hooks.py has one per hook)"
    )
