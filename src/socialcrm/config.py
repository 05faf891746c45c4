"""Hydra/OmegaConf glue: resolvers, composing ``conf/`` outside ``@hydra.main`` and
loading an already composed config (the ``params.yaml`` that ``dvc exp run`` writes).

Importing this module registers the ``${project_root:}`` resolver that
``conf/paths/default.yaml`` uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from socialcrm.paths import config_dir, project_root
from socialcrm.redact import (
    config_secrets,
    install_log_redaction,
    is_secret_key,
    redact,
    redact_override,
    remember,
)

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
    "pipeline",
    "train",
)

# replace=True: wins over the placeholder that hydra_plugins/socialcrm_resolvers registers
# for DVC's composition of params.yaml (a process may import that one first).
OmegaConf.register_new_resolver("project_root", lambda: str(project_root()), replace=True)


def _secret(name: str, default: str | None = None) -> str | None:
    """``${secret:ENV_VAR,default}``: a secret from the environment (like ``oc.env``).

    A separate resolver name lets DVC's composition keep the reference instead of
    the value (hydra_plugins/socialcrm_resolvers), so params.yaml never holds a secret.
    """
    return os.environ.get(name, default)


OmegaConf.register_new_resolver("secret", _secret, replace=True)


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
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
    protect_secrets(cfg)
    return _with_overrides(cfg, list(overrides))


# Where a config came from (the command line's overrides) travels with the config object
# as an OmegaConf flag: not a config key, so it changes no hash and no params file.
_OVERRIDES_FLAG = "socialcrm_overrides"


def _with_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    cfg._metadata.flags[_OVERRIDES_FLAG] = list(overrides)
    return cfg


def overrides_of(cfg: DictConfig) -> list[str]:
    """The overrides ``cfg`` was composed with: Hydra's task overrides inside a
    ``@hydra.main`` job, otherwise those given to :func:`compose`, :func:`load_params`
    and :func:`with_task` (empty if unknown)."""
    from hydra.core.hydra_config import HydraConfig

    known = cfg._metadata.flags.get(_OVERRIDES_FLAG)
    if known is not None:
        return list(known)
    if HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    return []


def protect_secrets(cfg: DictConfig) -> None:
    """Keep ``cfg``'s secret values out of this process's error texts and log lines."""
    values = config_secrets(cfg)[1]
    remember(values)
    for logger in (logging.getLogger(), logging.getLogger("mlflow")):
        install_log_redaction(values, logger)


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
        override changes that key only (``seed=7`` reaches the estimator, whose
        seed the model factory sets from ``seed``). Config groups (``model=xgboost``)
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
    literal = _literal_secrets(cfg)
    if literal:
        raise ValueError(
            f"{path} holds a secret in clear ({', '.join(literal)}): a file DVC tracks must "
            "not; set it in the environment ($SOCIALCRM_SALT) and refer to it as "
            "${secret:SOCIALCRM_SALT}, or pass it on the command line"
        )
    if overrides:
        cfg = _apply_dotlist(cfg, overrides, path)
    protect_secrets(cfg)
    return _with_overrides(cfg, [f"--params {path.name}", *overrides])


def _literal_secrets(cfg: DictConfig) -> list[str]:
    """Dotted keys of secret-named entries that hold a literal value, not a reference."""
    extra = tuple(str(k) for k in (cfg.get("secret_keys") or ()))
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, path + ".")
            elif is_secret_key(path, extra) and value is not None and "${" not in str(value):
                found.append(path)

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return found


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
    return _with_overrides(out, [*overrides_of(cfg), f"task={name}"])


class RedactedHydraOutput(Callback):
    """Hydra callback: write the run folder's ``.hydra/`` files with secrets redacted.

    ``conf/config.yaml`` sets ``hydra.output_subdir: null`` so Hydra itself writes no
    config copy; this callback writes ``config.yaml``, ``hydra.yaml`` and
    ``overrides.yaml`` instead (an override ``data.salt=...`` becomes
    ``data.salt=<redacted>``), redacts the sweep's ``multirun.yaml``, which Hydra writes
    before any callback can see it, and scrubs secrets from the job's log file.
    """

    subdir = ".hydra"

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        task_cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        extra, values = config_secrets(task_cfg)
        protect_secrets(task_cfg)
        out = Path(config.hydra.runtime.output_dir) / self.subdir
        out.mkdir(parents=True, exist_ok=True)
        hydra_node = OmegaConf.to_container(config.hydra, resolve=False)
        overrides = [str(o) for o in config.hydra.overrides.task]
        files = {
            "config.yaml": redact(OmegaConf.to_container(task_cfg, resolve=False), extra, values),
            "hydra.yaml": {"hydra": _redacted_hydra(hydra_node, extra, values)},
            "overrides.yaml": [redact_override(o, extra, values) for o in overrides],
        }
        for name, content in files.items():
            _write_yaml(out / name, content)
        if str(config.hydra.mode) == "RunMode.MULTIRUN":
            self._redact_multirun(Path(config.hydra.sweep.dir), extra, values)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        task_cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        extra, values = config_secrets(task_cfg)
        self._redact_multirun(Path(config.hydra.sweep.dir), extra, values)

    @staticmethod
    def _redact_multirun(sweep_dir: Path, extra: tuple[str, ...], values: set[str]) -> None:
        path = sweep_dir / "multirun.yaml"
        if not path.is_file():
            return
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        assert isinstance(node, dict)
        if "hydra" in node:
            node["hydra"] = _redacted_hydra(node["hydra"], extra, values)
        _write_yaml(path, redact(node, extra, values))


def _redacted_hydra(node: dict, extra: tuple[str, ...], values: set[str]) -> dict:
    """Hydra's own node: its override lists and ``job.override_dirname`` quote overrides."""
    node = redact(node, extra, values)
    for key in ("task", "hydra"):
        items = (node.get("overrides") or {}).get(key)
        if items:
            node["overrides"][key] = [redact_override(str(o), extra, values) for o in items]
    job = node.get("job") or {}
    if job.get("override_dirname"):
        job["override_dirname"] = ",".join(
            redact_override(o, extra, values) for o in str(job["override_dirname"]).split(",")
        )
    return node


def _write_yaml(path: Path, content: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(content)), encoding="utf-8")
    tmp.replace(path)
