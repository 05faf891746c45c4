"""Hydra/OmegaConf glue: resolvers and composing ``conf/`` outside ``@hydra.main``.

Importing this module registers the ``${project_root:}`` resolver that
``conf/paths/default.yaml`` uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from socialcrm.paths import config_dir, project_root

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(project_root()))


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra overrides, as ``@hydra.main`` would.

    Parameters
    ----------
    overrides
        Hydra override strings such as ``"data=synthetic_small"``.
    config_name
        Root config file name without extension.
    """
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))
