"""Between the directory contract's messages and the plugin contract's dataclasses."""

from __future__ import annotations

from collections.abc import Iterable

from oncall_hookspecs import ROLES, ContactMethod, User, UserQuery

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
    """A user as the contract sends them; a role this version does not know counts as none
    (a newer directory's role must not grant what no one here defined)."""
    role = msg.role.strip().lower()
    return User(id=msg.id, name=msg.name or msg.id, email=msg.email, time_zone=msg.time_zone or "UTC",
                role=role if role in ROLES else "",
                groups=tuple(dict.fromkeys(g.strip() for g in msg.groups if g.strip())))


def query_to_proto(query: UserQuery) -> pb.FindUsersRequest:
    """A FindUsers request for ``query`` (ValueError unless it has exactly one criterion)."""
    kind = query.kind
    if kind == "email":
        return pb.FindUsersRequest(email=query.email)
    if kind == "contact":
        return pb.FindUsersRequest(contact=pb.ContactAddress(channel=query.channel, address=query.address))
    return pb.FindUsersRequest(external=pb.ExternalIdentity(issuer=query.issuer, subject=query.subject))


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
