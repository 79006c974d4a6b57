"""``esans serve``: recommend and similar over HTTP, from the champion, swapped atomically.

A small FastAPI app (the stack Prefect already brings) over ``esans.query.Server``. It serves
``models/current`` and follows it: when ``esans promote`` or ``esans rollback`` switches the
link, the next request sees the new id, a background thread loads and verifies the new bundle,
and only then is the one reference the handlers read replaced. A request takes that reference
once, so every answer comes whole from exactly one model, and says which (``model_id``).

    esans serve --port 8000
    curl 'http://127.0.0.1:8000/recommend?user=196&k=10'
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from esans import paths
from esans.errors import EsansError


@dataclass(frozen=True)
class Loaded:
    model_id: str
    server: object            # esans.query.Server


class Champion:
    """The model the app answers with; reloads when ``models/current`` points elsewhere."""

    def __init__(self, root: Path, check_every: float = 0.5) -> None:
        from esans.registry import current_id

        self.root = Path(root)
        self._current_id = current_id
        self.check_every = check_every
        self._lock = threading.Lock()
        self._loading: str | None = None
        self._checked = 0.0
        self.loaded = self._load(self._id())
        self.reloads = 0

    def _id(self) -> str:
        mid = self._current_id(self.root)
        if mid is None:
            raise EsansError("no promoted model to serve yet: run `esans promote`",
                             path=self.root / paths.CURRENT, rule="serve")
        return mid

    def _load(self, model_id: str) -> Loaded:
        from esans.bundle import Bundle
        from esans.query import Server

        server = Server(Bundle(self.root / paths.REGISTRY / model_id))
        server.item_vectors, server.index, server.bundle.model  # noqa: B018 - load now
        return Loaded(model_id, server)

    def _swap_to(self, model_id: str) -> None:
        try:
            loaded = self._load(model_id)
            self.loaded = loaded               # one reference assignment: atomic
            self.reloads += 1
        finally:
            with self._lock:
                self._loading = None

    def get(self) -> Loaded:
        """The model to answer this request with (starts a reload when the link moved)."""
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            try:
                mid = self._id()
            except (OSError, EsansError):
                mid = self.loaded.model_id
            with self._lock:
                start = mid != self.loaded.model_id and self._loading != mid
                if start:
                    self._loading = mid
            if start:
                threading.Thread(target=self._swap_to, args=(mid,), daemon=True).start()
        return self.loaded


def app(root: Path, check_every: float = 0.5):
    from fastapi import FastAPI, HTTPException

    champion = Champion(root, check_every)
    api = FastAPI(title="esans", description="Retrieval from the promoted esans model.")

    def answer(fn):
        loaded = champion.get()
        try:
            return {"model_id": loaded.model_id, "items": fn(loaded.server)}
        except EsansError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    @api.get("/health")
    def health() -> dict:
        return {"model_id": champion.get().model_id, "reloads": champion.reloads}

    @api.get("/recommend")
    def recommend(user: str, k: int = 10) -> dict:
        return answer(lambda s: s.recommend(user, max(1, min(k, 200))))

    @api.get("/similar")
    def similar(item: str, k: int = 10) -> dict:
        return answer(lambda s: s.similar(item, max(1, min(k, 200))))

    api.state.champion = champion
    return api


def run(root: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(app(root), host=host, port=port, log_level="warning")
