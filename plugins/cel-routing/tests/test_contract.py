"""The cel router keeps the router contract, grouping included (oncall-plugin-testkit), on whichever CEL engine is installed."""

from oncall_testkit import alert_view, check_grouper, check_router, registered

from oncall_cel_routing import CelRouter
from oncall_cel_routing.engine import select_engine

VALID = ['labels.team == "storage"', 'severity == "critical" && labels.instance.startsWith("db-")', "true"]
INVALID = ["labels.team ==", "no_such_function(1)", '"unterminated', "1 + 'a' +"]
KEYS = ["[labels.alertname, labels.instance]", "labels.alertname", 'labels.?team.orValue("none")']
INVALID_KEYS = ["[labels.alertname,", "", "labels.", '"unterminated']


async def test_the_cel_router_keeps_the_contract() -> None:
    router = registered("cel-routing").one("routers")
    await check_router(router, valid=VALID, invalid=INVALID, keys=KEYS, invalid_keys=INVALID_KEYS,
                       alerts=[alert_view(), alert_view(labels={}, severity="info", summary="")])


def test_grouping_keeps_the_contract_on_cel_python_too() -> None:
    # cel-python does not type-check, so only the grouping half: its conditions validate as written
    router = CelRouter(select_engine("cel-python"))
    check_grouper(router, conditions=VALID, keys=KEYS, invalid_keys=INVALID_KEYS, max_examples=30,
                  alerts=[alert_view(), alert_view(labels={}, severity="info", summary="")])
