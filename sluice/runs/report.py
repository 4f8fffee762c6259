"""Human-readable summaries of a run: markdown for Prefect, rows for tables."""

from __future__ import annotations

from sluice.display import readable
from sluice.runs.records import RunReport


def table_rows(report: RunReport) -> list[dict[str, object]]:
    return [
        {
            "file": f.uri,
            "status": f.status.value,
            "rows_read": f.rows_read,
            "valid": f.rows_valid,
            "quarantined": f.rows_quarantined,
            "encoding": f.encoding,
            "sha256": f.sha256[:12],
            "error": f.error,
        }
        for f in report.files
    ]


def markdown_summary(report: RunReport) -> str:
    lines = [
        f"# Ingestion of `{report.dataset}`: {report.status}",
        "",
        f"Run `{report.run_id}` in **{report.env}** from `{report.source}`.",
        "",
        "| rows read | written | quarantined | duplicate | files committed | skipped | failed | lake version |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report.rows_read:,} | {report.rows_written:,} | {report.rows_quarantined:,} | "
        f"{report.rows_duplicate:,} | {len(report.files_committed)} | {len(report.files_skipped)} | "
        f"{len(report.files_failed)} | {report.lake_version} |",
        "",
        f"Conservation: {report.rows_read:,} = {report.rows_written:,} + {report.rows_quarantined:,} + "
        f"{report.rows_duplicate:,}",
    ]
    if report.warnings:
        lines += ["", "## Warnings (non-critical checks)", "", "| column:reason | count |", "|---|---:|"]
        lines += [f"| {k} | {v:,} |" for k, v in sorted(report.warnings.items())]
    if report.files_failed:
        lines += ["", "## Failed files", ""] + [f"- `{f.uri}`: {f.error}" for f in report.files_failed]
    if report.stage_seconds:
        lines += ["", "## Stage durations", ""] + [f"- {k}: {readable(v)} s" for k, v in report.stage_seconds.items()]
    return "\n".join(lines)
