"""The persuasion environment: prompts, per-turn rewards by hand, truncation, ToM blocks, SFT rows."""

from __future__ import annotations

import pytest

from rlvr.data.sample import Sample
from rlvr.envs import build_env
from rlvr.envs.tomap import episodes, scripted_sft
from rlvr.envs.tomap.env import ToMAPEnv
from tests.envs.test_tomap_persuadee import hand_topic

GOOD = "<thought>t</thought><argument>{}</argument>"


def env(**kw) -> tuple[ToMAPEnv, object]:
    e = ToMAPEnv(compact=True, token_unit="words", rep_ngram=2, **kw)
    first = e.reset(Sample(id="s", prompt="-", metadata={"topic": hand_topic().to_dict()}))
    return e, first


def test_turn_rewards_by_hand() -> None:
    e, first = env(rounds=3)
    assert first == "Q:towns should ban cars\nA:"
    r1 = e.step(GOOD.format("it helps cost"))
    # S: 0.2 -> 0.44; gain 0.24 / 0.8 = 0.3; tag 1, format 1, no repetition, no overrun
    assert r1.reward == pytest.approx(0.3 + 0.1 * 2.0)
    assert r1.metrics["shift_r1"] == pytest.approx(24.0) and not r1.done
    assert (
        isinstance(r1.observation, str)
        and r1.observation.startswith("\nB:but ")
        and r1.observation.endswith("\nA:")
    )
    r2 = e.step("it helps cost")  # no tags: the argument is empty, nothing moves
    assert r2.reward == 0.0 and r2.metrics["format_violation"] == 1.0
    r3 = e.step(
        GOOD.format("it helps jobs")
    )  # S: 0.44 -> 0.68, gain 0.24 / 0.56; "it helps" repeats 1 of 2 bigrams
    assert r3.done and r3.observation is None
    assert r3.reward == pytest.approx(0.24 / 0.56 + 0.1 * (2.0 + (0.1 - 0.5)))
    assert r3.metrics["shift_total"] == pytest.approx(48.0)
    # arguments "it helps cost", "", "it helps jobs": bigrams of turn 3 half seen -> mean over turns with bigrams
    assert r3.metrics["repetition_rate"] == pytest.approx(0.5)
    assert r3.metrics["distinct2"] == pytest.approx(3 / 4)


def test_argument_is_cut_to_the_cap_and_penalised() -> None:
    e, _ = env(max_arg_tokens=3)
    r = e.step(GOOD.format("one two three cost jobs"))  # 5 words, cap 3: the persuadee hears "one two three"
    assert r.metrics["r_overlength"] == pytest.approx(-1.0) and r.metrics["stance"] == pytest.approx(0.2)
    assert e.turns[0] == "one two three"


def test_tom_blocks() -> None:
    e, first = env(tom="counterclaims")
    assert first == "Q:towns should ban cars\nC:cost,jobs,safety\nA:"
    assert e.step(GOOD.format("it helps cost")).observation.endswith("\nC:cost,jobs,safety\nA:")
    e, _ = env(tom="oracle")
    obs = e.step(GOOD.format("it helps cost")).observation
    assert obs.endswith("\nC:cost 4/8,jobs 8/8,safety 2/8\nA:")  # attitudes 2, 4, 1 -> k = 2a
    with pytest.raises(ValueError, match="needs 'attitude'"):
        ToMAPEnv(tom="both")


def test_chat_prompts_follow_the_official_structure() -> None:
    e = ToMAPEnv(tom="counterclaims", max_arg_tokens=200)
    msgs = e.reset(Sample(id="s", prompt="-", metadata={"topic": hand_topic().to_dict()}))
    assert msgs[0]["role"] == "system" and '"towns should ban cars"' in msgs[0]["content"]
    user = msgs[1]["content"]
    assert user.startswith("# Claims your OPPONENT might hold") and '"cost suffers"' in user
    assert 'Alice (You) (turn 1): "Hi, I am Alice.' in user and "at most 200 tokens" in user
    obs = e.step(GOOD.format("Cheaper transport lowers the cost of living.")).observation
    assert obs[0]["content"].startswith('Bob (turn 4): "I am not convinced.')


def test_episodes_and_sft_rows_play_in_the_env() -> None:
    samples = episodes(4, seed=1, split="heldout", rounds=2, env={"compact": True})
    assert {s.metadata["topic"]["index"] % 5 for s in samples} == {0}
    e = build_env(samples[0].env)
    assert isinstance(e, ToMAPEnv) and e.rounds == 2 and samples[0].env.max_turns == 2
    rows = scripted_sft(6, seed=0, rounds=3, env={"tom": "both"})
    assert len(rows) == 6 and rows[0].prompt.startswith("Q:") and rows[0].response.startswith("<thought>")
    assert rows[1].prompt.startswith(rows[0].prompt + rows[0].response + "\nB:but ")
    assert "/8" in rows[1].prompt  # the warm start sees the agreement format (true attitudes)


def test_claims_file_rows_for_an_lm_persuadee(tmp_path) -> None:
    from rlvr.envs.tomap import claims_file

    path = tmp_path / "claims.jsonl"
    path.write_text(
        '{"claim": "A is good", "negation": "A is not good"}\n\n{"claim": "B", "negation": "not B"}\n'
    )
    samples = claims_file(5, seed=0, path=str(path), env={"tom": "none"})
    assert sorted(s.metadata["topic"]["claim"] for s in samples) == ["A is good", "B"]
    assert samples[0].env.params == {"tom": "none", "rounds": 3}
    path.write_text('{"claim": "A"}\n')
    with pytest.raises(ValueError, match=r"claims.jsonl:1: a tomap claim row needs 'claim' and 'negation'"):
        claims_file(1, seed=0, path=str(path))
