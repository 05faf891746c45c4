"""Errors the user fixes, and the one handler that turns them into a message and an exit code.

Bad input data, a misspelt config key or a missing file are the user's to fix:
they end as a short message (or the data-contract report) and an exit code, not
as a Python traceback. Every CLI verb and the Hydra entry points
(``python -m socialcrm.train``, ``python -m socialcrm.tune``) run inside
:func:`exit_on_user_error`:

- exit code 1 (:data:`DATA_ERROR`): the input data break the contract
  (``DataContractError`` and its subclasses, with their report) or a file the
  run needs is missing;
- exit code 2 (:data:`USAGE_ERROR`): the command line or the config is wrong
  (:class:`ConfigError`, Hydra override and composition errors such as
  ``data.salz=x`` or ``model=nonexistent``, OmegaConf errors).

Anything else is a bug and keeps its traceback. With ``SOCIALCRM_DEBUG=1`` user
errors keep theirs too. Every error text the user sees is made by
:func:`error_text`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: Exit code of a run stopped by bad input data.
DATA_ERROR = 1
#: Exit code of a run stopped by a wrong command line or config.
USAGE_ERROR = 2
#: Environment switch that shows the Python traceback of user errors too.
DEBUG_ENV = "SOCIALCRM_DEBUG"
DEBUG_HINT = f"(set {DEBUG_ENV}=1 to see the Python traceback)"
#: OS errors about a path that a user gives (a missing input, a folder that cannot be written).
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


class UserError(Exception):
    """A problem the user fixes (input, config, command line); shown without a traceback."""

    exit_code: int = DATA_ERROR


class ConfigError(UserError, ValueError):
    """The config or the command line is wrong (exit code 2)."""

    exit_code = USAGE_ERROR


def debug_enabled() -> bool:
    """Whether ``SOCIALCRM_DEBUG`` asks for tracebacks (any value but empty, 0, false, no)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _is_config_error(err: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(err, HydraException | OmegaConfBaseException)


def _is_data_error(err: BaseException) -> bool:
    from socialcrm.data.validate import DataContractError

    return isinstance(err, (DataContractError, *_PATH_ERRORS))


def exit_code_for(err: BaseException) -> int | None:
    """The exit code for a user error, ``None`` for anything else (a bug).

    Config errors are tested before path errors: Hydra's ``MissingConfigException``
    (``model=nonexistent``) is an ``OSError`` too.
    """
    if isinstance(err, UserError):
        return err.exit_code
    if _is_config_error(err):
        return USAGE_ERROR
    if _is_data_error(err):
        return DATA_ERROR
    return None


def one_paragraph(text: str) -> str:
    """Hydra's multi-line message as one paragraph: option lists joined, search path left out.

    >>> one_paragraph("Could not find 'model/x'\\n\\nAvailable options in 'model':\\n\\ta\\n\\tb")
    "Could not find 'model/x'. Available options in 'model': a, b"
    """
    text = text.split("\nConfig search path:")[0]
    parts: list[str] = []
    for line in text.splitlines():
        item = line.strip()
        if not item or item.startswith("object_type="):
            continue
        if line.startswith("\t") and parts and parts[-1].endswith((":", ",")):
            parts[-1] = f"{parts[-1]} {item},"
        elif line.startswith(("\t", "    ")) and parts:
            parts[-1] = f"{parts[-1].rstrip('.,')} ({item})"
        else:
            if parts and not parts[-1].endswith((".", ":", ")")):
                parts[-1] = parts[-1].rstrip(",") + "."
            parts.append(item)
    return " ".join(parts).rstrip(",")


def config_error_message(err: BaseException) -> str:
    """What was wrong with the config or an override, and how to check it (one paragraph)."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    text = str(err)
    cause = err.__cause__
    override = re.search(r"Could not override '([^']+)'", text)
    if override and isinstance(cause, ConfigAttributeError | ConfigKeyError):
        key = override.group(1)
        append = re.search(r"use (\+\S+)", text)
        add = f"; to add a new key on purpose write {append.group(1)}" if append else ""
        return (
            f"invalid config: there is no key {key!r} to override (misspelt?). "
            f"Check the name against the files in conf/{add}."
        )
    if isinstance(cause, OmegaConfBaseException) and str(cause) not in text:
        text = f"{text}\n{cause}"
    body = one_paragraph(text)
    body += "" if body.endswith(".") else "."
    if isinstance(err, MissingConfigException):
        return f"invalid config: {body}"
    return f"invalid config: {body} Check the override against the files in conf/."


def report_text(report: Any, width: int = 140) -> str:
    """A validation report rendered as plain text (the table, then one line per violation)."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    report.render(console)
    return buffer.getvalue().rstrip("\n")


def error_text(err: BaseException, width: int = 140) -> str:
    """Everything the user reads about ``err``, ending with the debug hint.

    The one place where user-facing error text is made: data errors show their
    report (file, column, rule, count, example rows; identifiers are never in
    it), config errors one paragraph, other user errors ``error: <message>``.
    Secrets the process knows (the salt, tokens) are scrubbed from it.

    Parameters
    ----------
    err
        The exception.
    width
        Line width for the report table.
    """
    from socialcrm.redact import scrub_known

    report = getattr(err, "report", None)
    if report is not None and hasattr(report, "render"):
        body = report_text(report, width)
    elif _is_config_error(err):
        body = f"error: {config_error_message(err)}"
    else:
        body = f"error: {err}"
    return scrub_known(f"{body}\n{DEBUG_HINT}")


def _error_console() -> Any:
    from rich.console import Console

    # logs and pipes get wide lines, as in the CLI
    return Console(stderr=True, width=None if sys.stderr.isatty() else 140)


@contextlib.contextmanager
def exit_on_user_error(console: Any = None) -> Iterator[None]:
    """Turn a user error raised in the block into its message and exit code.

    Prints :func:`error_text` of the error on ``console`` (default: a console on
    stderr) and exits with 1 for data errors, 2 for config and usage errors.
    Other exceptions, and every exception when ``SOCIALCRM_DEBUG=1``, pass
    through with their traceback. Usable as a decorator too.
    """
    try:
        yield
    except Exception as err:
        code = exit_code_for(err)
        if code is None or debug_enabled():
            raise
        console = console or _error_console()
        console.out(error_text(err, width=console.width), highlight=False)
        raise SystemExit(code) from None


def run_hydra_app(main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` function with :func:`exit_on_user_error` around it.

    Hydra prints config composition errors itself and exits with 1;
    ``HYDRA_FULL_ERROR=1`` makes it raise them instead, so that a misspelt key
    or config group reaches the handler and ends with exit code 2. Data errors
    are handled inside the job (by ``main`` itself), so Hydra's job logging
    still closes normally.
    """
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        with exit_on_user_error():
            main()
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
