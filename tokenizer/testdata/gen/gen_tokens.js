// Writes ../golden.json: ids and decoded text for every input of
// inputs.json under each tokenizer, from @lenml/tokenizers (a JavaScript
// port of Hugging Face tokenizers, via transformers.js).
//   npm install && node gen_tokens.js
const { TokenizerLoader } = require("@lenml/tokenizers");
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const root = path.join(__dirname, "..", "..", "..");
const dirs = {
  "qwen3": "testdata/fixtures/tokenizers/qwen3",
  "llama3": "testdata/fixtures/tokenizers/llama3",
  "kjv-fortunes-7m": "models/kjv-fortunes-7m",
  "spm-bpe": "tokenizer/testdata/spm-bpe",
  "spm-metaspace": "tokenizer/testdata/spm-metaspace",
};
function readTokenizer(dir) {
  const p = path.join(root, dir, "tokenizer.json");
  const json = fs.existsSync(p) ? fs.readFileSync(p) : zlib.gunzipSync(fs.readFileSync(p + ".gz"));
  return JSON.parse(json);
}
const inputs = JSON.parse(fs.readFileSync(path.join(__dirname, "inputs.json")));
const out = {};
for (const [name, dir] of Object.entries(dirs)) {
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: readTokenizer(dir),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(root, dir, "tokenizer_config.json"))),
  });
  const dec = (ids, skip) => ids.length ? tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }) : "";
  out[name] = [];
  for (const text of [...inputs.common, ...(inputs.special[name] || [])]) {
    const ids = tok.encode(text, { add_special_tokens: false });
    const withSpecial = tok.encode(text, { add_special_tokens: true });
    out[name].push({ text, ids, ids_special: withSpecial, decoded: dec(ids, false), decoded_skip: dec(withSpecial, true) });
  }
}
fs.writeFileSync(path.join(__dirname, "..", "golden.json"), JSON.stringify(out, null, 1) + "\n");
