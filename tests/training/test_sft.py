import copy

import pytest
import torch

from rlvr.data.sample import Sample
from rlvr.models.tiny import TinyModelConfig, build_tiny_model, build_tokenizer
from rlvr.tracking.logger import read_metrics
from rlvr.training.sft import IGNORE, encode_sft, pad_sft, run_sft, sft_loss

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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_loss_and_its_gradient_are_the_plain_cross_entropys(dtype):
    """``sft_loss`` (chunked log-softmax over the model's own logits, the gradient written over them)
    against ``F.cross_entropy`` over float32 logits with ``ignore_index``: the same loss and gradient."""
    tok = build_tokenizer()
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, max_positions=64)
    model = build_tiny_model(cfg, tok).to(dtype)
    g = torch.Generator().manual_seed(0)
    rows = []
    for n_prompt, n_response in [(3, 4), (5, 1), (2, 6)]:
        ids = torch.randint(4, 90, (n_prompt + n_response,), generator=g).tolist()
        rows.append((ids, [IGNORE] * n_prompt + ids[n_prompt:]))
    batch = pad_sft(rows, tok.pad_token_id)
    n = int((batch["labels"] != IGNORE).sum())

    loss = sft_loss(model, batch, n)
    loss.backward()
    plain = copy.deepcopy(model)
    plain.zero_grad(set_to_none=True)
    logits = plain(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE,
        reduction="sum",
    ) / n  # fmt: skip
    ce.backward()

    torch.testing.assert_close(loss, ce, rtol=1e-5, atol=1e-5)
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    for (name, a), b in zip(model.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad.float(), b.grad.float(), rtol=tol, atol=tol, msg=name)
