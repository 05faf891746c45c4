"""Build a model from its config: the estimator for the task's kind, plus its preprocessing.

The run's seed reaches the estimator by one route only: the ``seed`` argument of
:func:`build_pipeline` / :func:`build_estimator` (the tasks and the experiment runners
pass it). ``conf/model/*.yaml`` leave ``random_state`` unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.pipeline import Pipeline

from socialcrm.models.preprocess import make_preprocessor

TASK_KINDS = ("classification", "regression")


def _estimator_node(model_cfg: DictConfig | Mapping[str, Any], kind: str) -> DictConfig:
    """``model_cfg[kind]`` as a resolved, detached ``_target_`` node."""
    node = model_cfg.get(kind)
    if node is None:
        raise ValueError(
            f"model {model_cfg.get('name')!r} has no {kind!r} estimator; "
            f"it supports {[k for k in TASK_KINDS if model_cfg.get(k) is not None]}"
        )
    return OmegaConf.create(
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    )


def build_estimator(model_cfg: DictConfig | Mapping[str, Any], kind: str, seed: int | None = None):
    """Instantiate ``model_cfg[kind]`` (a ``_target_`` node) seeded with the run's ``seed``.

    Parameters
    ----------
    model_cfg
        A ``conf/model/*.yaml`` node.
    kind
        The task's kind (``classification`` or ``regression``).
    seed
        The run's seed: set as the estimator's ``random_state`` if it takes one. None
        keeps the library default (or the config's explicit ``random_state``).

    Raises
    ------
    ValueError
        If the model has no estimator for ``kind``, or if its config sets
        ``random_state`` while a ``seed`` is passed too (two routes for one seed).
    """
    node = _estimator_node(model_cfg, kind)
    if seed is not None and node.get("random_state") is not None:
        raise ValueError(
            f"two routes for one seed: model {model_cfg.get('name')!r} sets "
            f"{kind}.random_state={node.random_state!r} and the run passes seed={seed}. "
            "The run's seed reaches the estimator only through the factory's seed "
            "argument: remove random_state from the model config"
        )
    estimator = instantiate(node, _convert_="all")
    if seed is not None and "random_state" in estimator.get_params(deep=False):
        estimator.set_params(random_state=seed)
    return estimator


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
        The run's seed, the estimator's ``random_state`` (see :func:`build_estimator`).
    """
    prep = make_preprocessor(str(model_cfg.get("preprocessing", "tree")), numeric, categorical)
    return Pipeline([("prep", prep), ("model", build_estimator(model_cfg, kind, seed))])
