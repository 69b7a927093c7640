"""Logging to the console and to ``data_download.log``, with secrets kept out of both."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

__all__ = ["RedactSecrets", "batch_log_writes", "redact", "route_console", "setup_logging"]

LOGGER_NAME = "ratdcs"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace known secret values (tokens from the environment) and auth headers/cookies in records."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True

    def redact(self, text: str) -> str:
        for secret in (*self.secrets, *_REGISTERED):
            if secret in text:
                text = text.replace(secret, "***")
        # A sync logs a line per file, and the two substitutions were 8 of a record's 55 us (issue
        # 15): in ASCII text a pattern can match only where its start is, in any case. Other text
        # gets every pattern, as re.I matches more than lower() finds (a dotless i for an i).
        folded = text.lower() if text.isascii() else None
        for start, pattern in _SECRET_PATTERNS:
            if folded is None or start in folded:
                text = pattern.sub(r"\1***", text)
        return text


# (the pattern's literal start, lower case; the pattern, case-insensitive)
_SECRET_PATTERNS = (("mast_token=", re.compile(r"(mast_token=)[^;\s&]+", re.I)),
                    ("authorization:", re.compile(r"(Authorization:\s*\w+\s+)\S+", re.I)))
# The filter of the last setup_logging: error messages printed outside logging (the CLI's
# "Error: ..." line, which may quote an archive's answer) go through it too.
_active: RedactSecrets | None = None


# Secrets a command read for use (the MAST token, by NetworkPolicy.from_config): every redaction
# hides them, whoever set logging up and whatever environment variable held them.
_REGISTERED: set[str] = set()


def register_secret(value: str | None) -> None:
    """Hide ``value`` wherever ratdcs redacts text (too short a value would hide ordinary words)."""
    if value and len(value) >= 4:
        _REGISTERED.add(value)


def redact(text: str) -> str:
    """``text`` with the secrets the logs hide replaced by ``***``."""
    if not text:
        return text
    active = _active or RedactSecrets([os.environ.get("MAST_API_TOKEN", "")])  # before any setup_logging
    return active.redact(text)


def setup_logging(*, verbose: bool = False, quiet: bool = False, log_path: Path | None = None,
                  secret_env_names: tuple[str, ...] = ("MAST_API_TOKEN",), defer: bool = False) -> logging.Logger:
    """Console: warnings (debug with -v, errors only with -q). File: info (debug with -v)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    from .config import read_secret  # the environment, else ./.env, as the token is read for use

    global _active
    redactor = _active = RedactSecrets([read_secret(name) or "" for name in secret_env_names])
    console = _Console()
    console.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.addFilter(redactor)
    logger.addHandler(console)
    if log_path is not None and defer:
        logger.addHandler(_Deferred(log_path, verbose, redactor))
    elif log_path is not None:
        add_file_log(logger, log_path, verbose, redactor)
    return logger


class _Deferred(logging.Handler):
    """The log file of a command whose data directory does not exist yet (a first plan): records
    are kept until the command succeeded and made it (``write_deferred_log``); a refused command
    leaves no directory holding only a log file."""

    def __init__(self, log_path: Path, verbose: bool, redactor: logging.Filter):
        super().__init__(logging.DEBUG if verbose else logging.INFO)
        self.log_path, self.verbose, self.redactor = log_path, verbose, redactor
        self.records: list[logging.LogRecord] = []
        self.addFilter(redactor)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def write_deferred_log() -> None:
    """Write what a deferred log file kept, now that its directory exists (else drop it)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, _Deferred)]:
        logger.removeHandler(handler)
        if handler.log_path.parent.is_dir():
            add_file_log(logger, handler.log_path, handler.verbose, handler.redactor)
            for record in handler.records:
                logger.handlers[-1].handle(record)


class _Console(logging.StreamHandler):
    """Standard error; while a progress bar is drawn, through the bar's writer (``route_console``),
    so a warning is printed above the bar instead of inside its line (issue 19)."""

    writer = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.writer is None:
            super().emit(record)
            return
        try:
            self.writer(self.format(record))
        except Exception:  # noqa: BLE001 - logging's own policy: a record that fails is reported, not raised
            self.handleError(record)


def route_console(writer) -> None:
    """Send console log lines to ``writer(line)`` (a progress bar's ``write``), or back to
    standard error with None."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, _Console):
            handler.writer = writer


class _FileLog(logging.FileHandler):
    """The log file; when it cannot be written (a full disk), say so once on the console and
    stop writing it, instead of logging's '--- Logging error ---' traceback per record.

    Inside ``batch_log_writes`` a record is not flushed on its own: records reach the file as the
    stream's buffer fills, and the rest at the block's end."""

    batching = False

    def flush(self) -> None:
        if not self.batching:
            super().flush()

    def end_batch(self) -> None:
        """End of ``batch_log_writes``: what is buffered written, a failure handled as a record's is."""
        self.batching = False
        try:
            self.flush()
        except OSError as error:
            self._give_up(error)

    def handleError(self, record: logging.LogRecord) -> None:
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # one bad record (a message that cannot be encoded)
            super().handleError(record)
            return
        self._give_up(error)

    def _give_up(self, error: OSError) -> None:
        import sys

        if self.level > logging.CRITICAL:
            return
        self.setLevel(logging.CRITICAL + 1)  # off: every later write would fail the same way
        reason = error.strerror or error
        print(f"WARNING: cannot write the log file {self.baseFilename} ({reason}); logging to the console only",
              file=sys.stderr)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last flush hits the same full disk; what is lost was already said
            pass


@contextlib.contextmanager
def batch_log_writes():
    """The records logged inside reach the log file in a write per 8 KiB buffer and one at the
    end, not a write each: a sync logs a line per file, and the write was 8 of a record's 55 us
    (issue 15). A record is one write to the buffer, so lines are never split. Meant for a few
    milliseconds of work (a batch of outcomes); a crash inside loses only those lines."""
    files = [h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, _FileLog)]
    for handler in files:
        handler.batching = True
    try:
        yield
    finally:
        for handler in files:
            handler.end_batch()


def add_file_log(logger: logging.Logger, log_path: Path, verbose: bool, redact: logging.Filter) -> None:
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = _FileLog(log_path, encoding="utf-8")
    except OSError as exc:
        logger.warning("cannot write the log file %s (%s); logging to the console only", log_path, exc.strerror)
        return
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(redact)
    logger.addHandler(handler)
