"""Log records as one JSON object a line (LOG_FORMAT=json, production) with the request id of the work they belong
to; LOG_FORMAT=text leaves the embedded default's terminal output as Python and Flask make it."""

import json
import logging
import sys
from datetime import UTC, datetime

from webapp.observability import context

# Facts a record may carry besides its message (passed as `extra=`): the access line's and the task lines'. Nothing
# else a caller attaches is written, so no personal datum reaches the log through an `extra` by accident.
FIELDS = ("user", "method", "path", "endpoint", "status", "duration_ms", "task", "task_id", "outcome")

ACCESS = logging.getLogger("birthreg.access")
# Libraries that narrate their work at INFO (a font subset is some forty lines): warnings only.
CHATTY = ("fontTools", "PIL", "xhtml2pdf", "reportlab")


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time (UTC, ISO 8601), level, logger, message, request_id, the known
    facts of FIELDS the record carries, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON object on one line."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": context.current(),
        }
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _is_ours(handler: logging.Handler) -> bool:
    return getattr(handler, "birthreg", False)


def configure(log_format: str, level: str) -> logging.Handler | None:
    """Send every record of `level` and above to stderr as JSON (`json`), or leave logging as it is (`text`).

    Each app built in a process calls this; the handler it installed before is replaced, never doubled.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _is_ours(h)]:
        root.removeHandler(handler)
    if log_format != "json":
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.birthreg = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler


def access(method: str, path: str, status: int, duration_ms: float, endpoint: str | None, user: str) -> None:
    """Log one answered request: the path without its query (tokens travel there), never who by name or number."""
    ACCESS.info("%s %s %s", method, path, status,
                extra={"method": method, "path": path, "status": status, "duration_ms": round(duration_ms, 1),
                       "endpoint": endpoint, "user": user})
