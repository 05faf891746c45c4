"""Identities of derived outputs: what an output depends on, its hash, and how two differ.

An output written to a fixed place (``data.raw_dir``, ``features.output_dir``)
records the *identity* of the request that made it: a JSON-able dict of
everything its content depends on (config values, input and code fingerprints).
A later request reuses the output only when its own identity is equal; otherwise
the output is rebuilt or, with ``on_mismatch: error``, refused with the keys that
differ (:func:`identity_changes`). Everything here is pure except the two
read-only fingerprints :func:`file_sha256` and :func:`tree_sha256`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socialcrm.errors import ConfigError

#: What to do when an output on disk was made by another request.
ON_MISMATCH = ("rebuild", "error")
#: Shown for a key one of two identities does not have.
ABSENT = "(absent)"
_DIGEST = re.compile(r"^[0-9a-f]{32,}$")


class IdentityMismatchError(ConfigError):
    """An output on disk was made by another request and ``on_mismatch: error`` keeps it."""


@dataclass(frozen=True)
class Change:
    """One key whose value differs between a recorded and a requested identity."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key} {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        # digests are told apart by their start; the full value is in the JSON file
        return f"{value[:12]}..." if _DIGEST.match(value) else value
    return json.dumps(value, default=str)


def _normalise(identity: Mapping[str, Any]) -> Any:
    """The identity as JSON would give it back (tuples -> lists, keys -> str)."""
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def identity_hash(identity: Mapping[str, Any]) -> str:
    """SHA-256 of the identity's canonical JSON (sorted keys, no whitespace).

    Parameters
    ----------
    identity
        A JSON-able mapping; values that JSON cannot hold are taken as ``str``.

    Returns
    -------
    str
        64 hex characters; equal identities (after a JSON round trip) hash equal.
    """
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; lists and scalars are leaves."""
    if not isinstance(obj, Mapping):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def identity_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The dotted keys whose values differ, sorted by key.

    Parameters
    ----------
    old
        The identity recorded with the output on disk.
    new
        The identity of the request.

    Returns
    -------
    list of Change
        Empty when the identities are equal; a key only one side has shows
        :data:`ABSENT` on the other.
    """
    a, b = flatten(_normalise(old)), flatten(_normalise(new))
    return [
        Change(key, a.get(key, ABSENT), b.get(key, ABSENT))
        for key in sorted(a.keys() | b.keys())
        if a.get(key, ABSENT) != b.get(key, ABSENT)
    ]


def describe_changes(changes: Iterable[Change], limit: int = 12) -> str:
    """``"features.horizon_days 90 -> 180; ..."``, at most ``limit`` of them."""
    changes = list(changes)
    text = "; ".join(str(c) for c in changes[:limit])
    if len(changes) > limit:
        text += f"; and {len(changes) - limit} more"
    return text


def check_on_mismatch(value: Any, key: str) -> str:
    """``value`` if it is one of :data:`ON_MISMATCH`; a :class:`ConfigError` naming ``key``."""
    if value not in ON_MISMATCH:
        raise ConfigError(f"{key} must be one of {list(ON_MISMATCH)}, got {value!r}")
    return str(value)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_sha256(paths: Iterable[str | Path], pattern: str = "*.py") -> str:
    """SHA-256 over the files matching ``pattern`` under ``paths`` (files or folders).

    Each file counts with its name relative to its root and its bytes, so a
    renamed, added or edited file changes the digest; ``__pycache__`` is ignored.
    """
    h = hashlib.sha256()
    for root in map(Path, paths):
        files = [root] if root.is_file() else sorted(root.rglob(pattern))
        for f in files:
            if "__pycache__" in f.parts:
                continue
            rel = f.name if f == root else f.relative_to(root).as_posix()
            h.update(f"{root.name}/{rel}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()
