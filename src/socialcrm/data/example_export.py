"""Write canonical tables as a fictitious vendor's export, to exercise the own-data path.

The export uses the file and column names of ``conf/data/own.yaml`` and carries
fabricated raw identifiers (``customer_<id>@example.com``, phone numbers,
``@user_<account>`` handles) where the canonical tables hold hashes, so that
``socialcrm ingest data=own`` runs the mapping, type coercion and hashing end
to end. Every identifier is fabricated from ids: no real personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.data.schemas import TABLES

__all__ = [
    "example_identifiers",
    "own_tables_config",
    "telco_like_table",
    "write_example_export",
]


def own_tables_config(path: str | Path | None = None) -> dict[str, Any]:
    """The ``tables`` node of ``conf/data/own.yaml`` (file names and column mappings).

    Parameters
    ----------
    path
        Another data config to read instead.
    """
    from omegaconf import OmegaConf

    from socialcrm.paths import config_dir

    cfg = OmegaConf.load(Path(path) if path else config_dir() / "data" / "own.yaml")
    tables = OmegaConf.to_container(cfg.tables, resolve=False)
    assert isinstance(tables, dict)
    return tables


def example_identifiers(table: str, df: pd.DataFrame) -> dict[str, pd.Series]:
    """Fabricated raw identifiers for the rows of ``df`` that have a hash.

    Parameters
    ----------
    table
        Canonical table name (``customers`` or ``social_accounts``).
    df
        The canonical table.

    Returns
    -------
    dict
        Raw identifier column (``email``, ``phone``, ``handle``) -> values
        (null where the canonical hash is null).
    """
    spec = TABLES[table]
    out: dict[str, pd.Series] = {}
    for raw, hashed in spec.identifiers.items():
        if hashed not in df.columns:
            continue
        if raw == "email":
            values = "customer_" + df["customer_id"].astype("str") + "@example.com"
        elif raw == "phone":
            digits = pd.Series(np.arange(1, len(df) + 1), index=df.index).astype("str")
            values = "+1 555 " + digits.str.zfill(7)
        elif raw == "handle":
            values = "@user_" + df["account_id"].astype("str")
        else:  # pragma: no cover - schemas define only these kinds
            raise ValueError(f"no example for identifier {raw!r}")
        out[raw] = values.astype("str").where(df[hashed].notna())
    return out


def write_example_export(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    tables_config: Mapping[str, Any] | None = None,
    file_format: str = "csv",
) -> dict[str, Path]:
    """Write canonical tables as a vendor export matching a data config's ``tables``.

    Parameters
    ----------
    tables
        Canonical tables (as the synthetic generator or :func:`load.load_canonical`
        give them).
    out_dir
        Folder to write the export files to (created if needed).
    tables_config
        The ``tables`` node to follow (default: ``conf/data/own.yaml``); tables
        it sets to null are not written.
    file_format
        ``"csv"`` (the configured names) or ``"parquet"`` (same stems, ``.parquet``).

    Returns
    -------
    dict
        Table name -> file written.
    """
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    config = dict(tables_config if tables_config is not None else own_tables_config())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, node in config.items():
        if node is None or name not in tables:
            continue
        spec = TABLES[name]
        mapping = dict(node.get("columns") or {})
        theirs = {ours: their for their, ours in mapping.items()}
        df = tables[name].copy()
        for raw, values in example_identifiers(name, df).items():
            if raw in theirs:  # the export carries the raw value, not our hash
                df = df.drop(columns=spec.identifiers[raw])
                df[raw] = values
        df = df.rename(columns=theirs)
        path = out / node["file"]
        if file_format == "parquet":
            path = path.with_suffix(".parquet")
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        written[name] = path
    return written


def telco_like_table(n: int = 300, seed: int = 0, id_suffix: str = "XYZ") -> pd.DataFrame:
    """A fabricated customer table in the Telco churn layout (``conf/data/telco.yaml``).

    Short-tenure month-to-month customers churn more, so a model has something to
    learn; ``TotalCharges`` is blank for new customers, as in the real table.

    Parameters
    ----------
    n
        Rows.
    seed
        Random seed.
    id_suffix
        Ends every ``customerID`` (``0001-XYZ``), so tests can look for ids in outputs.
    """
    rng = np.random.default_rng(seed)
    yes_no = ["Yes", "No"]
    internet = ["Yes", "No", "No internet service"]
    tenure = rng.integers(0, 73, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n)
    monthly = rng.uniform(18, 120, n).round(2)
    risk = -1.0 - 0.04 * tenure + 1.5 * (contract == "Month-to-month")
    cols = {
        "customerID": [f"{i:04d}-{id_suffix}" for i in range(n)],
        "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": rng.integers(0, 2, n),
        "Partner": rng.choice(yes_no, n),
        "Dependents": rng.choice(yes_no, n),
        "tenure": tenure,
        "PhoneService": rng.choice(yes_no, n),
        "MultipleLines": rng.choice(["Yes", "No", "No phone service"], n),
        "InternetService": rng.choice(["DSL", "Fiber optic", "No"], n),
        **{
            c: rng.choice(internet, n)
            for c in (
                "OnlineSecurity",
                "OnlineBackup",
                "DeviceProtection",
                "TechSupport",
                "StreamingTV",
                "StreamingMovies",
            )
        },
        "Contract": contract,
        "PaperlessBilling": rng.choice(yes_no, n),
        "PaymentMethod": rng.choice(["Electronic check", "Mailed check"], n),
        "MonthlyCharges": monthly,
        "TotalCharges": np.where(tenure == 0, " ", (monthly * tenure).round(2).astype(str)),
        "Churn": np.where(rng.random(n) < 1 / (1 + np.exp(-risk)), "Yes", "No"),
    }
    return pd.DataFrame(cols)
