package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

func i64p(v int64) *int64 { return &v }

// synthetic holds the named configs; Synthetic returns copies.
var synthetic = map[string]func() *Config{
	// The real Qwen3-0.6B's shape: what `pipeline bench --synthetic` runs.
	"qwen3-0.6b": func() *Config {
		return &Config{Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", Family: Qwen3,
			VocabSize: 151936, HiddenSize: 1024, IntermediateSize: 3072, NumLayers: 28,
			NumHeads: 16, NumKVHeads: 8, HeadDim: 128, MaxPositions: 40960, NormEps: 1e-6,
			HiddenAct: "silu", TieWordEmbeddings: true, QKNorm: true,
			Rope: RopeConfig{Theta: 1e6, Type: "default"}, DType: graph.BF16,
			BOSTokenID: i64p(151643), EOSTokenIDs: []int64{151645, 151643}}
	},
	// Llama 3.2 1B's shape (GQA 32/8, llama3 RoPE scaling, tied).
	"llama-3.2-1b": func() *Config {
		return &Config{Architecture: "LlamaForCausalLM", ModelType: "llama", Family: Llama,
			VocabSize: 128256, HiddenSize: 2048, IntermediateSize: 8192, NumLayers: 16,
			NumHeads: 32, NumKVHeads: 8, HeadDim: 64, MaxPositions: 131072, NormEps: 1e-5,
			HiddenAct: "silu", TieWordEmbeddings: true,
			Rope:  RopeConfig{Theta: 500000, Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192},
			DType: graph.BF16, BOSTokenID: i64p(128000), EOSTokenIDs: []int64{128001}}
	},
	// GPT-2 small (124M).
	"gpt2": func() *Config {
		return &Config{Architecture: "GPT2LMHeadModel", ModelType: "gpt2", Family: GPT2,
			VocabSize: 50257, HiddenSize: 768, IntermediateSize: 3072, NumLayers: 12,
			NumHeads: 12, NumKVHeads: 12, HeadDim: 64, MaxPositions: 1024, NormEps: 1e-5,
			HiddenAct: "gelu_new", TieWordEmbeddings: true, AttentionDropout: 0.1, ResidDropout: 0.1, EmbdDropout: 0.1,
			ScaleAttnWeights: true, DType: graph.F32, BOSTokenID: i64p(50256), EOSTokenIDs: []int64{50256}}
	},
	// Tiny models, one per family, for tests.
	"qwen3-tiny": func() *Config {
		return &Config{Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", Family: Qwen3,
			VocabSize: 512, HiddenSize: 64, IntermediateSize: 128, NumLayers: 2,
			NumHeads: 4, NumKVHeads: 2, HeadDim: 32, MaxPositions: 512, NormEps: 1e-6,
			HiddenAct: "silu", TieWordEmbeddings: true, QKNorm: true,
			Rope: RopeConfig{Theta: 1e6, Type: "default"}, DType: graph.BF16}
	},
	"llama-tiny": func() *Config {
		return &Config{Architecture: "LlamaForCausalLM", ModelType: "llama", Family: Llama,
			VocabSize: 512, HiddenSize: 96, IntermediateSize: 192, NumLayers: 2,
			NumHeads: 6, NumKVHeads: 2, HeadDim: 16, MaxPositions: 512, NormEps: 1e-5,
			HiddenAct: "silu",
			Rope:      RopeConfig{Theta: 500000, Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 32},
			DType:     graph.F16, BOSTokenID: i64p(1), EOSTokenIDs: []int64{2}}
	},
	"qwen2-tiny": func() *Config {
		return &Config{Architecture: "Qwen2ForCausalLM", ModelType: "qwen2", Family: Qwen2,
			VocabSize: 512, HiddenSize: 64, IntermediateSize: 160, NumLayers: 2,
			NumHeads: 4, NumKVHeads: 2, HeadDim: 16, MaxPositions: 512, NormEps: 1e-6,
			HiddenAct: "silu", QKVBias: true,
			Rope: RopeConfig{Theta: 1e6, Type: "default"}, DType: graph.BF16}
	},
	"mistral-tiny": func() *Config {
		return &Config{Architecture: "MistralForCausalLM", ModelType: "mistral", Family: Mistral,
			VocabSize: 512, HiddenSize: 64, IntermediateSize: 128, NumLayers: 2,
			NumHeads: 4, NumKVHeads: 1, HeadDim: 16, MaxPositions: 512, NormEps: 1e-5,
			HiddenAct: "silu", SlidingWindow: 4,
			Rope: RopeConfig{Theta: 10000, Type: "default"}, DType: graph.F32}
	},
	"gpt2-tiny": func() *Config {
		return &Config{Architecture: "GPT2LMHeadModel", ModelType: "gpt2", Family: GPT2,
			VocabSize: 512, HiddenSize: 64, IntermediateSize: 256, NumLayers: 2,
			NumHeads: 4, NumKVHeads: 4, HeadDim: 16, MaxPositions: 64, NormEps: 1e-5,
			HiddenAct: "gelu_new", TieWordEmbeddings: true, AttentionDropout: 0.1, ResidDropout: 0.1, EmbdDropout: 0.1,
			ScaleAttnWeights: true, DType: graph.F32}
	},
}

func init() {
	for _, base := range []string{"qwen3-tiny", "qwen3-0.6b"} {
		f := synthetic[base]
		synthetic[base+"-4bit"] = func() *Config {
			c := f()
			c.Quantization = &Quantization{Bits: 4, GroupSize: 64, Modules: map[string]*QuantParams{}}
			return c
		}
	}
}

// SyntheticNames lists the names Synthetic knows, sorted.
func SyntheticNames() []string {
	out := make([]string, 0, len(synthetic))
	for n := range synthetic {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Synthetic returns a named model config: the shape of a real model
// ("qwen3-0.6b": 28 layers, hidden 1024, 16/8 heads, head_dim 128,
// intermediate 3072, vocab 151936, tied, bf16; "llama-3.2-1b"; "gpt2"),
// its 4-bit MLX-quantized variant ("qwen3-0.6b-4bit"), or a tiny one per
// family for tests ("qwen3-tiny", "llama-tiny", "qwen2-tiny",
// "mistral-tiny", "gpt2-tiny", "qwen3-tiny-4bit").
func Synthetic(name string) (*Config, error) {
	f, ok := synthetic[name]
	if !ok {
		return nil, fmt.Errorf("model: no synthetic model %q (have %s)", name, strings.Join(SyntheticNames(), ", "))
	}
	c := f()
	c.fillLayerTypes()
	return c, nil
}

func (c *Config) fillLayerTypes() {
	if len(c.LayerTypes) == c.NumLayers {
		return
	}
	c.LayerTypes = make([]string, c.NumLayers)
	for i := range c.LayerTypes {
		c.LayerTypes[i] = FullAttention
		if c.SlidingWindow > 0 {
			c.LayerTypes[i] = SlidingAttention
		}
	}
}

// MarshalConfig renders c as a Hugging Face config.json (keys sorted, as
// transformers writes them), in the rope_theta / rope_scaling style.
func MarshalConfig(c *Config) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	m := map[string]any{
		"architectures":       []string{c.Architecture},
		"model_type":          c.ModelType,
		"vocab_size":          c.VocabSize,
		"tie_word_embeddings": c.TieWordEmbeddings,
		"dtype":               dtypeName(c.DType),
		"bos_token_id":        c.BOSTokenID,
		"pad_token_id":        c.PadTokenID,
	}
	switch len(c.EOSTokenIDs) {
	case 0:
		m["eos_token_id"] = nil
	case 1:
		m["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		m["eos_token_id"] = c.EOSTokenIDs
	}
	if c.Family == GPT2 {
		m["n_embd"] = c.HiddenSize
		m["n_layer"] = c.NumLayers
		m["n_head"] = c.NumHeads
		m["n_inner"] = c.IntermediateSize
		m["n_positions"] = c.MaxPositions
		m["layer_norm_epsilon"] = c.NormEps
		m["activation_function"] = c.HiddenAct
		m["attn_pdrop"] = c.AttentionDropout
		m["resid_pdrop"] = c.ResidDropout
		m["embd_pdrop"] = c.EmbdDropout
		m["scale_attn_weights"] = c.ScaleAttnWeights
		m["scale_attn_by_inverse_layer_idx"] = c.ScaleAttnByInverseLayerIdx
	} else {
		m["hidden_size"] = c.HiddenSize
		m["intermediate_size"] = c.IntermediateSize
		m["num_hidden_layers"] = c.NumLayers
		m["num_attention_heads"] = c.NumHeads
		m["num_key_value_heads"] = c.NumKVHeads
		m["head_dim"] = c.HeadDim
		m["max_position_embeddings"] = c.MaxPositions
		m["rms_norm_eps"] = c.NormEps
		m["hidden_act"] = c.HiddenAct
		m["attention_dropout"] = c.AttentionDropout
		m["rope_theta"] = c.Rope.Theta
		switch c.Rope.Type {
		case "", "default":
			m["rope_scaling"] = nil
		case "linear":
			m["rope_scaling"] = map[string]any{"rope_type": "linear", "factor": c.Rope.Factor}
		case "llama3":
			m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": c.Rope.Factor,
				"low_freq_factor": c.Rope.LowFreqFactor, "high_freq_factor": c.Rope.HighFreqFactor,
				"original_max_position_embeddings": c.Rope.OriginalMaxPositions}
		default:
			return nil, fmt.Errorf("model: cannot write rope_type %q", c.Rope.Type)
		}
		switch c.Family {
		case Llama:
			m["attention_bias"] = c.AttentionBias
			m["mlp_bias"] = c.MLPBias
		case Qwen3:
			m["attention_bias"] = c.AttentionBias
		}
		if c.Family == Qwen2 || c.Family == Qwen3 {
			m["use_sliding_window"] = c.SlidingWindow > 0
			m["max_window_layers"] = c.NumLayers
		}
		if c.SlidingWindow > 0 {
			m["sliding_window"] = c.SlidingWindow
		} else {
			m["sliding_window"] = nil
		}
		if len(c.LayerTypes) == c.NumLayers {
			m["layer_types"] = c.LayerTypes
		}
	}
	if q := c.Quantization; q != nil {
		qm := map[string]any{"bits": q.Bits, "group_size": q.GroupSize}
		for mod, p := range q.Modules {
			if p == nil {
				qm[mod] = false
			} else {
				qm[mod] = map[string]any{"bits": p.Bits, "group_size": p.GroupSize}
			}
		}
		m["quantization"] = qm
		m["quantization_config"] = qm
	}
	return json.MarshalIndent(m, "", "  ")
}

func dtypeName(dt graph.DType) string {
	switch dt {
	case graph.BF16:
		return "bfloat16"
	case graph.F16:
		return "float16"
	}
	return "float32"
}

// WriteSynthetic writes a random-weight checkpoint for cfg into dir
// (config.json, generation_config.json, model.safetensors), loadable with
// Open like any other. Weights are uniform with Hugging Face's initializer
// standard deviation (0.02), norms near 1; quantized configs get random
// packed words with scales and biases that center the values. The same
// seed gives the same bytes. Tensors are streamed, so the model never has
// to fit in memory.
func WriteSynthetic(dir string, cfg *Config, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	c := *cfg
	c.fillLayerTypes()
	data, err := MarshalConfig(&c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	gen := map[string]any{"bos_token_id": c.BOSTokenID, "pad_token_id": c.PadTokenID}
	if len(c.EOSTokenIDs) > 0 {
		gen["eos_token_id"] = c.EOSTokenIDs
	}
	gdata, _ := json.MarshalIndent(gen, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), gdata, 0o644); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	prefix := ""
	if c.Family == GPT2 {
		prefix = "transformer."
	}
	w, err := resolveWeights(&c, tensorSpecs(&c, prefix), nil, false)
	if err != nil {
		return err
	}
	var entries []weights.Entry
	add := func(in *graph.Initializer, fill fillFunc) {
		shape, _ := in.Type.Shape.Ints()
		s := seed ^ hashName(in.Name)
		dt := in.Type.DType
		n := numElements(shape)
		entries = append(entries, weights.Entry{Name: in.Name, DType: dt, Shape: shape, Fill: func(out io.Writer) error {
			return streamChunks(out, s, n, dt.Size(), func(dst []byte, r *rand.Rand) { fill(dst, dt, r) })
		}})
	}
	for _, s := range tensorSpecs(&c, prefix) {
		wt := w[s.Name]
		if q := wt.quant; q != nil {
			levels := float32(int(1)<<q.bits - 1)
			scale := float32(0.02*math.Sqrt(3)*2) / levels
			add(q.w, fillWords)
			add(q.scales, uniformFill(scale, 0))
			add(q.biases, uniformFill(-scale*levels/2, 0))
			continue
		}
		in := wt.dense
		isNorm := strings.HasSuffix(s.Name, "norm.weight") || strings.Contains(s.Name, ".ln_")
		if isNorm && strings.HasSuffix(s.Name, ".weight") {
			add(in, uniformFill(1, 0.1))
		} else {
			add(in, uniformFill(0, 0.02))
		}
	}
	meta := map[string]string{"format": "pt"}
	if c.Quantization != nil {
		meta["format"] = "mlx"
	}
	return weights.WriteFile(filepath.Join(dir, "model.safetensors"), entries, meta)
}

func hashName(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// A fillFunc fills dst with random elements of dtype dt.
type fillFunc func(dst []byte, dt graph.DType, r *rand.Rand)

// uniformFill draws values uniform in mean ± std·√3 (standard deviation std).
func uniformFill(mean, std float32) fillFunc {
	half := std * float32(math.Sqrt(3))
	return func(dst []byte, dt graph.DType, r *rand.Rand) {
		next := func() float32 { return mean + half*(float32(r.Uint32()>>8)*(2.0/(1<<24))-1) }
		switch dt {
		case graph.F32:
			for i := 0; i+4 <= len(dst); i += 4 {
				binary.LittleEndian.PutUint32(dst[i:], math.Float32bits(next()))
			}
		case graph.BF16:
			for i := 0; i+2 <= len(dst); i += 2 {
				binary.LittleEndian.PutUint16(dst[i:], f32ToBF16(next()))
			}
		case graph.F16:
			for i := 0; i+2 <= len(dst); i += 2 {
				binary.LittleEndian.PutUint16(dst[i:], f32ToF16(next()))
			}
		}
	}
}

func fillWords(dst []byte, _ graph.DType, r *rand.Rand) {
	for i := 0; i+8 <= len(dst); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], r.Uint64())
	}
	if rem := len(dst) % 8; rem != 0 {
		binary.LittleEndian.PutUint32(dst[len(dst)-4:], r.Uint32())
	}
}

// chunkElems is the unit of parallel generation: chunk c of a tensor is
// drawn from its own generator, so the bytes do not depend on scheduling.
const chunkElems = 1 << 20

// streamChunks generates n elements of elemSize bytes chunk by chunk on
// every core and writes them to w in order.
func streamChunks(w io.Writer, seed uint64, n int64, elemSize int, gen func(dst []byte, r *rand.Rand)) error {
	chunks := int((n + chunkElems - 1) / chunkElems)
	workers := runtime.GOMAXPROCS(0)
	type result struct{ buf []byte }
	results := make([]chan result, chunks)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	sem := make(chan struct{}, workers+1) // bounds the buffers in flight
	go func() {
		for c := 0; c < chunks; c++ {
			sem <- struct{}{}
			go func(c int) {
				elems := min(int64(chunkElems), n-int64(c)*chunkElems)
				buf := make([]byte, elems*int64(elemSize))
				cs := seed + uint64(c)*0x9e3779b97f4a7c15
				gen(buf, rand.New(rand.NewPCG(cs, cs^0xda942042e4dd58b5)))
				results[c] <- result{buf}
			}(c)
		}
	}()
	var err error
	for c := 0; c < chunks; c++ {
		r := <-results[c]
		if err == nil {
			_, err = w.Write(r.buf)
		}
		<-sem
	}
	return err
}

// f32ToBF16 rounds to nearest even (finite inputs).
func f32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// f32ToF16 rounds a finite float32 of moderate magnitude to IEEE half,
// nearest even; values below half's normal range flush towards subnormals.
func f32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23)&0xff - 127 + 15
	mant := u & 0x7fffff
	switch {
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++
	}
	return sign | uint16(half)
}
