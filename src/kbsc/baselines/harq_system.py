"""``hevc+ldpc-harq``: HEVC intra + one NR transport block per image sent with HARQ incremental redundancy
inside the image's channel-use budget, at the MCS the receiver's link adaptation picks with the outer loop on.

* Link adaptation: as ``hevc+ldpc-amc`` (:mod:`kbsc.baselines.amc`: MIESM effective SNR of the receiver's
  estimate, AWGN thresholds at the BLER target), evaluated over the REs of the first transmission and against
  the thresholds calibrated for its size; the outer loop (``olla``, default on) moves the thresholds by the
  first transmissions' ACK/NACKs, so the first transmission's realized BLER settles near ``bler_target``.
* MCS set: ``full`` (table 1, MCS 0 … 27) by default; any calibrated list works.
* HARQ policy, feedback model and channel-use counting: :mod:`kbsc.nrlink.harq` (options
  ``first_fraction``, default 0.9, and ``max_transmissions``, default 2; redundancy versions 0, 2, 3, 1; the
  defaults were the best of the policies measured on the quick preset, docs/harq.md).

Per-image outcomes beyond the AMC's: ``transmissions`` (used, 0 if not sent), ``channel_uses`` (REs actually
spent: the used transmissions' REs, 0 if not sent), ``tb_error_first`` (the first transmission's TB error),
``tb_error`` (after the last transmission used), ``olla_offset_db``.
"""

from __future__ import annotations

import numpy as np

from kbsc.baselines.amc import FULL_MCS_SET, HevcLdpcAmcSystem
from kbsc.nrlink.harq import HarqPolicy, shared_harq_link
from kbsc.systems.base import SYSTEMS

__all__ = ["HevcLdpcHarqSystem"]


@SYSTEMS.register("hevc+ldpc-harq")
class HevcLdpcHarqSystem(HevcLdpcAmcSystem):
    """HEVC intra + NR TB with HARQ-IR (rv 0, 2, 3, 1) within the budget, OLLA link adaptation."""

    name = "hevc+ldpc-harq"
    allowed = HevcLdpcAmcSystem.allowed | {"first_fraction", "max_transmissions"}
    default_olla = True
    default_mcs_set = FULL_MCS_SET

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.policy = HarqPolicy(
            float(self.options.get("first_fraction", 0.9)), self.options.get("max_transmissions", 2)
        )

    def transmission_sizes(self, k: int) -> tuple[int, ...]:
        return self.policy.sizes(k)

    def _link(self, runner, k: int, mcs: int):
        return shared_harq_link(
            self.transmission_sizes(k), mcs, runner.mcs_table, runner.decoder, runner.num_iter
        )

    def payload_bits(self, runner, k: int, mcs: int) -> int:
        return self._link(runner, k, mcs).payload_bits

    def send(self, runner, k: int, mcs: int, bits: np.ndarray, bridge, ids: np.ndarray, snr_db: float):
        return self._link(runner, k, mcs).run(bits, bridge, ids, snr_db)
