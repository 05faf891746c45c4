"""Canonical Social CRM tables: contracts, the synthetic world, own-data loading."""
