"""``oncall plugins`` lists what is installed; ``oncall plugin new NAME --family F`` writes a working plugin distribution.

The skeletons are package data (``plugin_templates/``, each file ``….tmpl``): a pyproject with the ``oncall``
entry point, a package registering one object of the family, a README, and tests that run
the family's contract check from oncall-plugin-testkit. The core knows families, not
integrations: a skeleton is a starting point, named by the author.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..config import Settings

NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_NAME = 40


@dataclass(frozen=True)
class Family:
    hook: str
    about: str
    dependencies: tuple[str, ...] = ()
    settings: str = ""


FAMILIES: dict[str, Family] = {
    "source": Family(
        "register_sources",
        "A source: `POST /api/v1/webhooks/${name}` takes the sender's JSON and raises one alert per `id`.",
    ),
    "channel": Family(
        "register_channels",
        "A channel: each delivery is POSTed as JSON to `${env}URL`; 5xx, 408, 429, timeouts and refused "
        "connections are retried (honouring `Retry-After`), other answers are permanent. A channel needs a "
        "renderer and spec for its name (`oncall plugin new ${name} --family renderer`) to turn templates into payloads.",
        ("aiohttp>=3.9",),
        "\n## Settings\n\n| variable | |\n| --- | --- |\n| `${env}URL` | where deliveries are POSTed; unset, "
        "nothing is registered |\n| `${env}TIMEOUT_S` | seconds to wait for an answer (default 10) |\n",
    ),
    "renderer": Family(
        "register_renderers",
        "A renderer for the `${name}` channel, and the channel's spec (its template part `text`, default "
        "template and capabilities): the `text` part becomes `{\"text\": …}`, refused when empty or too long.",
    ),
    "router": Family(
        "register_routers",
        "A router (`ONCALL_ROUTER=${name}`): a rule's condition is `key=value` on the alert's labels.",
    ),
    "directory": Family(
        "register_directories",
        "A user directory (`ONCALL_DIRECTORY=${name}`) over a JSON file of users and contact methods.",
        (),
        "\n## Settings\n\n| variable | |\n| --- | --- |\n| `${env}FILE` | the users file; unset, nothing is "
        "registered |\n",
    ),
    "lifecycle": Family(
        "register_lifecycle_listeners",
        "A lifecycle listener: every alert event (created, acknowledged, resolved, escalated …) becomes a log line.",
    ),
    "ticket": Family(
        "register_ticket_providers",
        "A ticket provider: tickets are created, updated and read back over a JSON HTTP API at `${env}URL`.",
        ("aiohttp>=3.9",),
        "\n## Settings\n\n| variable | |\n| --- | --- |\n| `${env}URL` | the ticket API's base URL; unset, "
        "nothing is registered |\n| `${env}TOKEN` | sent as `Authorization: Bearer` |\n"
        "| `${env}TIMEOUT_S` | seconds to wait for an answer (default 10) |\n",
    ),
}

TEMPLATES = resources.files("oncall") / "plugin_templates"


class PluginNameError(ValueError):
    """The name can't name a distribution, a module and an entry point at once."""


def names(name: str) -> dict[str, str]:
    """What a skeleton is called where: the entry point, distribution, module, class prefix and settings prefix."""
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise PluginNameError(
            f"plugin name {name!r} must be lower-case letters and digits, words joined by '-', "
            f"starting with a letter, at most {MAX_NAME} characters (e.g. statuscake, my-pager)"
        )
    return {
        "name": name,
        "dist": f"oncall-{name}",
        "module": "oncall_" + name.replace("-", "_"),
        "cls": "".join(part.capitalize() for part in name.split("-")),
        "env": "ONCALL_" + name.upper().replace("-", "_") + "_",
    }


def _files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.name == "__pycache__":
            continue
        path = f"{prefix}{item.name}"
        out += _files(item, path + "/") if item.is_dir() else [(path, item)]
    return out


def skeleton(name: str, family: str) -> dict[str, str]:
    """The files of a new plugin, by relative path."""
    spec = FAMILIES[family]
    values = names(name)
    values["family"] = family
    values["hook"] = spec.hook
    values["dependencies"] = "".join(f', "{d}"' for d in spec.dependencies)
    values["about"] = string.Template(spec.about).substitute(values)
    values["settings"] = string.Template(spec.settings).substitute(values)
    out: dict[str, str] = {}
    for root in (TEMPLATES / "common", TEMPLATES / family):
        for path, item in _files(root):
            # .tmpl: so that no tool reads a template as the file it becomes (a pyproject, a module)
            target = re.sub(r"^package/", f"{values['module']}/", path.removesuffix(".tmpl"))
            out[target] = string.Template(item.read_text()).substitute(values)
    return out


def write(files: dict[str, str], directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty: choose another --dir")
    for path, text in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def cmd_plugin_new(args: argparse.Namespace, settings: Settings) -> int:
    try:
        files = skeleton(args.name, args.family)
    except PluginNameError as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 2
    directory = Path(args.dir) if args.dir else Path(names(args.name)["dist"])
    try:
        write(files, directory)
    except (FileExistsError, OSError) as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 1
    print(f"wrote a {args.family} plugin, {names(args.name)['dist']}, in {directory}/:")
    for path in files:
        print(f"  {path}")
    print("next:")
    print(f"  cd {directory} && pip install -e '.[test]' && pytest")
    return 0


def cmd_plugins(args: argparse.Namespace, settings: Settings) -> int:
    from ..plugins import load_plugins

    _, registry = load_plugins(settings.disabled_plugins)
    if not registry.plugins:
        print("no plugins installed (entry-point group 'oncall')")
        return 0
    rows = [("NAME", "VERSION", "STATUS", "HOOKS / PROBLEM")]
    for p in registry.plugins:
        detail = ", ".join(p.hooks) if p.status == "ok" else p.error
        if p.status == "ok" and p.hooks and not p.provides:
            detail += " (registered nothing: see its README for the settings it needs)"
        rows.append((p.name, p.version, p.status, detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    return 1 if args.strict and any(p.status == "failed" for p in registry.plugins) else 0


def register_list(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("plugins", help="list discovered plugins, their versions and hooks")
    p.add_argument("--strict", action="store_true", help="exit 1 when a plugin failed to load")
    p.set_defaults(func=cmd_plugins)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    plugin = sub.add_parser("plugin", help="write a new plugin distribution")
    psub = plugin.add_subparsers(dest="plugin_command", required=True)
    p = psub.add_parser(
        "new", help="write a working plugin skeleton: pyproject, package, README and tests using the test kit"
    )
    p.add_argument("name", help="the plugin's name: its entry point, and oncall-NAME as a distribution")
    p.add_argument("--family", required=True, choices=list(FAMILIES), help="what the plugin provides")
    p.add_argument("--dir", help="where to write it (default: ./oncall-NAME); must not exist or be empty")
    p.set_defaults(func=cmd_plugin_new)
