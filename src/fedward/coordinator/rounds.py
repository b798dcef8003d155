"""What happened in one round, as plain data: who was asked, who answered, what the model scored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fedward.core.messages import Reply

__all__ = ["RoundRecord", "SiteOutcome"]


@dataclass(frozen=True)
class SiteOutcome:
    status: str
    num_samples: int = 0
    train_seconds: float = 0.0
    train_loss: float | None = None
    error: str | None = None

    @classmethod
    def failed(cls, reply: Reply) -> SiteOutcome:
        """The one way a reply that carries no update (the site failed, refused or timed out) is recorded."""
        return cls(reply.status.value, error=reply.error or reply.status.value)


@dataclass
class RoundRecord:
    round: int
    selected: list[str]
    outcomes: dict[str, SiteOutcome] = field(default_factory=dict)
    aggregated: bool = False
    reason: str | None = None
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)
    pooled: dict[str, float] = field(default_factory=dict)
    # per site: its confusion matrix and validation figures (coordinator/evaluation.py `site_evidence`)
    validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    epsilon: dict[str, float] = field(default_factory=dict)  # privacy spent so far, by site or federation
    secagg: dict[str, int] = field(default_factory=dict)  # contributors and recovered dropouts
    privacy_note: str | None = None
    privacy_events: dict[str, dict[str, str | float | int]] = field(default_factory=dict)  # spend recorded
    not_admitted: list[str] = field(default_factory=list)  # set-up sites left out: revoked or expired
    bytes_up: int = 0  # payload bytes of the round's replies (coordinator/traffic.py)
    bytes_down: int = 0  # payload bytes of the round's tasks

    @property
    def overhead_seconds(self) -> float:
        """Wall time of the round outside local training and evaluation: the framework's own cost."""
        return max(0.0, self.seconds - self.train_seconds - self.eval_seconds)

    def to_json(self) -> dict[str, object]:
        return {
            "round": self.round,
            "selected": self.selected,
            "aggregated": self.aggregated,
            "reason": self.reason,
            "replies": {s: vars(o) for s, o in self.outcomes.items()},
            "sites": self.evaluation,
            "pooled": self.pooled,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "overhead_seconds": self.overhead_seconds,
            "epsilon": self.epsilon,
            "secure_aggregation": self.secagg,
            "privacy_note": self.privacy_note,
            "privacy_events": self.privacy_events,
            "not_admitted": self.not_admitted,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
        }
