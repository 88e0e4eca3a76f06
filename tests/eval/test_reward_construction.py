"""`rlvr eval`, `rlvr pseudo-label` and training build their reward router the same way
(``rlvr.rewards.factory.router_for``): with ``reward.server_url`` set, all three score on the server."""

from rlvr.distributed.placement import build_roles
from rlvr.eval.pseudo_label import pseudo_label_main
from rlvr.eval.run import run_eval
from rlvr.rewards.router import RewardRouter
from rlvr.training.roles import RewardRole
from tests.training.helpers import tiny_recipe

URL = "http://rewards.example:8000"


class RecordingClient:
    """Stands in for RemoteRewardRouter: records the server it was pointed at and scores in-process."""

    urls: list[str] = []

    def __init__(self, url: str, timeout_s: float, batch_size: int, retry_window_s: float = 30.0) -> None:
        RecordingClient.urls.append(url)
        self.router = RewardRouter()
        self.scored = 0

    def score(self, items):
        self.scored += len(items)
        return self.router.score(items)

    def close(self) -> None:
        self.router.close()


def test_eval_pseudo_label_and_training_all_use_reward_server_url(tmp_path, monkeypatch):
    monkeypatch.setattr("rlvr.rewards.factory.RemoteRewardRouter", RecordingClient)
    RecordingClient.urls = []
    cfg = tiny_recipe(tmp_path, f"reward.server_url={URL}", "eval.n=2", "eval.k=[1, 2]")

    metrics = run_eval(cfg)
    assert metrics["eval/all/problems"] == 16.0 and "eval/all/pass@2" in metrics
    pseudo_label_main(cfg, k=2, mode="majority", output=str(tmp_path / "labels.jsonl"))
    roles = build_roles(cfg)  # the local backend's reward role
    assert isinstance(roles.reward, RecordingClient)
    roles.close()
    RewardRole(cfg).close()  # what a Ray reward actor builds

    assert RecordingClient.urls == [URL] * 4


def test_without_a_server_url_eval_scores_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr("rlvr.rewards.factory.RemoteRewardRouter", RecordingClient)
    RecordingClient.urls = []
    metrics = run_eval(tiny_recipe(tmp_path))
    assert RecordingClient.urls == [] and metrics["eval/all/problems"] == 16.0
