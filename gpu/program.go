package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// Ops lists the op types the GPU runtimes execute. Unfused attention
// (AttentionMask, RepeatInterleave, MatMul of two activations) and graphs
// that thread past_key_values through their I/O are refused: the GPU
// runtimes hold the KV cache themselves (run the native_attention pass).
var Ops = []string{
	"Identity", "Dropout", "Reshape", "Squeeze", "Unsqueeze", "Cast", "Constant",
	"Neg", "Abs", "Sqrt", "Rsqrt", "Exp", "Log", "Sin", "Cos", "Tanh", "Erf", "Sigmoid", "Silu", "Gelu",
	"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
	"ReduceMean", "ReduceSum", "ReduceMax", "Softmax",
	"MatMul", "Gather", "Transpose", "Concat", "Slice",
	"RMSNorm", "LayerNorm", "RoPE", "SDPA", "KVCacheAttention", "SwiGLU",
	"QuantizedMatMul", "QuantizedGather",
}

// DTypes lists the initializer dtypes the GPU runtimes read.
var DTypes = []graph.DType{graph.F32, graph.F16, graph.BF16, graph.F64, graph.I64, graph.I32, graph.U32}

// Capabilities describes a GPU runtime called name on device.
func Capabilities(name, device string) backend.Capabilities {
	return backend.Capabilities{Name: name, Device: device, Ops: append([]string(nil), Ops...), DTypes: append([]graph.DType(nil), DTypes...)}
}

// WeightForm says how an initializer is stored on the device.
type WeightForm uint8

// Weight forms: as in the checkpoint (matmul and embedding operands, which
// the kernels read in bf16/f16/f32/u32), widened to f32 (norm weights,
// biases, scalars: small tensors the elementwise kernels read), or narrowed
// to i32 (integer constants).
const (
	FormNative WeightForm = iota
	FormF32
	FormI32
)

// WeightSlot is one device allocation of constant data.
type WeightSlot struct {
	Name  string // initializer name, or a description of generated data
	Form  WeightForm
	DType graph.DType // element type on the device
	Shape []int64
	Init  *graph.Initializer // the source initializer; nil for generated data
	Data  []byte             // generated data (Constant nodes, RoPE frequencies)
}

// Bytes is the slot's size on the device.
func (w *WeightSlot) Bytes() int64 {
	n := int64(w.DType.Size())
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

// KVLayer is one runtime-held KV cache (a KVCacheAttention node's layer).
type KVLayer struct {
	Layer    int64
	KVHeads  int
	HeadDim  int
	ValueDim int
	Node     string
}

// Program is a rewritten decoder graph analysed once for the GPU runtimes:
// the nodes that compute the logits, the weights to upload and in which
// form, and the KV-cache layers. Plans for concrete batch and sequence
// sizes come from Plan.
type Program struct {
	g         *graph.Graph
	nodes     []*graph.Node // nodes the logits depend on, in graph order
	producer  map[string]int
	types     map[string]graph.TensorType
	Weights   []WeightSlot
	slot      map[string]int // name + "\x00" + form → index in Weights
	Layers    []KVLayer
	layerSlot map[int64]int
	Vocab     int
	// EmbedRows is the number of rows of the table input_ids index: token
	// ids must be below it (0 when no table reads input_ids directly).
	EmbedRows int
	fuse      bool // launch-plan fusions on (fuse.go)
}

// ErrNoLogits is returned for graphs without a logits output.
var ErrNoLogits = errors.New("graph has no logits output")

func unsupported(runtime, format string, args ...any) error {
	return &backend.UnsupportedError{Runtime: runtime, Missing: []string{fmt.Sprintf(format, args...)}}
}

// NewProgram analyses g for a GPU runtime named runtime (used in errors).
func NewProgram(runtime string, g *graph.Graph) (*Program, error) {
	if err := Capabilities(runtime, "").Check(g); err != nil {
		return nil, err
	}
	for _, in := range g.Inputs {
		if strings.HasPrefix(in.Name, "past_key_values.") || in.Name == graph.UseCacheBranch {
			return nil, unsupported(runtime, "graph input %s (the GPU runtimes hold the KV cache themselves: run the native_attention and nullify_block_cache passes)", in.Name)
		}
	}
	if g.Output(graph.Logits) == nil {
		return nil, ErrNoLogits
	}
	types, err := graph.Infer(g)
	if err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.Name, err)
	}
	p := &Program{g: g, producer: map[string]int{}, types: types, slot: map[string]int{}, layerSlot: map[int64]int{}, fuse: fuseFromEnv()}
	// Keep only what the logits need.
	need := map[string]bool{graph.Logits: true}
	live := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if need[o] {
				live[i] = true
			}
		}
		if live[i] {
			for _, in := range n.Inputs {
				if in != "" {
					need[in] = true
				}
			}
		}
	}
	for i, n := range g.Nodes {
		if !live[i] {
			continue
		}
		if len(n.Subgraphs) > 0 {
			return nil, unsupported(runtime, "node %s (%s) with subgraphs (run the if_present pass)", n.Name, n.Op)
		}
		for _, o := range n.Outputs {
			p.producer[o] = len(p.nodes)
		}
		p.nodes = append(p.nodes, n)
	}
	if lt := types[graph.Logits]; lt.Shape.Rank() > 0 {
		if d := lt.Shape[lt.Shape.Rank()-1]; d.Static() {
			p.Vocab = int(d.Size)
		}
	}
	if p.Vocab == 0 {
		return nil, fmt.Errorf("logits %s: the vocabulary dim must be static", types[graph.Logits])
	}
	// Weight roles: operands the kernels read in their checkpoint dtype stay
	// native; every other use of an initializer reads f32 (or i32).
	for _, n := range p.nodes {
		for i, in := range n.Inputs {
			ini := g.Initializer(in)
			if in == "" || ini == nil {
				continue
			}
			if nativeOperand(n.Op, i) {
				if err := p.addInit(ini, FormNative); err != nil {
					return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.Op, err)
				}
				continue
			}
			form := FormF32
			if !ini.Type.DType.IsFloat() {
				form = FormI32
			}
			if err := p.addInit(ini, form); err != nil {
				return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.Op, err)
			}
		}
		switch n.Op {
		case "Gather", "QuantizedGather":
			data, idx := n.Input(0), n.Input(1)
			if n.Op == "QuantizedGather" {
				idx = n.Input(3)
			}
			if t, ok := types[data]; ok && idx == graph.InputIDs && t.Shape.Rank() > 0 && t.Shape[0].Static() {
				if r := int(t.Shape[0].Size); p.EmbedRows == 0 || r < p.EmbedRows {
					p.EmbedRows = r
				}
			}
		case "Constant":
			if err := p.addConstant(n); err != nil {
				return nil, err
			}
		case "RoPE":
			if n.Input(2) == "" {
				p.ropeFreqs(n.Int("dims"), n.Float("base"))
			}
		case "KVCacheAttention":
			l := n.Int("layer")
			if _, dup := p.layerSlot[l]; dup {
				return nil, fmt.Errorf("node %s: KVCacheAttention layer %d used twice", n.Name, l)
			}
			kt, vt := types[n.Input(1)], types[n.Input(2)]
			hkv, d, dv := kt.Shape[1], kt.Shape[3], vt.Shape[3]
			if !hkv.Static() || !d.Static() || !dv.Static() {
				return nil, fmt.Errorf("node %s: KV heads and head dims must be static, got k %s v %s", n.Name, kt, vt)
			}
			p.layerSlot[l] = len(p.Layers)
			p.Layers = append(p.Layers, KVLayer{Layer: l, KVHeads: int(hkv.Size), HeadDim: int(d.Size), ValueDim: int(dv.Size), Node: n.Name})
		}
	}
	return p, nil
}

// nativeOperand reports whether input i of op is read by its kernel in the
// initializer's own dtype.
func nativeOperand(op string, i int) bool {
	switch op {
	case "MatMul":
		return i == 1
	case "Gather":
		return i == 0
	case "QuantizedMatMul":
		return i >= 1
	case "QuantizedGather":
		return i <= 2
	}
	return false
}

func slotKey(name string, f WeightForm) string { return name + "\x00" + strconv.Itoa(int(f)) }

func (p *Program) addInit(ini *graph.Initializer, f WeightForm) error {
	key := slotKey(ini.Name, f)
	if _, ok := p.slot[key]; ok {
		return nil
	}
	dt := ini.Type.DType
	switch f {
	case FormNative:
		switch dt {
		case graph.F32, graph.F16, graph.BF16, graph.U32:
		default:
			return fmt.Errorf("initializer %s: dtype %s is not a weight dtype (f32, f16, bf16, u32)", ini.Name, dt)
		}
	case FormF32:
		if !dt.IsFloat() {
			return fmt.Errorf("initializer %s: %s where floats are needed", ini.Name, dt)
		}
		dt = graph.F32
	case FormI32:
		if dt == graph.U32 {
			return fmt.Errorf("initializer %s: packed u32 weights only feed quantized ops", ini.Name)
		}
		dt = graph.I32
	}
	shape, ok := ini.Type.Shape.Ints()
	if !ok {
		return fmt.Errorf("initializer %s: shape %s is not static", ini.Name, ini.Type.Shape)
	}
	p.slot[key] = len(p.Weights)
	p.Weights = append(p.Weights, WeightSlot{Name: ini.Name, Form: f, DType: dt, Shape: shape, Init: ini})
	return nil
}

func (p *Program) addGenerated(key string, dt graph.DType, shape []int64, data []byte) {
	if _, ok := p.slot[key]; ok {
		return
	}
	p.slot[key] = len(p.Weights)
	p.Weights = append(p.Weights, WeightSlot{Name: key, Form: FormF32, DType: dt, Shape: shape, Data: data})
}

func (p *Program) addConstant(n *graph.Node) error {
	dt, err := graph.ParseDType(n.Str("dtype"))
	if err != nil {
		return fmt.Errorf("node %s (Constant): %w", n.Name, err)
	}
	shape := n.IntList("shape")
	count := int64(1)
	for _, d := range shape {
		count *= d
	}
	vals := n.Attrs["values"].Floats
	b := make([]byte, 4*count)
	for i := int64(0); i < count; i++ {
		v := vals[0]
		if len(vals) > 1 {
			v = vals[i]
		}
		if dt.IsFloat() {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(roundFloat(float32(v), dt)))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(v)))
		}
	}
	sdt := graph.F32
	if !dt.IsFloat() {
		sdt = graph.I32
	}
	p.addGenerated("constant:"+n.Name, sdt, shape, b)
	return nil
}

func ropeKey(dims int64, base float64) string {
	return fmt.Sprintf("rope_inv_freq:dims=%d:base=%g", dims, base)
}

// ropeFreqs adds inv_freq[k] = base^(-2k/dims) as f32 (computed in f64,
// rounded once, as the reference does).
func (p *Program) ropeFreqs(dims int64, base float64) {
	b := make([]byte, 4*(dims/2))
	for k := int64(0); k < dims/2; k++ {
		v := float32(math.Pow(base, -float64(2*k)/float64(dims)))
		binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(v))
	}
	p.addGenerated(ropeKey(dims, base), graph.F32, []int64{dims / 2}, b)
}

// WeightBytes is the device size of all weight slots.
func (p *Program) WeightBytes() int64 {
	var n int64
	for i := range p.Weights {
		n += p.Weights[i].Bytes()
	}
	return n
}

// ReadWeight returns slot w's bytes in its device form, reading the
// initializer (inline data or its file range) and converting as needed.
func ReadWeight(w *WeightSlot) ([]byte, error) {
	if w.Init == nil {
		return w.Data, nil
	}
	raw, err := readInitializer(w.Init)
	if err != nil {
		return nil, err
	}
	src := w.Init.Type.DType
	switch w.Form {
	case FormNative:
		return raw, nil
	case FormF32:
		if src == graph.F32 {
			return raw, nil
		}
		return widenToF32(raw, src), nil
	default:
		return narrowToI32(raw, src), nil
	}
}

func readInitializer(in *graph.Initializer) ([]byte, error) {
	want := in.Type.ByteSize()
	if in.Data != nil {
		if int64(len(in.Data)) != want {
			return nil, fmt.Errorf("initializer %s: %d bytes of data for %s (%d bytes)", in.Name, len(in.Data), in.Type, want)
		}
		return in.Data, nil
	}
	if in.Ref == nil {
		if in.Derive != nil {
			return nil, fmt.Errorf("initializer %s: derived (%s of %s) but not materialised", in.Name, in.Derive.Op, in.Derive.Source)
		}
		return nil, fmt.Errorf("initializer %s: no data and no file reference", in.Name)
	}
	if in.Ref.Length != want {
		return nil, fmt.Errorf("initializer %s: reference of %d bytes for %s (%d bytes)", in.Name, in.Ref.Length, in.Type, want)
	}
	f, err := os.Open(in.Ref.File)
	if err != nil {
		return nil, fmt.Errorf("initializer %s: %w", in.Name, err)
	}
	defer f.Close()
	b := make([]byte, want)
	if _, err := f.ReadAt(b, in.Ref.Offset); err != nil {
		return nil, fmt.Errorf("initializer %s: reading %d bytes at offset %d of %s: %w", in.Name, want, in.Ref.Offset, in.Ref.File, err)
	}
	return b, nil
}

// BF16ToF32 widens a bfloat16 bit pattern.
func BF16ToF32(u uint16) float32 { return math.Float32frombits(uint32(u) << 16) }

// F16ToF32 widens an IEEE half bit pattern.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// F32ToBF16 rounds to nearest even.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7f800000 == 0x7f800000 && u&0x7fffff != 0 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F32ToF16 rounds to nearest even.
func F32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23&0xff) - 127 + 15
	man := u & 0x7fffff
	switch {
	case u&0x7fffffff > 0x7f800000:
		return sign | 0x7e00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := man >> shift
		rem := man & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}

func roundFloat(v float32, dt graph.DType) float32 {
	switch dt {
	case graph.BF16:
		return BF16ToF32(F32ToBF16(v))
	case graph.F16:
		return F16ToF32(F32ToF16(v))
	}
	return v
}

func widenToF32(raw []byte, dt graph.DType) []byte {
	n := len(raw) / dt.Size()
	out := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		var v float32
		switch dt {
		case graph.BF16:
			v = BF16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		case graph.F16:
			v = F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		case graph.F64:
			v = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

func narrowToI32(raw []byte, dt graph.DType) []byte {
	n := len(raw) / dt.Size()
	out := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		var v int64
		switch dt.Size() {
		case 8:
			v = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		case 4:
			v = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		case 1:
			v = int64(raw[i])
			if dt == graph.I8 {
				v = int64(int8(raw[i]))
			}
		}
		binary.LittleEndian.PutUint32(out[4*i:], uint32(int32(v)))
	}
	return out
}
