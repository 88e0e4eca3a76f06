import pytest

from rlvr.rewards import VERIFIERS
from rlvr.rewards.verifiers.choice import extract_choice
from rlvr.rewards.verifiers.text import normalize_answer, token_f1

em, f1, choice = VERIFIERS.get("exact_match"), VERIFIERS.get("f1"), VERIFIERS.get("choice")


def test_normalize_answer_squad():
    assert normalize_answer("  The Eiffel-Tower, in PARIS! ") == "eiffeltower in paris"
    assert normalize_answer("an apple a day") == "apple day"


def test_token_f1_by_hand():
    # pred "big red dog" vs ref "red dog": precision 2/3, recall 1 -> F1 0.8 (article "the" dropped)
    assert token_f1("the big red dog", "red dog") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0
    assert token_f1("a", "dog") == 0.0  # "a" normalises to nothing


def test_exact_match_whole_completion_and_list():
    assert em("  The Eiffel Tower! ", ["Louvre", "eiffel tower"]).correct is True
    assert em("Eiffel", "eiffel tower").score == 0.0


def test_exact_match_tag_and_box():
    assert em("<answer>Paris</answer>", "paris", answer_tag="answer").correct
    assert em(r"so \boxed{Paris}", "paris", boxed=True).correct
    missing = em("Paris", "paris", answer_tag="answer")
    assert (missing.score, missing.correct, missing.info["reason"]) == (0.0, False, "no answer found")
    with pytest.raises(ValueError):
        em("x", [])


def test_f1_threshold_and_max_over_references():
    res = f1("the big red dog", ["cat", "red dog"])
    assert res.score == pytest.approx(0.8) and res.correct is False
    assert f1("the big red dog", "red dog", threshold=0.5).correct is True
    assert f1("Red dog.", "red dog").correct is True


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        (r"... so \boxed{B}", "B"),
        (r"\boxed{\text{(C)}}", "C"),
        ("<answer>D</answer>", "D"),
        ("<answer>(E) 42</answer>", "E"),
        ("Therefore, the answer is (B).", "B"),
        ("Answer: J", "J"),
        ("F", "F"),
        ("(G).", "G"),
        ("The answer is a bit unclear", None),
        ("I like Bob", None),
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text) == letter


def test_choice_scoring():
    assert choice("the answer is (C)", "C").correct is True
    assert choice("the answer is (C)", "(c)").correct is True
    wrong = choice("the answer is (A)", "C")
    assert (wrong.score, wrong.correct) == (0.0, False)
    assert choice("no idea", "C").info["reason"] == "no answer found"
    with pytest.raises(ValueError):
        choice("A", "Z")
