"""A contact method names its channel by name (ContactMethod.channel), so it can be any installed channel.

The directory contract's ``type`` enum lists only the built-in channels; ``channel`` names any,
wins when set, and is sent alongside ``type`` for the built-in ones so older clients still
read them. A method whose channel is not installed is skipped by the escalation engine with a
sentence for the alert's timeline, not paged as a delivery that can only fail.
"""

from __future__ import annotations

from oncall_hookspecs import ContactMethod

from oncall.directory.convert import contact_method_to_proto, usable_contact_methods
from oncall.directory.v1 import directory_pb2 as pb
from oncall.escalation.engine import _installed_channels


def test_the_channel_name_wins_over_the_type_and_the_type_still_reads() -> None:
    methods = [
        pb.ContactMethod(id="a", type=pb.CONTACT_METHOD_TYPE_SMS, address="+15555550100", priority=3),
        pb.ContactMethod(id="b", channel="Discord", address="1/t", priority=1),
        pb.ContactMethod(id="c", channel="discord", type=pb.CONTACT_METHOD_TYPE_EMAIL, address="2/t", priority=2),
        pb.ContactMethod(id="d", address="nobody"),  # neither: no channel to page it through
        pb.ContactMethod(id="e", channel="discord", address="3/t", disabled=True),
    ]
    assert usable_contact_methods(methods) == [
        ContactMethod("b", "discord", "1/t"), ContactMethod("c", "discord", "2/t"), ContactMethod("a", "sms", "+15555550100")]


def test_a_server_fills_both_fields_for_a_built_in_channel_and_the_name_alone_for_another() -> None:
    sms = contact_method_to_proto("s", "sms", "+15555550100", priority=2)
    assert (sms.channel, sms.type, sms.priority) == ("sms", pb.CONTACT_METHOD_TYPE_SMS, 2)
    discord = contact_method_to_proto("d", "discord", "1/t", disabled=True)
    assert (discord.channel, discord.type, discord.disabled) == ("discord", pb.CONTACT_METHOD_TYPE_UNSPECIFIED, True)


def test_a_method_whose_channel_is_not_installed_is_skipped_with_a_sentence() -> None:
    known, skipped = _installed_channels("alice", [
        ContactMethod("sms-1", "sms", "+15555550100"), ContactMethod("fax-1", "fax", "+15555550101")])
    assert known == [ContactMethod("sms-1", "sms", "+15555550100")]
    assert skipped == ["alice's contact method fax-1: no channel 'fax' is installed"]
