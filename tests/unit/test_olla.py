"""The outer loop's offsets equal Sionna's ``OuterLoopLinkAdaptation`` for the same ACK/NACK feedback."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.nrlink.olla import OuterLoop, olla_offsets


@pytest.mark.parametrize("target,delta_up", [(0.1, 1.0), (0.3, 0.5)])
def test_offsets_equal_sionna(target, delta_up):
    from sionna.sys import OuterLoopLinkAdaptation, PHYAbstraction

    rng = np.random.default_rng(1)
    # a stretch of NACKs long enough to hit the upper clip, then feedback near the target
    acks = np.concatenate([np.zeros(50, bool), rng.random(300) > target])
    olla = OuterLoopLinkAdaptation(
        PHYAbstraction(), num_ut=1, bler_target=target, delta_up=delta_up, device="cpu"
    )
    ref = []
    for a in acks:
        olla(torch.tensor([100]), harq_feedback=torch.tensor([int(a)]), sinr_eff=torch.tensor([10.0]))
        ref.append(float(olla.offset[0]))
    ours = olla_offsets(acks, bler_target=target, delta_up_db=delta_up)
    np.testing.assert_allclose(ours, ref, atol=1e-3)  # Sionna accumulates in float32 (drift ~1e-4)
    assert ours.max() == 20.0  # the clip was exercised


def test_steady_state_ratio():
    """Offsets return to where they started exactly when NACKs are ``target`` of the feedback."""
    loop = OuterLoop(bler_target=0.1)
    for a in [False] + [True] * 9:
        loop.update(a)
    assert abs(loop.offset_db) < 1e-12
    assert loop.delta_down_db == pytest.approx(1.0 / 9.0)


def test_refuses_bad_settings():
    with pytest.raises(ConfigError):
        OuterLoop(bler_target=1.0)
    with pytest.raises(ConfigError):
        OuterLoop(delta_up_db=0.0)
