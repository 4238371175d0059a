// Reference ids for Lingua's tokenizer parity test (tests/model/hf_tokenizer_parity_test.cpp):
// tokenizes strings with the JavaScript port of Hugging Face tokenizers and prints the ids.
//   node tokenize.mjs NODE_MODULES_DIR PACKAGE REQUEST.json
// REQUEST: {"cases": [{"text": "...", "add_special_tokens": bool, "parse_special": bool}],
//           "split_when_not_parsing": ["<tok>", ...], "decode": [[ids], ...]}
// Hugging Face always cuts added tokens out of the text; a case with parse_special false is
// tokenized with only the tokens in split_when_not_parsing cut (the ones Lingua types
// user-defined), the rest read as plain text, which is what Lingua's parse_special=false means.
// Output: {"ids": [[...], ...], "decoded": ["...", ...]}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, pkg, requestPath] = process.argv.slice(2);
if (!modules || !pkg || !requestPath) {
  console.error("usage: node tokenize.mjs NODE_MODULES_DIR PACKAGE REQUEST.json");
  process.exit(2);
}
const require = createRequire(join(modules, "resolver.js"));
const entry = require.resolve(pkg);
const { fromPreTrained } = await import(pathToFileURL(entry).href);
const request = JSON.parse(readFileSync(requestPath, "utf8"));

const parsing = fromPreTrained();
const plain = fromPreTrained();
const kept = new Set(request.split_when_not_parsing ?? []);
plain.added_tokens_splitter = new plain.added_tokens_splitter.constructor(
  plain.added_tokens.map((t) => t.content).filter((c) => kept.has(c)));
plain.added_tokens_map = new Map([...plain.added_tokens_map].filter(([c]) => kept.has(c)));

const ids = request.cases.map((c) =>
  Array.from((c.parse_special ? parsing : plain).encode(c.text, { add_special_tokens: c.add_special_tokens })));
const decoded = (request.decode ?? []).map((d) => (d.length ? parsing.decode(d, { skip_special_tokens: false }) : ""));
process.stdout.write(JSON.stringify({ ids, decoded }));
