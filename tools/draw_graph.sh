#!/usr/bin/env bash
# Renders the op graph of the shipped model, cut three ways, into docs/ (see docs/graph.md):
#   kjv-graph-cuts2.svg       --cuts 2   (two cost-balanced segments)
#   kjv-graph-cuts3.svg       --cuts 3   (three cost-balanced segments)
#   kjv-graph-split-blk1.svg  --split    between attention and FFN of block 1, and before block 3
# Usage: tools/draw_graph.sh [path/to/lingua]   (default: build/lingua). Needs Graphviz's `dot`.
set -euo pipefail
cd "$(dirname "$0")/.."
lingua="${1:-build/lingua}"
model=models/kjv-fortunes-3M-f32.gguf
out=docs

if ! command -v dot >/dev/null; then
  echo "draw_graph: Graphviz 'dot' is not installed; install it with: apt-get install graphviz" >&2
  exit 1
fi
if [ ! -x "$lingua" ]; then
  echo "draw_graph: no lingua binary at '$lingua' (build it, or pass its path as the first argument)" >&2
  exit 1
fi
mkdir -p "$out"

# Op ids from the table (column 1 = id, column 2 = name): the first FFN op of block 1 and the
# first op of block 3, so the split picture cuts once inside a block and once between blocks.
table="$("$lingua" graph -m "$model")"
first_op() { awk -v p="$1" '$2 ~ "^" p { print $1; exit }' <<<"$table"; }
inside="$(first_op 'blk[.]1[.]ffn')"
block3="$(first_op 'blk[.]3[.]')"
if [ -z "$inside" ] || [ -z "$block3" ]; then
  echo "draw_graph: could not find blk.1.ffn* and blk.3.* ops in the graph of $model" >&2
  exit 1
fi

render() {  # name, lingua graph arguments...
  local name="$1"
  shift
  "$lingua" graph -m "$model" --dot "$@" | dot -Tsvg -o "$out/$name.svg"
  echo "draw_graph: $out/$name.svg ($(wc -c <"$out/$name.svg") bytes): lingua graph $*"
}
render kjv-graph-cuts2 --cuts 2
render kjv-graph-cuts3 --cuts 3
render kjv-graph-split-blk1 --split "$inside,$block3"
