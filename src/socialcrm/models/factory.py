"""Build a model from its config: the estimator for the task's kind, plus its preprocessing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.pipeline import Pipeline

from socialcrm.models.preprocess import make_preprocessor

TASK_KINDS = ("classification", "regression")


def build_estimator(model_cfg: DictConfig | Mapping[str, Any], kind: str, seed: int | None = None):
    """Instantiate ``model_cfg[kind]`` (a ``_target_`` node), optionally overriding its seed."""
    node = model_cfg.get(kind)
    if node is None:
        raise ValueError(
            f"model {model_cfg.get('name')!r} has no {kind!r} estimator; "
            f"it supports {[k for k in TASK_KINDS if model_cfg.get(k) is not None]}"
        )
    node = OmegaConf.create(
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    )
    if seed is not None and "random_state" in node:
        node.random_state = seed
    return instantiate(node, _convert_="all")


def build_pipeline(
    model_cfg: DictConfig | Mapping[str, Any],
    kind: str,
    numeric: list[str],
    categorical: list[str],
    seed: int | None = None,
) -> Pipeline:
    """The model as an sklearn Pipeline: ``prep`` (its preprocessing) then ``model``.

    Parameters
    ----------
    model_cfg
        A ``conf/model/*.yaml`` node: ``preprocessing`` and one ``_target_`` node per
        task kind it supports (``classification``, ``regression``).
    kind
        The task's kind.
    numeric, categorical
        Feature columns by type.
    seed
        Overrides the estimator's ``random_state`` when given.
    """
    prep = make_preprocessor(str(model_cfg.get("preprocessing", "tree")), numeric, categorical)
    return Pipeline([("prep", prep), ("model", build_estimator(model_cfg, kind, seed))])
