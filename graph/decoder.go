package graph

import "strconv"

// Names and dims of a causal-LM decoder graph: the contract between model
// builders (package model), rewrite passes and runtimes. Builders follow
// the Hugging Face / ONNX-export naming.
//
// Inputs:
//
//	input_ids                  i64  [batch, seq]
//	attention_mask             i64  [batch, past+seq]   1 = real token, 0 = padding
//	position_ids               i64  [batch, seq]
//	past_key_values.<i>.key    f32  [batch, kv_heads, past, head_dim]   (absent with runtime-held caches)
//	past_key_values.<i>.value  f32  [batch, kv_heads, past, head_dim]
//	use_cache_branch           bool [1]                  (merged decoders only)
//
// Outputs:
//
//	logits                     f32  [batch, seq, vocab]
//	present.<i>.key/.value     f32  [batch, kv_heads, past+seq, head_dim]
//	attentions.<i>             f32  [batch, heads, seq, past+seq]  (optional)
//	hidden_states.<i>          f32  [batch, seq, hidden]           (optional; 0 = embeddings, last = after the final norm)
const (
	InputIDs       = "input_ids"
	AttentionMask  = "attention_mask"
	PositionIDs    = "position_ids"
	UseCacheBranch = "use_cache_branch"
	Logits         = "logits"

	DimBatch = "batch"
	DimSeq   = "seq"
	DimPast  = "past"
)

// PastKey is the graph input holding layer i's cached keys.
func PastKey(i int) string { return "past_key_values." + strconv.Itoa(i) + ".key" }

// PastValue is the graph input holding layer i's cached values.
func PastValue(i int) string { return "past_key_values." + strconv.Itoa(i) + ".value" }

// PresentKey is the graph output holding layer i's keys after this step.
func PresentKey(i int) string { return "present." + strconv.Itoa(i) + ".key" }

// PresentValue is the graph output holding layer i's values after this step.
func PresentValue(i int) string { return "present." + strconv.Itoa(i) + ".value" }

// Attentions is the optional graph output of layer i's attention probabilities.
func Attentions(i int) string { return "attentions." + strconv.Itoa(i) }

// HiddenStates is the optional graph output of hidden state i.
func HiddenStates(i int) string { return "hidden_states." + strconv.Itoa(i) }

// Metadata keys builders set on decoder graphs (values are decimal strings
// or comma-separated lists).
const (
	MetaArchitecture = "architecture"  // e.g. "Qwen3ForCausalLM"
	MetaModelType    = "model_type"    // e.g. "qwen3"
	MetaNumLayers    = "num_layers"    //
	MetaNumHeads     = "num_heads"     //
	MetaNumKVHeads   = "num_kv_heads"  //
	MetaHeadDim      = "head_dim"      //
	MetaHiddenSize   = "hidden_size"   //
	MetaVocabSize    = "vocab_size"    //
	MetaMaxPositions = "max_positions" // max_position_embeddings
	MetaEOSTokenIDs  = "eos_token_ids" // from generation_config.json, else config.json
	MetaBOSTokenID   = "bos_token_id"  //
	MetaPadTokenID   = "pad_token_id"  //
	MetaModelDir     = "model_dir"     // the checkpoint directory it was loaded from
	MetaQuantization = "quantization"  // e.g. "affine bits=4 group_size=64" when loaded quantized
)

// Metadata keys describing rotary embeddings, so passes can tell a plain
// base-frequency RoPE from a scaled one without guessing.
const (
	MetaRopeTheta = "rope_theta" // the base, e.g. "1e+06"
	MetaRopeType  = "rope_type"  // "default", "llama3", or the config's other types
)
