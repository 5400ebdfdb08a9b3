"""Structured JSON logs, one object per line, carrying the conversation id of the turn at hand.

Log records never carry message text or personal data: code logs ids, codes and counts only
(shopper text is moderated and stored in the event log, not in logs).
"""
from __future__ import annotations

import contextvars
import json
import logging
import time

conversation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("conversation_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = conversation_id.get()
        if cid:
            entry["conversation_id"] = cid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(json_lines: bool, level: int = logging.INFO) -> None:
    """Root logging for a server process: JSON lines, or the plain format for a terminal."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
