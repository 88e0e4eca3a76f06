"""A chat model behind an OpenAI-compatible endpoint, for environments that talk to a frozen model (s3's
generator, ToMAP's persuadee): a batch of message lists in, a batch of greedy replies out."""

from __future__ import annotations

import os
from collections.abc import Callable

Messages = list[dict[str, str]]
Chat = Callable[[list[Messages]], list[str]]


def openai_chat(
    base_url: str,
    model: str,
    api_key_env: str = "OPENAI_API_KEY",
    max_tokens: int = 512,
    timeout_s: float = 120.0,
) -> Chat:
    """Greedy replies from ``POST {base_url}/chat/completions`` (vLLM, SGLang, hosted), one request a
    conversation; the key is read from ``api_key_env`` (``EMPTY`` when unset, as local servers expect)."""
    import httpx

    headers = {"Authorization": f"Bearer {os.environ.get(api_key_env, 'EMPTY')}"}
    client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    def chat(batch: list[Messages]) -> list[str]:
        replies = []
        for messages in batch:
            body = {"model": model, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens}
            response = client.post("/chat/completions", json=body)
            response.raise_for_status()
            replies.append(str(response.json()["choices"][0]["message"]["content"]))
        return replies

    return chat
