"""The report of `rig bench capacity`: its verdict, the plot of catch-up against storm size, and
one row per storm, as one self-contained HTML page (the bench's result has no run directory, so
`rig report` has no place for it)."""

from __future__ import annotations

from typing import Any

from rig.report import html, plots


def rows(result: dict[str, Any]) -> list[tuple[object, ...]]:
    """One row per storm: what the docs table and the page show."""
    def s(value: float | None) -> str:
        return "over budget" if value is None else f"{value:.2f}"

    table: list[tuple[object, ...]] = []
    for step in result["steps"]:
        figures, gateway = step["catch_up_s"], step["gateway"]
        table.append((step["devices"], s(figures["p50"]), s(figures["p99"]), step["over_budget"],
                      step["wakes_per_s"], gateway["cores_busy_mean"], gateway["cores_busy_max_1s"],
                      gateway["cpu_s_per_wake"] * 1000, step["rig_cpu_s_per_wake"] * 1000,
                      step["rig"]["cpu_ratio_max"], step["rig"]["loop_lag_p99_s"], "yes" if step["valid"] else "NO"))
    return table


HEADERS = ["devices woken", "p50 catch-up, s", "p99 catch-up, s", "over budget", "wakes/s",
           "gateway cores busy (mean)", "gateway busiest second", "gateway CPU-ms / wake", "rig CPU-ms / wake",
           "rig's busiest second (of a core)", "rig loop lag p99, s", "valid"]


def render(result: dict[str, Any]) -> str:
    verdict = result["verdict"]
    settings = result["settings"]
    css = "good" if verdict["passed"] else "bad"
    cores = result["cores"]
    body = [
        html.section("verdict", "Verdict", html.paragraph(verdict["text"], css)),
        html.section("plot", "Catch-up against storm size",
                     html.plot(plots.capacity(result["steps"], settings["budget_s"]),
                               "Each storm: N sleeping devices each get a silent push at the same instant, wake, "
                               "and run a one-shot push and pull; catch-up is push to holding every new document "
                               "of the backlog. A device still syncing at the budget is killed (over budget).")),
        html.section("steps", "Storms", html.table(HEADERS, rows(result)),
                     *[html.paragraph(f"{step['devices']} devices: {step['invalid_reason']}", "bad")
                       for step in result["steps"] if not step["valid"]]),
        html.section("setup", "Setup", html.table(["", ""], [
            ("Sync Gateway", str(result["gateway"])), ("storage", result["storage"]),
            ("gateway cores", f"{cores['gateway']} ({'pinned' if cores['gateway_pinned'] else 'not pinned'})"),
            ("rig cores", str(cores["rig"])), ("worker processes", settings["workers"]),
            ("budget", f"{settings['budget_s']:g} s (real seconds: budgets are never time-scaled)"),
            ("backlog", f"{settings['backlog']} documents of {settings['doc_bytes']} bytes per device per storm"),
            ("machine", str(result["machine"])), ("wall time", f"{result['wall_s']} s")])),
    ]
    return html.page("Wake-storm capacity", f"rig bench capacity, {result['time']}", body)
