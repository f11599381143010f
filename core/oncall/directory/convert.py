"""Between the directory contract's messages and the plugin contract's dataclasses."""

from __future__ import annotations

from collections.abc import Iterable

from oncall_hookspecs import ContactMethod, User

from .v1 import directory_pb2 as pb

#: ContactMethod.kind (the plugin contract's lower-case name) → the contract's enum value
KIND_TO_TYPE: dict[str, pb.ContactMethodType] = {
    "sms": pb.CONTACT_METHOD_TYPE_SMS,
    "voice": pb.CONTACT_METHOD_TYPE_VOICE,
    "email": pb.CONTACT_METHOD_TYPE_EMAIL,
    "slack": pb.CONTACT_METHOD_TYPE_SLACK,
    "teams": pb.CONTACT_METHOD_TYPE_TEAMS,
    "push": pb.CONTACT_METHOD_TYPE_PUSH,
    "webhook": pb.CONTACT_METHOD_TYPE_WEBHOOK,
}
TYPE_TO_KIND: dict[int, str] = {v: k for k, v in KIND_TO_TYPE.items()}


def user_from_proto(msg: pb.User) -> User:
    return User(id=msg.id, name=msg.name or msg.id, email=msg.email, time_zone=msg.time_zone or "UTC")


def usable_contact_methods(methods: Iterable[pb.ContactMethod]) -> list[ContactMethod]:
    """The methods OnCall may page, in the order to try them.

    Disabled methods and types this version does not know are dropped; the rest are sorted
    by priority, keeping the server's order among equals (``sorted`` is stable).
    """
    usable = [m for m in methods if not m.disabled and m.type in TYPE_TO_KIND and m.address]
    return [
        ContactMethod(id=m.id, kind=TYPE_TO_KIND[m.type], address=m.address)
        for m in sorted(usable, key=lambda m: m.priority)
    ]
