"""Deployment steps (``prefect.yaml``)."""

from __future__ import annotations

import os
from pathlib import Path


def project_dir(directory: str) -> dict[str, str]:
    """Pull step: run the flow in the esans project at ``directory``.

    ``prefect deploy`` fills ``{{ $ESANS_PROJECT_DIR }}`` from its own environment and stores
    the template literally when the variable is unset; that, or a folder without ``dvc.yaml``,
    fails the run here with one line saying what to do."""
    if not directory or "{{" in directory:
        raise ValueError("ESANS_PROJECT_DIR was not set when `prefect deploy` ran: export it "
                         "(the project root) and deploy again, or use `make serve`")
    path = Path(directory).expanduser().resolve()
    if not (path / "dvc.yaml").is_file():
        raise ValueError(f"{path} (ESANS_PROJECT_DIR at deploy time) is not an esans project: "
                         "no dvc.yaml there")
    os.chdir(path)
    return {"directory": str(path)}
