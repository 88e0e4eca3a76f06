from rlvr.rewards.extract import (
    all_boxed,
    code_block,
    extract_answer,
    gsm8k_answer,
    last_boxed,
    strip_math_delimiters,
    tagged,
)


def test_last_boxed_keeps_nested_braces():
    text = r"first \boxed{1} then \boxed{\frac{a}{b^{2}}} done"
    assert last_boxed(text) == r"\frac{a}{b^{2}}"
    assert all_boxed(text) == ["1", r"\frac{a}{b^{2}}"]


def test_last_boxed_escaped_braces_and_unclosed():
    assert last_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"
    assert last_boxed(r"\boxed{1} and \boxed{2") == "1"  # a truncated box is ignored
    assert last_boxed("no box") is None
    assert last_boxed(r"\fbox{7}") == "7"


def test_tagged_takes_last_closed_pair():
    assert tagged("<answer> 1 </answer> <answer>2</answer>", "answer") == "2"
    assert tagged("<answer>open", "answer") is None
    assert tagged("<answer>\nmulti\nline\n</answer>", "answer") == "multi\nline"


def test_gsm8k():
    assert gsm8k_answer("steps\n#### 1,234.\n") == "1,234"
    assert gsm8k_answer("no marker") is None


def test_extract_answer_priority():
    text = r"<answer>\boxed{3}</answer> \boxed{4} #### 5"
    assert extract_answer(text, answer_tag="answer") == ("3", "tag")
    assert extract_answer(text) == ("4", "boxed")
    assert extract_answer("#### 5") == ("5", "gsm8k")
    assert extract_answer("<answer>x</answer>", answer_tag="answer") == ("x", "tag")
    assert extract_answer("nothing") == (None, None)


def test_strip_math_delimiters():
    assert strip_math_delimiters(r"$\frac12$") == r"\frac12"
    assert strip_math_delimiters(r"\(x\)") == "x"
    assert strip_math_delimiters("5") == "5"


def test_code_block():
    text = "intro\n```python\nprint(1)\n```\nmore\n```py\nprint(2)\n```\n```\nplain\n```"
    assert code_block(text) == "print(2)\n"
    assert code_block("```\nprint(3)\n```") == "print(3)\n"
    assert code_block("print(4)") == "print(4)"
