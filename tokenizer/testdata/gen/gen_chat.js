// Writes chat/testdata/golden.json: chat templates rendered by
// @huggingface/jinja (the Jinja port transformers.js uses for
// apply_chat_template), for the cases in chat_cases.json.
//   npm install && node gen_chat.js
const { Template } = require("@huggingface/jinja");
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..", "..", "..");
const dirs = {
  "qwen3": "testdata/fixtures/tokenizers/qwen3",
  "llama3": "testdata/fixtures/tokenizers/llama3",
  "kjv-fortunes-7m": "models/kjv-fortunes-7m",
  "spm-bpe": "tokenizer/testdata/spm-bpe",
};
const special = (cfg) => {
  const out = {};
  for (const k of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
    let v = cfg[k];
    if (v && typeof v === "object") v = v.content;
    if (v) out[k] = v;
  }
  if (cfg.additional_special_tokens) out.additional_special_tokens = cfg.additional_special_tokens;
  return out;
};
const cases = JSON.parse(fs.readFileSync(path.join(__dirname, "chat_cases.json")));
const out = {};
for (const [name, list] of Object.entries(cases)) {
  const cfg = JSON.parse(fs.readFileSync(path.join(root, dirs[name], "tokenizer_config.json")));
  const tpl = new Template(cfg.chat_template);
  out[name] = list.map((c) => {
    const vars = { ...special(cfg), ...(c.vars || {}), messages: c.messages, add_generation_prompt: c.add_generation_prompt, tools: c.tools ?? null };
    try {
      return { ...c, text: tpl.render(vars) };
    } catch (e) {
      return { ...c, error: String(e.message || e) };
    }
  });
}
const dst = path.join(root, "chat", "testdata", "golden.json");
fs.mkdirSync(path.dirname(dst), { recursive: true });
fs.writeFileSync(dst, JSON.stringify(out, null, 1) + "\n");
