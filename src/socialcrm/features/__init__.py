"""Point-in-time customer features and labels (DuckDB SQL, one module per group).

Every feature of a (customer, cutoff) row uses only events strictly before the
cutoff; every label only the horizon after it. Groups: ``crm``,
``social_activity``, ``social_listening``, ``social_graph``, ``referral``;
:mod:`.build` joins them, adds labels and the split by time.
"""
