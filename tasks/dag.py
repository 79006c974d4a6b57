"""The pipeline as DVC sees it, read through DVC's own API (``dvc.repo.Repo``): the stage
graph, a stage order, what is stale and what that feeds. DVC is the one engine; nothing here
parses ``dvc.yaml`` or decides staleness on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Pipeline:
    order: list[str]                  # stages, each after the stages it depends on
    feeds: dict[str, set[str]]        # stage -> the stages that (transitively) consume it
    stale: list[str] = field(default_factory=list)  # changed, per `dvc status`
    always_changed: set[str] = field(default_factory=set)

    def downstream(self, stages: list[str] | set[str]) -> set[str]:
        """``stages`` and every stage that consumes their outputs: DVC's status lists only
        the first, since the others' inputs have not changed yet."""
        return set(stages).union(*(self.feeds[s] for s in stages))

    @property
    def affected(self) -> set[str]:
        """The stale stages and everything downstream of them: what this run may rebuild."""
        return self.downstream(self.stale)


def read(project: str | Path, status: bool = False) -> Pipeline:
    """DVC's graph of the project's ``dvc.yaml`` stages; with ``status``, also the stages
    `dvc status` finds changed (an always-changed stage that is otherwise unchanged, like
    ``source``, is not stale)."""
    import networkx as nx
    from dvc.repo import Repo
    from dvc.stage import PipelineStage

    root = Path(project).resolve()
    with Repo(str(root)) as repo:
        stages = [s for s in repo.index.stages if isinstance(s, PipelineStage)
                  and Path(s.path).parent.resolve() == root]
        graph = repo.index.graph.subgraph(stages)        # edges: stage -> its dependency
        position = {s: i for i, s in enumerate(stages)}  # ties keep dvc.yaml's order
        order = [s.name for s in nx.lexicographical_topological_sort(
            graph.reverse(copy=False), key=position.__getitem__)]
        feeds = {s.name: {a.name for a in nx.ancestors(graph, s)} for s in stages}
        stale = []
        if status:
            for target, changes in repo.status().items():
                name = target.rsplit(":", 1)[-1]
                if name in feeds and any(c != "always changed" for c in changes):
                    stale.append(name)
        always = {s.name for s in stages if s.always_changed}
    return Pipeline(order, feeds, sorted(stale, key=order.index), always)
