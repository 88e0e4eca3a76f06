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


def test_hf_answerer_answers_from_a_local_model(tmp_path):
    from rlvr.envs.s3.generator import hf_answerer
    from rlvr.models.tiny import TinyModelConfig, save_tiny
    from rlvr.retrieval import Hit

    path = save_tiny(
        TinyModelConfig(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, max_positions=512),
        tmp_path / "m",
    )
    answer = hf_answerer(str(path), max_new_tokens=4)
    out = answer("Where?", [Hit(0, "0", "Paris", "Paris is in France.", 1.0)])
    assert isinstance(out, str) and len(out) <= 4  # greedy, at most 4 one-character tokens
    assert answer("Where?", [Hit(0, "0", "Paris", "Paris is in France.", 1.0)]) == out  # deterministic


def test_openai_answerer_posts_a_greedy_chat_request(monkeypatch):
    import httpx

    from rlvr.envs.s3.generator import openai_answerer, render_context
    from rlvr.retrieval import Hit

    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"choices": [{"message": {"content": " Vienna "}}]})

    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(handler), **kw))
    answer = openai_answerer(base_url="http://gen/v1", model="m")
    docs = [Hit(0, "0", "Vienna", "Vienna is the capital of Austria.", 1.0)]
    assert answer("capital of Austria?", docs) == "Vienna"
    import json

    body = json.loads(seen[0].content)
    assert str(seen[0].url) == "http://gen/v1/chat/completions" and body["temperature"] == 0.0
    assert render_context(docs) in body["messages"][0]["content"]
