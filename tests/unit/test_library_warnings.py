"""Third-party warnings become one plain ``kbsc: warning:`` line per distinct cause (issue 27 item 7)."""

from __future__ import annotations

import warnings

from kbsc.nrlink.link import mother_tb_encoder
from kbsc.nrlink.mcs import plan_tb


def test_sionna_coderate_warning_is_one_plain_line_per_code(capfd):
    plan = plan_tb(384, 28)  # k=2168 of n=2304: r > 948/1024
    capfd.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape as a Python warning (two lines with a path)
        mother_tb_encoder(plan)
        mother_tb_encoder(plan)
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("kbsc: warning: MCS 28: Effective coderate"), err
    assert ".py" not in err[0]
