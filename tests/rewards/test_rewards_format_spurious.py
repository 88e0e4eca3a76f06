import pytest

from rlvr.rewards import VERIFIERS, ThresholdSchedule
from rlvr.rewards.verifiers.format import overlong_penalty
from rlvr.rewards.verifiers.spurious import uniform_from_key

V = VERIFIERS.get


def test_format_quarter_per_tag_present_exactly_once():
    fmt = V("format")
    assert fmt("<think>a</think><answer>b</answer>").score == 1.0
    assert fmt("<think>a</think><answer>b").score == 0.75
    assert fmt("<think><think>a</think><answer>b</answer>").score == 0.75  # <think> twice
    assert fmt("plain").score == 0.0
    assert fmt("plain").correct is None


def test_format_custom_tags_and_weights():
    fmt = V("format")
    assert fmt("<a></a>", tags=["<a>", "</a>", "<b>"]).score == pytest.approx(2 / 3)
    assert fmt("<a></a>", tags=["<a>", "</a>"], weights=[0.1, 0.3]).score == pytest.approx(0.4)
    assert fmt("<a>", tags=["<a>", "</a>"], weights=0.5).score == 0.5
    with pytest.raises(ValueError):
        fmt("x", tags=["<a>"], weights=[0.1, 0.2])


def test_overlong_penalty_dapo_rule():
    # L_max = 20, L_cache = 4: free up to 16, linear to -1 at 20, -1 beyond
    assert overlong_penalty(10, 20, 4) == 0.0
    assert overlong_penalty(16, 20, 4) == 0.0
    assert overlong_penalty(17, 20, 4) == -0.25
    assert overlong_penalty(18, 20, 4) == -0.5
    assert overlong_penalty(20, 20, 4) == -1.0
    assert overlong_penalty(21, 20, 4) == -1.0
    with pytest.raises(ValueError):
        overlong_penalty(1, 4, 8)


def test_length_verifier_uses_completion_tokens():
    res = V("length")("text is ignored", max_len=16384 + 4096, cache_len=4096, completion_tokens=16384 + 1024)
    assert res.score == pytest.approx(-0.25) and res.correct is None


def test_threshold_schedule_v_triune_default():
    s = ThresholdSchedule()
    expected = {0.0: 0.85, 0.1: 0.85, 0.1001: 0.95, 0.25: 0.95, 0.26: 0.99, 1.0: 0.99, 2.0: 0.99}
    assert {p: s.value(p) for p in expected} == expected
    assert s.value_at_step(10, 100) == 0.85 and s.value_at_step(11, 100) == 0.95


def test_threshold_schedule_state_dict_roundtrip_and_validation():
    s = ThresholdSchedule(boundaries=[0.5], values=[0.5, 0.9])
    t = ThresholdSchedule()
    t.load_state_dict(s.state_dict())
    assert t.value(0.4) == 0.5 and t.value(0.6) == 0.9 and t.state_dict() == s.state_dict()
    with pytest.raises(ValueError):
        ThresholdSchedule(boundaries=[0.5], values=[1.0])
    with pytest.raises(ValueError):
        ThresholdSchedule(boundaries=[0.5, 0.2], values=[1, 2, 3])


def test_random_reward_reproducible_and_bernoulli():
    rnd = V("random")
    assert rnd("a", sample_key="id7:3").score == rnd("other text", sample_key="id7:3").score
    scores = [rnd("", sample_key=f"s{i}:0").score for i in range(2000)]
    assert 0.45 < sum(scores) / len(scores) < 0.55
    rare = [rnd("", sample_key=f"s{i}:0", gamma=0.1).score for i in range(2000)]
    assert 0.07 < sum(rare) / len(rare) < 0.13
    assert set(scores) == {0.0, 1.0} and rnd("", sample_key="k").correct is None
    # a different seed gives a different draw sequence
    assert [uniform_from_key(f"k{i}", seed=0) for i in range(5)] != [
        uniform_from_key(f"k{i}", 1) for i in range(5)
    ]
    with pytest.raises(ValueError):
        rnd("", sample_key="k", gamma=1.5)


def test_incorrect_rewards_the_wrong_label():
    inc = V("incorrect")
    res = inc(r"\boxed{\frac{10}{2}}", "7", wrong_label="5")
    assert (res.score, res.correct) == (1.0, False)  # matches the wrong label; not the true answer
    res = inc(r"\boxed{7}", "7", wrong_label="5")
    assert (res.score, res.correct) == (0.0, True)
    res = inc(r"\boxed{5}", "5")  # the dataset's ground truth already is the wrong label
    assert (res.score, res.correct) == (1.0, None)
    assert inc("no box", "5").info["reason"] == "no answer found"


def test_format_only_needs_a_nonempty_box():
    fo = V("format_only")
    assert fo(r"wrong but \boxed{42}").score == 1.0
    assert fo(r"\boxed{ }").score == 0.0
    assert fo("42").score == 0.0


def test_contains_substring_and_regex():
    c = V("contains")
    assert c("let me write ```python code", pattern="python").score == 1.0
    assert c("Python", pattern="python").score == 0.0
    assert c("Python", pattern="python", ignore_case=True).score == 1.0
    assert c("x = 12", pattern=r"\d{2}", regex=True).score == 1.0
    assert c("x = 1", pattern=r"\d{2}", regex=True).score == 0.0
