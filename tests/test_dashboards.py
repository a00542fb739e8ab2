"""The Grafana dashboards' SQL runs against our schema on PostgreSQL; PromQL names our metrics."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from gateway.metrics import Metrics
from gateway.schema import migrate
from localservices import ROOT
from timeseries.db import connect

pytestmark = pytest.mark.live
BOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


def targets() -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for board in BOARDS:
        doc = json.loads(board.read_text())
        for panel in doc["panels"]:
            for t in panel["targets"]:
                out.append((f"{board.stem}: {panel['title']}", panel["datasource"]["uid"], t))
    return out


def grafana_to_sql(raw: str) -> str:
    """Expand the Grafana macros and variables we use."""
    raw = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 BETWEEN now() - interval '7 days' AND now()",
                 raw)
    return raw.replace("$vin", "WVWZZZ1JZXW000081").replace("$feature",
                                                            "navigation.route_guidance")


async def test_dashboard_sql_runs_on_our_schema(db_url: str) -> None:
    conn = await connect(db_url)
    await migrate(conn)
    ran = 0
    for name, uid, target in targets():
        if uid != "telematics-pg":
            continue
        try:
            await conn.execute(grafana_to_sql(target["rawSql"]).encode())
        except psycopg.Error as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        ran += 1
    await conn.close()
    assert ran >= 6


def test_promql_uses_exported_metrics() -> None:
    exported = {m.name for m in Metrics().registry.collect()}
    used = {re.sub(r"_(total|bucket)$", "", n) for _, uid, t in targets()
            if uid == "prometheus" for n in re.findall(r"telematics_[a-z_]+", t["expr"])}
    assert used and used <= exported, used - exported
