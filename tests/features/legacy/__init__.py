"""The feature queries as they were before the scale rewrite (issue 16), kept as the
reference the golden tests compare the rewritten queries with. They join every event to
every later cutoff, so their cost grows with events x cutoffs: never use them outside
tests."""
