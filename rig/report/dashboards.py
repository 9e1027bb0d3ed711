"""Grafana dashboards of the rig, generated with grafana-foundation-sdk (Grafana's typed dashboard library).

Two dashboards, written as JSON into `dashboards/grafana/dashboards/` and provisioned from there:

- **fleet** (`rig-fleet.json`): the rig's own metrics (`rig.metrics.instruments`) of the selected runs;
- **gateway** (`rig-sync-gateway.json`): Sync Gateway's hot path (push and pull rates, rev send and
  changes latency, sync function time, caches, active replications, CPU and memory) during the
  selected runs (each query is joined with `rig_run_info{run=~"$run"}`, see `DURING_RUN`).

`rig dashboards` rewrites the files; `rig dashboards --check` (and a test) says whether the committed
JSON is what this module generates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from rig._paths import project_root

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RUN = 'run=~"$run"'
GATEWAY = 'instance=~"$instance"'
GATEWAY_DB = 'instance=~"$instance", database=~"$database"'
DURING_RUN = 'and on() (group(rig_run_info{run=~"$run"}) or on() absent(rig_run_info))'
"""Joined to every gateway query: the gateway while one of the selected runs was scraped, or while no run
was (a Prometheus that scrapes only the gateway still shows it); other runs' traffic is left out."""
ALL = VariableOption(selected=True, text="All", value="$__all")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    stacked: bool = False
    stat: bool = False
    width: int = 12


def _rate(metric: str, selector: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[$__rate_interval]))"


def _quantile(q: float, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{RUN}}}[$__rate_interval])))"


def _per_op(time_ns: str, count: str) -> str:
    """Mean seconds per operation from Sync Gateway's nanosecond time and count counters."""
    return f"{_rate(time_ns, GATEWAY_DB)} / {_rate(count, GATEWAY_DB)} / 1e9 {DURING_RUN}"


def _gw(expr: str) -> str:
    return f"{expr} {DURING_RUN}"


FLEET: tuple[Chart, ...] = (
    Chart("Devices", "Devices alive in the selected runs", "short",
          (Query(f"sum(rig_devices{{{RUN}}})", "devices"),), stat=True, width=6),
    Chart("Wakes in range", "Background wakes measured over the time range", "short",
          (Query(f"sum(increase(rig_wakes_total{{{RUN}}}[$__range]))", "wakes"),), stat=True, width=6),
    Chart("Budget kills in range", "Wakes killed for overrunning their budget over the time range", "short",
          (Query(f"sum(increase(rig_budget_kills_total{{{RUN}}}[$__range]))", "kills"),), stat=True, width=6),
    Chart("Replication errors in range", "Errors recorded by devices over the time range", "short",
          (Query(f'sum(increase(rig_replication_events_total{{{RUN}, kind="error"}}[$__range]))', "errors"),),
          stat=True, width=6),
    Chart("Devices by lifecycle state", "rig_devices{state}: foreground, background, suspended, awake, "
          "terminated, force_quit", "short",
          (Query(f"sum by (state) (rig_devices{{{RUN}}})", "{{state}}"),), stacked=True),
    Chart("Wakes by trigger", "Background wakes per second: silent push or background app refresh", "ops",
          (Query(_rate("rig_wakes_total", RUN, "trigger"), "{{trigger}}"),)),
    Chart("Sync duration by trigger", "Wake to caught up, real seconds (rig_sync_duration_seconds)", "s",
          (Query(_quantile(0.5, "rig_sync_duration_seconds", "trigger"), "p50 {{trigger}}"),
           Query(_quantile(0.95, "rig_sync_duration_seconds", "trigger"), "p95 {{trigger}}"))),
    Chart("Write to arrival", "Document written to arrived on a device that may read it, by phase "
          "(awake: the app ran; after_wake: a background wake pulled it)", "s",
          (Query(_quantile(0.5, "rig_write_to_arrival_seconds", "phase"), "p50 {{phase}}"),
           Query(_quantile(0.95, "rig_write_to_arrival_seconds", "phase"), "p95 {{phase}}"),
           Query(_quantile(0.99, "rig_write_to_arrival_seconds", "phase"), "p99 {{phase}}"))),
    Chart("Documents moved by devices", "Revisions pulled and pushed by devices per second "
          "(rig_documents_total)", "ops",
          (Query(_rate("rig_documents_total", RUN, "direction"), "{{direction}}"),)),
    Chart("Budget kills by trigger", "Wakes killed for overrunning their budget, per second", "ops",
          (Query(_rate("rig_budget_kills_total", RUN, "trigger"), "{{trigger}}"),)),
    Chart("Errors and replication events", "Conflicts, rejected writes, purges, norevs and errors per second "
          "(rig_replication_events_total)", "ops",
          (Query(_rate("rig_replication_events_total", RUN, "kind"), "{{kind}}"),)),
    Chart("Push service", "Silent pushes by outcome per second (rig_push_events_total)", "ops",
          (Query(_rate("rig_push_events_total", RUN, "outcome"), "{{outcome}}"),)),
    # By Couchbase Lite release (the bounded `cbl` label: 3.3, 3.4, 4.1, or "other").
    Chart("Devices by client release", "rig_devices{cbl}: devices alive per Couchbase Lite release", "short",
          (Query(f"sum by (cbl) (rig_devices{{{RUN}}})", "{{cbl}}"),), stacked=True),
    Chart("Wakes by client release", "Background wakes per second, per Couchbase Lite release", "ops",
          (Query(_rate("rig_wakes_total", RUN, "cbl"), "{{cbl}}"),)),
    Chart("Write to arrival by client release", "Document written to arrived on a device that may read it, "
          "per release of the receiving device, real seconds", "s",
          (Query(_quantile(0.5, "rig_write_to_arrival_seconds", "cbl"), "p50 {{cbl}}"),
           Query(_quantile(0.95, "rig_write_to_arrival_seconds", "cbl"), "p95 {{cbl}}"))),
    Chart("Documents by client release", "Revisions pulled and pushed per second by each release's devices "
          "(rig_documents_total)", "ops",
          (Query(_rate("rig_documents_total", RUN, "cbl, direction"), "{{cbl}} {{direction}}"),)),
)

GATEWAY_CHARTS: tuple[Chart, ...] = (
    Chart("Push and pull", "Documents pushed by devices (doc_push_count) and revisions sent to devices "
          "(rev_send_count) per second", "ops",
          (Query(_gw(_rate("sgw_replication_push_doc_push_count", GATEWAY_DB)), "pushed"),
           Query(_gw(_rate("sgw_replication_pull_rev_send_count", GATEWAY_DB)), "pulled (revs sent)"))),
    Chart("Active replications", "Replications open now, continuous and one-shot pulls", "short",
          (Query(_gw(f"sum(sgw_database_num_replications_active{{{GATEWAY_DB}}})"), "active"),
           Query(_gw(f"sum(sgw_replication_pull_num_pull_repl_active_continuous{{{GATEWAY_DB}}})"),
                 "pull continuous"),
           Query(_gw(f"sum(sgw_replication_pull_num_pull_repl_active_one_shot{{{GATEWAY_DB}}})"),
                 "pull one-shot"))),
    Chart("Rev send latency", "Mean time from a device asking for revisions to the gateway sending them "
          "(rev_send_latency / rev_send_count)", "s",
          (Query(_per_op("sgw_replication_pull_rev_send_latency", "sgw_replication_pull_rev_send_count"),
                 "per revision"),)),
    Chart("Changes latency", "Mean time to answer a changes request (request_changes_time / "
          "request_changes_count)", "s",
          (Query(_per_op("sgw_replication_pull_request_changes_time", "sgw_replication_pull_request_changes_count"),
                 "per changes request"),)),
    Chart("Sync function", "Mean sync function time per call, and calls per second", "s",
          (Query(_per_op("sgw_database_sync_function_time", "sgw_database_sync_function_count"), "per call"),
           Query(_gw(_rate("sgw_database_sync_function_count", GATEWAY_DB)), "calls/s"))),
    Chart("Push processing", "Proposed changes and write rejections per second", "ops",
          (Query(_gw(_rate("sgw_replication_push_propose_change_count", GATEWAY_DB)), "proposed"),
           Query(_gw(_rate("sgw_security_num_docs_rejected", GATEWAY_DB)), "rejected by sync function"))),
    Chart("Revision cache", "Revision cache hits and misses per second", "ops",
          (Query(_gw(_rate("sgw_cache_rev_cache_hits", GATEWAY_DB)), "hits"),
           Query(_gw(_rate("sgw_cache_rev_cache_misses", GATEWAY_DB)), "misses"))),
    Chart("Channel cache", "Channel cache hits and misses per second, channels cached", "ops",
          (Query(_gw(_rate("sgw_cache_chan_cache_hits", GATEWAY_DB)), "hits"),
           Query(_gw(_rate("sgw_cache_chan_cache_misses", GATEWAY_DB)), "misses"),
           Query(_gw(f"sum(sgw_cache_chan_cache_num_channels{{{GATEWAY_DB}}})"), "channels cached"))),
    Chart("CPU", "Sync Gateway process CPU, cores", "short",
          (Query(_gw(_rate("process_cpu_seconds_total", GATEWAY, "instance")), "{{instance}}"),)),
    Chart("Memory", "Sync Gateway resident memory and Go heap in use", "bytes",
          (Query(_gw(f"sum by (instance) (process_resident_memory_bytes{{{GATEWAY}}})"), "resident {{instance}}"),
           Query(_gw(f"sum by (instance) (go_memstats_heap_inuse_bytes{{{GATEWAY}}})"), "heap {{instance}}"))),
)


def _panel(chart: Chart) -> timeseries.Panel | stat.Panel:
    panel: timeseries.Panel | stat.Panel
    if chart.stat:
        panel = stat.Panel().height(4).graph_mode(common.BigValueGraphMode.AREA).reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    else:
        panel = timeseries.Panel().height(8).fill_opacity(10 if not chart.stacked else 60).legend(
            common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM).show_legend(True))
        if chart.stacked:
            panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    panel = panel.title(chart.title).description(chart.description).unit(chart.unit).span(chart.width) \
        .datasource(DATASOURCE)
    for index, query in enumerate(chart.queries):
        panel = panel.with_target(prometheus.Dataquery().expr(query.expr).legend_format(query.legend)
                                  .ref_id(chr(ord("A") + index)).datasource(DATASOURCE))
    return panel


def _variables(*, gateway: bool) -> list[builders.DatasourceVariable | builders.QueryVariable]:
    variables: list[builders.DatasourceVariable | builders.QueryVariable] = [
        builders.DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        builders.QueryVariable("run").label("Run").datasource(DATASOURCE)
        .query("label_values(rig_run_info, run)").refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_DESC).multi(True).include_all(True).all_value(".*").current(ALL),
    ]
    if gateway:
        variables += [
            builders.QueryVariable("instance").label("Sync Gateway").datasource(DATASOURCE)
            .query("label_values(sgw_database_num_replications_total, instance)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True).all_value(".*").current(ALL),
            builders.QueryVariable("database").label("Database").datasource(DATASOURCE)
            .query('label_values(sgw_database_num_replications_total{instance=~"$instance"}, database)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True).all_value(".*").current(ALL),
        ]
    return variables


def _dashboard(uid: str, title: str, description: str, charts: tuple[Chart, ...], *, gateway: bool) -> str:
    board = builders.Dashboard(title).uid(uid).description(description).tags(["couchbase-mobile", "rig"]) \
        .time("now-15m", "now").refresh("10s").tooltip(DashboardCursorSync.CROSSHAIR).readonly() \
        .link(builders.DashboardLink("Rig dashboards").type(DashboardLinkType.DASHBOARDS).tags(["rig"])
              .as_dropdown(True).include_vars(True).keep_time(True))
    for variable in _variables(gateway=gateway):
        board = board.with_variable(variable)
    for chart in charts:
        board = board.with_panel(_panel(chart))
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def generate() -> dict[str, str]:
    """File name -> dashboard JSON text."""
    return {
        "rig-fleet.json": _dashboard(
            "rig-fleet", "Rig: device fleet",
            "Virtual Couchbase Lite devices of the selected rig runs: lifecycle states, wakes, sync durations, "
            "write-to-arrival latency, documents moved, errors, budget kills, push service.", FLEET, gateway=False),
        "rig-sync-gateway.json": _dashboard(
            "rig-sync-gateway", "Rig: Sync Gateway hot path",
            "Sync Gateway's replication hot path while the selected rig runs were scraped (or while none was).",
            GATEWAY_CHARTS,
            gateway=True),
    }


def dashboards_dir() -> Path:
    return project_root() / "dashboards" / "grafana" / "dashboards"


def write(directory: Path | None = None) -> list[Path]:
    target = directory or dashboards_dir()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = target / name
        path.write_text(text)
        written.append(path)
    return written


def stale(directory: Path | None = None) -> list[str]:
    """Dashboards whose committed JSON differs from what `generate()` makes (or that are missing)."""
    target = directory or dashboards_dir()
    return [name for name, text in generate().items()
            if not (target / name).is_file() or (target / name).read_text() != text]


def panel_queries(dashboard: dict[str, object]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) of every target of every panel of a dashboard JSON."""
    found: list[tuple[str, str]] = []
    panels = dashboard.get("panels", [])
    assert isinstance(panels, list)
    for panel in panels:
        for nested in [panel, *panel.get("panels", [])]:
            for target in nested.get("targets", []):
                found.append((str(nested.get("title")), str(target["expr"])))
    return found


if __name__ == "__main__":
    for written_path in write():
        print(written_path)
