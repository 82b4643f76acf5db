// Package model reads Hugging Face checkpoints and builds their decoder
// graphs.
//
// Open maps a checkpoint directory (config.json, generation_config.json,
// model.safetensors or sharded model-*.safetensors with
// model.safetensors.index.json) without reading tensor data: the files are
// memory-mapped through package weights and only their headers are parsed.
// (*Checkpoint).Graph checks every tensor the config implies and builds the
// graph, whose initializers refer to byte ranges of those files.
//
// Builders exist for LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM,
// MistralForCausalLM and GPT2LMHeadModel. They emit primitive ops the way a
// careful exporter of transformers' modeling code would (see
// docs/graph-forms.md, the contract with rewrite passes), with the decoder
// I/O of graph/decoder.go: input_ids, attention_mask, position_ids,
// past_key_values.<i>.key/.value in, logits and present.<i>.key/.value out.
// Activations are f32 (transformers' float32 math); weights keep their
// stored dtype. RoPE frequencies are computed at build time exactly as
// transformers does (default, linear and llama3 scaling), in f32.
//
// MLX affine-quantized checkpoints (config.json "quantization" with bits,
// group_size and per-module overrides; *.weight u32 with *.scales and
// *.biases) load directly: quantized Linear layers become QuantizedMatMul,
// quantized embeddings QuantizedGather, and a tied quantized embedding also
// serves as the LM head. Nothing is dequantized.
//
// BuildGraph builds from a config alone (weightless initializers) for tests
// and benchmarks; Synthetic returns named configs (e.g. "qwen3-0.6b") and
// WriteSynthetic writes a random-weight checkpoint loadable with Open.
//
// Graph metadata: the keys of graph/decoder.go, plus MetaKVCacheHeads,
// MetaSlidingWindow, MetaLayerTypes, MetaDType and MetaNumParams.
package model
