#!/usr/bin/env bash
# The README's first command: set up, build (Release), and answer a prompt with the model that
# ships in the repository, split across 3 local devices (worker processes on loopback, CURVE
# encrypted). Extra arguments go to `lingua generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target lingua
./build/lingua generate -m models/kjv-fortunes-3M-f32.gguf -p "And God said" -n 64 --temp 0 --local-devices 3 "$@"
