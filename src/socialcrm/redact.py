"""Secrets never leave the process: redaction of configs, texts and log lines.

A config key is secret when its name says so (``salt``, ``token``, ``password``,
``secret``, ``api_key``, ``credentials``, ...; see :data:`SECRET_NAME`) or when
the root config lists it under ``secret_keys`` (names or dotted paths). A
secret's value is replaced by :data:`REDACTED` wherever the project writes a
config (MLflow params and ``config.yaml``, Hydra's ``.hydra/`` files, error
messages); user names and passwords in URIs (``https://user:pass@host``) are
cut out as well. Texts that may quote a secret by accident (exceptions, log
lines, Hydra's override lists) are scrubbed of every known secret value: the
values held by secret keys and those of :data:`SECRET_ENV_VARS`.

Everything here is pure except :func:`install_log_redaction`, which attaches a
filter to the logging handlers.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"

# Key names (the last part of a dotted key) that hold secrets.
SECRET_NAME = re.compile(
    r"(^|[_\-.])(salt|token|password|passwd|pwd|secret|api[_\-]?key|access[_\-]?key|"
    r"private[_\-]?key|credentials?|auth)($|[_\-.])",
    re.IGNORECASE,
)

# The root config key listing further secret keys (itself no secret).
MARK_KEY = "secret_keys"

# Environment variables whose values are secrets wherever they turn up.
SECRET_ENV_VARS = (
    "SOCIALCRM_SALT",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
)

# Shorter values are not scrubbed from free text: they would match by chance.
MIN_SCRUB_LENGTH = 4

_URI_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")


def is_secret_key(key: str, extra: Collection[str] = ()) -> bool:
    """Whether a config key holds a secret.

    Parameters
    ----------
    key
        A key name or a dotted path (``data.salt``).
    extra
        Further secret keys: names (``webhook``) or dotted paths (``report.webhook``).
    """
    name = key.rsplit(".", 1)[-1]
    if key == MARK_KEY:
        return False
    return bool(SECRET_NAME.search(name)) or name in extra or key in extra


def redact_uri(text: str) -> str:
    """``scheme://user:pass@host/...`` -> ``scheme://<redacted>@host/...``."""
    return _URI_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value (and URI credentials) replaced.

    Longer values are replaced first, so a secret that contains another is cut whole.
    """
    for value in sorted({v for v in values if v and len(v) >= MIN_SCRUB_LENGTH}, key=len)[::-1]:
        text = text.replace(value, REDACTED)
    return redact_uri(text)


def redact(
    obj: Any, extra: Collection[str] = (), values: Iterable[str] = (), _path: str = ""
) -> Any:
    """A copy of a plain config (dicts, lists, scalars) with secrets replaced.

    Parameters
    ----------
    obj
        ``OmegaConf.to_container(cfg)`` or any nesting of mappings and lists.
    extra
        Further secret key names or dotted paths (the config's ``secret_keys``).
    values
        Known secret values, scrubbed from every other string as well.

    Returns
    -------
    Any
        The same structure; a secret key's value is :data:`REDACTED` (``None`` stays
        ``None``: an unset secret tells nothing), other strings are scrubbed.
    """
    values = tuple(values)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            path = f"{_path}.{k}" if _path else str(k)
            if is_secret_key(path, extra) and v is not None and not isinstance(v, Mapping):
                out[k] = REDACTED
            else:
                out[k] = redact(v, extra, values, path)
        return out
    if isinstance(obj, list | tuple):
        return [redact(v, extra, values, _path) for v in obj]
    if isinstance(obj, str):
        return scrub(obj, values)
    return obj


def redact_override(override: str, extra: Collection[str] = (), values: Iterable[str] = ()) -> str:
    """A Hydra override (``data.salt=abc``, ``+x.token=abc``) with a secret value replaced."""
    key, sep, _ = override.partition("=")
    if sep and is_secret_key(key.lstrip("+~"), extra):
        return f"{key}={REDACTED}"
    return scrub(override, values)


def secret_values(
    obj: Any, extra: Collection[str] = (), environ: Mapping[str, str] | None = None
) -> set[str]:
    """Every secret value held by ``obj``'s secret keys, plus those of :data:`SECRET_ENV_VARS`."""
    env = os.environ if environ is None else environ
    found = {env[name] for name in SECRET_ENV_VARS if env.get(name)}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                sub = f"{path}.{k}" if path else str(k)
                if is_secret_key(sub, extra) and isinstance(v, str | int | float) and v != "":
                    found.add(str(v))
                else:
                    walk(v, sub)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v, path)
        elif isinstance(node, str):
            found.update(m["userinfo"] for m in _URI_USERINFO.finditer(node))

    walk(obj, "")
    return {v for v in found if len(v) >= MIN_SCRUB_LENGTH}


def config_secrets(cfg: Any) -> tuple[tuple[str, ...], set[str]]:
    """``(extra secret keys, secret values)`` of an OmegaConf config (resolved where possible)."""
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        return (), secret_values(cfg or {})
    extra = tuple(str(k) for k in (cfg.get(MARK_KEY) or ()))
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation that cannot resolve here: take the literals
        plain = OmegaConf.to_container(cfg, resolve=False)
    return extra, secret_values(plain, extra)


def redacted_container(cfg: Any, resolve: bool = True) -> Any:
    """An OmegaConf config as plain values with every secret redacted."""
    from omegaconf import OmegaConf

    extra, values = config_secrets(cfg)
    return redact(OmegaConf.to_container(cfg, resolve=resolve), extra, values)


# Secret values this process has seen in a config: error texts are scrubbed of them.
_KNOWN: set[str] = set()


def remember(values: Iterable[str]) -> None:
    """Add secret values (from a composed config) to those :func:`scrub_known` removes."""
    _KNOWN.update(v for v in values if v and len(v) >= MIN_SCRUB_LENGTH)


def scrub_known(text: str) -> str:
    """``text`` without any secret this process knows (configs seen, secret env vars)."""
    env = {os.environ[n] for n in SECRET_ENV_VARS if os.environ.get(n)}
    return scrub(text, _KNOWN | env)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secret values from every record it passes."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        super().__init__()
        self.values = set(values)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self.values)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(values: Iterable[str], logger: logging.Logger | None = None) -> None:
    """Scrub ``values`` from every line the handlers of ``logger`` (default: root) write.

    Filters sit on the handlers, not the logger, so records propagated from child
    loggers (MLflow's, Hydra's) are scrubbed too. Calling it again adds the new values.
    """
    values = set(values) | {os.environ[n] for n in SECRET_ENV_VARS if os.environ.get(n)}
    for handler in (logger or logging.getLogger()).handlers:
        existing = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        if existing:
            existing[0].values |= values
        else:
            handler.addFilter(RedactingFilter(values))
