// Drives a running `lingua serve` with the stock `openai` npm client (tests/npm/package-lock.json),
// as an application would: models, chat and completions, streamed and not, usage counts, errors.
//   node openai_client_test.mjs NODE_MODULES_DIR BASE_URL MODEL_ID API_KEY
// Prints one JSON document of what the server answered (the C++ test compares it with
// `lingua generate`); exits 1 naming the first check that failed.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, baseURL, model, apiKey] = process.argv.slice(2);
if (!modules || !baseURL || !model || !apiKey) {
  console.error("usage: node openai_client_test.mjs NODE_MODULES_DIR BASE_URL MODEL_ID API_KEY");
  process.exit(2);
}
const require = createRequire(join(modules, "resolver.js"));
const { default: OpenAI } = await import(pathToFileURL(require.resolve("openai")).href);

function check(condition, what) {
  if (!condition) {
    console.error(`check failed: ${what}`);
    process.exit(1);
  }
}

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const out = {};

const models = await client.models.list();
check(models.data.some((m) => m.id === model), `models.list names ${model}`);

const messages = [{ role: "user", content: "Who made the earth?" }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
check(chat.object === "chat.completion", "chat.object");
check(chat.choices.length === 1 && chat.choices[0].message.role === "assistant", "chat has one assistant choice");
check(["stop", "length"].includes(chat.choices[0].finish_reason), "chat finish_reason");
check(chat.usage.total_tokens === chat.usage.prompt_tokens + chat.usage.completion_tokens, "chat usage adds up");
out.chat_text = chat.choices[0].message.content;
out.chat_usage = chat.usage;

const chatStream = await client.chat.completions.create({
  model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let streamed = "";
let streamedUsage = null;
let finish = null;
for await (const chunk of chatStream) {
  check(chunk.object === "chat.completion.chunk", "chunk.object");
  if (chunk.usage) streamedUsage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check(streamed === out.chat_text, `streamed chat equals the whole answer (${JSON.stringify(streamed)} vs ${JSON.stringify(out.chat_text)})`);
check(finish === chat.choices[0].finish_reason, "streamed chat finish_reason");
check(streamedUsage && streamedUsage.completion_tokens === chat.usage.completion_tokens, "streamed chat usage");

const prompt = "And God said";
const completion = await client.completions.create({ model, prompt, max_tokens: 16, temperature: 0 });
check(completion.object === "text_completion", "completion.object");
out.completion_text = completion.choices[0].text;
out.completion_usage = completion.usage;
const completionStream = await client.completions.create({ model, prompt, max_tokens: 16, temperature: 0, stream: true });
let streamedText = "";
for await (const chunk of completionStream) streamedText += chunk.choices[0]?.text ?? "";
check(streamedText === out.completion_text, "streamed completion equals the whole answer");

// Errors arrive as the client's typed errors with OpenAI's fields.
try {
  await client.chat.completions.create({ model: "no-such-model", messages, max_tokens: 4 });
  check(false, "an unknown model is refused");
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && e.status === 404, `unknown model: 404 (got ${e.status} ${e.message})`);
  check(e.code === "model_not_found", "unknown model: code");
  out.not_found_message = e.error?.message ?? e.message;
}
try {
  await client.completions.create({ model, prompt, temperature: "hot" });
  check(false, "a wrong type is refused");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.status === 400, `wrong type: 400 (got ${e.status})`);
  check(e.param === "temperature", "wrong type: param names the field");
}
try {
  const stranger = new OpenAI({ baseURL, apiKey: "wrong-key", maxRetries: 0 });
  await stranger.models.list();
  check(false, "a wrong key is refused");
} catch (e) {
  check(e instanceof OpenAI.AuthenticationError && e.status === 401, `wrong key: 401 (got ${e.status})`);
}
console.log(JSON.stringify(out));
