"""Structured logs: one JSON object a line, with the run, flow, task, dataset and stage of the record.

``SLUICE_LOG_FORMAT=json`` switches Prefect's and Sluice's loggers to it
through Prefect's own logging configuration: :func:`configure_logging` points
``PREFECT_LOGGING_SETTINGS_PATH`` at :data:`JSON_LOGGING` (Prefect's layout:
run logs still reach the Prefect API; the console handler writes JSON to
stderr) and has Prefect apply it. Each line holds ``time``, ``severity``,
``logger`` and ``message``; ``run_id``, ``flow``, ``task``, ``dataset`` and
``stage`` when the record was logged inside them; ``trace_id`` and
``span_id`` inside a recorded span; ``exc_info`` with a traceback. Python's
warnings are logged (``py.warnings``) rather than printed. The
encoding is python-json-logger's, ASCII-escaped: a message with newlines,
undecodable bytes or megabytes of text stays one line of valid JSON.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from sluice.settings import LogFormat, Settings, get_settings
from sluice.telemetry.stages import current_stage

JSON_LOGGING = Path(__file__).with_name("logging.yml")
SETTINGS_PATH_ENV = "PREFECT_LOGGING_SETTINGS_PATH"
# The dataset of recent flow runs, for the records Prefect logs outside the run's context ("Finished in state").
_RUN_DATASETS: OrderedDict[str, str] = OrderedDict()
_REMEMBERED_RUNS = 256


class SluiceJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with Sluice's fields (the module doc) and nothing else of the record."""

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat()
        log_data["severity"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = message_dict if message_dict else record.getMessage()
        log_data.update({k: v for k, v in run_fields(record).items() if v})
        if record.exc_info:
            log_data["exc_info"] = self.formatException(record.exc_info)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            log_data["trace_id"], log_data["span_id"] = f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def format(self, record: logging.LogRecord) -> str:
        try:
            return super().format(record)
        except Exception as exc:  # noqa: BLE001  (a message whose arguments do not format is logged as such, never dropped)
            record.msg, record.args = f"unformattable log message {record.msg!r}: {exc}", ()
            record.exc_info = record.exc_text = None
            return super().format(record)


def run_fields(record: logging.LogRecord) -> dict[str, str]:
    """The run, flow, task and dataset of the record (from Prefect's run logger or the run context) and stage."""
    fields = {
        "run_id": str(getattr(record, "flow_run_id", "") or ""),
        "flow": str(getattr(record, "flow_name", "") or ""),
        "task": str(getattr(record, "task_name", "") or ""),
        "dataset": "",
        "stage": current_stage.get(),
    }
    from prefect.context import FlowRunContext, TaskRunContext

    task = TaskRunContext.get()
    if task is not None:
        fields["task"] = fields["task"] or task.task.name
        fields["dataset"] = str(task.parameters.get("dataset") or "")
        fields["run_id"] = fields["run_id"] or str(task.task_run.flow_run_id or "")
    run = FlowRunContext.get()
    if run is not None and run.flow_run is not None:
        fields["run_id"] = fields["run_id"] or str(run.flow_run.id)
        fields["flow"] = fields["flow"] or (run.flow.name if run.flow else "")
        fields["dataset"] = fields["dataset"] or str((run.parameters or {}).get("dataset") or "")
    return _remember_dataset(fields)


def _remember_dataset(fields: dict[str, str]) -> dict[str, str]:
    run_id, dataset = fields["run_id"], fields["dataset"]
    if run_id and dataset:
        _RUN_DATASETS[run_id] = dataset
        _RUN_DATASETS.move_to_end(run_id)
        while len(_RUN_DATASETS) > _REMEMBERED_RUNS:
            _RUN_DATASETS.popitem(last=False)
    elif run_id:
        fields["dataset"] = _RUN_DATASETS.get(run_id, "")
    return fields


def configure_logging(settings: Settings | None = None) -> bool:
    """Apply ``SLUICE_LOG_FORMAT``: for ``json``, Prefect's logging from :data:`JSON_LOGGING`; whether it did.

    The variable is exported too, so processes this one starts (Dask workers,
    subprocesses) configure Prefect's logging from the same file.
    """
    settings = settings or get_settings()
    if settings.telemetry.log_format is not LogFormat.JSON:
        return False
    from prefect.logging.configuration import setup_logging
    from prefect.settings import PREFECT_LOGGING_SETTINGS_PATH, temporary_settings

    os.environ[SETTINGS_PATH_ENV] = str(JSON_LOGGING)
    with temporary_settings({PREFECT_LOGGING_SETTINGS_PATH: JSON_LOGGING}):
        setup_logging(incremental=False)
    logging.captureWarnings(True)  # Python's warnings become records of ``py.warnings``: JSON lines too
    return True
