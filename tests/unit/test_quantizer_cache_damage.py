"""A damaged PQ centroid cache is retrained with one warning line, never used or dropped silently."""

from __future__ import annotations

import numpy as np

from kbsc.semantic.quantizer import PqSpec, load_or_train


def test_damaged_centroids_are_reported_and_retrained(tmp_path, capsys):
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((600, 16)).astype(np.float32)
    spec = PqSpec(m=2, nbits=4, dim=16)
    q = load_or_train(feats, spec, tmp_path)
    (cent,) = list(tmp_path.rglob("centroids.npy"))
    capsys.readouterr()
    assert np.array_equal(load_or_train(feats, spec, tmp_path).centroids, q.centroids)
    assert capsys.readouterr().err == ""  # intact: reused silently
    np.save(cent, np.zeros_like(q.centroids))
    again = load_or_train(feats, spec, tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kbsc: warning: quantizer cache") and "damaged" in err[0]
    assert np.array_equal(again.centroids, q.centroids)
