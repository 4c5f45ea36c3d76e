"""Logging: vectordb logs through the standard ``logging`` module, under the ``vectordb``
logger (``vectordb.index``, ``vectordb.slow``, ...). By default it adds no handler and sets no
level, as a library should; ``DatabaseConfig(log_level=, log_json=)`` opts in."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

__all__ = ["JsonFormatter", "apply_logging_config"]

_HANDLER_NAME = "vectordb-json"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, ``exception`` when there is one, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(
                record.created, datetime.timezone.utc
            ).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        return json.dumps(entry, default=str)


def apply_logging_config(level: str | None, use_json: bool) -> None:
    """Set the ``vectordb`` logger's level (when given) and add or remove the JSON handler."""
    logger = logging.getLogger("vectordb")
    if level is not None:
        logger.setLevel(level)
    existing = [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]
    if use_json and not existing:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    elif not use_json:
        for stale in existing:
            logger.removeHandler(stale)
