"""One Spark backend (and its session) for a test module, skipped with the reason when
Spark cannot start here (no pyspark, no Java 17+).

A test module that needs Spark defines its own module-scoped fixture over
:func:`spark_backend`, so that each module starts one session and stops it::

    @pytest.fixture(scope="module")
    def spark():
        yield from spark_backend()
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from socialcrm.features.backends.spark import java_available


def spark_backend(**kwargs) -> Iterator:
    """A :class:`~socialcrm.features.backends.spark.SparkBackend` (two local cores, a
    small heap), closed afterwards; ``pytest.skip`` with the reason without Java."""
    ok, reason = java_available()
    if not ok:
        pytest.skip(reason)
    from socialcrm.features.backends.spark import SparkBackend

    options = {"app_name": "socialcrm-tests", "driver_memory": "1g", **kwargs}
    backend = SparkBackend(**options)
    try:
        yield backend
    finally:
        backend.close()
