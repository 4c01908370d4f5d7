// Calls `openpcc proxy` with the official OpenAI Node.js SDK and prints what came back as one JSON line.
// Usage: node sdk_client.cjs <path of the npm package openai> <proxy base URL> <model> <prompt>
"use strict";

async function main() {
  const [modulePath, baseURL, model, prompt] = process.argv.slice(2);
  const sdk = require(modulePath);
  const OpenAI = sdk.default || sdk.OpenAI || sdk;
  const client = new OpenAI({ baseURL, apiKey: "any-string", maxRetries: 0 });

  const stream = await client.chat.completions.create({
    model, messages: [{ role: "user", content: prompt }], stream: true,
  });
  const deltas = [];
  for await (const chunk of stream) {
    const text = chunk.choices.length ? chunk.choices[0].delta.content : null;
    if (text) deltas.push(text);
  }
  const response = await client.responses.create({ model, input: prompt });
  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  let notFound = null;
  try {
    await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] });
  } catch (err) {
    notFound = { status: err.status, code: err.code, type: err.constructor.name };
  }
  console.log(JSON.stringify({ deltas, output_text: response.output_text, models, notFound }));
}

main().catch((err) => {
  console.error(`node sdk client failed: ${err && err.constructor && err.constructor.name}: ${err && err.message}`);
  process.exit(1);
});
