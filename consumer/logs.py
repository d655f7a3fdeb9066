"""Logging set-up: readable lines on a terminal, one JSON object per line elsewhere.

Every line can carry the message's context (tenant, build, topic, partition, offset)
through ``extra=``; nothing here ever formats a token or a secret.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

CONTEXT_FIELDS = ("tenant", "build", "reference", "topic", "partition", "offset", "ms")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            {f: getattr(record, f) for f in CONTEXT_FIELDS if hasattr(record, f)}
        )
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{f}={getattr(record, f)}" for f in CONTEXT_FIELDS if hasattr(record, f)
        )
        text = (
            f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} "
            f"{record.getMessage()}"
        )
        text = f"{text}  [{context}]" if context else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TextFormatter() if sys.stderr.isatty() else _JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python is chatty about connections and rebalances, and warns about a group
    # coordinator that is still being elected; what matters surfaces as an error.
    logging.getLogger("kafka").setLevel(
        logging.WARNING if root.level <= logging.INFO else logging.ERROR
    )
