"""The ``raynas`` logger: library code reports through it, as Ray and Optuna do through theirs.

By default its records print as ``[raynas] message`` (every line prefixed): information to standard output,
warnings and errors to standard error, on the streams ``sys`` holds when the record is written. Configure it like
any logger, e.g. ``logging.getLogger("raynas").setLevel(logging.WARNING)`` to keep only warnings.

Example:
    >>> from raynas.log import logger
    >>> logger.info("search 'digits': 3 of 3 trials finished\\n  best [0, 1]")
    [raynas] search 'digits': 3 of 3 trials finished
    [raynas]   best [0, 1]
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

logger = logging.getLogger("raynas")


class _Prefixed(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(f"[raynas] {line}" for line in super().format(record).splitlines() or [""])


class _Console(logging.StreamHandler):
    """Writes to ``sys.stdout`` (below WARNING) or ``sys.stderr`` as they are when a record is emitted, so that a
    redirected or captured stream receives it."""

    def __init__(self, errors: bool):
        super().__init__()
        self.errors = errors
        self.setFormatter(_Prefixed())
        self.addFilter(lambda record: (record.levelno >= logging.WARNING) == errors)

    @property
    def stream(self) -> TextIO:
        return sys.stderr if self.errors else sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys stream


if not logger.handlers:
    logger.addHandler(_Console(errors=False))
    logger.addHandler(_Console(errors=True))
    logger.setLevel(logging.INFO)
    logger.propagate = False
