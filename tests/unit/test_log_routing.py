"""configure_logging: structlog, stdlib logging, warnings and exceptions as the same JSON lines.

The logging set-up is process-wide (root logger, hooks, ``sys.stderr``), so it runs in a child
process of its own; the test reads what that process wrote to its stdout and stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from gateway.settings import PROJECT_HOME

SCRIPT = textwrap.dedent("""
    import asyncio, gc, logging, sys, threading, warnings
    import structlog
    from adapters.observability import configure_logging

    configure_logging("info", capture_stderr=True)
    log = structlog.get_logger("gateway.sample")
    log.info("sample.structlog", message_id="m-1")
    logging.getLogger("aiormq").warning("connection %s lost", "amqp://x")
    logging.getLogger("aiormq").info("below the libraries' level: dropped")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("zeep").error("multi\\nline\\nmessage")

    def fail():
        raise ValueError("bad value")

    for attempt in range(3):
        try:
            fail()
        except ValueError:
            log.exception("sample.failed", attempt=attempt)
    try:
        fail()
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")

    async def forgotten():
        pass
    forgotten()
    gc.collect()
    warnings.warn("careful now", UserWarning)

    thread = threading.Thread(target=fail, name="worker-7")
    thread.start()
    thread.join()
    print("raw text\\nto stderr", file=sys.stderr)
    sys.stderr.flush()
    raise KeyError("uncaught")
""")


@pytest.fixture(scope="module")
def output() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_HOME, capture_output=True,
                          text=True, timeout=60)
    return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
            "records": [json.loads(line) for line in done.stdout.splitlines()]}


def records(output: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [r for r in output["records"] if r["event"] == event]


def test_configure_logging_every_line_is_one_json_object(output: dict[str, Any]) -> None:
    """Nothing on stderr; every stdout line parses as one object with a level and timestamp."""
    assert output["stderr"] == ""
    lines = output["stdout"].splitlines()
    assert len(lines) == len(output["records"]) >= 12
    for record in output["records"]:
        assert record["level"] and record["timestamp"] and record["pid"]


def test_configure_logging_routes_stdlib_logging_through_the_same_renderer(
        output: dict[str, Any]) -> None:
    """Library records come out as JSON with their logger name; quiet libraries stay quiet."""
    assert records(output, "sample.structlog")[0]["message_id"] == "m-1"
    assert records(output, "connection amqp://x lost")[0]["logger"] == "aiormq"
    assert records(output, "Started server process [42]")[0]["logger"] == "uvicorn.error"
    assert records(output, "multi\nline\nmessage")[0]["level"] == "error"
    assert not records(output, "below the libraries' level: dropped")


def test_configure_logging_routes_warnings(output: dict[str, Any]) -> None:
    """A never-awaited coroutine's RuntimeWarning and warnings.warn are JSON records."""
    found = {r["category"]: r for r in records(output, "python.warning")}
    assert "forgotten' was never awaited" in found["RuntimeWarning"]["message"]
    assert found["UserWarning"]["message"] == "careful now"
    assert found["UserWarning"]["logger"] == "py.warnings"


def test_configure_logging_renders_the_traceback_once_per_site(output: dict[str, Any]) -> None:
    """The first exception of a site carries its traceback inside the object; the repeats
    (also through stdlib logging) carry the type, the message and the same site only."""
    failed = records(output, "sample.failed")
    assert len(failed) == 3
    first, *repeats = failed
    assert "Traceback (most recent call last)" in first["exception"]
    assert first["exception"].rstrip().endswith("ValueError: bad value")
    for repeat in repeats:
        assert repeat["exception"] == "ValueError: bad value"
        assert repeat["exception_site"] == first["exception_site"]
    assert records(output, "Task exception was never retrieved")[0]["exception"] == \
        "ValueError: bad value"


def test_configure_logging_reports_uncaught_exceptions_and_stderr_text(
        output: dict[str, Any]) -> None:
    """A thread's and the main thread's uncaught exceptions, and text printed to stderr,
    are JSON records (the traceback inside), not raw text."""
    thread = records(output, "python.thread_exception")[0]
    assert thread["thread"] == "worker-7" and "ValueError" in thread["exception"]
    uncaught = records(output, "python.uncaught_exception")[0]
    assert uncaught["level"] == "critical"
    assert "Traceback" in uncaught["exception"] and "KeyError: 'uncaught'" in uncaught[
        "exception"]
    assert [r["text"] for r in records(output, "python.stderr")] == ["raw text", "to stderr"]
    assert output["returncode"] == 1


def test_uvicorn_log_config_hands_uvicorn_loggers_to_the_json_handler() -> None:
    """The log_config for uvicorn.run builds our handler on the root and leaves uvicorn's
    loggers without handlers of their own; a level neither knows falls back to info."""
    from adapters.observability import uvicorn_log_config

    config = uvicorn_log_config("Verbose")
    assert config["handlers"]["json_lines"]["()"] == "adapters.observability.json_lines_handler"
    assert config["root"] == {"handlers": ["json_lines"], "level": "INFO"}
    assert config["loggers"]["uvicorn.error"] == {"handlers": [], "propagate": True}
    assert config["disable_existing_loggers"] is False
