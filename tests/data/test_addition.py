from rlvr.data.addition import addition_steps, carry_addition
from rlvr.rewards.verifiers.text import exact_match


def test_addition_steps_carry_right_to_left_and_answer_most_significant_first():
    assert addition_steps("958", "176") == (["c:8+6+0=14", "b:5+7+1=13", "a:9+1+1=11"], "1134")
    assert addition_steps("12", "30") == (["b:2+0+0=02", "a:1+3+0=04"], "042")


def test_carry_addition_rows_pass_their_own_verifier():
    for s in carry_addition(20, 0, num_digits=3):
        assert s.prompt.startswith("a") and s.prompt.endswith("=") and s.response.count(":") == 3
        assert exact_match(s.response, s.reward.ground_truth, **s.reward.params).correct
        assert s.metadata == {"answer_prompt": "\\boxed{", "answer": s.reward.ground_truth}
    direct = carry_addition(3, 0, thinking=False)
    assert all(s.response == f"\\boxed{{{s.reward.ground_truth}}}" for s in direct)


def test_early_answers_stop_at_a_step_boundary_after_their_cue():
    rows = carry_addition(200, 1, num_digits=3, early_answers=0.5, cue="!\\boxed{")
    early = [s for s in rows if "!\\boxed{" in s.response]
    assert 70 < len(early) < 130
    for s in early:
        steps = s.response.split("!\\boxed{")[0]
        assert steps == "" or steps.endswith(" ")
        assert exact_match(s.response, s.reward.ground_truth, boxed=True).correct
    assert [s.response for s in carry_addition(5, 1, num_digits=3)] == [
        s.response for s in carry_addition(5, 1, num_digits=3, early_answers=0.0, cue="!\\boxed{")
    ]
