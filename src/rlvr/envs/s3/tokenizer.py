"""A word-level tokenizer for a tiny searcher in the synthetic world: one token per word of the world's
documents and questions, per digit, per space and per punctuation mark.

A character-level tiny model has to copy a name letter by letter to search for it, over contexts of
300-700 characters; on this CPU it did not learn to within 400 SFT steps (docs/s3.md). Here a name is
one token with the space before it (" Quenby" in "born in Quenby." and in the scripted query
"<query> Quenby</query>", whose space the env strips), and an episode is ~4x shorter. Decoding concatenates the tokens, so every text
made of known words round-trips exactly; an unknown word becomes ``<unk>`` (the model cannot write one).

    model: {tiny: {tokenizer: "rlvr.envs.s3.tokenizer:world_tokenizer", ...}}
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.data.multihop import build_world
from rlvr.envs.s3.env import REMINDER
from rlvr.envs.s3.prompt import INSTRUCTIONS
from rlvr.models.tiny import CHAT_TEMPLATE, DEFAULT_ALPHABET, SPECIAL_TOKENS

PIECES = r" ?[A-Za-z]+|[0-9]|\s|[^A-Za-z0-9\s]"
"""How text splits into tokens: a run of letters with the space before it, a digit, one whitespace
character, one other character."""
_EXTRA = [
    INSTRUCTIONS,
    REMINDER,
    "<question> </question> <information> </information> <query> </query> <important_info>",
    "</important_info> <search_complete>True</search_complete> False <think> </think> Doc Title query",
]


def world_vocabulary(world: dict[str, Any]) -> list[str]:
    """Every piece of the world's docs and questions and of the s3 prompts and tags, in first-seen order,
    each word also with and without a space before it, then the characters of the default alphabet."""
    built = build_world(**world)
    texts = [f"{t} {b}" for t, b in built.docs] + [q.question for q in built.questions] + _EXTRA
    pieces = [p for text in texts for p in re.findall(PIECES, text)]
    words = [w for p in pieces if (w := p.strip()).isalpha()]  # each word with and without its space
    return list(dict.fromkeys([*pieces, *(f for w in words for f in (w, " " + w)), *DEFAULT_ALPHABET]))


def world_tokenizer(
    seed: int = 0, people: int = 1000, cities: int = 100, nations: int = 8, filler: bool = False
) -> Any:
    """A ``PreTrainedTokenizerFast`` over :func:`world_vocabulary` of the world ``build_world(seed,
    people, cities, nations, filler)`` (the defaults are recipes/tiny/s3.yaml's world)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    world = {"seed": seed, "people": people, "cities": cities, "nations": nations, "filler": filler}
    specials = list(SPECIAL_TOKENS.values())
    vocab = {
        tok: i for i, tok in enumerate(specials + [w for w in world_vocabulary(world) if w not in specials])
    }
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(PIECES), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS)
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok
