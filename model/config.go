package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graphpass/graphpass/graph"
)

// Family is a model family this package builds graphs for.
type Family string

// The supported families.
const (
	Llama   Family = "llama"
	Qwen2   Family = "qwen2"
	Qwen3   Family = "qwen3"
	Mistral Family = "mistral"
	GPT2    Family = "gpt2"
)

// architectures maps the Hugging Face architecture names we build to families.
var architectures = map[string]Family{
	"LlamaForCausalLM":   Llama,
	"Qwen2ForCausalLM":   Qwen2,
	"Qwen3ForCausalLM":   Qwen3,
	"MistralForCausalLM": Mistral,
	"GPT2LMHeadModel":    GPT2,
}

// Architectures lists the supported Hugging Face architecture names, sorted.
func Architectures() []string {
	out := make([]string, 0, len(architectures))
	for a := range architectures {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func architectureOf(f Family) string {
	for a, fam := range architectures {
		if fam == f {
			return a
		}
	}
	return ""
}

// ErrUnsupported is wrapped by errors about architectures, config fields or
// values this package does not implement; the message names the field.
var ErrUnsupported = errors.New("unsupported")

// Layer attention kinds (config.json "layer_types").
const (
	FullAttention    = "full_attention"
	SlidingAttention = "sliding_attention"
)

// Config is a model's config.json (and generation_config.json), normalised
// across families and config styles.
type Config struct {
	Architecture string // e.g. "Qwen3ForCausalLM"
	ModelType    string // e.g. "qwen3"
	Family       Family

	VocabSize        int
	HiddenSize       int
	IntermediateSize int // MLP inner size (GPT-2: n_inner, default 4*hidden)
	NumLayers        int
	NumHeads         int
	NumKVHeads       int // == NumHeads for MHA, 1 for MQA
	HeadDim          int
	MaxPositions     int // max_position_embeddings (GPT-2: n_positions)

	NormEps   float64 // rms_norm_eps or layer_norm_epsilon
	HiddenAct string  // "silu"; GPT-2: "gelu_new", "gelu", "gelu_pytorch_tanh"

	TieWordEmbeddings bool
	AttentionBias     bool // q, k, v and o projections have biases (Llama attention_bias)
	QKVBias           bool // q, k, v (not o) have biases (Qwen2)
	MLPBias           bool // gate, up and down have biases (Llama mlp_bias)
	QKNorm            bool // RMSNorm on q and k per head (Qwen3)

	// SlidingWindow is the attention window of sliding layers (0: none);
	// LayerTypes says which layers slide (FullAttention or SlidingAttention).
	SlidingWindow int
	LayerTypes    []string

	Rope RopeConfig // unused by GPT-2 (learned positions)

	AttentionDropout float64 // attention probabilities (GPT-2: attn_pdrop)
	ResidDropout     float64 // GPT-2 resid_pdrop
	EmbdDropout      float64 // GPT-2 embd_pdrop

	ScaleAttnWeights           bool // GPT-2: divide scores by sqrt(head_dim)
	ScaleAttnByInverseLayerIdx bool // GPT-2: also divide by layer index + 1

	// DType is the checkpoint's declared dtype ("dtype" or "torch_dtype"),
	// F32 when absent. Tensors keep their stored dtype regardless; this is
	// what shape-only graphs and WriteSynthetic use.
	DType graph.DType

	BOSTokenID  *int64
	PadTokenID  *int64
	EOSTokenIDs []int64 // generation_config.json's, else config.json's

	// Quantization is set for MLX affine-quantized checkpoints.
	Quantization *Quantization
}

// RopeConfig describes rotary position embeddings.
type RopeConfig struct {
	Theta float64 // base
	// Type is "default", "linear" or "llama3"; with
	// LoadOptions.AllowUnknownRopeScaling it may be another type, which is
	// then built as "default" (unscaled).
	Type                 string
	Factor               float64 // linear, llama3
	LowFreqFactor        float64 // llama3
	HighFreqFactor       float64 // llama3
	OriginalMaxPositions int     // llama3
}

// Quantization is an MLX affine quantization config ("quantization" or
// "quantization_config" in config.json).
type Quantization struct {
	Bits      int
	GroupSize int
	// Modules holds per-module overrides keyed by module path
	// ("model.layers.0.mlp.down_proj"); a nil entry means "not quantized".
	Modules map[string]*QuantParams
}

// QuantParams are one module's quantization parameters.
type QuantParams struct {
	Bits      int
	GroupSize int
}

// For returns the parameters module is quantized with, and false when the
// config excludes it.
func (q *Quantization) For(module string) (QuantParams, bool) {
	if p, ok := q.Modules[module]; ok {
		if p == nil {
			return QuantParams{}, false
		}
		return *p, true
	}
	return QuantParams{Bits: q.Bits, GroupSize: q.GroupSize}, true
}

func (q *Quantization) String() string {
	s := fmt.Sprintf("affine bits=%d group_size=%d", q.Bits, q.GroupSize)
	if len(q.Modules) > 0 {
		s += fmt.Sprintf(" (%d module overrides)", len(q.Modules))
	}
	return s
}

// LoadOptions relax what LoadConfig and Open accept.
type LoadOptions struct {
	// AllowUnknownRopeScaling builds models whose rope_type this package does
	// not implement (e.g. "yarn", "dynamic") with unscaled RoPE instead of
	// failing. Outputs then differ from the reference implementation at long
	// contexts (and possibly everywhere); Metadata keeps the real rope_type.
	AllowUnknownRopeScaling bool
}

// SlidingWindowOf returns the attention window of layer i (0: full attention).
func (c *Config) SlidingWindowOf(i int) int {
	if c.SlidingWindow <= 0 || i >= len(c.LayerTypes) || c.LayerTypes[i] != SlidingAttention {
		return 0
	}
	return c.SlidingWindow
}

// NumParams counts the model's parameters (embeddings counted once when tied).
func (c *Config) NumParams() int64 {
	var n int64
	for _, s := range tensorSpecs(c, "") {
		n += numElements(s.Shape)
	}
	return n
}

// LoadConfig reads dir/config.json and, if present, dir/generation_config.json.
func LoadConfig(dir string) (*Config, error) { return LoadConfigWith(dir, LoadOptions{}) }

// LoadConfigWith is LoadConfig with options.
func LoadConfigWith(dir string, opts LoadOptions) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	cfg, err := ParseConfig(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	gpath := filepath.Join(dir, "generation_config.json")
	if gdata, err := os.ReadFile(gpath); err == nil {
		if err := cfg.applyGenerationConfig(gdata); err != nil {
			return nil, fmt.Errorf("%s: %w", gpath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("model: %w", err)
	}
	return cfg, nil
}

// fields is a parsed JSON object with typed, error-reporting accessors.
type fields map[string]json.RawMessage

func parseObject(data []byte, what string) (fields, error) {
	var f fields
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %v", what, err)
	}
	if f == nil {
		return nil, fmt.Errorf("%s is not a JSON object (null)", what)
	}
	return f, nil
}

func (f fields) has(key string) bool {
	v, ok := f[key]
	return ok && string(v) != "null"
}

func (f fields) int(key string, required bool, def int) (int, error) {
	if !f.has(key) {
		if required {
			return 0, fmt.Errorf("missing config field %q", key)
		}
		return def, nil
	}
	var n json.Number
	if err := json.Unmarshal(f[key], &n); err != nil {
		return 0, fmt.Errorf("config field %q must be an integer, got %s", key, f[key])
	}
	v, err := n.Int64()
	if err != nil {
		// Accept integral floats such as 4096.0.
		fv, ferr := n.Float64()
		if ferr != nil || fv != math.Trunc(fv) {
			return 0, fmt.Errorf("config field %q must be an integer, got %s", key, f[key])
		}
		v = int64(fv)
	}
	if v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("config field %q = %d is out of range", key, v)
	}
	return int(v), nil
}

func (f fields) float(key string, def float64) (float64, error) {
	if !f.has(key) {
		return def, nil
	}
	var n json.Number
	if err := json.Unmarshal(f[key], &n); err != nil {
		return 0, fmt.Errorf("config field %q must be a number, got %s", key, f[key])
	}
	v, err := n.Float64()
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("config field %q must be a finite number, got %s", key, f[key])
	}
	return v, nil
}

func (f fields) bool(key string, def bool) (bool, error) {
	if !f.has(key) {
		return def, nil
	}
	var v bool
	if err := json.Unmarshal(f[key], &v); err != nil {
		return false, fmt.Errorf("config field %q must be true or false, got %s", key, f[key])
	}
	return v, nil
}

func (f fields) string(key, def string) (string, error) {
	if !f.has(key) {
		return def, nil
	}
	var v string
	if err := json.Unmarshal(f[key], &v); err != nil {
		return "", fmt.Errorf("config field %q must be a string, got %s", key, f[key])
	}
	return v, nil
}

// ids reads a token id field that may be an integer or a list of integers.
func (f fields) ids(key string) ([]int64, error) {
	if !f.has(key) {
		return nil, nil
	}
	var one int64
	if err := json.Unmarshal(f[key], &one); err == nil {
		return []int64{one}, nil
	}
	var many []int64
	if err := json.Unmarshal(f[key], &many); err != nil {
		return nil, fmt.Errorf("config field %q must be a token id or a list of them, got %s", key, f[key])
	}
	return many, nil
}

func (f fields) object(key string) (fields, error) {
	if !f.has(key) {
		return nil, nil
	}
	o, err := parseObject(f[key], fmt.Sprintf("config field %q", key))
	if err != nil {
		return nil, err
	}
	return o, nil
}

// errs collects every problem so one error can list them all.
type errs []error

func (e *errs) add(err error) {
	if err != nil {
		*e = append(*e, err)
	}
}

func (e *errs) addf(format string, args ...any) { *e = append(*e, fmt.Errorf(format, args...)) }

func (e errs) err() error {
	switch len(e) {
	case 0:
		return nil
	case 1:
		return e[0]
	}
	return &problems{list: append([]error(nil), e...)}
}

// problems is several errors reported as one; errors.Is sees each.
type problems struct{ list []error }

// maxListed bounds the problems an error message spells out.
const maxListed = 20

func (p *problems) Error() string {
	var lines []string
	for i, e := range p.list {
		if i == maxListed {
			lines = append(lines, fmt.Sprintf("… and %d more", len(p.list)-maxListed))
			break
		}
		lines = append(lines, e.Error())
	}
	return fmt.Sprintf("%d problems:\n  %s", len(p.list), strings.Join(lines, "\n  "))
}

func (p *problems) Unwrap() []error { return p.list }

// ParseConfig parses the content of a config.json.
func ParseConfig(data []byte, opts LoadOptions) (*Config, error) {
	f, err := parseObject(data, "config.json")
	if err != nil {
		return nil, err
	}
	c := &Config{}
	if c.ModelType, err = f.string("model_type", ""); err != nil {
		return nil, err
	}
	var archs []string
	if f.has("architectures") {
		if err := json.Unmarshal(f["architectures"], &archs); err != nil {
			return nil, fmt.Errorf("config field \"architectures\" must be a list of strings, got %s", f["architectures"])
		}
	}
	switch {
	case len(archs) > 0:
		c.Architecture = archs[0]
	case c.ModelType != "":
		c.Architecture = architectureOf(Family(c.ModelType))
		if c.Architecture == "" {
			return nil, fmt.Errorf("%w model_type %q (supported architectures: %s)", ErrUnsupported, c.ModelType, strings.Join(Architectures(), ", "))
		}
	default:
		return nil, fmt.Errorf("missing config field \"architectures\" (and no \"model_type\")")
	}
	fam, ok := architectures[c.Architecture]
	if !ok {
		return nil, fmt.Errorf("%w architecture %q (supported: %s)", ErrUnsupported, c.Architecture, strings.Join(Architectures(), ", "))
	}
	c.Family = fam
	if c.ModelType == "" {
		c.ModelType = string(fam)
	}

	var e errs
	dt, err := f.string("dtype", "")
	e.add(err)
	if dt == "" {
		dt, err = f.string("torch_dtype", "")
		e.add(err)
	}
	c.DType = graph.F32
	if dt != "" {
		switch dt {
		case "float32", "bfloat16", "float16":
			c.DType, _ = graph.ParseDType(dt)
		default:
			e.add(fmt.Errorf("%w dtype %q (want float32, bfloat16 or float16)", ErrUnsupported, dt))
		}
	}
	if c.BOSTokenID, err = optID(f, "bos_token_id"); err != nil {
		e.add(err)
	}
	if c.PadTokenID, err = optID(f, "pad_token_id"); err != nil {
		e.add(err)
	}
	c.EOSTokenIDs, err = f.ids("eos_token_id")
	e.add(err)

	if fam == GPT2 {
		parseGPT2(f, c, &e)
	} else {
		parseLlamaFamily(f, c, opts, &e)
	}
	c.Quantization, err = parseQuantization(f)
	e.add(err)
	if len(e) == 0 {
		e.add(c.validate())
	}
	return c, e.err()
}

func optID(f fields, key string) (*int64, error) {
	ids, err := f.ids(key)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return &ids[0], nil
}

func parseLlamaFamily(f fields, c *Config, opts LoadOptions, e *errs) {
	var err error
	c.VocabSize, err = f.int("vocab_size", true, 0)
	e.add(err)
	c.HiddenSize, err = f.int("hidden_size", true, 0)
	e.add(err)
	c.IntermediateSize, err = f.int("intermediate_size", true, 0)
	e.add(err)
	c.NumLayers, err = f.int("num_hidden_layers", true, 0)
	e.add(err)
	e.add(capLayers(c))
	c.NumHeads, err = f.int("num_attention_heads", true, 0)
	e.add(err)
	c.NumKVHeads, err = f.int("num_key_value_heads", false, c.NumHeads)
	e.add(err)
	def := 0
	if c.NumHeads > 0 {
		def = c.HiddenSize / c.NumHeads
	}
	c.HeadDim, err = f.int("head_dim", false, def)
	e.add(err)
	c.MaxPositions, err = f.int("max_position_embeddings", false, 2048)
	e.add(err)
	c.NormEps, err = f.float("rms_norm_eps", 1e-6)
	e.add(err)
	c.HiddenAct, err = f.string("hidden_act", "silu")
	e.add(err)
	if c.HiddenAct != "silu" {
		e.add(fmt.Errorf("%w hidden_act %q (the %s MLP is built with silu)", ErrUnsupported, c.HiddenAct, c.Family))
	}
	c.TieWordEmbeddings, err = f.bool("tie_word_embeddings", false)
	e.add(err)
	c.AttentionDropout, err = f.float("attention_dropout", 0)
	e.add(err)
	switch c.Family {
	case Llama:
		c.AttentionBias, err = f.bool("attention_bias", false)
		e.add(err)
		c.MLPBias, err = f.bool("mlp_bias", false)
		e.add(err)
	case Qwen2:
		c.QKVBias = true
	case Qwen3:
		c.QKNorm = true
		c.AttentionBias, err = f.bool("attention_bias", false)
		e.add(err)
	case Mistral:
	}
	for _, k := range []string{"attn_logit_softcapping", "final_logit_softcapping", "logits_scaling", "embedding_multiplier", "residual_multiplier", "attention_multiplier"} {
		if f.has(k) {
			e.add(fmt.Errorf("%w config field %q", ErrUnsupported, k))
		}
	}
	if f.has("partial_rotary_factor") {
		if v, err := f.float("partial_rotary_factor", 1); err != nil || v != 1 {
			e.add(fmt.Errorf("%w config field \"partial_rotary_factor\" = %s (only 1 is built)", ErrUnsupported, f["partial_rotary_factor"]))
		}
	}

	// Sliding windows: layer_types when given, else the family's rule.
	window, err := f.int("sliding_window", false, 0)
	e.add(err)
	useSliding := true
	if c.Family == Qwen2 || c.Family == Qwen3 {
		useSliding, err = f.bool("use_sliding_window", false)
		e.add(err)
	}
	c.LayerTypes = make([]string, c.NumLayers)
	if f.has("layer_types") {
		var lt []string
		if err := json.Unmarshal(f["layer_types"], &lt); err != nil {
			e.add(fmt.Errorf("config field \"layer_types\" must be a list of strings, got %s", f["layer_types"]))
		} else if len(lt) != c.NumLayers {
			e.add(fmt.Errorf("config field \"layer_types\" has %d entries for %d layers", len(lt), c.NumLayers))
		} else {
			for i, t := range lt {
				if t != FullAttention && t != SlidingAttention {
					e.add(fmt.Errorf("%w layer type %q (layer_types[%d])", ErrUnsupported, t, i))
				}
			}
			copy(c.LayerTypes, lt)
		}
	} else {
		maxWindowLayers, err := f.int("max_window_layers", false, 0)
		e.add(err)
		for i := range c.LayerTypes {
			c.LayerTypes[i] = FullAttention
			switch {
			case c.Family == Mistral && window > 0:
				c.LayerTypes[i] = SlidingAttention
			case (c.Family == Qwen2 || c.Family == Qwen3) && useSliding && window > 0 && i >= maxWindowLayers:
				c.LayerTypes[i] = SlidingAttention
			}
		}
	}
	if window > 0 && useSliding {
		c.SlidingWindow = window
	}
	for i, t := range c.LayerTypes {
		if t == SlidingAttention && c.SlidingWindow == 0 {
			e.add(fmt.Errorf("layer %d is a sliding-attention layer but sliding_window is not set", i))
			break
		}
	}
	e.add(parseRope(f, c, opts))
}

func parseRope(f fields, c *Config, opts LoadOptions) error {
	theta, err := f.float("rope_theta", 10000)
	if err != nil {
		return err
	}
	var params fields
	style := "rope_scaling"
	if f.has("rope_parameters") {
		style = "rope_parameters"
	}
	if params, err = f.object(style); err != nil {
		return err
	}
	r := RopeConfig{Theta: theta, Type: "default"}
	if params != nil {
		if params.has("rope_theta") {
			if r.Theta, err = params.float("rope_theta", theta); err != nil {
				return fmt.Errorf("%s: %w", style, err)
			}
		}
		t, err := params.string("rope_type", "")
		if err != nil {
			return fmt.Errorf("%s: %w", style, err)
		}
		if t == "" {
			if t, err = params.string("type", "default"); err != nil {
				return fmt.Errorf("%s: %w", style, err)
			}
		}
		r.Type = t
		if params.has("partial_rotary_factor") {
			if v, err := params.float("partial_rotary_factor", 1); err != nil || v != 1 {
				return fmt.Errorf("%w %s.partial_rotary_factor = %s (only 1 is built)", ErrUnsupported, style, params["partial_rotary_factor"])
			}
		}
		var e errs
		switch t {
		case "default":
		case "linear":
			r.Factor, err = params.float("factor", 0)
			e.add(err)
			if r.Factor <= 0 {
				e.add(fmt.Errorf("%s: rope_type linear needs a positive \"factor\"", style))
			}
		case "llama3":
			r.Factor, err = params.float("factor", 0)
			e.add(err)
			r.LowFreqFactor, err = params.float("low_freq_factor", 0)
			e.add(err)
			r.HighFreqFactor, err = params.float("high_freq_factor", 0)
			e.add(err)
			r.OriginalMaxPositions, err = params.int("original_max_position_embeddings", true, 0)
			e.add(err)
			if r.Factor <= 0 || r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor || r.OriginalMaxPositions <= 0 {
				e.add(fmt.Errorf("%s: rope_type llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0", style))
			}
		default:
			if !opts.AllowUnknownRopeScaling {
				e.add(fmt.Errorf("%w %s rope_type %q (built: default, linear, llama3; allow unknown scaling to build it unscaled)", ErrUnsupported, style, t))
			}
		}
		if err := e.err(); err != nil {
			return err
		}
	}
	if r.Theta <= 0 {
		return fmt.Errorf("rope_theta must be positive, got %g", r.Theta)
	}
	c.Rope = r
	return nil
}

func parseGPT2(f fields, c *Config, e *errs) {
	var err error
	c.VocabSize, err = f.int("vocab_size", true, 0)
	e.add(err)
	c.HiddenSize, err = f.int("n_embd", true, 0)
	e.add(err)
	c.NumLayers, err = f.int("n_layer", true, 0)
	e.add(err)
	e.add(capLayers(c))
	c.NumHeads, err = f.int("n_head", true, 0)
	e.add(err)
	c.NumKVHeads = c.NumHeads
	if c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	c.IntermediateSize, err = f.int("n_inner", false, 4*c.HiddenSize)
	e.add(err)
	c.MaxPositions, err = f.int("n_positions", true, 0)
	e.add(err)
	c.NormEps, err = f.float("layer_norm_epsilon", 1e-5)
	e.add(err)
	c.HiddenAct, err = f.string("activation_function", "gelu_new")
	e.add(err)
	switch c.HiddenAct {
	case "gelu_new", "gelu", "gelu_pytorch_tanh":
	default:
		e.add(fmt.Errorf("%w activation_function %q (built: gelu_new, gelu_pytorch_tanh, gelu)", ErrUnsupported, c.HiddenAct))
	}
	c.TieWordEmbeddings, err = f.bool("tie_word_embeddings", true)
	e.add(err)
	c.AttentionDropout, err = f.float("attn_pdrop", 0.1)
	e.add(err)
	c.ResidDropout, err = f.float("resid_pdrop", 0.1)
	e.add(err)
	c.EmbdDropout, err = f.float("embd_pdrop", 0.1)
	e.add(err)
	c.ScaleAttnWeights, err = f.bool("scale_attn_weights", true)
	e.add(err)
	c.ScaleAttnByInverseLayerIdx, err = f.bool("scale_attn_by_inverse_layer_idx", false)
	e.add(err)
	if cross, _ := f.bool("add_cross_attention", false); cross {
		e.add(fmt.Errorf("%w config field \"add_cross_attention\" = true", ErrUnsupported))
	}
	c.LayerTypes = make([]string, c.NumLayers)
	for i := range c.LayerTypes {
		c.LayerTypes[i] = FullAttention
	}
}

func parseQuantization(f fields) (*Quantization, error) {
	key := "quantization"
	if !f.has(key) {
		key = "quantization_config"
	}
	obj, err := f.object(key)
	if err != nil || obj == nil {
		return nil, err
	}
	if m, _ := obj.string("quant_method", ""); m != "" {
		return nil, fmt.Errorf("%w %s.quant_method %q (only MLX affine checkpoints are read)", ErrUnsupported, key, m)
	}
	if m, err := obj.string("mode", "affine"); err != nil || m != "affine" {
		return nil, fmt.Errorf("%w %s.mode %s (only \"affine\")", ErrUnsupported, key, obj["mode"])
	}
	q := &Quantization{Modules: map[string]*QuantParams{}}
	var e errs
	q.Bits, err = obj.int("bits", true, 0)
	e.add(prefix(key, err))
	q.GroupSize, err = obj.int("group_size", true, 0)
	e.add(prefix(key, err))
	e.add(prefix(key, checkQuantParams(QuantParams{q.Bits, q.GroupSize})))
	for k, v := range obj {
		if k == "bits" || k == "group_size" || k == "mode" {
			continue
		}
		var b bool
		if err := json.Unmarshal(v, &b); err == nil {
			if b {
				q.Modules[k] = &QuantParams{q.Bits, q.GroupSize}
			} else {
				q.Modules[k] = nil
			}
			continue
		}
		mod, err := parseObject(v, fmt.Sprintf("%s[%q]", key, k))
		if err != nil {
			e.add(fmt.Errorf("%s[%q] must be false or {bits, group_size}, got %s", key, k, truncate(v)))
			continue
		}
		p := QuantParams{}
		p.Bits, err = mod.int("bits", false, q.Bits)
		e.add(prefix(key+"["+k+"]", err))
		p.GroupSize, err = mod.int("group_size", false, q.GroupSize)
		e.add(prefix(key+"["+k+"]", err))
		e.add(prefix(key+"["+k+"]", checkQuantParams(p)))
		q.Modules[k] = &p
	}
	return q, e.err()
}

func prefix(p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", p, err)
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func checkQuantParams(p QuantParams) error {
	okBits, okGroup := false, false
	for _, b := range graph.QuantBits {
		okBits = okBits || int64(p.Bits) == b
	}
	for _, g := range graph.QuantGroupSizes {
		okGroup = okGroup || int64(p.GroupSize) == g
	}
	if !okBits || !okGroup {
		return fmt.Errorf("%w bits %d / group_size %d (bits %v, group sizes %v)", ErrUnsupported, p.Bits, p.GroupSize, graph.QuantBits, graph.QuantGroupSizes)
	}
	return nil
}

// Sanity limits, far above any real model, so a hostile config.json cannot
// make the loader allocate without bound.
const (
	maxLayers = 1024
	maxDim    = 1 << 24
)

func capLayers(c *Config) error {
	if c.NumLayers > maxLayers {
		n := c.NumLayers
		c.NumLayers = 0
		return fmt.Errorf("%d layers is beyond the %d this loader accepts", n, maxLayers)
	}
	return nil
}

func (c *Config) validate() error {
	var e errs
	pos := func(name string, v int) {
		if v <= 0 {
			e.add(fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	pos("vocab_size", c.VocabSize)
	pos("hidden_size", c.HiddenSize)
	pos("intermediate_size", c.IntermediateSize)
	pos("num_hidden_layers", c.NumLayers)
	pos("num_attention_heads", c.NumHeads)
	pos("num_key_value_heads", c.NumKVHeads)
	pos("head_dim", c.HeadDim)
	if len(e) > 0 {
		return e.err()
	}
	if c.NumLayers > maxLayers {
		e.addf("%d layers is beyond the %d this loader accepts", c.NumLayers, maxLayers)
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_attention_heads", c.NumHeads}, {"head_dim", c.HeadDim}, {"max_position_embeddings", c.MaxPositions}} {
		if d.v > maxDim {
			e.addf("%s %d is beyond the %d this loader accepts", d.name, d.v, maxDim)
		}
	}
	if len(e) > 0 {
		return e.err()
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		e.add(fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumHeads, c.NumKVHeads))
	}
	if c.HeadDim%2 != 0 && c.Family != GPT2 {
		e.add(fmt.Errorf("head_dim %d must be even for rotary embeddings", c.HeadDim))
	}
	if c.Family == GPT2 && c.HiddenSize%c.NumHeads != 0 {
		e.add(fmt.Errorf("n_embd %d is not a multiple of n_head %d", c.HiddenSize, c.NumHeads))
	}
	if c.NormEps <= 0 {
		e.add(fmt.Errorf("norm epsilon must be positive, got %g", c.NormEps))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"attention dropout", c.AttentionDropout}, {"resid_pdrop", c.ResidDropout}, {"embd_pdrop", c.EmbdDropout}} {
		if p.v < 0 || p.v >= 1 {
			e.add(fmt.Errorf("%s must be in [0, 1), got %g", p.name, p.v))
		}
	}
	return e.err()
}

// applyGenerationConfig takes eos/bos/pad ids from generation_config.json,
// which Hugging Face's generate prefers over config.json.
func (c *Config) applyGenerationConfig(data []byte) error {
	f, err := parseObject(data, "generation_config.json")
	if err != nil {
		return err
	}
	eos, err := f.ids("eos_token_id")
	if err != nil {
		return err
	}
	if eos != nil {
		c.EOSTokenIDs = eos
	}
	for key, dst := range map[string]**int64{"bos_token_id": &c.BOSTokenID, "pad_token_id": &c.PadTokenID} {
		id, err := optID(f, key)
		if err != nil {
			return err
		}
		if id != nil {
			*dst = id
		}
	}
	return nil
}
