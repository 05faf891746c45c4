"""Social CRM ML lab."""
