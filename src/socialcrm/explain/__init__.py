"""Explanations: SHAP contributions, reason codes, global factors."""
