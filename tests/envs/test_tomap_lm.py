"""The LM persuadee's stance parsing against local stand-ins: a fake chat function and a tiny model."""

from __future__ import annotations

import pytest

from rlvr.envs.tomap.lm_persuadee import LMPersuadee, hf_chat, parse_attitude, stance_from_ratings
from rlvr.envs.tomap.topics import Topic

TOPIC = Topic(-1, "towns should ban cars", "towns should not ban cars", (), {}, 0.5)


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("<thought>ok</thought>\n<attitude>\nPartly Agree\n</attitude>", 3),
        ("<attitude>Partly Disagree</attitude>", 1),
        ("<attitude>Disagree</attitude>", 0),
        ('<attitude>"Agree".</attitude>', 4),
        ("<attitude>neutral</attitude>", 2),
        ("<attitude>3</attitude>", 3),
        ("no tags, but I Partly Agree", 3),
        ("<thought>I disagree at first</thought><attitude>Agree", 4),  # unclosed last tag counts
        ("<attitude>Agree or Disagree</attitude>", None),  # two labels: ambiguous
        ("<attitude>maybe</attitude>", None),
        ("", None),
    ],
)
def test_parse_attitude(reply: str, score: int | None) -> None:
    assert parse_attitude(reply) == score


def fake_chat(ratings: dict[str, str]):
    """Answers a rating prompt by the statement it names; any other prompt with a fixed argument."""
    calls: list[list[dict[str, str]]] = []

    def chat(batch):
        calls.extend(batch)
        out = []
        for messages in batch:
            ask = messages[-1]["content"]
            said = next((r for s, r in ratings.items() if f'"{s}"' in ask), None)
            out.append(
                said if said is not None else "<thought>hm</thought><argument>Cars bring trade.</argument>"
            )
        return out

    return chat, calls


def test_stance_is_half_plus_rating_difference_over_eight() -> None:
    chat, calls = fake_chat(
        {TOPIC.claim: "<attitude>Partly Agree</attitude>", TOPIC.negation: "<attitude>Disagree</attitude>"}
    )
    bob = LMPersuadee(chat)
    bob.start(TOPIC)
    assert bob.stance() == pytest.approx(0.5 + (3 - 0) / 8)
    assert bob.reply("Cars pollute.") == "Cars bring trade."
    assert bob.turns == ["Cars pollute.", "Cars bring trade."]
    assert '"towns should ban cars"' in calls[0][0]["content"]  # the system prompt names the claim
    bob.stance()
    rating_prompt = calls[-1][-1]["content"]  # the transcript as the official code lists it
    assert 'Alice (turn 3): "Cars pollute."\nBob (You) (turn 4): "Cars bring trade."' in rating_prompt
    assert stance_from_ratings(0, 4) == 0.0 and stance_from_ratings(4, 0) == 1.0


def test_malformed_ratings_are_counted_and_handled_as_asked() -> None:
    ratings = {TOPIC.claim: "<attitude>Agree</attitude>", TOPIC.negation: "<attitude>no idea</attitude>"}
    for mode, stance in (("disagree", 0.5 + (4 - 0) / 8), ("neutral", 0.5 + (4 - 2) / 8)):
        bob = LMPersuadee(fake_chat(ratings)[0], malformed=mode)
        bob.start(TOPIC)
        assert bob.stance() == pytest.approx(stance) and bob.malformed == 1
    bob = LMPersuadee(fake_chat(ratings)[0], malformed="error")
    bob.start(TOPIC)
    with pytest.raises(ValueError, match="no attitude label in its rating of 'towns should not ban cars'"):
        bob.stance()
    with pytest.raises(ValueError, match="malformed must be one of"):
        LMPersuadee(fake_chat(ratings)[0], malformed="zero")


def test_a_tiny_local_model_as_persuadee(tmp_path) -> None:
    """A random tiny model answers garbage: both ratings are malformed, scored 0 each -> S = 0.5."""
    from rlvr.models.tiny import TinyModelConfig, save_tiny

    path = save_tiny(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2), tmp_path / "m"
    )
    bob = LMPersuadee(hf_chat(str(path), max_new_tokens=8))
    bob.start(TOPIC)
    assert bob.stance() == 0.5 and bob.malformed == 2
    assert isinstance(bob.reply("Cars pollute."), str) and len(bob.turns) == 2
