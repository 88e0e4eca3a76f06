"""Row formats: how one dict (a JSONL line, a Parquet row, a Hugging Face example) becomes a Sample.

Three formats:

* **rlvr native** (no mapping): ``{"id", "prompt" | "messages", "data_source", "reward": {"verifier",
  "ground_truth", "params", "weight"}, "response", "metadata"}``; what :func:`~rlvr.data.save_jsonl`
  writes.
* **mapped** (:class:`FieldMapping`): arbitrary rows, e.g. GSM8K's ``{"question", "answer"}``.
* **verl** (:class:`VerlMapping`): verl-style rows ``{"data_source", "prompt" (chat messages),
  "ability", "reward_model": {"style", "ground_truth"}, "extra_info"}``, including V-Triune rows whose
  ``reward_model`` names a verifier and accuracy / format ratios.

Each converter takes ``(row, source, row_num, id_prefix)`` and raises
:class:`~rlvr.data.errors.DataFormatError` naming the source, the row and the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rlvr.data.errors import DataFormatError, row_error
from rlvr.data.images import check_placeholders, count_placeholders, image_to_row, images_from_row
from rlvr.data.sample import EnvSpec, RewardSpec, Sample

RowConverter = Callable[[dict[str, Any], str, int, str], Sample]
"""(row, source name, 1-based row number, prefix for generated ids) -> Sample."""

_MISSING = object()


class FieldMapping(BaseModel):
    """Which fields of an arbitrary row hold the prompt, the answer and the rest.

    Keys may be dotted paths into nested dicts (``"reward_model.ground_truth"``). The GSM8K rows
    ``{"question", "answer": "... #### 72"}`` map with :meth:`gsm8k`.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    prompt_key: str | None = "prompt"
    """Field holding the prompt text (a string). Used when ``messages_key`` is unset or absent from a row."""
    messages_key: str | None = None
    """Field holding chat messages (a list of ``{"role", "content"}``); takes precedence over ``prompt_key``."""
    answer_key: str | None = "answer"
    """Field holding the ground truth; None for rows without one (e.g. SFT-only data)."""
    answer_transform: Literal["gsm8k_final"] | None = None
    """How to turn the answer field into the ground truth: ``gsm8k_final`` keeps what follows ``####``
    (commas removed); None keeps it as is."""
    id_key: str | None = None
    """Field holding a unique row id; None generates ``<file stem>-<row number>``."""
    data_source: str = "default"
    """Constant data source name (used for per-source metrics) when ``data_source_key`` is unset."""
    data_source_key: str | None = None
    """Field holding the data source name; overrides ``data_source``."""
    verifier: str = "exact_match"
    """Registered verifier name (or ``module:attr``) that scores every row."""
    verifier_params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to the verifier."""
    reward_weight: float = 1.0
    """Weight of the verifier's score in the total reward."""
    response_key: str | None = None
    """Field holding a reference completion (used by SFT); None for none."""
    system_prompt: str | None = None
    """A system message; when set, the prompt is sent as chat messages ``[system, user]``."""
    prompt_template: str = "{prompt}"
    """Template applied to the prompt text; ``{prompt}`` is replaced by it (other braces are literal)."""
    as_messages: bool = False
    """Send a text prompt as a single user message instead of plain text."""
    metadata_keys: list[str] | None = None
    """Fields copied into ``Sample.metadata``; None copies every field not used above."""

    @field_validator("prompt_template")
    @classmethod
    def _has_placeholder(cls, v: str) -> str:
        if "{prompt}" not in v:
            raise ValueError(f"prompt_template must contain '{{prompt}}', got {v!r}")
        return v

    @classmethod
    def gsm8k(cls, **overrides: Any) -> FieldMapping:
        """The mapping for GSM8K rows ``{"question", "answer": "<solution> #### <number>"}``."""
        base: dict[str, Any] = {
            "prompt_key": "question",
            "answer_key": "answer",
            "answer_transform": "gsm8k_final",
            "data_source": "gsm8k",
            "verifier": "math",
        }
        return cls(**(base | overrides))


class VerlMapping(BaseModel):
    """How verl-style rows pick their verifier and ids.

    A row's verifier is ``verifiers[data_source]`` if listed, else ``math_verifier`` when the data
    source contains one of ``math_keywords`` (case-insensitive), else ``default_verifier``. V-Triune rows
    (``reward_model.verifier`` set) name their own verifier, renamed through ``verifier_aliases``.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    verifiers: dict[str, str] = Field(default_factory=dict)
    """Exact ``data_source`` -> verifier name, checked first."""
    math_keywords: list[str] = Field(default_factory=lambda: ["gsm8k", "math", "aime"])
    """Substrings of ``data_source`` that select ``math_verifier``."""
    math_verifier: str = "math"
    """Verifier for math data sources."""
    default_verifier: str = "exact_match"
    """Verifier for every other data source."""
    verifier_aliases: dict[str, str] = Field(default_factory=dict)
    """V-Triune verifier name -> rlvr verifier name (e.g. ``{"mathverify": "math"}``)."""
    format_verifier: str = "format"
    """Verifier of the format component of V-Triune rows naming a verifier other than the official ones
    (weighted by ``format_ratio``)."""
    official_verifiers: dict[str, str] = Field(
        default_factory=lambda: {"mathverify": "vtriune_math", "detection": "vtriune_detection"}
    )
    """V-Triune verifier name -> rlvr verifier that computes the official server's final reward itself
    (accuracy and format, ``(a * acc + f * fmt) / (a + f)``); the row's ``verifier_parm``,
    ``accuracy_ratio`` and ``format_ratio`` become its parameters. ``verifier_aliases`` come first."""
    id_key: str | None = "index"
    """Key in ``extra_info`` that numbers rows; the id is ``<data_source>-<split>-<index>``. None, or a
    row without it, gives ``<file stem>-<row number>``."""

    def verifier_for(self, data_source: str) -> str:
        if data_source in self.verifiers:
            return self.verifiers[data_source]
        lowered = data_source.lower()
        if any(k.lower() in lowered for k in self.math_keywords):
            return self.math_verifier
        return self.default_verifier


# --------------------------------------------------------------------------------------------------
# helpers


def _lookup(row: dict[str, Any], key: str) -> Any:
    """``row[key]``, or a walk down a dotted path; ``_MISSING`` when absent."""
    if key in row:
        return row[key]
    node: Any = row
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _type_name(v: Any) -> str:
    return type(v).__name__


def _check_messages(value: Any, field: str, source: str, row_num: int) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise row_error(
            source,
            row_num,
            f"field '{field}' must be a non-empty list of chat messages, got {_type_name(value)}",
        )
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise row_error(
                source,
                row_num,
                f"field '{field}' item {i} must be a dict with 'role' and 'content', got {m!r:.200}",
            )
    return [dict(m) for m in value]


def _check_str(value: Any, field: str, source: str, row_num: int) -> str:
    if not isinstance(value, str):
        raise row_error(source, row_num, f"field '{field}' must be a string, got {_type_name(value)}")
    return value


def _check_dict(value: Any, field: str, source: str, row_num: int) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise row_error(source, row_num, f"field '{field}' must be a dict, got {_type_name(value)}")
    return dict(value)


def _make_sample(source: str, row_num: int, **kwargs: Any) -> Sample:
    try:
        return Sample(**kwargs)
    except (TypeError, ValueError) as exc:
        raise row_error(source, row_num, str(exc)) from exc


def gsm8k_final_answer(answer: str) -> str:
    """The number after GSM8K's ``####`` marker, commas removed (``"... #### 1,200"`` -> ``"1200"``)."""
    if "####" not in answer:
        raise ValueError("has no '#### <final answer>' marker")
    final = answer.rsplit("####", 1)[1].strip().replace(",", "")
    if not final:
        raise ValueError("has nothing after its '####' marker")
    return final


# --------------------------------------------------------------------------------------------------
# rlvr native rows

NATIVE_FIELDS = ("id", "prompt", "messages", "data_source", "reward", "response", "metadata", "env", "images")
ENV_FIELDS = ("name", "params", "max_turns")
REWARD_FIELDS = ("verifier", "ground_truth", "params", "weight")


def sample_to_row(sample: Sample) -> dict[str, Any]:
    """A Sample as a native row (the inverse of :func:`native_row_to_sample`).

    Every field is present (the unset one of prompt / messages as None), so rows written to Arrow
    (``pa.Table.from_pylist``, ``datasets.Dataset.from_list``) share one schema.
    """
    row = dataclasses.asdict(dataclasses.replace(sample, images=[]))
    row["images"] = [image_to_row(ref) for ref in sample.images]
    return row


def _native_reward(value: Any, source: str, row_num: int) -> RewardSpec:
    if value is None:
        return RewardSpec(verifier="exact_match")
    if not isinstance(value, dict):
        raise row_error(source, row_num, f"field 'reward' must be a dict, got {_type_name(value)}")
    unknown = sorted(set(value) - set(REWARD_FIELDS))
    if unknown:
        raise row_error(
            source,
            row_num,
            f"field 'reward.{unknown[0]}' is not a reward field; expected {', '.join(REWARD_FIELDS)}",
        )
    if not isinstance(value.get("verifier"), str) or not value["verifier"]:
        raise row_error(source, row_num, "field 'reward.verifier' missing; expected a verifier name (string)")
    weight = value.get("weight")
    if weight is None:
        weight = 1.0
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise row_error(source, row_num, f"field 'reward.weight' must be a number, got {_type_name(weight)}")
    return RewardSpec(
        verifier=value["verifier"],
        ground_truth=value.get("ground_truth"),
        params=_check_dict(value.get("params"), "reward.params", source, row_num),
        weight=float(weight),
    )


def _native_env(value: Any, source: str, row_num: int) -> EnvSpec | None:
    """The row's multi-turn environment ``{name, params, max_turns}``, or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise row_error(source, row_num, f"field 'env' must be a dict, got {_type_name(value)}")
    unknown = sorted(set(value) - set(ENV_FIELDS))
    if unknown:
        raise row_error(
            source, row_num, f"field 'env.{unknown[0]}' is not an env field; expected {', '.join(ENV_FIELDS)}"
        )
    if not isinstance(value.get("name"), str) or not value["name"]:
        raise row_error(source, row_num, "field 'env.name' missing; expected an environment name (string)")
    turns = value.get("max_turns")
    turns = 4 if turns is None else turns
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise row_error(source, row_num, f"field 'env.max_turns' must be an integer >= 1, got {turns!r}")
    return EnvSpec(value["name"], _check_dict(value.get("params"), "env.params", source, row_num), turns)


def native_row_to_sample(row: dict[str, Any], source: str, row_num: int, id_prefix: str) -> Sample:
    """A native rlvr row -> Sample. ``None`` counts as absent (Parquet fills missing struct fields)."""
    unknown = sorted(set(row) - set(NATIVE_FIELDS))
    if unknown:
        raise row_error(
            source,
            row_num,
            f"field '{unknown[0]}' is not an rlvr row field; expected {', '.join(NATIVE_FIELDS)} "
            "(put extra fields under 'metadata', or load with a FieldMapping)",
        )
    prompt, messages = row.get("prompt"), row.get("messages")
    if prompt is None and messages is None:
        raise row_error(source, row_num, "field 'prompt' missing; expected one of 'prompt' or 'messages'")
    if prompt is not None and messages is not None:
        raise row_error(source, row_num, "fields 'prompt' and 'messages' both set; expected only one")
    if prompt is not None:
        _check_str(prompt, "prompt", source, row_num)
    else:
        messages = _check_messages(messages, "messages", source, row_num)
    sample_id = row.get("id")
    sample_id = f"{id_prefix}-{row_num}" if sample_id is None else str(sample_id)
    response = row.get("response")
    if response is not None:
        _check_str(response, "response", source, row_num)
    data_source = row.get("data_source")
    images = images_from_row(row.get("images"), source, row_num)
    check_placeholders(count_placeholders(messages, prompt), len(images), source, row_num)
    return _make_sample(
        source,
        row_num,
        images=images,
        id=sample_id,
        prompt=prompt,
        messages=messages,
        data_source="default"
        if data_source is None
        else _check_str(data_source, "data_source", source, row_num),
        reward=_native_reward(row.get("reward"), source, row_num),
        response=response,
        metadata=_check_dict(row.get("metadata"), "metadata", source, row_num),
        env=_native_env(row.get("env"), source, row_num),
    )


# --------------------------------------------------------------------------------------------------
# mapped rows


def _mapped_prompt(
    row: dict[str, Any], m: FieldMapping, source: str, row_num: int
) -> tuple[str | None, list[dict[str, Any]] | None, set[str]]:
    if m.messages_key is not None:
        value = _lookup(row, m.messages_key)
        if value is not _MISSING and value is not None:
            messages = _check_messages(value, m.messages_key, source, row_num)
            if m.system_prompt is not None and messages[0]["role"] != "system":
                messages = [{"role": "system", "content": m.system_prompt}, *messages]
            return None, messages, {m.messages_key}
    if m.prompt_key is None:
        raise row_error(source, row_num, f"field '{m.messages_key}' missing; expected chat messages")
    value = _lookup(row, m.prompt_key)
    if value is _MISSING or value is None:
        expected = f"'{m.prompt_key}'" + (f" or '{m.messages_key}'" if m.messages_key else "")
        raise row_error(source, row_num, f"field '{m.prompt_key}' missing; expected one of {expected}")
    text = m.prompt_template.replace("{prompt}", _check_str(value, m.prompt_key, source, row_num))
    if m.system_prompt is None and not m.as_messages:
        return text, None, {m.prompt_key}
    messages = [{"role": "user", "content": text}]
    if m.system_prompt is not None:
        messages.insert(0, {"role": "system", "content": m.system_prompt})
    return None, messages, {m.prompt_key}


def _mapped_answer(row: dict[str, Any], m: FieldMapping, source: str, row_num: int) -> Any:
    if m.answer_key is None:
        return None
    value = _lookup(row, m.answer_key)
    if value is _MISSING:
        raise row_error(source, row_num, f"field '{m.answer_key}' missing; expected the ground-truth answer")
    if m.answer_transform == "gsm8k_final":
        text = _check_str(value, m.answer_key, source, row_num)
        try:
            return gsm8k_final_answer(text)
        except ValueError as exc:
            raise row_error(source, row_num, f"field '{m.answer_key}' {exc}: {text[-80:]!r}") from None
    return value


def mapped_row_to_sample(
    row: dict[str, Any], mapping: FieldMapping, source: str, row_num: int, id_prefix: str
) -> Sample:
    """An arbitrary row -> Sample, following ``mapping``."""
    m = mapping
    prompt, messages, used = _mapped_prompt(row, m, source, row_num)
    ground_truth = _mapped_answer(row, m, source, row_num)
    optional = {"id": m.id_key, "data_source": m.data_source_key, "response": m.response_key}
    values: dict[str, Any] = {}
    for name, key in optional.items():
        if key is None:
            continue
        value = _lookup(row, key)
        if value is _MISSING or value is None:
            raise row_error(source, row_num, f"field '{key}' missing; expected the row's {name}")
        values[name] = value if name == "id" else _check_str(value, key, source, row_num)
    used |= {k for k in (m.answer_key, *optional.values()) if k is not None}
    used |= {k.split(".", 1)[0] for k in used}  # a dotted key uses its top-level field
    keys = m.metadata_keys if m.metadata_keys is not None else [k for k in row if k not in used]
    metadata = {}
    for key in keys:
        value = _lookup(row, key)
        if value is _MISSING:
            raise row_error(source, row_num, f"field '{key}' missing; listed in metadata_keys")
        metadata[key] = value
    return _make_sample(
        source,
        row_num,
        id=str(values.get("id", f"{id_prefix}-{row_num}")),
        prompt=prompt,
        messages=messages,
        data_source=values.get("data_source", m.data_source),
        reward=RewardSpec(m.verifier, ground_truth, dict(m.verifier_params), m.reward_weight),
        response=values.get("response"),
        metadata=metadata,
    )


# --------------------------------------------------------------------------------------------------
# verl rows

VERL_FIELDS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


def _verl_reward(
    rm: dict[str, Any], data_source: str, m: VerlMapping, source: str, row_num: int
) -> RewardSpec:
    if rm.get("verifier") is not None:  # V-Triune: the row names its verifier and the ratios
        truth = rm.get("ground_truth")
        if truth is None:
            truth = rm.get("answer")
        if truth is None:
            raise row_error(
                source,
                row_num,
                "field 'reward_model.ground_truth' missing; expected 'ground_truth' or 'answer'",
            )
        verifier = _check_str(rm["verifier"], "reward_model.verifier", source, row_num)
        ratios = {}
        for key, default in (("accuracy_ratio", 1.0), ("format_ratio", 0.1)):  # the server's defaults
            value = rm.get(key)
            value = default if value is None else value
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise row_error(
                    source, row_num, f"field 'reward_model.{key}' must be a number >= 0, got {value!r}"
                )
            ratios[key] = float(value)
        params = _check_dict(rm.get("verifier_parm"), "reward_model.verifier_parm", source, row_num)
        if verifier not in m.verifier_aliases and verifier in m.official_verifiers:
            return RewardSpec(m.official_verifiers[verifier], truth, {**params, **ratios})
        total = ratios["accuracy_ratio"] + ratios["format_ratio"]
        if total <= 0:
            raise row_error(source, row_num, "reward_model: accuracy_ratio + format_ratio must be positive")
        components = [  # the official final reward (a * acc + f * fmt) / (a + f)
            {
                "verifier": m.verifier_aliases.get(verifier, verifier),
                "weight": ratios["accuracy_ratio"] / total,
                "params": params,
            },
            {"verifier": m.format_verifier, "weight": ratios["format_ratio"] / total, "params": {}},
        ]
        return RewardSpec("combined", truth, {"components": components})
    if "ground_truth" not in rm:
        raise row_error(source, row_num, "field 'reward_model.ground_truth' missing; expected the answer")
    return RewardSpec(m.verifier_for(data_source), rm["ground_truth"])


def verl_row_to_sample(
    row: dict[str, Any], mapping: VerlMapping, source: str, row_num: int, id_prefix: str
) -> Sample:
    """A verl-style row -> Sample. Columns other than verl's own go into metadata."""
    for key in ("data_source", "prompt", "reward_model"):
        if row.get(key) is None:
            raise row_error(
                source, row_num, f"field '{key}' missing; expected a verl row with {', '.join(VERL_FIELDS)}"
            )
    data_source = _check_str(row["data_source"], "data_source", source, row_num)
    prompt = row["prompt"]
    messages = None
    if not isinstance(prompt, str):
        messages, prompt = _check_messages(prompt, "prompt", source, row_num), None
    rm = _check_dict(row["reward_model"], "reward_model", source, row_num)
    reward = _verl_reward(rm, data_source, mapping, source, row_num)
    extra = _check_dict(row.get("extra_info"), "extra_info", source, row_num)
    metadata = dict(extra)
    if row.get("ability") is not None:
        metadata["ability"] = row["ability"]
    if rm.get("style") is not None:
        metadata["reward_style"] = rm["style"]
    metadata |= {k: v for k, v in row.items() if k not in VERL_FIELDS and k != "images"}
    images = images_from_row(row.get("images"), source, row_num)
    check_placeholders(count_placeholders(messages, prompt), len(images), source, row_num)
    index = extra.get(mapping.id_key) if mapping.id_key is not None else None
    if index is None:
        sample_id = f"{id_prefix}-{row_num}"
    else:
        split = extra.get("split")
        sample_id = f"{data_source}-{split}-{index}" if split is not None else f"{data_source}-{index}"
    return _make_sample(
        source,
        row_num,
        id=sample_id,
        prompt=prompt,
        messages=messages,
        data_source=data_source,
        reward=reward,
        metadata=metadata,
        images=images,
    )


def converter_for(mapping: FieldMapping | VerlMapping | None) -> RowConverter:
    """The row converter for a mapping: None -> native rows."""
    if mapping is None:
        return native_row_to_sample
    if isinstance(mapping, FieldMapping):
        return lambda row, source, n, prefix: mapped_row_to_sample(row, mapping, source, n, prefix)
    if isinstance(mapping, VerlMapping):
        return lambda row, source, n, prefix: verl_row_to_sample(row, mapping, source, n, prefix)
    raise TypeError(f"mapping must be a FieldMapping, a VerlMapping or None, got {_type_name(mapping)}")


__all__ = [
    "DataFormatError",
    "FieldMapping",
    "VerlMapping",
    "converter_for",
    "gsm8k_final_answer",
    "mapped_row_to_sample",
    "native_row_to_sample",
    "sample_to_row",
    "verl_row_to_sample",
]
