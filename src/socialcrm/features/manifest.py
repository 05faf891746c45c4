"""The feature manifest: what each column of the feature table is."""

from __future__ import annotations

from dataclasses import asdict, dataclass

KEY_COLUMNS = ("customer_id", "cutoff", "split")


@dataclass(frozen=True)
class FeatureSpec:
    """One column of the feature table.

    Parameters
    ----------
    name
        Column name.
    group
        Feature group (``crm``, ``social_activity``, ...) or ``label``.
    description
        What it measures, in words.
    dtype
        ``float`` (numeric, may be null), ``category`` (text levels) or ``bool``.
    role
        ``feature`` or ``label``.
    """

    name: str
    group: str
    description: str
    dtype: str = "float"
    role: str = "feature"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def windows_specs(
    group: str, template: str, description: str, windows: list[int]
) -> list[FeatureSpec]:
    """One spec per look-back window: ``template.format(w=...)`` and ``description``."""
    return [FeatureSpec(template.format(w=w), group, description.format(w=w)) for w in windows]
