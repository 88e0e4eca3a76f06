import math

import pytest
import torch

from rlvr.algorithms import LOSS_AGGREGATIONS
from rlvr.algorithms.value import clipped_value_loss, explained_variance

token_mean = LOSS_AGGREGATIONS.get("token_mean")


def test_clipped_value_loss_by_hand():
    values = torch.tensor([[1.0, 0.5, 2.0]])
    old = torch.tensor([[0.8, 0.5, 1.0]])
    returns = torch.tensor([[1.5, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # the third token is an observation: ignored
    loss, m = clipped_value_loss(values, old, returns, mask, 0.1, token_mean)
    # token 0: V_clip = 0.9; max((1 - 1.5)^2, (0.9 - 1.5)^2) = 0.36 (clipped); token 1: 0.25 (not clipped)
    assert float(loss) == pytest.approx(0.5 * (0.36 + 0.25) / 2)
    assert float(m["vf_clipfrac"]) == 0.5 and float(m["value_mean"]) == pytest.approx(0.75)
    plain, m = clipped_value_loss(values, old, returns, mask, None, token_mean)
    assert float(plain) == pytest.approx(0.5 * (0.25 + 0.25) / 2) and float(m["vf_clipfrac"]) == 0


def test_explained_variance():
    g = torch.tensor([[1.0, 2, 3, 4, 9]])
    mask = torch.tensor([[1.0, 1, 1, 1, 0]])
    assert float(explained_variance(g.clone(), g, mask)) == pytest.approx(1.0)
    assert float(explained_variance(torch.full_like(g, 2.5), g, mask)) == pytest.approx(0.0)
    v = torch.tensor([[1.0, 2, 3, 5, 0]])  # residuals 0, 0, 0, -1: var 0.1875; var of the returns 1.25
    assert float(explained_variance(v, g, mask)) == pytest.approx(1 - 0.1875 / 1.25)
    assert math.isnan(float(explained_variance(g, torch.ones_like(g), mask)))
