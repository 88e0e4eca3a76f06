import threading

import pytest

from rlvr.data.sample import RewardSpec
from rlvr.rewards import VERIFIERS, RewardRouter, ScoreRequest, aggregate_metrics

try:  # tests/ may or may not be a package
    from . import rewards_test_helpers as helpers
except ImportError:
    import rewards_test_helpers as helpers

H = helpers.__name__  # verifiers named "<module>:<fn>", importable in spawned workers too


def req(verifier, gt=None, params=None, weight=1.0, completion="x", source="default", tokens=7, key="id:0"):
    return ScoreRequest(completion, RewardSpec(verifier, gt, params or {}, weight), key, tokens, source)


def test_all_builtin_verifiers_are_registered():
    expected = {"math", "exact_match", "f1", "choice", "reasoning_gym", "format", "length", "iou", "detection",
                "code", "random", "incorrect", "format_only", "contains", "combined"}  # fmt: skip
    assert expected <= set(VERIFIERS.names())


def test_weight_and_router_kwargs_only_when_accepted():
    router = RewardRouter()
    echo, kw, plain = router.score(
        [req(f"{H}:echo", weight=0.5), req(f"{H}:with_kwargs"), req(f"{H}:plain", "x")]
    )
    assert echo.score == 0.5 and echo.info["unweighted_score"] == 1.0
    assert (echo.info["tokens"], echo.info["key"]) == (7, "id:0")
    assert kw.info["kwargs"] == ["completion_tokens", "sample_key"]
    assert plain.score == 1.0 and plain.error is None and plain.info["latency_s"] >= 0


def test_builtins_through_the_router():
    router = RewardRouter()
    results = router.score(
        [
            req("math", "1/2", completion=r"\boxed{0.5}"),
            req("random", key="s1:0"),
            req("length", params={"max_len": 10, "cache_len": 4}, tokens=8),
        ]
    )
    assert results[0].correct is True
    assert results[1].score == router.score([req("random", key="s1:0")])[0].score
    assert results[2].score == pytest.approx(-0.5)


def test_errors_are_reported_not_zeroed():
    results = RewardRouter().score(
        [
            req(f"{H}:boom"),
            req(f"{H}:not_a_result"),
            req("no_such_verifier"),
            req("exact_match", "x", params={"typo_param": 1}),
        ]
    )
    assert results[0].error == f"{H}:boom: ValueError: bad input"
    assert "TypeError" in results[1].error and "not a float or a RewardResult" in results[1].error
    assert results[2].error.startswith("no_such_verifier: UnknownNameError: unknown verifier")
    assert "typo_param" in results[3].error
    assert all(r.score == 0.0 and r.correct is None for r in results)


def test_combined_v_triune_accuracy_plus_format():
    spec = {"components": [{"verifier": "math", "weight": 0.9}, {"verifier": "format", "weight": 0.1}]}
    good = "<think>2+2</think>\n<answer>\\boxed{4}</answer>"
    res = RewardRouter().score(
        [req("combined", "4", spec, completion=good), req("combined", "5", spec, completion=good)]
    )
    assert res[0].score == pytest.approx(1.0) and res[0].correct is True
    assert res[1].score == pytest.approx(0.1) and res[1].correct is False
    assert [c["verifier"] for c in res[0].info["components"]] == ["math", "format"]


def test_combined_correct_from_first_component_with_one_and_errors():
    spec = {
        "components": [{"verifier": "format"}, {"verifier": "random"}, {"verifier": "math", "weight": 0.0}]
    }
    res = RewardRouter().score([req("combined", "3", spec, completion=r"\boxed{3}")])[0]
    assert res.correct is True  # format and random have no notion of correct; math (weight 0) does
    length = {
        "components": [
            {"verifier": "math"},
            {"verifier": "length", "params": {"max_len": 10, "cache_len": 4}},
        ]
    }
    res = RewardRouter().score([req("combined", "3", length, completion=r"\boxed{3}", tokens=20)])[0]
    assert res.score == pytest.approx(0.0)  # 1 - 1
    bad = {"components": [{"verifier": "format"}, {"verifier": f"{H}:boom"}]}
    res = RewardRouter().score([req("combined", None, bad)])[0]
    assert res.error == f"combined/{H}:boom: ValueError: bad input" and res.score == 0.0
    typo = {"components": [{"verifier": "format", "wieght": 2}]}
    assert "wieght" in RewardRouter().score([req("combined", None, typo)])[0].error


def test_in_process_router_off_the_main_thread():
    out = []
    t = threading.Thread(
        target=lambda: out.extend(RewardRouter().score([req("math", "2", completion=r"\boxed{2}")]))
    )
    t.start()
    t.join(60)
    assert out[0].correct is True and out[0].error is None


def test_aggregate_metrics():
    reqs = [
        req("math", "1", completion=r"\boxed{1}", source="gsm"),
        req("math", "1", completion=r"\boxed{2}", source="gsm"),
        req(f"{H}:boom", source="gsm"),
        req("iou", [0, 0, 10, 10], completion="[0,0,10,5]", source="refcoco"),
        req("format", source="refcoco"),
    ]
    results = RewardRouter().score(reqs)
    m = aggregate_metrics(reqs, results)
    assert m["data_source/gsm/count"] == 3 and m["data_source/gsm/error_count"] == 1
    assert m["data_source/gsm/reward_mean"] == 0.5 and m["data_source/gsm/accuracy"] == 0.5
    assert m["verifier/math/accuracy"] == 0.5 and m["verifier/format/reward_mean"] == 0.0
    assert "verifier/format/accuracy" not in m  # no result has a notion of correct
    assert m["data_source/refcoco/iou@0.5"] == 1.0 and m["data_source/refcoco/iou@0.75"] == 0.0
    assert m["all/count"] == 5 and m["all/timeout_count"] == 0 and m["all/latency_mean_s"] >= 0


def test_process_pool_timeout_crash_and_recovery():
    reqs = [
        req(f"{H}:plain", "x"),
        req(f"{H}:sleepy", params={"seconds": 30}),
        req("math", "2", completion=r"\boxed{2}"),
        req(f"{H}:crash"),
        req(f"{H}:boom"),
        req(f"{H}:echo", key="k:1"),
    ]
    with RewardRouter(max_workers=2, timeout_s=2.0) as router:
        results = router.score(reqs)
        assert results[0].correct is True
        assert results[1].error == "timeout after 2 s" and results[1].info["timeout"] is True
        assert results[2].correct is True and results[2].error is None
        assert results[3].error == f"{H}:crash: worker process died"
        assert results[4].error == f"{H}:boom: ValueError: bad input"
        assert results[5].info["key"] == "k:1"
        m = aggregate_metrics(reqs, results)
        assert m["all/timeout_count"] == 1 and m["all/error_count"] == 3
        again = router.score([req(f"{H}:plain", "x")])  # the recreated pool still works
        assert again[0].correct is True
