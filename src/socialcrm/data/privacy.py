"""Salted hashing of personal identifiers (e-mail, phone, social handle).

Raw identifiers are hashed as soon as they are loaded; only the hash travels
further (``data/interim`` and later never see the raw value). The hash is a keyed
BLAKE2b, so without the salt a hash cannot be confirmed by hashing a guessed
e-mail address.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable

import numpy as np

SALT_ENV = "SOCIALCRM_SALT"
_NON_DIGITS = re.compile(r"\D+")


def normalize_identifier(value: str, kind: str) -> str:
    """Canonical spelling before hashing, so that ``A@x.com `` and ``a@x.com`` match.

    Parameters
    ----------
    value
        The raw identifier.
    kind
        ``"email"``, ``"phone"`` or ``"handle"``.
    """
    v = value.strip()
    if kind == "email":
        return v.lower()
    if kind == "phone":
        return _NON_DIGITS.sub("", v)
    if kind == "handle":
        return v.lstrip("@").lower()
    raise ValueError(f"unknown identifier kind {kind!r}; expected email, phone or handle")


def resolve_salt(salt: str | None) -> str:
    """The salt from config, else from ``$SOCIALCRM_SALT``; an error if neither is set."""
    if salt:
        return str(salt)
    if os.environ.get(SALT_ENV):
        return os.environ[SALT_ENV]
    raise ValueError(
        "hashing personal identifiers needs a salt: set data.salt in the config or "
        f"the ${SALT_ENV} environment variable"
    )


def hash_identifiers(values: Iterable[object], kind: str, salt: str) -> np.ndarray:
    """Hash identifiers with a keyed BLAKE2b (32 hex characters); nulls stay null.

    Parameters
    ----------
    values
        Raw identifiers; ``None``/NaN entries are kept as ``None``.
    kind
        ``"email"``, ``"phone"`` or ``"handle"`` (see :func:`normalize_identifier`).
    salt
        Secret key; the same salt gives the same hash, so joins across tables work.

    Returns
    -------
    numpy.ndarray
        Object array of hex digests (or ``None``).
    """
    key = salt.encode("utf-8")[:64]
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
            continue
        norm = normalize_identifier(str(v), kind).encode("utf-8")
        out.append(hashlib.blake2b(norm, key=key, digest_size=16).hexdigest())
    return np.array(out, dtype=object)
