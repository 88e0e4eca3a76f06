"""TITO against the real chat templates of Qwen2.5, Llama 3 and Qwen3 (tests/rollout/chat_templates.py)."""

import pytest

from rlvr.rollout.tito import TurnRenderer
from tests.rollout.chat_templates import build_family_tokenizer

FIRST = [{"role": "user", "content": "guess a number from 1 to 100"}]
ACTIONS = ["50", "75", "62"]
FEEDBACK = ["higher", "lower"]


def encode(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def play(tok, actions, feedback, first=FIRST, end_with_eos=True, role="user"):
    """A scripted episode: each action sampled as its ids (+ the end-of-turn token); the rows built."""
    renderer = TurnRenderer(tok, first)
    rows, new_rows = [renderer.prompt_ids()], 0
    for turn, action in enumerate(actions):
        generated = encode(tok, action) + ([tok.eos_token_id] if end_with_eos else [])
        rows[-1] += generated
        if turn == len(actions) - 1:
            break
        nxt = renderer.continue_after(generated, action, [{"role": role, "content": feedback[turn]}])
        if nxt.new_row:
            rows.append(list(nxt.ids))
            new_rows += 1
        else:
            rows[-1] += nxt.ids
    return rows, new_rows


def conversation(actions, feedback, role="user"):
    msgs = list(FIRST)
    for turn, action in enumerate(actions):
        msgs.append({"role": "assistant", "content": action})
        if turn < len(feedback) and turn < len(actions) - 1:
            msgs.append({"role": role, "content": feedback[turn]})
    return msgs


@pytest.mark.parametrize("family, tail", [("qwen2.5", "\n"), ("llama3", "")])
def test_append_only_templates_give_the_canonical_ids(family, tail):
    tok = build_family_tokenizer(family)
    rows, new_rows = play(tok, ACTIONS, FEEDBACK)
    canonical = tok.apply_chat_template(conversation(ACTIONS, FEEDBACK), tokenize=False)
    assert new_rows == 0 and len(rows) == 1
    assert tok.decode(rows[0]) + tail == canonical
    assert rows[0] + encode(tok, tail) == encode(tok, canonical)  # byte for byte, separators included


@pytest.mark.parametrize("family", ["qwen2.5", "llama3"])
def test_a_turn_ended_by_a_stop_string_gets_the_whole_end_of_turn(family):
    tok = build_family_tokenizer(family)
    rows, _ = play(tok, ACTIONS, FEEDBACK, end_with_eos=False)
    eot = tok.eos_token
    text = tok.decode(rows[0])
    canonical = tok.apply_chat_template(conversation(ACTIONS, FEEDBACK), tokenize=False)
    assert text == canonical[: len(text)] and canonical[len(text) :].startswith(eot)
    assert text.count(eot) == canonical.count(eot) - 1  # all but the last turn's


def test_sampled_ids_are_kept_where_a_re_tokenization_would_merge_them():
    tok = build_family_tokenizer("llama3")
    assert len(encode(tok, "100")) == 1  # BPE merges "100" into one token
    renderer = TurnRenderer(tok, FIRST)
    prompt = renderer.prompt_ids()
    generated = [*encode(tok, "1"), *encode(tok, "00"), tok.eos_token_id]  # the engine sampled two pieces
    row = (
        prompt
        + generated
        + renderer.continue_after(generated, "100", [{"role": "user", "content": "lower"}]).ids
    )
    history = conversation(["100", "x"], ["lower"])[:3]
    canonical = encode(tok, tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True))
    assert row[: len(prompt) + 2] == prompt + generated[:2]  # the learner sees the sampled pieces
    assert row != canonical and tok.decode(row) == tok.decode(canonical)  # same text, other ids


def test_qwen3_user_turns_rewrite_history_so_each_starts_a_canonical_row():
    tok = build_family_tokenizer("qwen3")
    thinking = ["<think>\nhalve 1-100\n</think>\n\n50", "<think>\nhalve 51-100\n</think>\n\n75", "62"]
    rows, new_rows = play(tok, thinking, FEEDBACK)
    assert new_rows == 2 and len(rows) == 3
    for k in (1, 2):  # row k: the whole conversation so far, canonically rendered (earlier <think> dropped)
        history = conversation(thinking[: k + 1], FEEDBACK)[:-1]
        prompt = tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        assert rows[k][: len(rows[k]) - len(encode(tok, thinking[k])) - 1] == encode(tok, prompt)
        assert "<think>" not in tok.decode(rows[k][: -len(encode(tok, thinking[k])) - 1])


def test_qwen3_tool_turns_keep_the_thinking_so_they_append():
    tok = build_family_tokenizer("qwen3")
    thinking = ["<think>\nsearch\n</think>\n\n50", "<think>\nagain\n</think>\n\n75"]
    rows, new_rows = play(tok, thinking, ["higher"], role="tool")
    assert new_rows == 0 and len(rows) == 1
    canonical = tok.apply_chat_template(conversation(thinking, ["higher"], role="tool"), tokenize=False)
    assert tok.decode(rows[0]) + "\n" == canonical


def test_raw_text_episodes_append_the_observation_tokens():
    tok = build_family_tokenizer("qwen2.5")
    renderer = TurnRenderer(tok, "guess 1-8\n")
    assert renderer.prompt_ids() == encode(tok, "guess 1-8\n")
    assert renderer.continue_after(encode(tok, "4\n"), "4\n", "higher\n").ids == encode(tok, "higher\n")
    with pytest.raises(TypeError, match="raw-text episode got chat messages"):
        renderer.continue_after([], "", [{"role": "user", "content": "x"}])
