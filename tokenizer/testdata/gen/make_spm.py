#!/usr/bin/env python3
"""Builds tokenizer/testdata/spm-bpe and spm-metaspace: tiny Llama-2 /
Mistral-style SentencePiece BPE tokenizers (byte fallback, <unk>, <s>,
</s>) trained here on a few public-domain sentences, so the Go tokenizer can
be tested on that family without downloading a real model.

  python3 make_spm.py   (writes ../spm-bpe and ../spm-metaspace)
"""
import collections, json, os

CORPUS = """In the beginning God created the heaven and the earth.
And the earth was without form, and void; and darkness was upon the face of the deep.
And the Spirit of God moved upon the face of the waters.
And God said, Let there be light: and there was light.
And God saw the light, that it was good: and God divided the light from the darkness.
The quick brown fox jumps over the lazy dog. It's a test; isn't it? We'll see, they're here.
Hello world! Hello again, world. Numbers 123 and 4567 appear too.
"""
SP = "\u2581"
N_MERGES = 400

words = collections.Counter(SP + w for w in CORPUS.split())
vocab = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
chars = sorted({c for w in words for c in w})
vocab += chars
segs = {w: list(w) for w in words}
merges = []
for _ in range(N_MERGES):
    pairs = collections.Counter()
    for w, n in words.items():
        s = segs[w]
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += n
    if not pairs:
        break
    (a, b), n = max(pairs.items(), key=lambda kv: (kv[1], [-ord(c) for c in kv[0][0] + kv[0][1]]))
    if n < 1:
        break
    merges.append((a, b))
    if a + b not in vocab:
        vocab.append(a + b)
    for w in segs:
        s, out, i = segs[w], [], 0
        while i < len(s):
            if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(s[i])
                i += 1
        segs[w] = out

def added(i, content, **kw):
    t = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
    t.update(kw)
    return t

base_added = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
extra = [added(len(vocab), "<sep>", rstrip=True), added(len(vocab) + 1, "[MASK]", lstrip=True)]
model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
         "vocab": {t: i for i, t in enumerate(vocab)}, "merges": [[a, b] for a, b in merges]}
post = {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
llama2_template = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
          "unk_token": "<unk>", "pad_token": None, "clean_up_tokenization_spaces": False,
          "legacy": True, "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 4096,
          "chat_template": llama2_template}

variants = {
    "spm-bpe": {  # Llama 2 as converted by transformers (legacy)
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SP},
            {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
        "pre_tokenizer": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SP}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    },
    "spm-metaspace": {  # Mistral / newer Llama conversions
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": SP, "add_prefix_space": True, "prepend_scheme": "first", "split": False},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": SP, "add_prefix_space": True, "prepend_scheme": "first", "split": False},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
    },
}
here = os.path.dirname(os.path.abspath(__file__))
for name, v in variants.items():
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": base_added + extra,
           "normalizer": v["normalizer"], "pre_tokenizer": v["pre_tokenizer"], "post_processor": post,
           "decoder": v["decoder"], "model": model}
    d = os.path.join(here, "..", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
print(len(vocab), "tokens,", len(merges), "merges")
