"""The main job of the README: classify the movie reviews of Flink's Triton docs on a real Triton.

Starts a local Triton server on the repository's models (unless ``TRITON_ENDPOINT`` names a
running one), sends the reviews as one batched request, and prints the predictions.
"""

from __future__ import annotations

import asyncio
import os
import sys

import numpy as np

from .client import TritonClient
from .options import TritonOptions

# The reviews of Flink's Triton model docs (seed 002), plus English ones.
REVIEWS = [
    (1, "好电影", "这部电影绝对精彩！演技和故事情节都很棒。", "positive"),
    (2, "无聊的电影", "我看到一半就睡着了。非常失望。", "negative"),
    (3, "一般的电影", "还可以，没什么特别的，但也不算糟糕。", "neutral"),
    (4, "Great Film", "This movie was absolutely wonderful, a brilliant cast.", "positive"),
    (5, "Dull Film", "Boring. I fell asleep halfway through. Very disappointing.", "negative"),
    (6, "Average Film", "It was okay, nothing special.", "neutral"),
]


async def classify(endpoint: str) -> list[str]:
    options = TritonOptions.from_map(
        {"endpoint": endpoint, "model-name": "text-classification", "model-version": "1",
         "timeout": "10000", "max-retries": "3"}
    )
    texts = np.array([[r[2]] for r in REVIEWS], dtype=object)
    async with TritonClient(options) as client:
        out = await client.infer({"INPUT_TEXT": texts})
    return [v.decode() for v in out["OUTPUT_TEXT"].reshape(-1)]


def main() -> int:
    endpoint = os.environ.get("TRITON_ENDPOINT")
    server = None
    if not endpoint:
        from .server import TritonServer

        print("Starting a local Triton server (tritonserver from the nvidia-pytriton wheel)...", flush=True)
        server = TritonServer(models=["text-classification"]).start()
        endpoint = server.url + "/v2/models"
    try:
        predicted = asyncio.run(classify(endpoint))
    finally:
        if server is not None:
            server.stop()
    print(f"{'id':>2}  {'movie':<14} {'predicted':<10} {'actual':<10} review")
    for (rid, movie, review, actual), pred in zip(REVIEWS, predicted):
        print(f"{rid:>2}  {movie:<14} {pred:<10} {actual:<10} {review}")
    return 0 if all(p == r[3] for p, r in zip(predicted, REVIEWS)) else 1


if __name__ == "__main__":
    sys.exit(main())
