"""The ``cel`` router: ordered routing rules whose conditions are CEL expressions.

    from oncall_cel_routing import CelRouter

Registered through the ``register_routers`` hook; ``ONCALL_CEL_ENGINE`` (``cel-expr`` or
``cel-python``) forces an engine, otherwise cel-expr-python is used where it is installed.
"""

from collections.abc import Callable

from oncall_hookspecs import Router, hookimpl

from .router import CelRouter

__all__ = ["CelRouter", "register_routers"]


@hookimpl
def register_routers(register: Callable[[Router], None]) -> None:
    register(CelRouter())
