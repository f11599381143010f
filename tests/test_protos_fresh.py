"""The committed generated gRPC code is what scripts/gen_protos.py makes from proto/, and the
script notices (and fixes) every way it can drift."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = "core/oncall/alerting/v1"


def gen_protos(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "gen_protos.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_checkout(dest: Path) -> Path:
    """The parts of the checkout the generator reads and writes, copied to ``dest``."""
    for name in ("pyproject.toml", "scripts/gen_protos.py"):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "proto", dest / "proto")
    shutil.copytree(ROOT / GENERATED, dest / GENERATED, ignore=shutil.ignore_patterns("__pycache__"))
    for package in ("core/oncall", "core/oncall/alerting"):
        shutil.copy2(ROOT / package / "__init__.py", dest / package / "__init__.py")
    return dest


def test_committed_generated_code_matches_the_protos():
    result = gen_protos(ROOT, "--check")
    assert result.returncode == 0, result.stderr


def test_check_lists_every_drifted_file_and_regenerating_fixes_them(tmp_path):
    root = copy_checkout(tmp_path)
    generated = root / GENERATED
    (generated / "alerting_pb2.py").write_text("# edited by hand\n")
    (generated / "alerting_pb2.pyi").unlink()
    (generated / "__init__.py").unlink()
    (generated / "old_pb2.py").write_text("# from a .proto that no longer exists\n")

    check = gen_protos(root, "--check")
    assert check.returncode == 1
    assert f"differs: {GENERATED}/alerting_pb2.py" in check.stderr
    assert f"missing: {GENERATED}/alerting_pb2.pyi" in check.stderr
    assert f"missing: {GENERATED}/__init__.py" in check.stderr
    assert f"stale (no .proto generates it): {GENERATED}/old_pb2.py" in check.stderr
    assert "alerting_pb2_grpc.py" not in check.stderr
    assert (generated / "alerting_pb2.py").read_text() == "# edited by hand\n"  # --check writes nothing

    regenerate = gen_protos(root)
    assert regenerate.returncode == 0, regenerate.stderr
    assert gen_protos(root, "--check").returncode == 0
    assert not (generated / "old_pb2.py").exists()
    for name in ("alerting_pb2.py", "alerting_pb2.pyi", "alerting_pb2_grpc.py"):
        assert (generated / name).read_bytes() == (ROOT / GENERATED / name).read_bytes()


def test_generator_refuses_any_grpcio_tools_but_the_pinned_one(tmp_path):
    root = copy_checkout(tmp_path)
    pyproject = root / "pyproject.toml"
    pinned, count = re.subn(r'"grpcio-tools==[^"]+"', '"grpcio-tools==1.0.0"', pyproject.read_text())
    assert count == 1
    pyproject.write_text(pinned)
    (root / GENERATED / "alerting_pb2.py").write_text("# edited by hand\n")

    result = gen_protos(root)
    assert result.returncode == 2
    assert "grpcio-tools 1.0.0 is required" in result.stderr
    assert (root / GENERATED / "alerting_pb2.py").read_text() == "# edited by hand\n"
