"""What the server says about itself, and prompts of an exact token length in its own tokenizer.

Read before a sweep, so a wrong URL or model name fails in a second, not after the first grid point:
``GET /v1/models`` (the names served; llama.cpp adds ``meta`` with parameter count and file size), and
llama.cpp's ``GET /props`` (``build_info`` = engine version, ``total_slots`` = parallel sequences,
``default_generation_settings.n_ctx`` = context per slot). A server without ``/props`` is taken as it is;
the engine and version then come from flags.

Prompts: where the server has llama.cpp's ``/tokenize`` and ``/detokenize``, random words are tokenised,
cut to the length wanted, turned back into text and checked by tokenising again, so every prompt has
exactly that many tokens (plus what the server adds, e.g. BOS; the usage it reports is recorded). Other
servers get the documented approximation of 4 characters per token (OpenAI's rule of thumb for English),
and the prompt length the server reports in ``usage`` is what the rows record. Each request gets its own
prompt (seeded), so no prefix cache turns a prefill into a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from features.errors import ConfigError, SurrogateError

__all__ = ["BenchError", "ServerInfo", "read_server", "PromptMaker", "CHARS_PER_TOKEN"]

CHARS_PER_TOKEN = 4
# Short English words: random sequences of them tokenise into many distinct tokens in any vocabulary.
_WORDS = ("time year people way day man thing woman life child world school state family student group "
          "country problem hand part place case week company system program question work government number "
          "night point home water room mother area money story fact month lot right study book eye job word "
          "business issue side kind head house service friend father power hour game line end member law car "
          "city community name president team minute idea kid body information back parent face others level "
          "office door health person art war history party result change morning reason research girl guy "
          "moment air teacher force education").split()
# Bytes per parameter of a GGUF file -> weight format (llama.cpp types: F32, F16/BF16, Q8_0, Q4_x).
_DTYPE_BY_BYTES = ((3.0, "fp32"), (1.5, "fp16"), (0.8, "int8"), (0.0, "int4"))


class BenchError(SurrogateError):
    """A sweep cannot start or go on (the message says why and what to do)."""


@dataclass(frozen=True)
class ServerInfo:
    base_url: str
    models: tuple[str, ...]
    framework: str | None
    framework_version: str | None
    slots: int | None
    context_per_slot: int | None
    weight_dtype: str | None
    can_tokenize: bool
    props: dict[str, Any]

    @property
    def root_url(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url


def _json(client: httpx.Client, url: str) -> Any | None:
    response = client.get(url)
    if response.status_code == 404 or response.status_code == 501:
        return None
    response.raise_for_status()
    return response.json()


def _weight_dtype(meta: dict[str, Any]) -> str | None:
    params, size = meta.get("n_params"), meta.get("size")
    if not params or not size:
        return None
    per_param = float(size) / float(params)
    return next(dtype for bound, dtype in _DTYPE_BY_BYTES if per_param > bound)


def read_server(base_url: str, model: str, timeout_s: float = 10.0) -> ServerInfo:
    """Ask the server what it serves; :class:`BenchError` when it cannot be reached or lacks ``model``."""
    base_url = base_url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout_s) as client:
            listing = _json(client, f"{base_url}/models")
            root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
            props = _json(client, f"{root}/props") or {}
            can_tokenize = client.post(f"{root}/tokenize", json={"content": "a"}).status_code == 200
    except httpx.ConnectError as exc:
        raise BenchError(f"cannot reach {base_url}: {exc} (is the server running, and is --url its "
                         "OpenAI-compatible base, e.g. http://127.0.0.1:8080/v1?)") from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise BenchError(f"{base_url} does not answer like an OpenAI-compatible server: {exc}") from exc
    entries = (listing or {}).get("data") or []
    models = tuple(str(e.get("id")) for e in entries if isinstance(e, dict))
    if models and model not in models:
        raise ConfigError(f"the server at {base_url} does not serve '{model}'; it serves: {', '.join(models)} "
                          "(pass one of them as --model)")
    meta = next((e.get("meta") or {} for e in entries if isinstance(e, dict) and e.get("id") == model), {})
    build = props.get("build_info")
    settings = props.get("default_generation_settings") or {}
    owned = next((str(e.get("owned_by")) for e in entries if isinstance(e, dict) and e.get("id") == model), "")
    framework = "llama.cpp" if build or owned == "llamacpp" else None
    return ServerInfo(base_url=base_url, models=models, framework=framework,
                      framework_version=str(build) if build else None,
                      slots=int(props["total_slots"]) if props.get("total_slots") else None,
                      context_per_slot=int(settings["n_ctx"]) if settings.get("n_ctx") else None,
                      weight_dtype=_weight_dtype(meta), can_tokenize=can_tokenize, props=props)


class PromptMaker:
    """Prompts of a given token length, a different one for every (seed, length)."""

    def __init__(self, info: ServerInfo, timeout_s: float = 30.0) -> None:
        self.info = info
        self.client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def _words(self, seed: tuple[int, ...], count: int) -> str:
        rng = np.random.default_rng(list(seed))
        return " ".join(rng.choice(_WORDS, size=count))

    def _tokenize(self, text: str) -> list[int]:
        response = self.client.post(f"{self.info.root_url}/tokenize", json={"content": text, "add_special": False})
        response.raise_for_status()
        return [int(t) if not isinstance(t, dict) else int(t["id"]) for t in response.json()["tokens"]]

    def _detokenize(self, tokens: list[int]) -> str:
        response = self.client.post(f"{self.info.root_url}/detokenize", json={"tokens": tokens})
        response.raise_for_status()
        return str(response.json()["content"])

    def prompt(self, tokens: int, seed: tuple[int, ...]) -> str:
        """A prompt of exactly ``tokens`` tokens (server tokenizer) or about that many (approximation)."""
        if not self.info.can_tokenize:
            text = self._words(seed, tokens)
            return text[: tokens * CHARS_PER_TOKEN]
        words = tokens
        for _ in range(8):
            ids = self._tokenize(self._words(seed, words))
            if len(ids) >= tokens:
                break
            words *= 2
        text = self._detokenize(ids[:tokens])
        for _ in range(8):  # a cut inside a merge can re-tokenise differently: trim until exact
            count = len(self._tokenize(text))
            if count == tokens:
                return text
            text = text[:-1] if count > tokens else text + "a"
        raise BenchError(f"could not build a prompt of exactly {tokens} tokens with the server's tokenizer")
