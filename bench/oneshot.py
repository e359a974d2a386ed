"""Baseline for one-shot latency: what a llama-cpp-python user writes, as a child process.

`python -m bench.oneshot MODEL THREADS N_CTX MAX_TOKENS PROMPT` reads stdin as the material,
loads `llama_cpp.Llama` and prints one chat completion (temperature 0).
"""

from __future__ import annotations

import sys

import llama_cpp


def main(argv: list[str]) -> None:
    model, threads, n_ctx, max_tokens, prompt = argv
    material = sys.stdin.read()
    llama = llama_cpp.Llama(
        model_path=model,
        n_ctx=int(n_ctx),
        n_batch=512,
        n_threads=int(threads),
        n_threads_batch=int(threads),
        verbose=False,
    )
    reply = llama.create_chat_completion(
        [{"role": "user", "content": f"{material}\n\n{prompt}"}],
        max_tokens=int(max_tokens),
        temperature=0.0,
    )
    print(reply["choices"][0]["message"]["content"])  # type: ignore[index]
    llama.close()


if __name__ == "__main__":
    main(sys.argv[1:])
