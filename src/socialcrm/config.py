"""Hydra/OmegaConf glue: resolvers, composing ``conf/`` outside ``@hydra.main`` and
loading an already composed config (the ``params.yaml`` that ``dvc exp run`` writes).

Importing this module registers the ``${project_root:}`` resolver that
``conf/paths/default.yaml`` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from socialcrm.paths import config_dir, project_root

# Top-level keys every composed socialcrm config has (conf/config.yaml's defaults).
COMPOSED_KEYS = (
    "paths",
    "data",
    "features",
    "listening",
    "tracking",
    "report",
    "task",
    "model",
    "seed",
    "train",
)

# replace=True: wins over the placeholder that hydra_plugins/socialcrm_resolvers registers
# for DVC's composition of params.yaml (a process may import that one first).
OmegaConf.register_new_resolver("project_root", lambda: str(project_root()), replace=True)


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


def load_params(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Load a composed config from a YAML file, e.g. the ``params.yaml`` DVC writes.

    ``dvc exp run`` composes ``conf/`` (with its ``-S`` overrides) into
    ``params.yaml``; the pipeline stages read that file instead of composing
    ``conf/`` again, so the overrides reach them.

    Parameters
    ----------
    path
        A YAML file holding a whole composed config.
    overrides
        ``key=value`` dotlist overrides of existing keys, e.g.
        ``data.generator.n_customers=500``. DVC's file is already resolved
        (except ``${project_root:}``, filled in here with this checkout), so an
        override changes that key only: ``seed=7`` does not reach
        ``model.classification.random_state``. Config groups (``model=xgboost``)
        cannot be switched here: choose them when composing (``dvc exp run -S``).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a composed socialcrm config or an override is not a
        ``key=value`` of an existing, non-group key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; `dvc exp run` composes it from conf/ "
            "(hydra.enabled in .dvc/config)"
        )
    cfg = OmegaConf.load(path)
    missing = [k for k in COMPOSED_KEYS if not isinstance(cfg, DictConfig) or k not in cfg]
    if missing:
        raise ValueError(
            f"{path} is not a composed socialcrm config (missing top-level keys: "
            f"{', '.join(missing)}); write it with `dvc exp run`, which composes conf/"
        )
    if overrides:
        cfg = _apply_dotlist(cfg, overrides, path)
    return cfg


def _apply_dotlist(cfg: DictConfig, overrides: Sequence[str], path: Path) -> DictConfig:
    """``key=value`` overrides of keys that exist in ``cfg`` (typos and groups are errors)."""
    for item in overrides:
        key = item.split("=", 1)[0]
        if "=" not in item or key.startswith(("+", "~")):
            raise ValueError(
                f"override {item!r}: with a params file only key=value of existing keys "
                "is allowed (add or delete keys when composing)"
            )
        if isinstance(OmegaConf.select(cfg, key, default=None), DictConfig):
            raise ValueError(
                f"override {item!r}: {key} is a config node of {path}; switch config "
                f"groups when composing (`dvc exp run -S {item}`), not on a params file"
            )
    OmegaConf.set_struct(cfg, True)
    try:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as err:  # unknown key, wrong type
        raise ValueError(f"cannot apply overrides {list(overrides)} to {path}: {err}") from err
    OmegaConf.set_struct(cfg, False)
    return cfg


def with_task(cfg: DictConfig, name: str) -> DictConfig:
    """``cfg`` with its ``task`` node replaced by ``conf/task/<name>.yaml``.

    A composed file (DVC's ``params.yaml``) holds one task; pipeline stages that
    train another task on the same data, features and model take it from
    ``conf/task/`` this way (its ``${...}`` resolve against ``cfg``).

    Raises
    ------
    ValueError
        If there is no such task config.
    """
    path = config_dir() / "task" / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ValueError(f"no task config {path.name} in {path.parent}; choose from {options}")
    out = cfg.copy()
    out.task = OmegaConf.load(path)
    return out
