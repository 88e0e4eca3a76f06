from rlvr.data.sample import RewardSpec, Sample
from rlvr.eval.pseudo_label import majority_answers, relabel
from rlvr.rewards.router import RewardRouter, ScoreRequest
from rlvr.rollout.types import Completion, SamplingParams


class ScriptedEngine:
    """Answers prompt i with the scripted texts, in order."""

    tokenizer = None

    def __init__(self, script):
        self.script = script

    def generate(self, prompts, params):
        return [
            Completion(i, [1], [0.0], text, "stop") for i, texts in enumerate(self.script) for text in texts
        ]


def test_majority_and_incorrect_labels(monkeypatch):
    monkeypatch.setattr("rlvr.eval.pseudo_label.encode_prompts", lambda tok, samples: [[1]] * len(samples))
    samples = [
        Sample(id="a", prompt="1+1?", reward=RewardSpec("math", "2")),
        Sample(id="b", prompt="2+2?", reward=RewardSpec("math", "4")),
        Sample(id="c", prompt="?", reward=RewardSpec("math", "1")),
    ]
    engine = ScriptedEngine(
        [
            ["\\boxed{2}", "\\boxed{3}", "\\boxed{2}"],
            ["\\boxed{5}", "\\boxed{5}", "\\boxed{4}"],
            ["no", "no", "no"],
        ]
    )
    with RewardRouter() as router:
        maj = majority_answers(engine, samples, router, SamplingParams(n=3))
        assert maj == [("2", True, 2 / 3), ("5", False, 2 / 3), (None, False, 0.0)]
        assert [s.id for s in relabel(samples, maj, "majority")] == ["a", "b"]
        wrong = relabel(samples, maj, "incorrect")
        assert [s.id for s in wrong] == ["b"] and wrong[0].metadata["gold"] == "4"
        # rewarded for the wrong majority answer, while accuracy still follows the truth
        result = router.score([ScoreRequest("\\boxed{5}", wrong[0].reward)])[0]
        assert result.score == 1.0 and result.correct is False


def test_combined_rewards_carry_the_extracted_answer(monkeypatch):
    """Relabelled samples score with `combined`; labelling them again must still see their answers."""
    monkeypatch.setattr("rlvr.eval.pseudo_label.encode_prompts", lambda tok, samples: [[1]] * len(samples))
    samples = [Sample(id="a", prompt="1+1?", reward=RewardSpec("math", "2"))]
    engine = ScriptedEngine([["\\boxed{3}", "\\boxed{3}", "\\boxed{2}"]])
    with RewardRouter() as router:
        once = relabel(samples, majority_answers(engine, samples, router, SamplingParams(n=3)), "majority")
        again = majority_answers(engine, once, router, SamplingParams(n=3))
    assert again == [("3", False, 2 / 3)]
