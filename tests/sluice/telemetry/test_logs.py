"""JSON logs: every record one line of valid JSON with Sluice's fields, whatever its message holds."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.settings import get_settings
from sluice.telemetry import stages
from sluice.telemetry.logs import JSON_LOGGING, SluiceJsonFormatter, configure_logging


@pytest.fixture
def stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(SluiceJsonFormatter())
    logger = logging.getLogger("sluice.tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


hostile = st.one_of(
    st.text(),
    st.binary().map(
        lambda b: b.decode("utf-8", "surrogateescape")
    ),  # undecodable bytes, as a lenient reader keeps them
    st.text(alphabet='\n\r\u2028\u0085\x00"\\{', max_size=50),
)


@settings(deadline=None)  # the first record imports Prefect's run context
@given(hostile, st.binary(max_size=40))
def test_any_message_and_argument_is_one_line_of_valid_json(message: str, raw: bytes) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(SluiceJsonFormatter())
    record = logging.LogRecord("sluice.x", logging.WARNING, __file__, 1, "%s %r", (message, raw), None)
    handler.emit(record)
    (line,) = _lines(out)
    assert line["message"] == message + f" {raw!r}"
    assert line["severity"] == "WARNING" and line["logger"] == "sluice.x" and "time" in line


def test_a_huge_message_stays_one_line(stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream
    logger.info("x\n" * 2_000_000)
    (line,) = _lines(out)
    assert len(str(line["message"])) == 4_000_000


def test_arguments_that_do_not_format_are_logged_not_dropped(stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream
    logger.info("%d rows", "many")
    (line,) = _lines(out)
    assert "unformattable log message" in str(line["message"]) and "%d rows" in str(line["message"])


def test_a_record_inside_a_stage_names_the_stage(stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream
    with stages.stage(stages.VALIDATE, "run-1", "orders"):
        logger.info("inside")
    logger.info("outside")
    inside, outside = _lines(out)
    assert inside["stage"] == "stage.validate" and "stage" not in outside


def test_an_exception_is_one_line_with_its_traceback(stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("failed")
    (line,) = _lines(out)
    assert "ValueError: bad" in str(line["exc_info"]) and "Traceback" in str(line["exc_info"])


def test_the_text_format_leaves_prefect_logging_alone(sluice_home) -> None:
    assert configure_logging(get_settings()) is False
    assert JSON_LOGGING.is_file()
