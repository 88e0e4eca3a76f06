import pytest

from rlvr.data.sample import Sample
from rlvr.models.tiny import build_tokenizer
from rlvr.tracking.logger import read_metrics
from rlvr.training.sft import IGNORE, encode_sft, pad_sft, run_sft

from .helpers import tiny_recipe


def test_labels_cover_the_response_and_eos_only():
    tok = build_tokenizer()
    ids, labels = encode_sft(tok, Sample(id="a", prompt="sort 31=", response="13"))
    n_prompt = len("sort 31=")
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert tok.decode(ids[n_prompt:], skip_special_tokens=True) == "13" and ids[-1] == tok.eos_token_id
    batch = pad_sft([(ids, labels), ([5], [IGNORE])], tok.pad_token_id)
    assert batch["attention_mask"].tolist()[1] == [1] + [0] * (len(ids) - 1)


def test_chat_samples_use_the_chat_template():
    tok = build_tokenizer()
    ids, labels = encode_sft(tok, Sample(id="a", messages=[{"role": "user", "content": "hi"}], response="yo"))
    prompt = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab == IGNORE])
    assert prompt == "U:hi\nA:"


def test_a_sample_without_response_is_named():
    with pytest.raises(ValueError, match="SFT sample 'x'.*has no 'response'"):
        encode_sft(build_tokenizer(), Sample(id="x", prompt="p"))


def test_sft_lowers_the_loss_and_saves_a_loadable_model(tmp_path):
    cfg = tiny_recipe(
        tmp_path, "sft.steps=40", "sft.batch_size=32", "sft.micro_batch_size=16", "sft.optim.lr=3e-3"
    )
    out = run_sft(cfg, tmp_path, show_progress=False)
    losses = [r["sft/loss"] for r in read_metrics(tmp_path / "sft_metrics.jsonl")]
    assert len(losses) == 40 and sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()
