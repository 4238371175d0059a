#!/usr/bin/env bash
# The README's second command and CI's: set up, build with warnings as errors, run every test,
# then rebuild the parsers and tokenizers (and everything under them) with ASan+UBSan and run
# their tests again. Build trees: build-test/ and build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== Release build, warnings as errors"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DLINGUA_WERROR=ON >/dev/null
cmake --build build-test -j "$jobs"
echo "== tests"
ctest --test-dir build-test --output-on-failure -j "$jobs" --timeout 600

echo "== ASan+UBSan build: parsers (GGUF, devices file, wire frames, head/worker messages, HTTP requests), tokenizers, core"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLINGUA_SANITIZE=ON -DLINGUA_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs" --target core_tests model_tests plan_tests net_tests runtime_tests server_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -L 'core|model|plan|net'
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -R '^Protocol\.'
# The server's request parsing and answers, and 400+ malformed requests against a running server.
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -R '^(Request|Responses|StopMatcher|Logprobs|MalformedRequests)\.'
