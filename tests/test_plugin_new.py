"""``oncall plugin new NAME --family F``: a skeleton for every family that installs and whose tests pass.

The end-to-end test writes one plugin per family with the real command, pip-installs them
(no dependencies: they come from the test venv, which a fresh venv sees through a .pth
file, so the test venv itself gains no plugin) and runs each one's tests with pytest in a
subprocess, as its author would.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall.cli.plugin import FAMILIES

ONCALL = Path(sys.executable).with_name("oncall")


def oncall(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ONCALL), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the directory holding one new plugin per family, a venv with all of them installed)."""
    root = tmp_path_factory.mktemp("plugins")
    for family in FAMILIES:
        made = oncall("plugin", "new", f"kit-{family}", "--family", family, cwd=root)
        assert made.returncode == 0, made.stderr
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # the test venv's packages (pytest, the kit, oncall-hookspecs, aiohttp …), editable installs included
    (Path(site) / "oncall-test-venv.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", *(str(root / f"oncall-kit-{f}") for f in FAMILIES)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    yield root, python


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_new_plugin_installs_and_its_tests_pass(installed: tuple[Path, Path], family: str) -> None:
    root, python = installed
    project = root / f"oncall-kit-{family}"
    assert (project / f"oncall_kit_{family}" / "__init__.py").exists()
    assert f'kit-{family} = "oncall_kit_{family}"' in (project / "pyproject.toml").read_text()
    ran = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout and "failed" not in ran.stdout


@pytest.mark.slow
def test_the_installed_plugins_are_what_oncall_discovers(installed: tuple[Path, Path]) -> None:
    _, python = installed
    listed = subprocess.run([str(python), "-m", "oncall.cli", "plugins"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    for family, spec in FAMILIES.items():
        assert f"kit-{family}" in rows, listed.stdout
        assert "ok" in rows[f"kit-{family}"] and spec.hook in rows[f"kit-{family}"]


def test_a_name_that_cannot_be_a_module_is_refused(tmp_path: Path) -> None:
    made = oncall("plugin", "new", "My_Plugin", "--family", "source", cwd=tmp_path)
    assert made.returncode == 2
    assert "must be lower-case letters and digits" in made.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "oncall-mine").mkdir()
    (tmp_path / "oncall-mine" / "keep.txt").write_text("mine")
    made = oncall("plugin", "new", "mine", "--family", "router", cwd=tmp_path)
    assert made.returncode == 1
    assert "exists and is not empty" in made.stderr
    assert [p.name for p in (tmp_path / "oncall-mine").iterdir()] == ["keep.txt"]


def test_the_family_is_one_the_core_knows(tmp_path: Path) -> None:
    made = oncall("plugin", "new", "mine", "--family", "discord", cwd=tmp_path)
    assert made.returncode == 2
    assert "invalid choice: 'discord'" in made.stderr
