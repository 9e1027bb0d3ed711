"""The committed dashboards are what the generator makes, and they are wired for provisioning."""

from __future__ import annotations

import json
from pathlib import Path

from promcheck import metric_names, substitute

from rig._paths import project_root
from rig.cli import main
from rig.report.dashboards import dashboards_dir, generate, panel_queries, stale


def test_committed_json_is_the_generator_output() -> None:
    generated = generate()
    assert sorted(generated) == ["rig-fleet.json", "rig-sync-gateway.json"]
    for name, text in generated.items():
        assert (dashboards_dir() / name).read_text() == text, f"{name} is stale: run `rig dashboards`"
    assert stale() == []


def test_check_command_reports_a_stale_dashboard(tmp_path: Path, capsys: object) -> None:
    assert main(["dashboards", "--out", str(tmp_path)]) == 0
    assert main(["dashboards", "--check", "--out", str(tmp_path)]) == 0
    board = json.loads((tmp_path / "rig-fleet.json").read_text())
    board["title"] = "edited by hand"
    (tmp_path / "rig-fleet.json").write_text(json.dumps(board))
    assert main(["dashboards", "--check", "--out", str(tmp_path)]) == 1
    assert stale(tmp_path) == ["rig-fleet.json"]


def test_dashboards_select_a_run_and_name_the_metrics_the_rig_and_gateway_expose() -> None:
    names: set[str] = set()
    for text in generate().values():
        board = json.loads(text)
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["run"]["query"] == "label_values(rig_run_info, run)"
        assert variables["run"]["includeAll"] and variables["run"]["multi"]
        assert variables["datasource"]["query"] == "prometheus"
        for title, expr in panel_queries(board):
            assert '$run' in expr, f"{title}: not filtered by run"
            names |= metric_names(substitute(expr, {"run": "r", "instance": "i", "database": "d",
                                                    "__rate_interval": "1m", "__range": "1h"}))
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]
    for metric in ("rig_devices", "rig_wakes_total", "rig_sync_duration_seconds_bucket",
                   "rig_write_to_arrival_seconds_bucket", "rig_documents_total", "rig_replication_events_total",
                   "rig_budget_kills_total", "rig_push_events_total", "sgw_replication_push_doc_push_count",
                   "sgw_replication_pull_rev_send_count", "sgw_replication_pull_rev_send_latency",
                   "sgw_replication_pull_request_changes_time", "sgw_database_sync_function_time",
                   "sgw_cache_rev_cache_hits", "sgw_database_num_replications_active", "process_cpu_seconds_total",
                   "process_resident_memory_bytes"):
        assert metric in names


def test_provisioning_points_grafana_at_the_dashboards_folder() -> None:
    provider = (project_root() / "dashboards/grafana/provisioning/dashboards/rig.yml").read_text()
    assert "path: /var/lib/grafana/dashboards" in provider
    compose = (project_root() / "docker-compose.yml").read_text()
    assert "dashboards/grafana/dashboards" in compose


def test_metric_names_of_promql() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, phase) (rate(rig_write_to_arrival_seconds_bucket{run=~"a"}[5m])))'
            ' / 1e9 and on() group(rig_run_info{run=~"$run"})')
    assert metric_names(expr) == {"rig_write_to_arrival_seconds_bucket", "rig_run_info"}
