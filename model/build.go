package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/graph"
)

// BuildOptions choose among the graph shapes a builder emits. The zero
// value is a plain decoder with past/present key-value I/O.
type BuildOptions struct {
	// MergedDecoder wraps each cache update in If(use_cache_branch): the then
	// branch concatenates past and new keys/values, the else branch passes
	// the new ones through (ONNX "merged decoder"; the seed's if_present).
	MergedDecoder bool
	// AttentionOutputs adds attentions.<i> outputs: each layer's softmax.
	AttentionOutputs bool
	// HiddenStates adds hidden_states.0 (embeddings) … hidden_states.L
	// (after the final norm), as Hugging Face's output_hidden_states.
	HiddenStates bool
	// ExpandKVBeforeCache repeats GQA key/value heads before the cache
	// concat, so caches hold num_heads heads (the shape Bumblebee builds and
	// the seed's gqa_cache_fix repairs). No effect when heads == kv heads.
	ExpandKVBeforeCache bool
}

// Metadata keys this package sets beyond those in graph/decoder.go.
const (
	MetaKVCacheHeads  = "kv_cache_heads" // heads per cached key/value (num_heads with ExpandKVBeforeCache)
	MetaSlidingWindow = "sliding_window" // attention window of sliding layers, when any
	MetaLayerTypes    = "layer_types"    // comma-separated full_attention / sliding_attention
	MetaDType         = "dtype"          // the checkpoint's declared dtype
	MetaNumParams     = "num_params"     // parameter count
)

// BuildGraph builds the decoder graph of cfg with weightless initializers
// (types only): for tests, benchmarks of passes, and inspecting a model
// without its weights. A config with quantization gets quantized triplets
// wherever mlx-lm would quantize.
func BuildGraph(cfg *Config, opts BuildOptions) (*graph.Graph, error) {
	prefix := ""
	if cfg.Family == GPT2 {
		prefix = "transformer."
	}
	w, err := resolveWeights(cfg, tensorSpecs(cfg, prefix), nil, false)
	if err != nil {
		return nil, err
	}
	return build(cfg, opts, w, prefix)
}

func build(cfg *Config, opts BuildOptions, w map[string]*weight, prefix string) (*graph.Graph, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &builder{cfg: cfg, opts: opts, w: w, names: map[string]int{}, used: map[string]bool{},
		consts: map[string]string{}, masks: map[int64]string{}, prefix: prefix}
	b.g = &graph.Graph{Name: cfg.Architecture}
	b.cur = b.g
	b.declareIO()
	var err error
	func() {
		defer func() {
			// Builders panic with buildError on an internal inconsistency
			// (a spec the resolver did not provide): report it, never crash.
			if r := recover(); r != nil {
				be, ok := r.(buildError)
				if !ok {
					panic(r)
				}
				err = be
			}
		}()
		if cfg.Family == GPT2 {
			b.buildGPT2()
		} else {
			b.buildLlama()
		}
	}()
	if err != nil {
		return nil, err
	}
	b.g.Metadata = metadata(cfg, opts)
	if err := graph.Verify(b.g); err != nil {
		return nil, fmt.Errorf("model: built %s graph does not verify (a bug): %w", cfg.Architecture, err)
	}
	return b.g, nil
}

type buildError string

func (e buildError) Error() string { return string(e) }

type attrs = map[string]graph.Attr

// builder emits one decoder graph.
type builder struct {
	cfg    *Config
	opts   BuildOptions
	w      map[string]*weight
	prefix string // GPT-2 module prefix

	g      *graph.Graph // the decoder
	cur    *graph.Graph // where nodes go: g, or an If branch
	scope  string
	names  map[string]int
	used   map[string]bool
	consts map[string]string
	masks  map[int64]string // by sliding window
}

func (b *builder) kvHeads() int {
	if b.opts.ExpandKVBeforeCache {
		return b.cfg.NumHeads
	}
	return b.cfg.NumKVHeads
}

func (b *builder) declareIO() {
	B, S, P := graph.S(graph.DimBatch), graph.S(graph.DimSeq), graph.S(graph.DimPast)
	PS := P.Add(S)
	D := graph.D(int64(b.cfg.HeadDim))
	kv := graph.D(int64(b.kvHeads()))
	g := b.g
	g.Inputs = append(g.Inputs,
		graph.ValueInfo{Name: graph.InputIDs, Type: graph.T(graph.I64, B, S)},
		graph.ValueInfo{Name: graph.AttentionMask, Type: graph.T(graph.I64, B, PS)},
		graph.ValueInfo{Name: graph.PositionIDs, Type: graph.T(graph.I64, B, S)},
	)
	for i := 0; i < b.cfg.NumLayers; i++ {
		g.Inputs = append(g.Inputs,
			graph.ValueInfo{Name: graph.PastKey(i), Type: graph.T(graph.F32, B, kv, P, D)},
			graph.ValueInfo{Name: graph.PastValue(i), Type: graph.T(graph.F32, B, kv, P, D)})
	}
	if b.opts.MergedDecoder {
		g.Inputs = append(g.Inputs, graph.ValueInfo{Name: graph.UseCacheBranch, Type: graph.T(graph.Bool, graph.D(1))})
	}
	g.Outputs = append(g.Outputs, graph.ValueInfo{Name: graph.Logits, Type: graph.T(graph.F32, B, S, graph.D(int64(b.cfg.VocabSize)))})
	for i := 0; i < b.cfg.NumLayers; i++ {
		g.Outputs = append(g.Outputs,
			graph.ValueInfo{Name: graph.PresentKey(i), Type: graph.T(graph.F32, B, kv, PS, D)},
			graph.ValueInfo{Name: graph.PresentValue(i), Type: graph.T(graph.F32, B, kv, PS, D)})
	}
	if b.opts.AttentionOutputs {
		for i := 0; i < b.cfg.NumLayers; i++ {
			g.Outputs = append(g.Outputs, graph.ValueInfo{Name: graph.Attentions(i),
				Type: graph.T(graph.F32, B, graph.D(int64(b.cfg.NumHeads)), S, PS)})
		}
	}
	if b.opts.HiddenStates {
		for i := 0; i <= b.cfg.NumLayers; i++ {
			g.Outputs = append(g.Outputs, graph.ValueInfo{Name: graph.HiddenStates(i),
				Type: graph.T(graph.F32, B, S, graph.D(int64(b.cfg.HiddenSize)))})
		}
	}
}

// hiddenName names hidden state i when it is a graph output.
func (b *builder) hiddenName(i int) string {
	if b.opts.HiddenStates {
		return graph.HiddenStates(i)
	}
	return ""
}

// in sets the scope (module path) of the nodes emitted next and returns the
// previous one.
func (b *builder) in(scope string) string {
	old := b.scope
	b.scope = scope
	return old
}

// emit adds a node with one output. out names the output value ("" picks
// a name derived from the node's).
func (b *builder) emit(out, op string, at attrs, inputs ...string) string {
	base := b.scope + "/" + op
	if b.scope == "" {
		base = op
	}
	name := base
	if n := b.names[base]; n > 0 {
		name = base + "_" + strconv.Itoa(n)
	}
	b.names[base]++
	if out == "" {
		out = name + "_out"
	}
	b.cur.Nodes = append(b.cur.Nodes, &graph.Node{Name: name, Op: op, Inputs: inputs, Outputs: []string{out}, Attrs: at, Scope: b.scope})
	return out
}

func (b *builder) op(op string, at attrs, inputs ...string) string {
	return b.emit("", op, at, inputs...)
}

// addInit adds an initializer to the decoder once and returns its name.
func (b *builder) addInit(in *graph.Initializer) string {
	if !b.used[in.Name] {
		b.used[in.Name] = true
		b.g.Initializers = append(b.g.Initializers, in)
	}
	return in.Name
}

// weight returns the resolved tensor named name.
func (b *builder) weight(name string) *weight {
	w, ok := b.w[name]
	if !ok {
		panic(buildError(fmt.Sprintf("model: no tensor %q resolved for %s", name, b.cfg.Architecture)))
	}
	return w
}

// param returns a dense (never quantized) parameter's value name.
func (b *builder) param(name string) string {
	w := b.weight(name)
	if w.dense == nil {
		panic(buildError(fmt.Sprintf("model: tensor %q is quantized but is used as a plain parameter", name)))
	}
	return b.addInit(w.dense)
}

func (b *builder) hasParam(name string) bool { _, ok := b.w[name]; return ok }

// scalar returns a rank-0 f32 constant holding v.
func (b *builder) scalar(v float32) string {
	key := strconv.FormatFloat(float64(v), 'g', -1, 32)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := "const.f32." + key
	data := binary.LittleEndian.AppendUint32(nil, math.Float32bits(v))
	b.addInit(&graph.Initializer{Name: name, Type: graph.T(graph.F32), Data: data})
	b.consts[key] = name
	return name
}

// f32Init adds an inline f32 vector constant.
func (b *builder) f32Init(name string, v []float32) string {
	data := make([]byte, 0, 4*len(v))
	for _, x := range v {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(x))
	}
	return b.addInit(&graph.Initializer{Name: name, Type: graph.T(graph.F32, graph.D(int64(len(v)))), Data: data})
}

// toF32 casts v to f32 unless it already is.
func (b *builder) toF32(v string, dt graph.DType) string {
	if dt == graph.F32 {
		return v
	}
	return b.op("Cast", attrs{"to": graph.String("f32")}, v)
}

// linear applies the Linear (or Conv1D) module whose weight is
// module+".weight", with module+".bias" when present.
func (b *builder) linear(x, module string) string {
	old := b.in(module)
	defer b.in(old)
	w := b.weight(module + ".weight")
	y := b.matmulWeight("", x, w)
	if bias := module + ".bias"; b.hasParam(bias) {
		y = b.op("Add", nil, y, b.param(bias))
	}
	return y
}

// matmulWeight computes x · Wᵀ (x · W for a Conv1D weight in its
// Hugging Face layout), quantized or dense, into value out ("": a new name).
func (b *builder) matmulWeight(out, x string, w *weight) string {
	if q := w.quant; q != nil {
		return b.emit(out, "QuantizedMatMul", attrs{"bits": graph.Int(int64(q.bits)), "group_size": graph.Int(int64(q.group))},
			x, b.addInit(q.w), b.addInit(q.scales), b.addInit(q.biases))
	}
	tb := int64(1)
	if w.spec.Kind == kindConv1D && !w.transposed {
		tb = 0
	}
	return b.emit(out, "MatMul", attrs{"transpose_b": graph.Int(tb)}, x, b.addInit(w.dense))
}

// embed looks token ids up in the embedding module's table, as f32.
func (b *builder) embed(module, ids string) string {
	old := b.in(module)
	defer b.in(old)
	w := b.weight(module + ".weight")
	if q := w.quant; q != nil {
		// dtype f32: dequantize at full precision, as QuantizedMatMul does.
		return b.op("QuantizedGather", attrs{"bits": graph.Int(int64(q.bits)), "group_size": graph.Int(int64(q.group)), "dtype": graph.String("f32")},
			b.addInit(q.w), b.addInit(q.scales), b.addInit(q.biases), ids)
	}
	y := b.op("Gather", attrs{"axis": graph.Int(0)}, b.addInit(w.dense), ids)
	return b.toF32(y, w.dense.Type.DType)
}

// lmHead projects the final hidden states onto the vocabulary; tied
// embeddings reuse the embedding table (dense or quantized).
func (b *builder) lmHead(x, embedding string) string {
	module, w := "lm_head", (*weight)(nil)
	if b.cfg.TieWordEmbeddings {
		w = b.weight(embedding + ".weight")
	} else {
		w = b.weight("lm_head.weight")
	}
	old := b.in(module)
	defer b.in(old)
	return b.matmulWeight(graph.Logits, x, w)
}

// rmsNorm is Hugging Face's LlamaRMSNorm in primitives.
func (b *builder) rmsNorm(module, x, out string) string {
	old := b.in(module)
	defer b.in(old)
	p := b.op("Pow", nil, x, b.scalar(2))
	m := b.op("ReduceMean", attrs{"axes": graph.Ints(-1), "keepdims": graph.Int(1)}, p)
	a := b.op("Add", nil, m, b.scalar(float32(b.cfg.NormEps)))
	r := b.op("Rsqrt", nil, a)
	n := b.op("Mul", nil, x, r)
	return b.emit(out, "Mul", nil, b.param(module+".weight"), n)
}

// layerNorm is torch's LayerNorm over the last axis in primitives.
func (b *builder) layerNorm(module, x, out string) string {
	old := b.in(module)
	defer b.in(old)
	mu := b.op("ReduceMean", attrs{"axes": graph.Ints(-1), "keepdims": graph.Int(1)}, x)
	d := b.op("Sub", nil, x, mu)
	sq := b.op("Pow", nil, d, b.scalar(2))
	v := b.op("ReduceMean", attrs{"axes": graph.Ints(-1), "keepdims": graph.Int(1)}, sq)
	ve := b.op("Add", nil, v, b.scalar(float32(b.cfg.NormEps)))
	sd := b.op("Sqrt", nil, ve)
	n := b.op("Div", nil, d, sd)
	y := b.op("Mul", nil, n, b.param(module+".weight"))
	return b.emit(out, "Add", nil, y, b.param(module+".bias"))
}

// heads reshapes [B,S,n*D] to [B,S,n,D].
func (b *builder) heads(x string, n int) string {
	return b.op("Reshape", attrs{"shape": graph.Ints(0, 0, int64(n), int64(b.cfg.HeadDim))}, x)
}

// transposeHeads swaps the sequence and head axes: [B,S,n,D] ⇄ [B,n,S,D].
func (b *builder) transposeHeads(x string) string {
	return b.op("Transpose", attrs{"perm": graph.Ints(0, 2, 1, 3)}, x)
}

// mergeHeads turns the attention output [B,n,S,D] into [B,S,n*D].
func (b *builder) mergeHeads(x string) string {
	t := b.transposeHeads(x)
	return b.op("Reshape", attrs{"shape": graph.Ints(0, 0, int64(b.cfg.NumHeads*b.cfg.HeadDim))}, t)
}

// mask returns the additive attention mask for a sliding window (0: none),
// emitting one AttentionMask node per distinct window.
func (b *builder) mask(window int64) string {
	if m, ok := b.masks[window]; ok {
		return m
	}
	old := b.in(b.modelScope())
	defer b.in(old)
	cur := b.cur
	b.cur = b.g
	defer func() { b.cur = cur }()
	m := b.op("AttentionMask", attrs{"causal": graph.Int(1), "sliding_window": graph.Int(window)}, graph.AttentionMask, graph.InputIDs)
	b.masks[window] = m
	return m
}

func (b *builder) modelScope() string {
	if b.cfg.Family == GPT2 {
		return strings.TrimSuffix(b.prefix, ".")
	}
	return "model"
}

// cache appends new keys or values x [B,kv,S,D] to layer i's past and
// returns the result, which is also the present.<i> output.
func (b *builder) cache(i int, x string, value bool) string {
	past, present := graph.PastKey(i), graph.PresentKey(i)
	if value {
		past, present = graph.PastValue(i), graph.PresentValue(i)
	}
	if !b.opts.MergedDecoder {
		return b.emit(present, "Concat", attrs{"axis": graph.Int(2)}, past, x)
	}
	B, S, P := graph.S(graph.DimBatch), graph.S(graph.DimSeq), graph.S(graph.DimPast)
	kv, D := graph.D(int64(b.kvHeads())), graph.D(int64(b.cfg.HeadDim))
	outer := b.cur
	branch := func(name string, op string, at attrs, t graph.TensorType, inputs ...string) *graph.Graph {
		sg := &graph.Graph{Name: name}
		b.cur = sg
		v := b.op(op, at, inputs...)
		sg.Outputs = []graph.ValueInfo{{Name: v, Type: t}}
		return sg
	}
	then := branch("then_branch", "Concat", attrs{"axis": graph.Int(2)}, graph.T(graph.F32, B, kv, P.Add(S), D), past, x)
	els := branch("else_branch", "Identity", nil, graph.T(graph.F32, B, kv, S, D), x)
	b.cur = outer
	out := b.emit(present, "If", nil, graph.UseCacheBranch)
	b.cur.Nodes[len(b.cur.Nodes)-1].Subgraphs = map[string]*graph.Graph{"then_branch": then, "else_branch": els}
	return out
}

// repeatKV repeats each kv head heads/kv times (transformers' repeat_kv).
func (b *builder) repeatKV(x string) string {
	rep := b.cfg.NumHeads / b.cfg.NumKVHeads
	if rep == 1 {
		return x
	}
	return b.op("RepeatInterleave", attrs{"repeats": graph.Int(int64(rep)), "axis": graph.Int(1)}, x)
}

// attend runs eager attention of q [B,H,S,D] over new keys/values k, v
// [B,kv,S,D]: caches them, applies scale (mul or div) and the mask, softmax,
// dropout and the value product, returning [B,S,H*D].
func (b *builder) attend(i int, q, k, v string, scoreScale func(s string) string, window int64) string {
	if b.opts.ExpandKVBeforeCache {
		k, v = b.repeatKV(k), b.repeatKV(v)
	}
	kc := b.cache(i, k, false)
	vc := b.cache(i, v, true)
	if !b.opts.ExpandKVBeforeCache {
		kc, vc = b.repeatKV(kc), b.repeatKV(vc)
	}
	kt := b.op("Transpose", attrs{"perm": graph.Ints(0, 1, 3, 2)}, kc)
	s := b.op("MatMul", nil, q, kt)
	s = scoreScale(s)
	s = b.op("Add", nil, s, b.mask(window))
	probs := ""
	if b.opts.AttentionOutputs {
		probs = graph.Attentions(i)
	}
	p := b.emit(probs, "Softmax", attrs{"axis": graph.Int(-1)}, s)
	p = b.op("Dropout", attrs{"rate": graph.Float(b.cfg.AttentionDropout)}, p)
	o := b.op("MatMul", nil, p, vc)
	return b.mergeHeads(o)
}

func metadata(c *Config, opts BuildOptions) map[string]string {
	itoa := strconv.Itoa
	m := map[string]string{
		graph.MetaArchitecture: c.Architecture,
		graph.MetaModelType:    c.ModelType,
		graph.MetaNumLayers:    itoa(c.NumLayers),
		graph.MetaNumHeads:     itoa(c.NumHeads),
		graph.MetaNumKVHeads:   itoa(c.NumKVHeads),
		graph.MetaHeadDim:      itoa(c.HeadDim),
		graph.MetaHiddenSize:   itoa(c.HiddenSize),
		graph.MetaVocabSize:    itoa(c.VocabSize),
		graph.MetaMaxPositions: itoa(c.MaxPositions),
		MetaKVCacheHeads:       itoa(c.NumKVHeads),
		MetaDType:              c.DType.String(),
		MetaNumParams:          strconv.FormatInt(c.NumParams(), 10),
		MetaLayerTypes:         strings.Join(c.LayerTypes, ","),
	}
	if opts.ExpandKVBeforeCache {
		m[MetaKVCacheHeads] = itoa(c.NumHeads)
	}
	if len(c.EOSTokenIDs) > 0 {
		ids := make([]string, len(c.EOSTokenIDs))
		for i, id := range c.EOSTokenIDs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		m[graph.MetaEOSTokenIDs] = strings.Join(ids, ",")
	}
	if c.BOSTokenID != nil {
		m[graph.MetaBOSTokenID] = strconv.FormatInt(*c.BOSTokenID, 10)
	}
	if c.PadTokenID != nil {
		m[graph.MetaPadTokenID] = strconv.FormatInt(*c.PadTokenID, 10)
	}
	if c.Quantization != nil {
		m[graph.MetaQuantization] = c.Quantization.String()
	}
	if c.Family != GPT2 {
		m[graph.MetaRopeTheta] = strconv.FormatFloat(c.Rope.Theta, 'g', -1, 64)
		m[graph.MetaRopeType] = c.Rope.Type
	}
	if c.SlidingWindow > 0 {
		m[MetaSlidingWindow] = itoa(c.SlidingWindow)
	}
	return m
}
