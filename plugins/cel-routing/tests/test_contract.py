"""The cel router keeps the router contract (oncall-plugin-testkit) on whichever CEL engine is installed."""

from oncall_testkit import alert_view, check_router, registered

VALID = ['labels.team == "storage"', 'severity == "critical" && labels.instance.startsWith("db-")', "true"]
INVALID = ["labels.team ==", "no_such_function(1)", '"unterminated', "1 + 'a' +"]


async def test_the_cel_router_keeps_the_contract() -> None:
    router = registered("cel-routing").one("routers")
    await check_router(router, valid=VALID, invalid=INVALID,
                       alerts=[alert_view(), alert_view(labels={}, severity="info", summary="")])
