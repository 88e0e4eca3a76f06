import threading

import pytest

from rlvr.rewards import VERIFIERS

math_v = VERIFIERS.get("math")


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        (r"so the answer is \boxed{\frac{1}{2}}", "0.5"),
        (r"\boxed{\dfrac34}", "3/4"),
        (r"\boxed{5 \text{ cm}}", "5"),
        (r"\boxed{\left(0, 1\right]}", "(0,1]"),
        (r"\boxed{(x+1)^2}", "x^2+2x+1"),
        (r"\boxed{x = 5}", "5"),
        (r"\boxed{\frac{\sqrt2}{2}}", r"\sqrt{2}/2"),
        ("Total: 1,000 apples.\n#### 1000", "1000"),
        (r"$\boxed{10\%}$", "0.1"),
    ],
)
def test_equivalent_answers_score_one(completion, gold):
    res = math_v(completion, gold)
    assert (res.score, res.correct, res.error) == (1.0, True, None)


@pytest.mark.parametrize(
    ("completion", "gold"),
    [(r"\boxed{[0, 1]}", "(0,1]"), (r"\boxed{0.51}", "1/2"), (r"\boxed{}", "1"), (r"\boxed{{{{", "1")],
)
def test_wrong_answers_score_zero(completion, gold):
    res = math_v(completion, gold)
    assert (res.score, res.correct) == (0.0, False)


def test_last_box_wins_and_info_has_extracted():
    res = math_v(r"maybe \boxed{3}... no, \boxed{4}", "4")
    assert res.correct and res.info == {"extracted": "4", "method": "boxed"}


def test_answer_tag():
    res = math_v("<think>2+2</think><answer>4</answer>", "4", answer_tag="answer")
    assert res.correct and res.info["method"] == "tag"
    assert not math_v("<think>2+2</think><answer>5</answer>", "4", answer_tag="answer").correct


def test_no_answer_is_wrong_not_error():
    res = math_v("I do not know", "4")
    assert (res.score, res.correct, res.error) == (0.0, False, None)
    assert res.info["reason"] == "no answer found"


def test_bad_ground_truth_raises():
    with pytest.raises(ValueError):
        math_v(r"\boxed{1}", None)


def test_runs_off_the_main_thread_without_signal_errors():
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", math_v(r"\boxed{\frac{2}{4}}", "1/2")))
    t.start()
    t.join(60)
    assert out["r"].correct is True


def test_math_verify_timeout_is_an_error_not_a_wrong_answer():
    with pytest.raises(TimeoutError, match="timed out"):
        math_v(r"\boxed{10^{10^{10}}!}", "5", timeout_s=1)
