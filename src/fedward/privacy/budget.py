"""Privacy budget: decide, before spending, whether the next planned event keeps epsilon within budget.

A hard budget is checked against the *projected* epsilon (the recorded events plus the planned one), so a
round that would cross the budget is refused instead of being run and regretted. Exhausting the budget is a
user-facing condition (`BudgetExhaustedError`, a `UserError`), not a crash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedward.errors import UserError
from fedward.privacy.accountant import Accountant, EpsilonReport
from fedward.privacy.events import PrivacyEvent

__all__ = ["BudgetCheck", "BudgetExhaustedError", "check_budget", "require_budget"]


class BudgetExhaustedError(UserError):
    """The next planned privacy spend would take epsilon past the configured budget."""


@dataclass(frozen=True)
class BudgetCheck:
    """Whether `planned` fits: `projected` is epsilon with it, `spent` without it."""

    allowed: bool
    spent: EpsilonReport
    projected: EpsilonReport
    epsilon_budget: float
    planned: PrivacyEvent


def check_budget(
    accountant: Accountant, planned: PrivacyEvent, delta: float, epsilon_budget: float
) -> BudgetCheck:
    """Allowed iff epsilon after `planned` is at most `epsilon_budget` (both at `delta`)."""
    if isinstance(epsilon_budget, bool) or not (math.isfinite(epsilon_budget) and epsilon_budget > 0):
        raise ValueError(f"epsilon_budget must be a finite number > 0, got {epsilon_budget!r}")
    projected = accountant.projected(planned, delta)
    return BudgetCheck(
        projected.epsilon <= epsilon_budget, accountant.epsilon(delta), projected, epsilon_budget, planned
    )


def require_budget(
    accountant: Accountant, planned: PrivacyEvent, delta: float, epsilon_budget: float
) -> BudgetCheck:
    """`check_budget`, raising `BudgetExhaustedError` when the planned spend does not fit."""
    check = check_budget(accountant, planned, delta, epsilon_budget)
    if not check.allowed:
        raise BudgetExhaustedError(
            f"privacy budget exhausted: epsilon would reach {check.projected.epsilon:.4g} "
            f"(spent so far {check.spent.epsilon:.4g}) against a budget of {epsilon_budget:g} "
            f"at delta {delta:g}",
            hint="stop training here, or raise [privacy] epsilon_budget if the data owners agree",
        )
    return check
