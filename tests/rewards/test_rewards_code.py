from rlvr.rewards import VERIFIERS

code_v = VERIFIERS.get("code")

ADD = {
    "tests": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "5 5", "output": "10"},
        {"input": "0 0", "output": "0"},
    ]
}
FN = {"fn_name": "solve", "tests": [{"args": [2, 3], "expected": 5}, {"args": [0.1, 0.2], "expected": 0.3}]}


def test_all_tests_pass():
    completion = "Here:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    res = code_v(completion, ADD)
    assert (res.score, res.correct) == (1.0, True)
    assert res.info["results"] == [None, None, None] and "reason" not in res.info


def test_fraction_of_tests_passed():
    res = code_v("```python\nprint(3)\n```", ADD)
    assert res.score == 1 / 3 and res.correct is False
    assert res.info["results"] == [None, "wrong answer", "wrong answer"]
    assert res.info["reason"] == "wrong answer on test 1"


def test_function_call_style_with_float_tolerance():
    res = code_v("```python\ndef solve(a, b):\n    return a + b\n```", FN)
    assert (res.score, res.correct) == (1.0, True)
    res = code_v("```python\ndef other(a, b):\n    return a + b\n```", FN)
    assert res.score == 0.0 and "not defined" in res.info["reason"]


def test_compile_error_scores_zero():
    res = code_v("```python\ndef broken(:\n```", ADD)
    assert res.score == 0.0 and res.info["reason"].startswith("compile error: SyntaxError")
    assert len(res.info["results"]) == 1  # stops at the first test


def test_timeout_scores_zero():
    res = code_v("```python\nwhile True:\n    pass\n```", ADD, timeout_s=0.5)
    assert res.score == 0.0 and res.info["reason"] == "timeout after 0.5 s on test 0"


def test_total_timeout():
    slow = "```python\nimport time\ntime.sleep(0.4)\nprint(sum(map(int, input().split())))\n```"
    res = code_v(slow, ADD, timeout_s=2, total_timeout_s=0.6)
    assert res.score == 0.0 and res.info["reason"].startswith(("total timeout", "timeout"))


def test_adversarial_programs_score_zero_with_reason():
    cases = {
        "import socket\nsocket.create_connection(('1.1.1.1', 80))": "runtime error: OSError",
        # a fork bomb meets RLIMIT_NPROC: fork raises EAGAIN in whichever process tries past the limit, so
        # the main process either dies of it, or exits while others still run, or loops until the wall limit
        "import os\nwhile True:\n    os.fork()": ("timeout after", "left ", "runtime error: BlockingIOError"),
        "open('/root/rlvr-evil', 'w')": "runtime error: PermissionError",
        "x = ' ' * (4 * 1024**3)": "memory limit exceeded",
    }
    for program, reason in cases.items():
        res = code_v(f"```python\n{program}\n```", {"tests": [{"input": "", "output": "1"}]}, timeout_s=1.5)
        assert res.score == 0.0 and res.info["reason"].startswith(reason), (program, res.info)


def test_packages_a_verifier_allows():
    import pytest

    pytest.importorskip("numpy")
    program = "```python\nimport numpy\nprint(int(numpy.arange(3).sum()))\n```"
    gt = {"tests": [{"input": "", "output": "3"}]}
    assert code_v(program, gt).info["reason"] == "runtime error: ModuleNotFoundError on test 0"
    assert code_v(program, gt, packages=["numpy"]).score == 1.0
