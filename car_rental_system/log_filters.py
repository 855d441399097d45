"""Logging filters named in ``settings.LOGGING``."""

import logging


class PermissionDeniedWithoutTraceback(logging.Filter):
    """A refused request (403) is an expected outcome, not a fault: keep the one
    "Forbidden (Permission denied): /path" line and drop the traceback that
    Django attaches to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
