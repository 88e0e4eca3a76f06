import pytest

from rlvr.eval.analysis.reflection import change_summary, reflection_counts, relative_changes, word_spans
from rlvr.eval.analysis.traces import Trace
from rlvr.eval.analysis.truncation import cut_prompts
from rlvr.models.tiny import build_tokenizer


def test_word_spans_find_words_across_tokens_at_word_boundaries():
    pieces = ["So", " Wa", "it", ",", " await", " however", "."]
    spans = word_spans(pieces, ["Wait", "wait", "however"])
    assert spans == [("Wait", 1, 3), ("however", 5, 6)]  # "await" is not the word "wait"


def test_reflection_counts_rate_positions_and_accuracy_split():
    traces = [list("ab wait c"), list("no words"), list("wait")]
    res = reflection_counts(traces, [True, False, True], ["wait"])
    assert res["per_trace"] == [1, 0, 1]
    assert res["per_1k_tokens"] == pytest.approx(1000 * 2 / 21)
    assert res["accuracy_with"] == 1.0 and res["accuracy_without"] == 0.0
    assert res["positions"] == [3 / 9, 0.0]


def test_relative_changes_follow_the_notebook():
    nll = [4.0, 2.0, 2.0, 1.0, 0.5]
    tokens, words = relative_changes(nll, [("wait", 1, 2), ("wait", 3, 4)])
    assert tokens == [0.5, 0.0, 0.5, 0.5]
    assert words == {
        "wait": [0.5]
    }  # from L(1)=2 to L(3)=1 (one token past the word); the second has no after-point
    summary = change_summary(tokens, words)
    assert summary["token_mean"] == 0.375 and summary["word_mean"] == 0.5


def test_cut_prompts_keep_a_fraction_of_the_trace_then_the_answer_prompt():
    tok = build_tokenizer()
    ids = tok("abcd", add_special_tokens=False)["input_ids"]
    trace = Trace("s", "src", [1], ids, "7", True, answer_prompt="=")
    prompts, texts = cut_prompts(tok, [trace], [0.0, 0.5, 1.0])
    eq = tok("=", add_special_tokens=False)["input_ids"]
    assert prompts == [[1, *eq], [1, *ids[:2], *eq], [1, *ids, *eq]]
    assert texts == ["=", "ab=", "abcd="]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cut_prompts(tok, [trace], [1.5])


def test_cut_prompts_at_boundaries_move_back_to_the_last_one():
    tok = build_tokenizer()
    ids = tok("ab cd ef", add_special_tokens=False)["input_ids"]
    trace = Trace("s", "src", [1], ids, "7", True, answer_prompt="=")
    _, texts = cut_prompts(tok, [trace], [0.2, 0.5, 1.0], at=" ")
    assert texts == ["=", "ab =", "ab cd ="]  # cuts at 2, 4, 8 tokens move back to 0, 3, 6
