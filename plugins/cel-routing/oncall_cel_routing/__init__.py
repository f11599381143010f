"""The ``cel`` router: ordered routing rules whose conditions are CEL expressions.

    from oncall_cel_routing import CelRouter

Registered through the ``register_routers`` hook; ``ONCALL_CEL_ENGINE`` (``cel-expr`` or
``cel-python``) forces an engine, otherwise cel-expr-python is used where it is installed.
"""

import logging
from collections.abc import Callable
from importlib import metadata

from oncall_hookspecs import Router, hookimpl

from .router import CelRouter

__all__ = ["CelRouter", "register_routers"]

log = logging.getLogger(__name__)

_DISTRIBUTIONS = {"cel-expr": "cel-expr-python", "cel-python": "cel-python"}


@hookimpl
def register_routers(register: Callable[[Router], None]) -> None:
    router = CelRouter()
    # the engine is chosen per process, and the engines can differ (see the README): say which
    log.info("cel router: rules are evaluated by the %s engine (%s)", router.engine.name, _version(router.engine.name))
    register(router)


def _version(engine: str) -> str:
    distribution = _DISTRIBUTIONS.get(engine, engine)
    try:
        return f"{distribution} {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return distribution
