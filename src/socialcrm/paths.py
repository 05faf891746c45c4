"""Project root and standard folders: the one place paths live."""

from __future__ import annotations

import os
from pathlib import Path

ENV_ROOT = "SOCIALCRM_ROOT"


def project_root(start: Path | None = None) -> Path:
    """Return the repository root.

    ``$SOCIALCRM_ROOT`` wins; otherwise the nearest parent of ``start`` (default:
    this file) holding ``pyproject.toml`` and ``conf/``.
    """
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT]).resolve()
    here = (start or Path(__file__)).resolve()
    for parent in [here, *here.parents]:
        if (parent / "pyproject.toml").is_file() and (parent / "conf").is_dir():
            return parent
    raise FileNotFoundError(f"cannot find the socialcrm project root above {here}; set ${ENV_ROOT}")


def config_dir() -> Path:
    """The Hydra ``conf/`` folder."""
    return project_root() / "conf"
