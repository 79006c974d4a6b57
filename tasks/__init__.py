"""Prefect tasks: thin wrappers that run the stages ``dvc.yaml`` declares."""
