"""backend: ray attached to a cluster that is already running (ray.address), which the run leaves running."""

import shutil
import socket
import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="backend: ray needs Ray: pip install 'rlvr[ray]'")

from rlvr.tracking.logger import read_metrics  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    """A one-node cluster started with the `ray` command, as a user would on a head node; found by
    `ray.address=auto` (which also picks up the cluster's auth token)."""
    ray_cli = shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the `ray` command is not on PATH")
    start = [
        ray_cli,
        "start",
        "--head",
        f"--port={_free_port()}",
        "--num-cpus=2",
        "--include-dashboard=false",
    ]
    subprocess.run(start, check=True, capture_output=True, text=True, timeout=180)
    yield "auto"
    subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)


def test_a_run_attaches_to_a_running_cluster_and_leaves_it_running(cluster, tmp_path):
    import ray

    cmd = [
        sys.executable,
        "-m",
        "rlvr.cli",
        "--quiet",
        "train",
        "recipes/tiny/scale.yaml",
        f"ray.address={cluster}",
        "trainer.steps=2",
        "trainer.eval_every=0",
        "data.eval=[]",
        "trainer.prompts_per_step=4",
        f"trainer.output_dir={tmp_path / 'runs'}",
        "ray.init_timeout_s=300",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    steps = [r for r in read_metrics(run / "metrics.jsonl") if "train/pg_loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert [r["async/staleness"] for r in steps] == [0.0, 1.0]  # the recipe is one-step-off
    # the cluster outlives the run: a new driver can still connect and use it
    ray.init(address=cluster)
    try:
        assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42
    finally:
        ray.shutdown()
