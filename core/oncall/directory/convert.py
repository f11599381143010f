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


def channel_of(msg: pb.ContactMethod) -> str:
    """The channel name of a contact method: its ``channel`` when set, else the one its ``type``
    names ("" for neither)."""
    return msg.channel.strip().lower() or TYPE_TO_KIND.get(msg.type, "")


def contact_method_to_proto(cm_id: str, channel: str, address: str, priority: int = 0,
                            disabled: bool = False) -> pb.ContactMethod:
    """A contact method as a directory server sends it: ``channel`` always, ``type`` too for a
    built-in channel (older clients read only that)."""
    return pb.ContactMethod(id=cm_id, channel=channel, type=KIND_TO_TYPE.get(channel, pb.CONTACT_METHOD_TYPE_UNSPECIFIED),
                            address=address, priority=priority, disabled=disabled)


def usable_contact_methods(methods: Iterable[pb.ContactMethod]) -> list[ContactMethod]:
    """The methods OnCall may page, in the order to try them.

    Disabled methods, methods with no address and methods naming no channel are dropped; the
    rest are sorted by priority, keeping the server's order among equals (``sorted`` is
    stable). A channel this process has not installed is kept here: the escalation engine
    skips it with a note on the alert's timeline, where someone will read it.
    """
    usable = [m for m in methods if not m.disabled and channel_of(m) and m.address]
    return [
        ContactMethod(id=m.id, kind=channel_of(m), address=m.address)
        for m in sorted(usable, key=lambda m: m.priority)
    ]
