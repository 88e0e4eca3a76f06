"""s3's accuracy: normalised span match (the paper's), EM (the ablation), the LLM judge fallback."""

from rlvr.envs.s3 import accuracy, exact_match, normalize, span_match


def test_normalize_and_span_match_on_token_boundaries():
    assert normalize("The  Danube, River!") == "danube river"
    assert span_match("It flows into the Danube river.", ["Danube River"])
    assert not span_match("Danubes", ["Danube"])  # tokens, not substrings
    assert span_match("Answer: an apple", ["the apple"])
    assert not span_match("", ["x"]) and not span_match("x", [""])


def test_exact_match_and_the_judge_fallback():
    assert exact_match("  Vienna. ", ["vienna"]) and not exact_match("in Vienna", ["vienna"])
    assert accuracy("in Vienna", ["Vienna"], mode="em") == 0.0
    assert accuracy("in Vienna", ["Vienna"], mode="span") == 1.0
    asked = []

    def judge(q, p, a):
        asked.append((q, p, a))
        return True

    assert accuracy("Wien", ["Vienna"], "capital of Austria?", judge=judge) == 1.0
    assert accuracy("Vienna", ["Vienna"], judge=judge) == 1.0
    assert asked == [("capital of Austria?", "Wien", ["Vienna"])]  # asked only when no span matched
