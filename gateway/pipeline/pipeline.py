"""A pipeline: a named, built-once sequence of steps over one exchange.

``Pipeline(name, steps=(("parse", parse_step), …))`` runs its steps in order; each step's
returned exchange is the one the next step receives. Bootstrap builds the intake's pipelines
once (the front one every message runs, and one back pipeline per canonical kind); the intake,
``gateway validate``, the tests and the benchmark share those objects instead of wiring steps by
hand. ``names`` lists the steps for logs, metrics and the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.pipeline.exchange import Exchange

Step = Callable[[Exchange], Exchange]


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[tuple[str, Step], ...]

    @classmethod
    def of(cls, name: str, steps: Iterable[tuple[str, Step]]) -> Pipeline:
        return cls(name, tuple(steps))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(step_name for step_name, _ in self.steps)

    def run(self, ex: Exchange) -> Exchange:
        for _, step in self.steps:
            ex = step(ex)
        return ex

    def then(self, other: Pipeline, name: str | None = None) -> Pipeline:
        """This pipeline followed by ``other`` (e.g. front + a kind's back, for a checker)."""
        return Pipeline(name or f"{self.name}+{other.name}", self.steps + other.steps)
