"""Logs for the services on standard error: one JSON object per line (the default), or one readable
line per record (`--log-format text`), at the level `--log-level` asks for (default info).

Every record carries its time (UTC), level, logger and message, plus the fields a caller passed in
`extra=` (event, site, round, reason, bytes, ...), so an IT team can ship the lines to any log system;
the text form writes those fields as key=value after the message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "TextFormatter",
    "configure_json_logging",
    "configure_logging",
]

LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("debug", "info", "warning", "error")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extra(record: logging.LogRecord) -> dict[str, str | int | float | bool | None]:
    return {
        key: value if isinstance(value, str | int | float | bool | None) else str(value)
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_extra(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`TIME LEVEL logger: message key=value ...` (values with spaces quoted as JSON strings)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={_text(v)}" for k, v in _extra(record).items())
        line = f"{_time(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {fields}" if fields else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value: str | int | float | bool | None) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    """Send the `fedward` loggers' records to standard error as JSON or text lines, at `level` and above
    (replacing earlier handlers). An unknown format or level raises ValueError naming the choices."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if level not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("fedward")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send the `fedward` loggers' records to standard error as JSON lines (replacing earlier handlers)."""
    configure_logging("json", logging.getLevelName(level).lower())
