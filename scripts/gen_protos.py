#!/usr/bin/env python3
"""The one generator of the committed protobuf/gRPC Python code: proto/ → core/.

    python scripts/gen_protos.py           regenerate (./dev protos)
    python scripts/gen_protos.py --check   exit 1, listing files, when the committed code is
                                           not what a fresh generation gives (./dev check-protos)

The package path of each .proto equals its Python import path (proto/oncall/alerting/v1/
alerting.proto → oncall.alerting.v1.alerting_pb2), so protoc runs with ``-Iproto`` and the
generated imports work as they are: nothing is rewritten. Output depends on the protoc
inside grpcio-tools, so the script refuses to run unless exactly the version pinned in
pyproject.toml's ``test`` extra is installed; with the same inputs it produces the same bytes.

The REST routes are ``google.api.http`` options (google/api/annotations.proto, shipped as
.proto files inside googleapis-common-protos, put on the include path). Besides the code, it
writes ``core/oncall/rest/descriptors.binpb``: a FileDescriptorSet of proto/ with source info,
from which oncall.rest takes the proto comments as the OpenAPI document's descriptions.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = "proto"
OUT_DIR = "core"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
# proto/ as a descriptor set with comments (source info), for the REST API's OpenAPI document
DESCRIPTOR_SET = "oncall/rest/descriptors.binpb"
# A package directory the generator had to create gets this, once; it is never overwritten,
# so a directory that later grows hand-written code keeps its own __init__.py.
INIT_TEXT = '"""Code generated from {proto_dir}/ by scripts/gen_protos.py."""\n'


class GeneratorError(Exception):
    """Something the person running the script has to fix; the message says what."""


def pinned_version() -> str:
    """The grpcio-tools version pinned (``==``) in pyproject.toml's ``test`` extra."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    for requirement in project.get("optional-dependencies", {}).get("test", []):
        m = re.fullmatch(r"\s*grpcio-tools\s*==\s*([^\s;,]+)\s*", requirement)
        if m:
            return m.group(1)
    raise GeneratorError("pyproject.toml must pin grpcio-tools with == in the 'test' extra")


def require_pinned_tools() -> None:
    want = pinned_version()
    try:
        have = importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have != want:
        raise GeneratorError(
            f"grpcio-tools {want} is required (pinned in pyproject.toml) but "
            f"{'none is' if have is None else have + ' is'} installed; the generated code "
            "depends on the exact protoc version. Install it with: pip install -e '.[test]'"
        )


def proto_files() -> list[str]:
    """Every .proto under proto/, as paths relative to the repository, in a stable order."""
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / PROTO_DIR).rglob("*.proto"))
    if not files:
        raise GeneratorError(f"no .proto files under {PROTO_DIR}/")
    return files


def googleapis_include() -> Path:
    """The directory holding google/api/annotations.proto (installed by googleapis-common-protos)."""
    import importlib.util

    spec = importlib.util.find_spec("google.api.annotations_pb2")
    if spec is None or spec.origin is None:
        raise GeneratorError("googleapis-common-protos is required: install it with pip install -e '.[test]'")
    root = Path(spec.origin).resolve().parent.parent.parent
    if not (root / "google" / "api" / "annotations.proto").is_file():
        raise GeneratorError(f"google/api/annotations.proto is missing under {root}")
    return root


def run_protoc(files: list[str], out: Path) -> None:
    from grpc_tools import protoc  # imported late: the version check comes first

    well_known = resources.files("grpc_tools") / "_proto"
    googleapis = googleapis_include()
    (out / DESCRIPTOR_SET).parent.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--descriptor_set_out={out / DESCRIPTOR_SET}",
        "--include_source_info",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    # protoc resolves -I and file paths against the working directory; relative paths keep
    # absolute checkout paths out of the generated code.
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = protoc.main(args)
    finally:
        os.chdir(cwd)
    if code != 0:
        raise GeneratorError(f"protoc failed (exit {code}); its messages are above")


def generate(scratch: Path) -> dict[str, bytes]:
    """Generate into ``scratch``; return {path relative to the repository: contents}."""
    run_protoc(proto_files(), scratch)
    return {
        f"{OUT_DIR}/{p.relative_to(scratch).as_posix()}": p.read_bytes()
        for p in sorted(scratch.rglob("*"))
        if p.is_file()
    }


def package_dirs(generated: dict[str, bytes]) -> list[str]:
    """Every directory below core/ that holds generated modules or leads to them."""
    dirs: set[str] = set()
    for path in generated:
        parent = Path(path).parent
        while parent != Path(OUT_DIR):
            dirs.add(parent.as_posix())
            parent = parent.parent
    return sorted(dirs)


def committed_generated() -> set[str]:
    """Generated-looking modules that exist under core/ now."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / OUT_DIR).rglob("*")
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


@dataclass
class Drift:
    differs: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # generated-looking, but from no .proto

    def lines(self) -> list[str]:
        return (
            [f"differs: {p}" for p in self.differs]
            + [f"missing: {p}" for p in self.missing]
            + [f"stale (no .proto generates it): {p}" for p in self.stale]
        )


def compare(generated: dict[str, bytes]) -> Drift:
    drift = Drift()
    for path, content in generated.items():
        target = ROOT / path
        if not target.is_file():
            drift.missing.append(path)
        elif target.read_bytes() != content:
            drift.differs.append(path)
    for d in package_dirs(generated):
        if not (ROOT / d / "__init__.py").is_file():
            drift.missing.append(f"{d}/__init__.py")
    drift.stale = sorted(committed_generated() - generated.keys())
    return drift


def write(generated: dict[str, bytes]) -> list[str]:
    """Bring core/ in line with ``generated``; return what changed."""
    changed: list[str] = []
    for d in package_dirs(generated):
        init = ROOT / d / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            proto_dir = f"{PROTO_DIR}/{Path(d).relative_to(OUT_DIR).as_posix()}"
            init.write_text(INIT_TEXT.format(proto_dir=proto_dir))
            changed.append(f"created: {d}/__init__.py")
    for path, content in generated.items():
        target = ROOT / path
        if target.is_file() and target.read_bytes() == content:
            continue  # leave unchanged files (and their mtimes) alone
        changed.append(f"{'updated' if target.exists() else 'created'}: {path}")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(target)
    for path in sorted(committed_generated() - generated.keys()):
        (ROOT / path).unlink()
        changed.append(f"deleted (no .proto generates it): {path}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; fail when the committed code is stale"
    )
    args = parser.parse_args(argv)
    try:
        require_pinned_tools()
        scratch = Path(tempfile.mkdtemp(prefix="oncall-protos-"))
        try:
            generated = generate(scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except GeneratorError as exc:
        print(f"gen_protos: {exc}", file=sys.stderr)
        return 2

    if args.check:
        drift = compare(generated)
        if drift.lines():
            print("the committed generated code does not match proto/:", file=sys.stderr)
            for line in drift.lines():
                print(f"  {line}", file=sys.stderr)
            print("regenerate it with ./dev protos and commit the result", file=sys.stderr)
            return 1
        print(f"generated code is up to date ({len(generated)} files)")
        return 0

    changed = write(generated)
    for line in changed:
        print(line)
    print(f"{len(generated)} generated files, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
