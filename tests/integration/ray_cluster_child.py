"""Child process of ``test_ray_cluster.py``: runs the toy grid on a 3-node emulated Ray cluster
(``ray.cluster_utils.Cluster``) whose worker nodes have their own data directories, and writes what the test
checks. Run as ``python -X faulthandler ray_cluster_child.py TMP_DIR``.

Why a child process: Ray's emulated cluster can crash in its C++ core (seen once in about twelve runs as a
segmentation fault of the pytest process, which lost the whole test session). In a child, such a crash fails
this one test with the child's stack (faulthandler) instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "unit"


def main(tmp: Path) -> None:
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))  # the Ray workers get the driver's sys.path as PYTHONPATH
    from ray.cluster_utils import Cluster

    from kbsc.experiments import backends
    from kbsc.experiments.runner import run_experiment

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_ray_cluster import DONE, toy_config

    seen: list[dict] = []
    real_close = backends.RayBackend.close

    def close(self):
        seen.extend(self.worker_info)
        real_close(self)

    backends.RayBackend.close = close
    node_dirs = [tmp / f"node{i}" for i in range(2)]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "env_vars": {"KBSC_DATA": str(tmp / "head-node")}},
    )
    try:
        for d in node_dirs:
            cluster.add_node(num_cpus=1, env_vars={"KBSC_DATA": str(d)})
        cluster.wait_for_nodes()
        res = run_experiment(
            toy_config(),
            tmp / "ray",
            backend="ray",
            workers=2,
            ray_address=cluster.address,
            data_dir=tmp / "head",
            show_progress=False,
            allow_code=True,  # the toy systems come from a plug-in module
        )
        (tmp / DONE).write_text(json.dumps({"n_computed": res.n_computed, "seen": seen}))
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
