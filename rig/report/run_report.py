"""`report.html`: one self-contained page per run (inline SVG plots, no network fetches)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rig.gateway.principals import summary_text as principals_text
from rig.report import html, plots, verdict
from rig.report.data import RunData, load_run
from rig.report.saturation import banner_html

REPORT_NAME = "report.html"


def _when(epoch: float | None) -> str:
    return "-" if not epoch else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _overview(run: RunData) -> str:
    s = run.summary
    machine = s.get("machine", {})
    rows: list[tuple[str, object]] = [
        ("scenario", f"{s.get('scenario')}: {s.get('description', '')}"),
        ("Sync Gateway", s.get("gateway")),
        ("devices", s.get("devices")), ("processes", s.get("processes")),
        ("duration", f"{s.get('duration_s')} s real ({s.get('elapsed_s')} s with setup and the final sync)"),
        ("time scale", f"x{s.get('time_scale')} (OS intervals compressed; every latency here is real seconds)"),
        ("started", _when(s.get("started_at"))),
        ("machine", f"{machine.get('cpus')} CPUs, Python {machine.get('python')}, {machine.get('platform')}"),
    ]
    thresholds = s.get("thresholds", {})
    given = thresholds.get("given", [])
    failed = thresholds.get("failed", [])
    verdict = ("none given" if not given else
               f"{len(failed)} of {len(given)} failed: " + "; ".join(failed) if failed else
               f"all {len(given)} passed: " + "; ".join(given))
    rows.append(("thresholds", verdict))
    return html.table(["", ""], rows)


def _percentile_rows(summary: dict[str, Any]) -> str:
    measured = summary.get("measurements", {})
    rows: list[tuple[object, ...]] = []
    for trigger, row in measured.get("wakes_by_trigger", {}).items():
        sync = row["wake_to_caught_up_s_real"]
        rows.append((f"wake to caught up ({trigger})", row["wakes"], sync["p50"], sync["p95"], sync["p99"]))
    for phase, row in measured.get("arrivals_by_phase", {}).items():
        lat = row["write_to_arrival_s_real"]
        rows.append((f"write to arrival ({phase})", row["arrivals"], lat["p50"], lat["p95"], lat["p99"]))
    return html.table(["latency, real seconds", "count", "p50", "p95", "p99"], rows)


def _release_rows(summary: dict[str, Any]) -> list[str]:
    """One row per Couchbase Lite release the fleet ran (summary.json `by_release`); nothing for
    runs made before releases were counted."""
    rows = summary.get("by_release") or {}
    if not rows:
        return [html.paragraph("This run's summary has no per-release figures (made before the rig counted them).")]
    table = [(f"Couchbase Lite {cbl}", row.get("devices"), row.get("wakes"), row.get("overruns"),
              (row.get("wake_to_caught_up_s_real") or {}).get("p50"),
              (row.get("wake_to_caught_up_s_real") or {}).get("p95"), row.get("arrivals"),
              (row.get("write_to_arrival_s_real") or {}).get("p50"),
              (row.get("write_to_arrival_s_real") or {}).get("p95"), row.get("docs_pulled"), row.get("docs_pushed"))
             for cbl, row in rows.items()]
    return [html.table(["release", "devices", "wakes", "budget kills", "caught up p50", "caught up p95",
                        "arrivals", "write to arrival p50", "write to arrival p95", "docs pulled", "docs pushed"],
                       table),
            html.paragraph("Latencies in real seconds. Documents: what the release's devices counted during the "
                           "load phase (rig_documents_total), without the final sync.")]


def _findings(run: RunData) -> list[str]:
    s = run.summary
    problems: list[str] = list(s.get("verify_problems", []))
    failures: list[str] = list(s.get("final_sync_failures", []))
    bad = sum(run.figures.get(name, 0.0) for name in (*plots.FINDINGS, *plots.OPTIONAL_FINDINGS))
    parts = [html.plot(plots.findings(run.figures),
                       "After the run every device syncs once more and is checked against the gateway: it must "
                       "hold every document its user may read (misses), nothing else (leaks), at the gateway's "
                       "revision (stale).")]
    parts.append(html.paragraph("no findings: every device holds exactly what its user may read" if bad == 0 else
                                f"{bad:g} finding(s): see below", "good" if bad == 0 else "bad"))
    if problems:
        parts += [html.paragraph("Per-device problems (first 100 kept in the summary):"), html.bullet_list(problems)]
    if failures:
        parts += [html.paragraph("Final syncs that failed:"), html.bullet_list(failures)]
    return parts


def _outages(run: RunData) -> list[tuple[float, float, str]]:
    windows = []
    for row in run.summary.get("faults", []):
        start = float(row["began_at"]) - run.started_at
        end = float(row["ended_at"]) - run.started_at if row.get("ended_at") is not None else start + 1.0
        windows.append((start, end, str(row["fault"])))
    return windows


def _faults(run: RunData) -> list[str]:
    s = run.summary
    rows = s.get("faults", [])
    durability = s.get("durability")
    if not rows and not durability:
        return [html.paragraph("no faults were injected in this run")]
    parts = []
    if rows:
        def took(row: dict[str, Any]) -> str:
            return "never came back" if row.get("seconds") is None else f"{row['seconds']:.1f} s"

        parts.append(html.paragraph("Shaded red on the time plots. A wake is touched when it started from 5 s "
                                    "before the fault to 15 s after the gateway answered again."))
        parts.append(html.table(
            ["fault", "gateway out", "wakes touched", "wakes failed", "retries", "caught up p95", "error"],
            [(r["fault"], took(r), r["wakes_touched"], r["wakes_failed"], r["retries"],
              "-" if r["wake_to_caught_up_s_real"]["p95"] is None
              else f"{r['wake_to_caught_up_s_real']['p95']:.2f} s", r.get("error") or "")
             for r in rows]))
    if durability:
        lost, duplicated = durability["lost"], durability["duplicated"]
        parts.append(html.paragraph(
            f"Acknowledged writes: {durability['checked']} looked up on the gateway after the final sync; "
            f"lost {lost}, duplicated {duplicated}.", "good" if lost == duplicated == 0 else "bad"))
        examples = list(durability.get("lost_examples", [])) + list(durability.get("duplicated_examples", []))
        if examples:
            parts.append(html.bullet_list(examples))
    return parts


def _oracle(run: RunData) -> list[str]:
    oracle = run.summary.get("oracle")
    if not oracle:
        return [html.paragraph("no routing spec in this scenario: the oracle did not judge this run "
                               "(see [routing] in the README)")]
    findings = int(oracle.get("findings", 0))
    parts = [html.paragraph(
        f"Judged against routing spec {oracle.get('spec')!r} with sync function "
        f"{run.summary.get('sync_function', 'default')}: {oracle.get('writes', 0)} device writes "
        f"({oracle.get('writes_refused', 0)} refused by the gateway, {oracle.get('writes_the_spec_rejects', 0)} "
        f"rejected by the spec), {oracle.get('snapshots_final', 0)} final and {oracle.get('snapshots_mid_run', 0)} "
        f"mid-run device snapshots, {oracle.get('docs_judged_final', 0)} documents judged after the final sync.")]
    parts.append(html.paragraph("no findings: every device saw exactly what the spec lets its user see"
                                if findings == 0 else f"{findings} finding(s)", "good" if findings == 0 else "bad"))
    counts = oracle.get("counts") or {}
    parts.append(html.table(["finding", "count"], [(k.replace("_", " "), v) for k, v in counts.items()]))
    if oracle.get("by_rule"):
        parts.append(html.table(["finding: rule", "count"], list(oracle["by_rule"].items())))
    if oracle.get("examples"):
        parts += [html.paragraph("Examples (all of them in oracle-findings.json):"),
                  html.bullet_list([str(e) for e in oracle["examples"][:20]])]
    principals = run.summary.get("gateway_principals")
    if principals:  # whose fault the findings are: a user record the gateway left wrong is not the function's
        head, *rest = principals_text(principals).split("\n")
        parts.append(html.paragraph(head, "bad" if principals.get("drift") else "good"))
        if rest:
            parts.append(html.bullet_list([line.strip() for line in rest]))
    return parts


def _links(run: RunData) -> list[str]:
    links = run.summary.get("links")
    if not links or not links.get("classes"):
        return [html.paragraph("devices connected straight to the gateway (no [links] in the scenario)")]
    plan = links.get("cut_plan")
    parts = [html.paragraph("Each device went through a loopback proxy of the link class drawn from its profile's "
                            "mix" + (f"; connections were cut by plan {plan}" if plan else "") + ".")]
    columns = ("devices", "connections", "bytes_up", "bytes_down", "cuts", "stalls", "refused_down",
               "upstream_failures")
    rows = [(name, *(stats.get(c, 0) for c in columns)) for name, stats in sorted(links["classes"].items())]
    parts.append(html.table(["link class", *(c.replace("_", " ") for c in columns)], rows))
    for window in links.get("netdown_seen") or []:
        down, up = window.get("down_at"), window.get("up_at")
        if down is None:
            continue
        until = "the end" if up is None else f"{up - run.started_at:.1f} s"
        parts.append(html.paragraph(f"netdown: a load process's links were down from {down - run.started_at:.1f} s "
                                    f"to {until}, {window.get('cuts', 0)} connection(s) cut"))
    return parts


def render(run: RunData) -> str:
    s = run.summary
    push = s.get("push", {})
    gateway = s.get("gateway_counters", {})
    body = [
        banner_html(s),  # empty unless the rig was saturated
        # The first screen: the verdict, then the figures it rests on, grouped, with units.
        html.section("verdict", "Verdict", verdict.verdict_block(s)),
        html.section("figures", "Key figures", verdict.figures_table(run.figures)),
        html.section("overview", "Run", _overview(run)),
        html.section("throughput", "Throughput over time",
                     html.plot(plots.throughput(run.series, _outages(run)),
                               "Sampled every second by each load process and summed: documents moved by devices "
                               "and counted by Sync Gateway, wakes and document arrivals.")),
        html.section("states", "Device states over time",
                     html.plot(plots.device_states(run.series, _outages(run)),
                               "How many devices are in each lifecycle state (foreground, background, awake, "
                               "suspended, terminated, force-quit).")),
        html.section("latency", "Latency distributions",
                     html.plot(plots.latency_distributions(run.measurements),
                               "Cumulative distributions: write to arrival on every device that may read the "
                               "document (awake: the app ran; after_wake: a background wake pulled it), and wake "
                               "to caught up."),
                     _percentile_rows(s)),
        html.section("releases", "By client release", *_release_rows(s)),
        html.section("wakes", "Wakes and sync durations by trigger",
                     html.plot(plots.wakes_by_trigger(run),
                               "Background wakes by trigger (silent push, background app refresh), wakes killed "
                               "for overrunning their budget, and each wake's sync duration over the run.")),
        html.section("conformance", "Conformance findings", *_findings(run)),
        html.section("oracle", "Routing oracle: what the spec allows", *_oracle(run)),
        html.section("faults", "Gateway faults and acknowledged writes", *_faults(run)),
        html.section("links", "Device links", *_links(run)),
        html.section("counters", "Push service and gateway counters",
                     html.table(["push service", "count"], [(k, v) for k, v in push.items()]),
                     html.table(["Sync Gateway counter (during the run, across restarts)", "increase"],
                                [(k, float(v)) for k, v in gateway.items()])),
    ]
    subtitle = f"{run.path} · generated {_when(time.time())} by `rig report`"
    return html.page(f"Run report: {run.name}", subtitle, body)


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Build the report of a finished run; written to RUN_DIR/report.html unless `out` is given."""
    run = load_run(run_dir)
    target = out or Path(run_dir) / REPORT_NAME
    target.write_text(render(run))
    return target
