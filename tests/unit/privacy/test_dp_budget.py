"""The hard privacy budget is checked before spending."""

import pytest

from fedward.errors import UserError
from fedward.privacy import Accountant, BudgetExhaustedError, PrivacyEvent, check_budget, require_budget

ROUND = PrivacyEvent(4.0, 0.1, 50)


def test_budget_allows_while_the_projection_fits_and_refuses_after():
    acc = Accountant()
    per_round = acc.projected(ROUND, 1e-5).epsilon
    budget = 1.5 * per_round  # a round or two fit, not forever
    spent = []
    while (check := check_budget(acc, ROUND, 1e-5, budget)).allowed:
        assert check.projected.epsilon <= budget
        acc.record(ROUND)
        spent.append(acc.epsilon(1e-5).epsilon)
    assert 1 <= len(spent) <= 3
    assert check.projected.epsilon > budget
    assert check.spent == acc.epsilon(1e-5)
    assert spent[-1] <= budget


def test_require_budget_raises_a_user_error():
    acc = Accountant([ROUND])
    with pytest.raises(BudgetExhaustedError, match="privacy budget exhausted") as info:
        require_budget(acc, ROUND, 1e-5, acc.epsilon(1e-5).epsilon)
    assert isinstance(info.value, UserError)
    assert info.value.hint
    assert len(acc.events) == 1  # refused spends are not recorded


def test_require_budget_passes_when_it_fits():
    check = require_budget(Accountant(), ROUND, 1e-5, 100.0)
    assert check.allowed and check.spent.epsilon == 0.0


@pytest.mark.parametrize("budget", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_budget_is_refused(budget):
    with pytest.raises(ValueError, match="epsilon_budget"):
        check_budget(Accountant(), ROUND, 1e-5, budget)
