"""The baseline: a minimal greedy loop written directly on llama_cpp's low-level API.

Run as a child process: `python -m bench.rawloop MODEL PROMPT_FILE N_NEW THREADS N_CTX`.
It loads the model with the context settings `llm` uses (n_ctx, n_batch = n_ubatch = 512,
same threads, flash attention off), evaluates the prompt in n_batch chunks with
`llama_decode`, then generates N_NEW tokens by argmax over the logits (never stopping at
end-of-generation), and prints JSON: prompt tokens and seconds, generated tokens and
seconds, and the time of each generated token.
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from pathlib import Path

import llama_cpp
import numpy as np

N_BATCH = 512


@llama_cpp.llama_log_callback  # type: ignore[misc, untyped-decorator]
def _quiet(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    pass


def _load(model_path: str, threads: int, n_ctx: int) -> tuple[object, object]:
    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = n_ctx
    cparams.n_batch = cparams.n_ubatch = min(N_BATCH, n_ctx)
    cparams.n_threads = cparams.n_threads_batch = threads
    cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    return model, llama_cpp.llama_init_from_model(model, cparams)


def _tokenize(vocab: object, text: str) -> list[int]:
    data = text.encode("utf-8")
    buf = (llama_cpp.llama_token * (len(data) + 16))()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, len(buf), True, True)
    return list(buf[:n])


def _decode(ctx: object, tokens: list[int]) -> None:
    arr = (llama_cpp.llama_token * len(tokens))(*tokens)
    if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(tokens))) != 0:
        raise RuntimeError("llama_decode failed")


def main(argv: list[str]) -> None:
    model_path, prompt_file, n_new, threads, n_ctx = argv
    model, ctx = _load(model_path, int(threads), int(n_ctx))
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    tokens = _tokenize(vocab, Path(prompt_file).read_text(encoding="utf-8"))
    start = time.perf_counter()
    for i in range(0, len(tokens), N_BATCH):
        _decode(ctx, tokens[i : i + N_BATCH])
    prompt_s = time.perf_counter() - start
    stamps: list[float] = []
    gen_start = time.perf_counter()
    for _ in range(int(n_new)):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        _decode(ctx, [int(logits.argmax())])
        stamps.append(time.perf_counter() - gen_start)
    json.dump(
        {
            "prompt_tokens": len(tokens),
            "prompt_s": prompt_s,
            "generated_tokens": int(n_new),
            "gen_s": stamps[-1] if stamps else 0.0,
            "stamps": stamps,
        },
        sys.stdout,
    )
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)


if __name__ == "__main__":
    main(sys.argv[1:])
