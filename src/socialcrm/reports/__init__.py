"""Reports: the Social CRM insight report (pure numbers in :mod:`.insights`,
charts in :mod:`.plots`, the I/O edge in :mod:`.run`)."""
