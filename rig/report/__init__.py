"""Run reports, run comparisons and the Grafana dashboards generator."""
