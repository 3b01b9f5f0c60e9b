"""Structured logging with structlog: key=value lines for people, JSON for machines.

The event loop only hands records to a queue (`QueueHandler`); a listener thread renders
them, so a traceback or a burst of lines never stalls a request. Tracebacks are plain
and bounded (never with local variables), and every line passes through the redaction
below on its way out: device keys, tokens, passwords, cookies and Authorization headers
never reach a log, whoever wrote the line (ours, uvicorn's, a library's).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import IO, Any, Final

import structlog
from structlog.types import EventDict, WrappedLogger

REDACTED: Final = "[redacted]"
MAX_TRACEBACK_FRAMES: Final = 30
MAX_TRACEBACK_CHARS: Final = 8_000
MAX_REDACT_DEPTH: Final = 4
CONTEXT_ATTR: Final = "farmbridge_context"
"""The record attribute that carries the emitting task's structlog context to the listener."""

SECRET_NAME_PARTS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "device_key",
    "apikey",
)
"""A field whose name contains one of these is a secret, whatever its value looks like."""
SECRET_NAMES: Final = frozenset({"key", "jwt", "credentials", "set-cookie"})
"""Names that are secrets only when they are the whole name (`key`, not `monkey`)."""

_NAMES: Final = (
    r"(?:access_token|refresh_token|token|password|passwd|secret|key|api_key|device_key|jwt)"
)


def _keep_quotes(match: re.Match[str]) -> str:
    quote = match.group(2) or ""
    return match.group(1) + quote + REDACTED + quote


_PATTERNS: Final[tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]] = (
    # Device keys as service/security.py makes them: "fbd_" + token_urlsafe(32).
    (re.compile(r"fbd_[A-Za-z0-9_\-]{8,}"), "fbd_" + REDACTED),
    # Webhook signing secrets as service/notifications.py makes them: "fbw_" + 43 chars.
    (re.compile(r"fbw_[A-Za-z0-9_\-]{8,}"), "fbw_" + REDACTED),
    # A JWT: three base64url parts, the first a JSON header (`{"` is "eyJ").
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + REDACTED),
    # `token=...` in a URL, a query string or a form body.
    (
        re.compile(rf"(?i)(?<![A-Za-z0-9_\-])({_NAMES})=(?!\[redacted\])[^&\s\"'<>;,]+"),
        r"\1=" + REDACTED,
    ),
    # Header lines and reprs: `Authorization: ...`, `'cookie': '...'`, `"password": "..."`;
    # a quoted value keeps its quotes, so a JSON line stays JSON.
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9_\-])([\"']?(?:authorization|cookie|set-cookie|x-device-key|"
            rf"{_NAMES})[\"']?\s*[:=]\s*)(?:([\"'])(?:(?!\2).)*\2|(?!\[redacted\])[^\s,;}}\]]+)"
        ),
        _keep_quotes,
    ),
    # A URL's user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+):[^/\s@]+@"), r"\1:" + REDACTED + "@"),
)


def redact_text(text: str) -> str:
    """`text` with every secret the patterns know replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_secret_name(name: str) -> bool:
    """True for a field name that holds a secret (`password`, `X-Device-Key`, `token`)."""
    lowered = name.lower().replace("-", "_")
    return lowered in SECRET_NAMES or any(part in lowered for part in SECRET_NAME_PARTS)


def redact_value(value: Any, depth: int = 0) -> Any:
    """`value` with secrets removed: strings by pattern, mappings also by key name."""
    if isinstance(value, str):
        return redact_text(value)
    if depth >= MAX_REDACT_DEPTH:
        return value if isinstance(value, int | float | bool | None) else REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_name(str(k)) else redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool | None):
        return value
    return redact_text(str(value))


def plain_traceback(exc_info: Any) -> str:
    """The traceback as Python prints it, without locals, cut to a bounded size."""
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not exc_info or exc_info[0] is None:
        return ""
    text = "".join(traceback.format_exception(*exc_info, limit=MAX_TRACEBACK_FRAMES))
    if len(text) > MAX_TRACEBACK_CHARS:
        # The end names the error and the frame that raised it: keep that part.
        text = "[traceback cut]\n" + text[-MAX_TRACEBACK_CHARS:]
    return text.rstrip("\n")


def format_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Turns `exc_info` into a plain `exception` string before any renderer sees it."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        event_dict["exception"] = plain_traceback(exc_info)
    return event_dict


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: secret-named fields blanked, secret-shaped values redacted."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue
        event_dict[key] = REDACTED if is_secret_name(key) else redact_value(value)
    return event_dict


def capture_exc_info(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Resolves `exc_info=True` while the exception is still current: rendering happens
    on the listener thread, where `sys.exc_info()` is empty."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def merge_record_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The emitting task's context (request id) for a stdlib record rendered on the listener."""
    record = event_dict.get("_record")
    context = getattr(record, CONTEXT_ATTR, None)
    if context:
        for key, value in context.items():
            event_dict.setdefault(key, value)
    return event_dict


class SecretFilter(logging.Filter):
    """A stdlib filter that redacts a record's message and traceback text in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, dict):  # structlog's own records are redacted later
            record.msg = redact_text(record.getMessage())
            record.args = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, with the finished line redacted once more as the last word."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class LoopQueueHandler(logging.handlers.QueueHandler):
    """Enqueues records as they are, with the task's structlog context; renders nothing.

    The stdlib's `prepare` formats the record (traceback included) in the caller's
    thread: on the event loop that is exactly the cost this handler exists to avoid.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        context = structlog.contextvars.get_contextvars()
        if context:
            setattr(record, CONTEXT_ATTR, context)
        return record


class LogPipeline:
    """The configured pipeline: a queue the loggers write to and the thread that renders."""

    def __init__(self, listener: logging.handlers.QueueListener) -> None:
        self._listener = listener
        self._stopped = False

    def flush(self) -> None:
        """Renders everything queued so far, then goes on listening."""
        if not self._stopped:
            self._listener.stop()
            self._listener.start()

    def stop(self) -> None:
        """Renders what is queued and stops the thread (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._listener.stop()


_pipeline: LogPipeline | None = None


def flush() -> None:
    """Renders what the configured pipeline has queued (nothing to do when none is).

    For the moment before a process ends by a signal, when no atexit hook runs.
    """
    if _pipeline is not None:
        _pipeline.flush()


def configure(
    level: str = "info", *, json: bool = False, stream: IO[str] | None = None
) -> LogPipeline:
    """Routes stdlib and structlog records through one renderer at the given level.

    `stream` (stderr by default) is where lines go. Calling it again replaces the
    previous pipeline, after rendering what that one had queued.
    """
    global _pipeline
    if _pipeline is not None:
        _pipeline.stop()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            capture_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.addFilter(SecretFilter())
    output.setFormatter(
        RedactingFormatter(
            foreign_pre_chain=[merge_record_context, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                format_exception,
                redact_secrets,
                renderer,
            ],
        )
    )
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, output, respect_handler_level=False)
    root = logging.getLogger()
    root.handlers[:] = [LoopQueueHandler(records)]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates our own request metrics at high rates.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs each request's full URL at info; a webhook's URL may carry its receiver's
    # token, and the delivery log says what was sent where.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # uvicorn's own loggers must reach the root (and its redaction), never a handler of theirs.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    listener.start()
    _pipeline = LogPipeline(listener)
    atexit.register(_pipeline.stop)
    return _pipeline
