"""Grafana dashboards (dashboards/grafana/*.json) against the real hub schema, as Grafana's read-only role.

Every panel target, template variable and annotation query is interpolated the way Grafana 11 does it for a
PostgreSQL data source (`expand` below), run on a migrated and seeded scratch database as `grafana_reader`, and
its result checked against what the panel needs. Also: the dashboards' JSON, uids and data source, the
provisioning files against the compose mounts, and the read-only role script.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards" / "grafana"
CLOUD = ROOT / "deploy" / "cloud"
COMPOSE = CLOUD / "compose.yaml"
DATASOURCES = CLOUD / "grafana" / "datasources.yaml"
PROVIDER = CLOUD / "grafana" / "dashboards.yaml"
EXPECTED = ("incidents.json", "sla.json", "fleet.json", "telemetry.json")

NUMERIC = {"int2", "int4", "int8", "float4", "float8", "numeric"}
TIME = {"timestamptz", "timestamp", "date"}
TEXT = {"text", "varchar", "bpchar", "name"}


# ---------------------------------------------------------------------------------------------- the expander
@dataclass(frozen=True, slots=True)
class QueryContext:
    """What Grafana knows when it sends a query: the time range, the variables' values, the data source."""

    time_from: datetime
    time_to: datetime
    variables: Mapping[str, Sequence[str] | str]  # a list: multi-value; a str: a raw value (custom all value)
    multi: frozenset[str]  # variables that are multi-value or include All (SQL quoting by default)
    interval: str = "5m"  # $__interval: Grafana derives it from the range and the panel width
    timescaledb: bool = False  # the data source's jsonData.timescaledb (and the server has it)


MACRO = re.compile(r"\$__(\w+)\(")
VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
INTERVAL = re.compile(r"^(\d+)(s|m|h|d)$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _interval_seconds(text: str) -> int:
    match = INTERVAL.match(text.strip().strip("'\""))
    assert match, f"interval {text!r}: write it like 30s, 5m, 1h or 1d"
    return int(match[1]) * SECONDS[match[2]]


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the macro call whose '(' is at sql[start - 1]; (args, end index)."""
    depth, args, current = 1, [], ""
    i = start
    while i < len(sql):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(current.strip())
                return [a for a in args if a], i + 1
        elif ch == "," and depth == 1:
            args.append(current.strip())
            current = ""
            i += 1
            continue
        current += ch
        i += 1
    raise AssertionError(f"unbalanced parentheses in macro call: {sql[start - 10 : start + 40]!r}")


def _variables(sql: str, ctx: QueryContext) -> str:
    """Template variables, as Grafana's front end replaces them before sending: `${v:singlequote}` is the values
    quoted and comma-joined; `$v`/`${v}` the same for a multi-value/All variable, the raw value otherwise; a custom
    all value is inserted as written (Grafana does not format it). `$__interval` is a variable too."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[3]
        fmt = match[2]
        if name == "__interval":
            return ctx.interval
        if name.startswith("__") or name not in ctx.variables:
            return match[0]  # a macro, or unknown: left for the checks below
        value = ctx.variables[name]
        if isinstance(value, str):  # custom all value, or a single-value variable's raw value
            return _quote(value) if fmt == "singlequote" and name not in ctx.multi else value
        assert fmt in (None, "singlequote"), f"${{{name}:{fmt}}}: only the singlequote format is supported here"
        if fmt == "singlequote" or name in ctx.multi:
            return ",".join(_quote(v) for v in value)
        assert len(value) == 1, f"${name} has several values but is not a multi-value variable"
        return value[0]

    return VARIABLE.sub(replace, sql)


def expand(sql: str, ctx: QueryContext) -> str:
    """Grafana 11's PostgreSQL macros, exactly the ones the dashboards use, after the template variables:

    - `$__timeFilter(col)`      -> `col BETWEEN '<from>' AND '<to>'` (RFC 3339, UTC)
    - `$__timeFrom()`, `$__timeTo()` -> `'<from>'`, `'<to>'`
    - `$__timeGroupAlias(col, 1h)` -> `time_bucket('3600s',col) AS "time"` when the data source has
      `timescaledb: true`, else `floor(extract(epoch from col)/3600)*3600 AS "time"`

    Any other `$__` macro, or any `$` left over (an unknown variable), fails the test: Grafana would send it
    to the database or refuse it, and this check would no longer say what Grafana runs."""
    sql = _variables(sql, ctx)
    out, pos = [], 0
    for match in MACRO.finditer(sql):
        if match.start() < pos:
            continue
        name = match[1]
        args, end = _arguments(sql, match.end())
        out.append(sql[pos : match.start()])
        if name == "timeFilter":
            assert len(args) == 1, f"$__timeFilter takes one column: {args}"
            out.append(f"{args[0]} BETWEEN '{_rfc3339(ctx.time_from)}' AND '{_rfc3339(ctx.time_to)}'")
        elif name in ("timeFrom", "timeTo"):
            assert not args, f"$__{name}() takes no arguments"
            out.append(f"'{_rfc3339(ctx.time_from if name == 'timeFrom' else ctx.time_to)}'")
        elif name == "timeGroupAlias":
            assert len(args) == 2, f"$__timeGroupAlias(column, interval) without fill options: {args}"
            column, seconds = args[0], _interval_seconds(args[1])
            group = (
                f"time_bucket('{seconds}s',{column})"
                if ctx.timescaledb
                else f"floor(extract(epoch from {column})/{seconds})*{seconds}"
            )
            out.append(f'{group} AS "time"')
        else:
            raise AssertionError(f"macro $__{name} is not supported by this check; add it to expand() first")
        pos = end
    out.append(sql[pos:])
    result = "".join(out)
    leftover = re.search(r"\$\{?\w+", result)
    assert leftover is None, f"{leftover[0]!r} was not interpolated (an unknown variable or macro)"
    return result


def test_expander_covers_the_macros_it_documents() -> None:
    ctx = QueryContext(
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
        {"kind": ["a", "o'b"], "district": "'__all'", "metric": ["water_level_cm"]},
        frozenset({"kind", "district"}),
    )
    assert expand("WHERE $__timeFilter(f(x, y)) AND k IN (${kind:singlequote})", ctx) == (
        "WHERE f(x, y) BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-02T00:00:00Z' AND k IN ('a','o''b')"
    )
    assert expand("$__timeGroupAlias(ts, $__interval)", ctx) == 'floor(extract(epoch from ts)/300)*300 AS "time"'
    assert expand("$__timeFrom()::date $district $metric ${metric:singlequote}", ctx) == (
        "'2026-01-01T00:00:00Z'::date '__all' water_level_cm 'water_level_cm'"
    )
    with pytest.raises(AssertionError, match="not supported"):
        expand("$__unixEpochFilter(ts)", ctx)
    with pytest.raises(AssertionError, match="not interpolated"):
        expand("WHERE x = $nobody", ctx)


# ---------------------------------------------------------------------------------------------- the files
def load_dashboards() -> dict[str, dict[str, Any]]:
    """Dashboards that parse (a file that does not fails test_dashboard_files_are_valid_json)."""
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        try:
            found[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
    return found


DASHBOARD_DATA = load_dashboards()


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def datasource_uid() -> str:
    sources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    assert len(sources) == 1, "one data source is expected in grafana/datasources.yaml"
    return sources[0]["uid"]


def test_dashboard_files_are_valid_json() -> None:
    names = sorted(p.name for p in DASHBOARDS.glob("*.json"))
    assert set(EXPECTED) <= set(names), f"dashboards/grafana/ lacks {sorted(set(EXPECTED) - set(names))}"
    for name in names:
        try:
            json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
        except ValueError as exc:
            pytest.fail(f"dashboards/grafana/{name} is not valid JSON: {exc}")


def test_dashboards_have_unique_uids_titles_and_panel_ids() -> None:
    uids = [d.get("uid") for d in DASHBOARD_DATA.values()]
    assert all(uids) and len(set(uids)) == len(uids), f"every dashboard needs its own uid: {uids}"
    titles = [d.get("title") for d in DASHBOARD_DATA.values()]
    assert len(set(titles)) == len(titles), f"titles repeat: {titles}"
    for name, dashboard in DASHBOARD_DATA.items():
        assert re.search(r"[\u4e00-\u9fff]", dashboard["title"]), f"{name}: the title should be Chinese first"
        assert dashboard.get("description"), f"{name}: describe the dashboard (in English)"
        assert "cityops" in dashboard.get("tags", []), f"{name}: tag it cityops (the dashboards link by tag)"
        ids = [p["id"] for p in panels(dashboard)]
        assert len(set(ids)) == len(ids), f"{name}: panel ids repeat: {ids}"
        for panel in panels(dashboard):
            if panel["type"] != "row":
                assert panel.get("title") and panel.get("description"), (
                    f"{name} panel {panel['id']}: title, description"
                )


def test_every_query_uses_the_provisioned_datasource() -> None:
    uid = datasource_uid()
    for name, dashboard in DASHBOARD_DATA.items():
        items = [*panels(dashboard), *dashboard["templating"]["list"], *user_annotations(dashboard)]
        for item in items:
            sources = [item.get("datasource"), *(t.get("datasource") for t in item.get("targets", []))]
            for source in filter(None, sources):
                assert source == {"type": "grafana-postgresql-datasource", "uid": uid}, f"{name}: {source}"


def user_annotations(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [a for a in dashboard.get("annotations", {}).get("list", []) if not a.get("builtIn")]


# ---------------------------------------------------------------------------------------------- provisioning
def compose_services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def mounts(service: Mapping[str, Any]) -> dict[str, tuple[Path | None, bool]]:
    """Container path -> (host path for bind mounts, read-only)."""
    found: dict[str, tuple[Path | None, bool]] = {}
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        host = (CLOUD / source).resolve() if source.startswith(".") else None
        found[target] = (host, mode == ["ro"])
    return found


def test_provisioning_paths_match_the_compose_mounts() -> None:
    grafana = mounts(compose_services()["grafana"])
    by_host = {host: (target, ro) for target, (host, ro) in grafana.items() if host is not None}
    for path, folder in ((DATASOURCES, "datasources"), (PROVIDER, "dashboards")):
        assert path.resolve() in by_host, f"compose's grafana service does not mount {path.relative_to(ROOT)}"
        target, ro = by_host[path.resolve()]
        assert target.startswith(f"/etc/grafana/provisioning/{folder}/") and target.endswith(".yaml"), target
        assert ro, f"mount {path.name} read-only"
    providers = yaml.safe_load(PROVIDER.read_text(encoding="utf-8"))["providers"]
    assert [p["folder"] for p in providers] == ["CityOps"]
    assert DASHBOARDS.resolve() in by_host, "compose's grafana service does not mount dashboards/grafana/"
    target, ro = by_host[DASHBOARDS.resolve()]
    assert ro and providers[0]["options"]["path"] == target, "the provider's path must be where compose mounts it"
    source = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]
    assert source["user"] == "grafana_reader", "Grafana reads the database with the read-only role"
    assert source["secureJsonData"]["password"] == "$GRAFANA_DB_PASSWORD"
    env = compose_services()["grafana"]["environment"]
    assert env["GRAFANA_DB_PASSWORD"].startswith("${GRAFANA_DB_PASSWORD:?"), "the password is required, not literal"
    assert "POSTGRES_PASSWORD" not in env, "Grafana must not hold the superuser password"


def test_database_service_runs_the_role_script() -> None:
    db = compose_services()["db"]
    init = mounts(db).get("/docker-entrypoint-initdb.d")
    assert init is not None and init[0] == (CLOUD / "db-init").resolve() and init[1], "mount db-init/ read-only"
    assert (CLOUD / "db-init" / "10-grafana-role.sql").is_file()
    assert db["environment"]["GRAFANA_DB_PASSWORD"].startswith("${GRAFANA_DB_PASSWORD:?")


def test_compose_mounts_of_grafana_and_db_exist() -> None:
    """Every bind mount of the grafana and db services exists (tests/deploy renders the whole file)."""
    for name in ("grafana", "db"):
        for target, (host, _) in mounts(compose_services()[name]).items():
            assert host is None or host.exists(), f"compose service {name} mounts missing {host} at {target}"


# ---------------------------------------------------------------------------------------------- running queries
@dataclass(frozen=True, slots=True)
class Result:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


def run(conn: psycopg.Connection, sql: str) -> Result:
    with conn.cursor() as cur:
        try:
            cur.execute(sql)  # no parameters: '%' in the SQL stays as written, as Grafana sends it
        except psycopg.Error as exc:
            pytest.fail(f"{exc}\n--- SQL as Grafana would send it ---\n{sql}")
        assert cur.description is not None, f"the query returns no result set:\n{sql}"
        columns = [c.name for c in cur.description]
        types = [
            conn.adapters.types.get(c.type_code).name if conn.adapters.types.get(c.type_code) else "?"
            for c in cur.description
        ]
        return Result(columns, types, cur.fetchall())


def datasource_timescaledb() -> bool:
    return bool(yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]["jsonData"]["timescaledb"])


def resolve_variables(
    conn: psycopg.Connection,
    dashboard: Mapping[str, Any],
    seeded: Any,
    mode: str,
) -> QueryContext:
    """Run each variable's query in order (later ones may use earlier ones) and pick values as a user would:
    mode 'all' selects All (the custom all value) where offered, mode 'one' the first value listed."""
    values: dict[str, Sequence[str] | str] = {}
    multi: set[str] = set()
    for var in dashboard["templating"]["list"]:
        name = var["name"]
        if var.get("multi") or var.get("includeAll"):
            multi.add(name)
        assert var["type"] == "query", f"variable {name}: only query variables are checked"
        result = run(conn, expand(var["query"], context(seeded, values, multi)))
        listed = [str(r[result.columns.index("__value")] if "__value" in result.columns else r[0]) for r in result.rows]
        assert listed, f"variable {name} lists no values on the seeded database"
        if mode == "all" and var.get("includeAll"):
            values[name] = var["allValue"]
        else:
            values[name] = listed[:1]
    return context(seeded, values, multi)


def context(seeded: Any, values: Mapping[str, Sequence[str] | str], multi: set[str]) -> QueryContext:
    return QueryContext(
        time_from=seeded.now - timedelta(days=30),
        time_to=seeded.now + timedelta(hours=1),
        variables=dict(values),
        multi=frozenset(multi),
        timescaledb=datasource_timescaledb() and seeded.timescaledb,
    )


def panel_cases() -> list[Any]:
    cases = []
    for name, dashboard in DASHBOARD_DATA.items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                for mode in ("all", "one"):
                    cases.append(
                        pytest.param(
                            name,
                            panel["id"],
                            target["refId"],
                            mode,
                            id=f"{name}:{panel['id']}:{target['refId']}:{mode}",
                        )
                    )
    return cases


def _overridden_names(panel: Mapping[str, Any]) -> set[str]:
    overrides = panel.get("fieldConfig", {}).get("overrides", [])
    return {o["matcher"]["options"] for o in overrides if o["matcher"]["id"] == "byName"}


def check_panel_result(panel: Mapping[str, Any], target: Mapping[str, Any], result: Result, mode: str) -> None:
    """The columns each panel type needs, and the fields its options name."""
    kinds = dict(zip(result.columns, result.types, strict=True))
    where = f"panel {panel['id']} ({panel['title']})"
    assert len(set(result.columns)) == len(result.columns), f"{where}: columns repeat {result.columns}"
    if mode == "all":  # every panel shows something on the seeded database
        assert result.rows, f"{where}: no rows on the seeded database"
    missing = _overridden_names(panel) - set(result.columns)
    assert not missing, f"{where}: overrides name fields the query does not return: {missing}"
    if panel["type"] == "timeseries" or target.get("format") == "time_series":
        assert "time" in kinds, f"{where}: a time series needs a column named time, got {result.columns}"
        assert kinds["time"] in TIME | NUMERIC, f"{where}: time is {kinds['time']}"
        others = {c: t for c, t in kinds.items() if c != "time"}
        assert any(t in NUMERIC for t in others.values()), f"{where}: no numeric value column in {kinds}"
        assert all(t in NUMERIC | TEXT for t in others.values()), f"{where}: values must be numbers or labels: {kinds}"
        times = [r[result.columns.index("time")] for r in result.rows]
        assert times == sorted(times), f"{where}: order the rows by time"
    elif panel["type"] == "stat":
        assert any(t in NUMERIC for t in kinds.values()), f"{where}: a stat needs a numeric column: {kinds}"
        assert len(result.rows) <= 1, f"{where}: a stat query answers one row"
    elif panel["type"] == "barchart":
        x = panel["options"]["xField"]
        assert x in kinds and kinds[x] in TEXT, f"{where}: xField {x!r} must be a text column of {kinds}"
        assert any(t in NUMERIC for c, t in kinds.items() if c != x), f"{where}: no numeric column in {kinds}"
    elif panel["type"] == "table":
        renames = {}
        for transformation in panel.get("transformations", []):
            if transformation["id"] == "organize":
                renames.update(transformation["options"].get("renameByName", {}))
        assert set(renames) == set(result.columns), (
            f"{where}: every column needs a header in renameByName and every header a column; "
            f"columns {result.columns}, headers {sorted(renames)}"
        )
    else:
        raise AssertionError(f"{where}: panel type {panel['type']} has no check here; add one")


@pytest.mark.parametrize(("dashboard_name", "panel_id", "ref_id", "mode"), panel_cases())
def test_panel_query_runs_and_returns_what_the_panel_needs(
    reader: psycopg.Connection, seeded: Any, dashboard_name: str, panel_id: int, ref_id: str, mode: str
) -> None:
    dashboard = DASHBOARD_DATA[dashboard_name]
    panel = next(p for p in panels(dashboard) if p["id"] == panel_id)
    target = next(t for t in panel["targets"] if t["refId"] == ref_id)
    assert target.get("rawQuery") and target.get("rawSql"), "targets are raw SQL (editorMode code)"
    ctx = resolve_variables(reader, dashboard, seeded, mode)
    result = run(reader, expand(target["rawSql"], ctx))
    check_panel_result(panel, target, result, mode)


@pytest.mark.parametrize("dashboard_name", sorted(DASHBOARD_DATA))
def test_annotation_queries_return_time_and_text(reader: psycopg.Connection, seeded: Any, dashboard_name: str) -> None:
    dashboard = DASHBOARD_DATA[dashboard_name]
    ctx = resolve_variables(reader, dashboard, seeded, "all")
    for annotation in user_annotations(dashboard):
        result = run(reader, expand(annotation["target"]["rawSql"], ctx))
        assert {"time", "text"} <= set(result.columns), f"{annotation['name']}: columns {result.columns}"
        assert result.rows, f"{annotation['name']}: nothing on the seeded database"


def test_the_dashboards_cover_what_the_city_asked_for() -> None:
    """Each dashboard reads the tables and views it is about (the queries themselves ran above)."""
    wanted = {
        "incidents.json": ("incidents", "rollup_events_hourly", "districts", "cameras"),
        "sla.json": ("rollup_sla_daily", "work_orders"),
        "fleet.json": ("devices", "health", "device_configs"),
        "telemetry.json": ("telemetry", "hub_modes", "hub_mode_changes"),
    }
    for name, relations in wanted.items():
        text = json.dumps(DASHBOARD_DATA[name])
        for relation in relations:
            assert re.search(rf"\b{relation}\b", text), f"{name} does not read {relation}"
    variables = {n: {v["name"] for v in d["templating"]["list"]} for n, d in DASHBOARD_DATA.items()}
    assert {"district", "kind"} <= variables["incidents.json"] and {"district", "kind"} <= variables["sla.json"]
    assert {"metric", "sensor"} <= variables["telemetry.json"]


# ---------------------------------------------------------------------------------------------- the role
def test_reader_role_reads_but_never_writes_or_sees_credentials(
    grafana_db: Any, role_script: Any, reader: psycopg.Connection
) -> None:
    assert run(reader, "SELECT username, role FROM users").rows, "the role reads the hub's tables"
    assert run(reader, "SELECT device_id, online FROM devices").rows
    for column, table in (("password_hash", "users"), ("secret_hash", "devices")):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(f"SELECT {column} FROM {table}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("SELECT * FROM users")
    with pytest.raises((psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
        reader.execute("INSERT INTO districts (district_id, name) VALUES ('x', 'x')")
    # Run again on the migrated database (the by-hand path for an existing install): still idempotent.
    again = role_script(grafana_db.password)
    assert again.returncode == 0, again.stderr
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("SELECT password_hash FROM users")
    assert run(reader, "SELECT count(*) FROM rollup_events_hourly").rows


def test_role_script_refuses_a_missing_password(role_script: Any) -> None:
    for password in (None, ""):
        result = role_script(password)
        assert result.returncode != 0 and "GRAFANA_DB_PASSWORD" in result.stderr, result.stderr
