#!/usr/bin/env bash
# The shipped model's SentencePiece tokens for a verse, as a table and as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:-"The LORD is my shepherd; I shall not want."}
build/lingua tokenize -m models/kjv-fortunes-3M-f32.gguf --bos -- "$text"
build/lingua tokenize -m models/kjv-fortunes-3M-f32.gguf --bos --json -- "$text"
