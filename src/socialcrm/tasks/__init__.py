"""Tasks: churn, CLV and next best offer on one experiment layer."""
