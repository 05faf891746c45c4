"""Monitoring a deployed model: input and score drift against the rows the model was
judged on (its reference), and realised performance once labels mature
(``socialcrm monitor``)."""

from socialcrm.monitoring.drift import drift_table, reference_profile, summary

__all__ = ["drift_table", "reference_profile", "summary"]
