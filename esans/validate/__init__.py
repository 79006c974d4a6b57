"""Data validation with great-expectations (suites for interactions and items)."""
