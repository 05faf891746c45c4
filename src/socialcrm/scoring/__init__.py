"""Batch scoring: every customer active at a date, scored by a registered model.

:mod:`socialcrm.scoring.batch` holds the pure steps (chunked scoring, the score
table, its distribution); :mod:`socialcrm.scoring.run` the edge (``socialcrm score``:
model lookup, features, atomic writes, the summary).
"""
