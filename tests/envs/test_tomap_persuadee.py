"""The offline persuadee moves only as specified: new keywords of held concerns, with diminishing returns."""

from __future__ import annotations

import pytest

from rlvr.envs.tomap.persuadee import SimulatedPersuadee
from rlvr.envs.tomap.topics import THEMES, Concern, Topic, make_topic, num_topics, topic_indices


def hand_topic() -> Topic:
    """Held: cost and jobs, half each; safety is a candidate the persuadee does not hold; s0 = 0.2."""
    cands = tuple(
        Concern(t, THEMES[t], f"{t} suffers", p) for t, p in (("cost", 0.5), ("jobs", 0.3), ("safety", 0.2))
    )
    return Topic(
        7, "towns should ban cars", "towns should not ban cars", cands, {"cost": 0.5, "jobs": 0.5}, 0.2
    )


def bob(**kw) -> SimulatedPersuadee:
    p = SimulatedPersuadee(step=0.6, max_points=2, **kw)
    p.start(hand_topic())
    return p


def test_stance_moves_only_for_new_keywords_of_held_concerns() -> None:
    p = bob()
    assert p.stance() == pytest.approx(0.2)
    p.reply("it helps cost")  # r_cost = 0.6: S = 0.2 + 0.8 * 0.5 * 0.6
    assert p.stance() == pytest.approx(0.44)
    p.reply("it helps cost, cost and COST")  # repetition: the keyword was used already
    assert p.stance() == pytest.approx(0.44)
    p.reply("the weather is nice today")  # off topic
    assert p.stance() == pytest.approx(0.44)
    p.reply("safety first")  # a concern it does not hold
    assert p.stance() == pytest.approx(0.44)
    p.reply(
        "the price is right"
    )  # a new keyword of cost: r = 1 - 0.4^2 = 0.84 (diminishing: +0.24, not +0.6)
    assert p.stance() == pytest.approx(0.2 + 0.8 * 0.5 * 0.84)
    p.reply("more jobs")  # r_jobs = 0.6
    assert p.stance() == pytest.approx(0.2 + 0.8 * (0.5 * 0.84 + 0.5 * 0.6))


def test_at_most_max_points_keywords_count_per_argument() -> None:
    p = bob()
    assert p.hear("cost price budget jobs") == [("cost", "cost"), ("cost", "price")]
    assert p.stance() == pytest.approx(0.2 + 0.8 * 0.5 * 0.84)
    assert p.hear("jobs") == [("jobs", "jobs")]


def test_attitudes_towards_counterclaims() -> None:
    p = bob()
    assert [p.attitude(s) for s in ("cost suffers", "jobs suffer", "safety suffers", "the sky")] == [
        4,
        4,
        1,
        2,
    ]
    p.reply("it helps cost")  # 4 * (1 - 0.6) = 1.6 -> 2
    p.reply("and the budget")  # 4 * 0.16 = 0.64 -> 1
    assert p.attitude("cost suffers") == 1
    assert p.attitude("jobs suffer") == 4


def test_replies_voice_remaining_held_concerns_deterministically() -> None:
    a, b = bob(seed=3, compact=True), bob(seed=3, compact=True)
    said_a = [a.reply(x) for x in ("it helps cost", "hello", "price and budget")]
    said_b = [b.reply(x) for x in ("it helps cost", "hello", "price and budget")]
    assert said_a == said_b
    for reply in said_a:
        keyword = reply.removeprefix("but ").removesuffix("?")
        assert keyword in THEMES["cost"] + THEMES["jobs"]
        assert keyword not in a.used.get("cost", set())  # never voices a keyword already answered
    full = bob(seed=3)
    assert full.reply("cost").startswith("I am not convinced. What about ")


def test_topics_are_seeded_and_split() -> None:
    assert make_topic(11, 0) == make_topic(11, 0)
    assert make_topic(11, 0) != make_topic(11, 1)
    train, held = topic_indices("train"), topic_indices("heldout")
    assert len(train) + len(held) == num_topics() == 120 and not set(train) & set(held) and len(held) == 24
    t = make_topic(11)
    assert len(t.candidates) == 6 and len(t.held) == 3 and set(t.held) <= {c.theme for c in t.candidates}
    assert sum(t.held.values()) == pytest.approx(1.0, abs=1e-3) and 0.1 <= t.s0 <= 0.3
    assert Topic.from_dict(t.to_dict()) == t
    with pytest.raises(ValueError, match="split must be"):
        topic_indices("test")
