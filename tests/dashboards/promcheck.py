"""Helpers of the dashboards check: a real Prometheus process, PromQL names, template substitution."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, ranges, groupings and functions removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in _KEYWORDS}


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's template variables ($name and ${name}) replaced by values; longest names first."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    leftover = re.findall(r"\$\{?\w+", expr)
    assert not leftover, f"unsubstituted variables {leftover} in {expr}"
    return expr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prometheus:
    def __init__(self, url: str, targets_file: Path) -> None:
        self.url = url
        self.targets_file = targets_file

    def set_targets(self, groups: list[dict[str, Any]]) -> None:
        """Rewrite the file_sd targets (Prometheus watches the file); atomic by rename."""
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(self.targets_file)

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def active_targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return targets


@contextmanager
def prometheus(work: Path, static_targets: dict[str, list[str]], *, scrape_interval: str = "1s") -> \
        Iterator[Prometheus]:
    """Debian's Prometheus on a free loopback port: `static_targets` by job, plus a `rig` job read from a
    file_sd file set later (the rig's metrics ports are known only once `rig run` has prepared)."""
    work.mkdir(parents=True, exist_ok=True)
    targets_file = work / "rig-targets.json"
    targets_file.write_text("[]")
    jobs = [{"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": targets}]}
            for job, targets in static_targets.items()]
    jobs.append({"job_name": "rig", "metrics_path": "/metrics",
                 "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}]})
    config = {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
              "scrape_configs": jobs}
    (work / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                                f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (work / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready in 30 s"
            time.sleep(0.2)
        yield Prometheus(url, targets_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
