"""A contract check per plugin family: what every plugin of that family must do, whatever it integrates.

Each check raises ``ContractViolation`` (an AssertionError) naming the case that broke the
contract, so a plugin's test is one call. ``plugins/*/tests/test_contract.py`` in the
OnCall repository are worked examples for every family.
"""

from ..registration import ContractViolation
from .authentication import check_authenticator, check_permission_rule, check_principal
from .channel import check_channel, check_result, check_smtp_channel
from .channel_spec import check_channel_spec
from .directory import check_directory
from .lifecycle import check_lifecycle_listener
from .renderer import check_renderer
from .router import check_decision, check_grouper, check_grouping_match, check_router
from .source import check_bad_request, check_event, check_source

__all__ = [
    "ContractViolation",
    "check_authenticator",
    "check_permission_rule",
    "check_principal",
    "check_channel",
    "check_channel_spec",
    "check_result",
    "check_smtp_channel",
    "check_bad_request",
    "check_decision",
    "check_directory",
    "check_event",
    "check_grouper",
    "check_grouping_match",
    "check_lifecycle_listener",
    "check_renderer",
    "check_router",
    "check_source",
]
