"""Estimators and the preprocessing each carries, built from ``conf/model/``."""

from socialcrm.models.factory import build_pipeline

__all__ = ["build_pipeline"]
