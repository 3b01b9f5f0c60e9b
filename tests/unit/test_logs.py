"""The configured log pipeline: secrets never come out, tracebacks are plain and bounded."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog

from farmbridge import logs

DEVICE_KEY = "fbd_" + "Q7x-_9aZk2LmNpR4sTuVwXyZ0123456789abcdEFGH"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInYiOjF9.c2lnbmF0dXJlLXNpZ25lZA"
PASSWORD = "correct-horse-battery-staple"
COOKIE = "fb_session=s3ss10nv4lu3-0123456789"
SECRETS = (DEVICE_KEY, JWT, PASSWORD, "s3ss10nv4lu3", "Q7x-_9aZk2LmNpR4sTuVwXyZ")

Emit = Callable[[], str]


@pytest.fixture
def pipeline(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Runs a function's logging through `logs.configure` into a buffer; returns the output."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)

    def run(emit: Callable[[], None], *, json_lines: bool = False) -> str:
        out = io.StringIO()
        pipe = logs.configure("debug", json=json_lines, stream=out)
        emit()
        pipe.stop()
        return out.getvalue()

    yield run
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_redaction_stdlib_message_and_args_hide_every_secret(
    pipeline: Callable[..., str],
) -> None:
    """Secrets in a stdlib message, its %-args and header reprs are redacted."""
    log = logging.getLogger("farmbridge.test")

    def emit() -> None:
        log.info("key %s token %s", DEVICE_KEY, JWT)
        log.warning("headers %r", {"authorization": f"Bearer {JWT}", "cookie": COOKIE})
        log.info('body {"password": "%s", "name": "ann"}', PASSWORD)
        log.info("login with password=%s&user=ann", PASSWORD)
        log.info("broker mqtt://bridge:%s@broker:1883", PASSWORD)

    out = pipeline(emit)
    assert _leaks(out) == []
    assert out.count("[redacted]") >= 6
    assert "user=ann" in out
    assert '"name": "ann"' in out


def test_redaction_uvicorn_ws_line_hides_token_in_query(pipeline: Callable[..., str]) -> None:
    """uvicorn's request line for `/ws?token=...` keeps the path, never the token."""
    log = logging.getLogger("uvicorn.error")

    def emit() -> None:
        log.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", f"/ws?token={JWT}&x=1")
        log.info('%s - "WebSocket %s" 403', "127.0.0.1:5000", "/ws?access_token=abcdef123456")

    out = pipeline(emit)
    assert _leaks(out) == []
    assert "abcdef123456" not in out
    assert "/ws?token=[redacted]&x=1" in out


def test_redaction_structlog_fields_by_name_and_shape(pipeline: Callable[..., str]) -> None:
    """structlog fields named like secrets are blanked; secret-shaped values anywhere too."""
    log = structlog.get_logger("farmbridge.test")

    def emit() -> None:
        log.info(
            "device seen",
            device_key=DEVICE_KEY,
            password=PASSWORD,
            headers={"Authorization": "Basic dXNlcjpwYXNz", "X-Device-Key": "k"},
            note=f"sent {DEVICE_KEY} and {JWT}",
            farm=3,
        )

    out = pipeline(emit, json_lines=True)
    record = json.loads(out.strip())
    assert _leaks(out) == []
    assert record["password"] == "[redacted]"
    assert record["headers"] == {"Authorization": "[redacted]", "X-Device-Key": "[redacted]"}
    assert record["farm"] == 3


def _fail_with_secret_local() -> None:
    device_key = DEVICE_KEY
    big = ["x" * 100] * 1000
    raise RuntimeError(f"store refused {device_key}: {len(big)}")


def test_traceback_plain_without_locals_and_redacted(pipeline: Callable[..., str]) -> None:
    """An exception is rendered as Python's plain traceback: no locals, no secret."""
    log = logging.getLogger("farmbridge.test")

    def emit() -> None:
        try:
            _fail_with_secret_local()
        except RuntimeError:
            log.exception("boom")

    out = pipeline(emit)
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: store refused fbd_[redacted]: 1000" in out
    assert _leaks(out) == []
    assert "xxxxxxxxxx" not in out  # the local `big` is never shown
    assert "│" not in out  # no rich panel


def test_traceback_bounded_for_deep_recursion(pipeline: Callable[..., str]) -> None:
    """A traceback of a thousand frames is cut to a bounded size, its end kept."""
    log = logging.getLogger("farmbridge.test")

    def down(n: int) -> None:
        if n == 0:
            raise ValueError("bottom")
        down(n - 1)

    def emit() -> None:
        try:
            down(500)
        except ValueError:
            log.exception("deep")

    out = pipeline(emit)
    assert len(out) < logs.MAX_TRACEBACK_CHARS + 2_000
    assert "ValueError: bottom" in out


def test_structlog_exception_rendered_off_thread_keeps_traceback(
    pipeline: Callable[..., str],
) -> None:
    """structlog's `exception()` keeps its traceback though the listener thread renders it."""
    log = structlog.get_logger("farmbridge.test")

    def emit() -> None:
        try:
            _fail_with_secret_local()
        except RuntimeError:
            log.exception("failed")

    out = pipeline(emit, json_lines=True)
    record = json.loads(out.strip())
    assert "RuntimeError: store refused fbd_[redacted]" in record["exception"]
    assert _leaks(out) == []


def test_context_request_id_reaches_stdlib_record(pipeline: Callable[..., str]) -> None:
    """A stdlib record carries the emitting task's bound request id to the listener."""
    log = logging.getLogger("farmbridge.test")

    def emit() -> None:
        with structlog.contextvars.bound_contextvars(request_id="abc123"):
            log.error("inside")
        log.error("outside")

    lines = [json.loads(line) for line in pipeline(emit, json_lines=True).splitlines()]
    assert [line.get("request_id") for line in lines] == ["abc123", None]


def test_redact_text_keeps_ordinary_text() -> None:
    """Text without secrets passes unchanged."""
    text = 'GET /api/v1/farms/3/readings?limit=10 200 "monkey=1"'
    assert logs.redact_text(text) == text


def test_flush_renders_queued_lines_and_keeps_listening(pipeline: Callable[..., str]) -> None:
    """`logs.flush()` (run before uvicorn re-raises SIGTERM) writes what is queued, and
    lines logged after it still come out."""
    log = logging.getLogger("farmbridge.test")
    flushed: list[str] = []
    out_ref: list[io.StringIO] = []

    def emit() -> None:
        log.info("before")
        logs.flush()
        flushed.append(out_ref[0].getvalue())
        log.info("after")

    out = io.StringIO()
    out_ref.append(out)
    pipe = logs.configure("info", stream=out)
    emit()
    pipe.stop()
    assert "before" in flushed[0]
    assert "after" in out.getvalue()


def test_secret_filter_alone_redacts_record(pipeline: Callable[..., str]) -> None:
    """The stdlib filter redacts a record for any handler, and redaction is idempotent."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", (DEVICE_KEY,), None)
    assert logs.SecretFilter().filter(record)
    assert record.getMessage() == "key fbd_[redacted]"
    assert logs.redact_text(logs.redact_text(f"token={JWT}")) == "token=[redacted]"
