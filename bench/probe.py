"""Our side of the streaming checks, run as a child process: LlamaEngine in-process.

`python -m bench.probe stream MODEL N_NEW THREADS N_CTX` streams N_NEW tokens through
`LlamaEngine.stream` (the `llm run` path) with end-of-generation ignored, so the output is
exactly N_NEW tokens long, and prints the time of each chunk.

`python -m bench.probe detok MODEL N_TOKENS` feeds a long token stream of multi-byte text
(CJK, emoji: pieces that end mid-character) through our detokenizer (`_piece` + incremental
UTF-8 decoder + StopFilter) and prints the time of each token: it must stay flat.
"""

from __future__ import annotations

import codecs
import json
import sys
import time
from pathlib import Path

from llmcli.engine import Chunk, EngineParams, GenerationOptions, Message
from llmcli.engine.llama import LlamaEngine
from llmcli.engine.stopfilter import StopFilter

MULTIBYTE = "東京の夜は静かだ。🌊🐚 La mer, déjà vue. Море спокойное. 海は広いな大きいな。🎐 "


def _stream(model: str, n_new: int, threads: int, n_ctx: int) -> dict[str, object]:
    import llama_cpp

    llama_cpp.llama_vocab_is_eog = lambda vocab, token: False  # exactly n_new tokens
    engine = LlamaEngine.load(EngineParams(Path(model), n_ctx=n_ctx, threads=threads))
    try:
        messages = [Message("user", "Write a very long essay about the history of the sea.")]
        options = GenerationOptions(temperature=0.0, seed=42, max_tokens=n_new)
        stamps: list[float] = []
        start = time.perf_counter()
        for event in engine.stream(messages, options):
            if isinstance(event, Chunk):
                stamps.append(time.perf_counter() - start)
            else:
                stats = event
        return {
            "generated_tokens": stats.generated_tokens,
            "ttft_s": stats.ttft_s,
            "stamps": stamps,
        }
    finally:
        engine.close()


def _detok(model: str, n_tokens: int) -> dict[str, object]:
    engine = LlamaEngine.load(EngineParams(Path(model), n_ctx=512, threads=1))
    try:
        tokens: list[int] = []
        while len(tokens) < n_tokens:
            tokens += engine.tokenize(MULTIBYTE)
        tokens = tokens[:n_tokens]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopFilter(["<|im_end|>", "\n\nUser:"])
        stamps: list[float] = []
        out: list[str] = []
        start = time.perf_counter()
        for token in tokens:  # the per-token work of LlamaEngine._stream_tokens
            out.append(stops.feed(decoder.decode(engine._piece(token))))
            stamps.append(time.perf_counter() - start)
        text = "".join(out) + stops.flush()
        return {"tokens": len(tokens), "stamps": stamps, "chars": len(text)}
    finally:
        engine.close()


def main(argv: list[str]) -> None:
    mode, model, *rest = argv
    if mode == "stream":
        result = _stream(model, int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        result = _detok(model, int(rest[0]))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
