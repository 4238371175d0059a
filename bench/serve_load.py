#!/usr/bin/env python3
"""Drives an OpenAI-compatible server with N concurrent completions and prints the total tokens/s.

usage: serve_load.py URL STREAMS TOKENS [ROUNDS]
Each request: prompt "Once upon a time", max_tokens TOKENS, temperature 0, ignore_eos (Lingua and
llama-server both honour it), not streamed; tokens counted from each answer's usage. Prints one
JSON line: streams, tokens per stream, seconds (median of ROUNDS), total tokens/s.
"""
import json
import statistics
import sys
import threading
import time
import urllib.request


def one(url, tokens, out, i):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": tokens, "temperature": 0,
                       "ignore_eos": True}).encode()
    req = urllib.request.Request(url + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        out[i] = json.load(r)["usage"]["completion_tokens"]


def round_once(url, streams, tokens):
    out = [0] * streams
    threads = [threading.Thread(target=one, args=(url, tokens, out, i)) for i in range(streams)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    if min(out) != tokens:
        sys.exit(f"a request gave {min(out)} tokens, not {tokens}")
    return seconds, sum(out)


def main():
    url, streams, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    round_once(url, 1, 4)  # warm-up: weights paged in, threads started
    results = [round_once(url, streams, tokens) for _ in range(rounds)]
    seconds = statistics.median(s for s, _ in results)
    total = results[0][1]
    print(json.dumps({"streams": streams, "tokens": tokens, "seconds": round(seconds, 3),
                      "tokens_per_s": round(total / seconds, 2)}))


if __name__ == "__main__":
    main()
