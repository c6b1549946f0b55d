"""MCS tables of 3GPP TS 38.214 and the NR transport-block size for an image's k data REs.

Table 1 = TS 38.214 Table 5.1.3.1-1 (QPSK … 64-QAM, MCS 0 … 28; the default), table 2 = Table 5.1.3.1-2
(QPSK … 256-QAM, MCS 0 … 27). Values come from Sionna's ``decode_mcs_index`` (PDSCH tables, which PUSCH
without transform precoding shares); tests check entries typed in from the specification.

TB size: ``calculate_tb_size`` (TS 38.214 §5.1.3.2) with ``num_coded_bits = k · Qm`` — the image's k data REs
carry exactly one transport block, one layer, no extra overhead (the grid's pilots are outside the k REs).
"""

from __future__ import annotations

from dataclasses import dataclass

from kbsc.errors import ConfigError

__all__ = ["DEFAULT_MCS_SET", "MCS_TABLES", "McsEntry", "TbPlan", "mcs_entry", "plan_tb"]

#: table index -> (3GPP name, highest MCS index)
#: the MCS set of the best-MCS envelopes and genies: every other index of table 1 plus the top one
DEFAULT_MCS_SET = (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 27)
MCS_TABLES = {1: ("TS 38.214 Table 5.1.3.1-1 (64QAM)", 28), 2: ("TS 38.214 Table 5.1.3.1-2 (256QAM)", 27)}


@dataclass(frozen=True)
class McsEntry:
    """One row of an MCS table: modulation order Qm (bits per symbol) and target code rate R."""

    index: int
    table: int
    qm: int
    rate: float

    @property
    def rate_x1024(self) -> float:
        return round(self.rate * 1024, 1)

    @property
    def spectral_efficiency(self) -> float:
        return self.qm * self.rate


def _check_table(table: int) -> int:
    if table not in MCS_TABLES:
        raise ConfigError(
            f"mcs_table must be one of {sorted(MCS_TABLES)} (TS 38.214 Tables 5.1.3.1-1/-2), got {table!r}"
        )
    return int(table)


def mcs_entry(index: int, table: int = 1) -> McsEntry:
    """Qm and R of MCS ``index`` in table ``table`` (1 or 2)."""
    table = _check_table(table)
    top = MCS_TABLES[table][1]
    if isinstance(index, bool) or int(index) != index or not 0 <= int(index) <= top:
        raise ConfigError(f"MCS index must be an integer in 0 … {top} for table {table}, got {index!r}")
    from sionna.phy.nr.utils import decode_mcs_index

    qm, rate = decode_mcs_index(int(index), table_index=table, is_pusch=False, device="cpu")
    return McsEntry(index=int(index), table=table, qm=int(qm), rate=float(rate))


@dataclass(frozen=True)
class TbPlan:
    """The transport block an image with k data REs carries at one MCS."""

    mcs: McsEntry
    k: int
    num_coded_bits: int
    tb_size: int
    num_cbs: int

    @property
    def effective_rate(self) -> float:
        return self.tb_size / self.num_coded_bits


def plan_tb(k: int, mcs: int, table: int = 1) -> TbPlan:
    """TB size (information bits) for ``k`` data REs at MCS ``mcs`` of table ``table``."""
    entry = mcs_entry(mcs, table)
    if int(k) < 1:
        raise ConfigError(f"k must be ≥ 1 data RE, got {k}")
    from sionna.phy.nr.utils import calculate_tb_size

    n = int(k) * entry.qm
    out = calculate_tb_size(entry.qm, entry.rate, num_coded_bits=n, return_cw_length=False, device="cpu")
    tb_size, _cb_size, num_cbs = int(out[0]), int(out[1]), int(out[2])
    return TbPlan(mcs=entry, k=int(k), num_coded_bits=n, tb_size=tb_size, num_cbs=num_cbs)
