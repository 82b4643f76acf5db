// Package convert writes MLX-format quantized checkpoints: what mlx-lm's
// `convert -q` produces and loads (config.json with "quantization" and
// "quantization_config", model.safetensors with <module>.weight packed u32
// and <module>.scales/.biases for quantized modules, every other tensor
// copied, tokenizer and generation files copied), and what this project's
// model package loads.
//
// Which modules are quantized is decided on the model's graph by package
// quant/rules, so the converter and the quantize pass agree.
package convert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/quant/rules"
	"github.com/graphpass/graphpass/weights"
)

// ErrExists is returned when the output directory exists and Force is off.
var ErrExists = errors.New("output directory already exists")

// Options configure Quantize. The zero value quantizes MLX's default way
// (4 bits, groups of 64, mlx-lm's module selection).
type Options struct {
	Bits      int // 0 means 4
	GroupSize int // 0 means 64
	// Seed, SkipRows, IncludeEmbeddings and Exclude select modules as
	// rules.Policy documents.
	Seed              bool
	SkipRows          int64
	IncludeEmbeddings bool
	Exclude           []string
	// Force replaces an existing output directory (only once the new one
	// is complete).
	Force bool
	// ShardBytes starts a new model-0000i-of-0000n.safetensors shard once a
	// shard holds this many bytes; 0 means 5 GB, as mlx-lm.
	ShardBytes int64
	// Progress, when set, is called before each tensor is written.
	Progress func(Progress)
}

// Progress reports one step of a conversion: Tensor is about to be
// written (quantized when Quantizing); Done of Total are written. A last
// call with Done == Total and no Tensor ends the conversion.
type Progress struct {
	Tensor      string
	Done, Total int
	Quantizing  bool
}

// Module is the outcome for one candidate module.
type Module struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`  // linear, conv1d or embedding
	Shape     [2]int64 `json:"shape"` // [N, K]
	Quantized bool     `json:"quantized"`
	Reason    string   `json:"reason,omitempty"`        // why it stays dense
	Error     float64  `json:"rel_rms_error,omitempty"` // relative RMS error of the dequantized weight (sampled rows)
}

// Report says what Quantize did.
type Report struct {
	Source        string   `json:"source"`
	Output        string   `json:"output"`
	Bits          int      `json:"bits"`
	GroupSize     int      `json:"group_size"`
	Rules         string   `json:"rules"` // "mlx" or "seed"
	Modules       []Module `json:"modules"`
	Dropped       []string `json:"dropped,omitempty"` // tensors not written (lm_head of tied embeddings)
	Files         []string `json:"files"`
	SourceBytes   int64    `json:"source_bytes"`
	OutputBytes   int64    `json:"output_bytes"`
	Quantized     int      `json:"quantized_modules"`
	BitsPerWeight float64  `json:"bits_per_weight"` // of quantized modules, scales and biases included
}

// Quantize converts the Hugging Face checkpoint in src into an MLX
// quantized checkpoint in dst. The output is written to a temporary
// directory next to dst and renamed into place only when complete and
// loadable, so dst is never left half-written.
func Quantize(ctx context.Context, src, dst string, opts Options) (*Report, error) {
	if opts.Bits == 0 {
		opts.Bits = quant.Default.Bits
	}
	if opts.GroupSize == 0 {
		opts.GroupSize = quant.Default.GroupSize
	}
	if opts.ShardBytes <= 0 {
		opts.ShardBytes = 5 << 30
	}
	p := quant.Params{Bits: opts.Bits, GroupSize: opts.GroupSize}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	policy := rules.Policy{Bits: opts.Bits, GroupSize: opts.GroupSize, Seed: opts.Seed,
		SkipRows: opts.SkipRows, IncludeEmbeddings: opts.IncludeEmbeddings, Exclude: opts.Exclude}
	if err := policy.Check(); err != nil {
		return nil, err
	}
	dst, err := filepath.Abs(dst)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dst); err == nil && !opts.Force {
		return nil, fmt.Errorf("%w: %s (use --force to replace it)", ErrExists, dst)
	}

	ck, err := model.Open(src)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	if sameDir(ck.Dir, dst) {
		return nil, fmt.Errorf("output %s is the source checkpoint", dst)
	}
	if ck.Config.Quantization != nil {
		return nil, fmt.Errorf("%s is already quantized (%s); convert from the original checkpoint", ck.Dir, ck.Config.Quantization)
	}
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		return nil, err
	}
	decisions, err := rules.Decide(rules.Candidates(g), policy)
	if err != nil {
		return nil, err
	}
	plan, err := makePlan(ck, decisions, p)
	if err != nil {
		return nil, err
	}

	rep := &Report{Source: ck.Dir, Output: dst, Bits: p.Bits, GroupSize: p.GroupSize, Rules: "mlx"}
	if opts.Seed {
		rep.Rules = "seed"
	}
	rep.Modules, rep.Dropped = plan.modules, plan.dropped
	rep.SourceBytes = ck.WeightBytes()

	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	if err := plan.write(ctx, tmp, opts, rep); err != nil {
		return nil, err
	}
	if err := writeConfig(ck.Dir, tmp, p); err != nil {
		return nil, err
	}
	if err := copyAuxFiles(ck.Dir, tmp); err != nil {
		return nil, err
	}
	// Refuse to publish what cannot be loaded back.
	if err := checkLoads(tmp); err != nil {
		return nil, fmt.Errorf("converted checkpoint does not load: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := publish(tmp, dst); err != nil {
		return nil, err
	}
	var qWeights, qBytes int64
	for _, m := range rep.Modules {
		if m.Quantized {
			rep.Quantized++
			qWeights += m.Shape[0] * m.Shape[1]
			qBytes += m.Shape[0] * (m.Shape[1]*int64(p.Bits)/8 + 2*(m.Shape[1]/int64(p.GroupSize))*int64(dtypeSizeOf(ck, m.Name)))
		}
	}
	if qWeights > 0 {
		rep.BitsPerWeight = float64(8*qBytes) / float64(qWeights)
	}
	return rep, nil
}

func dtypeSizeOf(ck *model.Checkpoint, module string) int {
	info, _, ok := ck.Tensor(module + ".weight")
	if !ok {
		return 2
	}
	return info.DType.Size()
}

func sameDir(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// publish renames tmp to dst, replacing an existing dst only after the
// new directory is complete.
func publish(tmp, dst string) error {
	if _, err := os.Stat(dst); err != nil {
		return os.Rename(tmp, dst)
	}
	old := dst + ".old-" + filepath.Base(tmp)
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Rename(old, dst) // put the old one back
		return err
	}
	return os.RemoveAll(old)
}

// entry is one output tensor.
type entry struct {
	name   string
	dtype  graph.DType
	shape  []int64
	source string // checkpoint tensor it comes from
	// For quantized modules: which output of the quantized triplet, and
	// the module's shared state (quantized once, on first use).
	part  int // 0 weight, 1 scales, 2 biases; -1 copied as is
	mod   *modState
	trans bool // copy transposed ([in, out] Conv1D to [out, in])
	rows  int64
	cols  int64
}

type modState struct {
	idx   int // in plan.modules
	src   string
	trans bool
	rows  int64
	cols  int64
	dtype graph.DType
	m     *quant.Matrix
	users int
}

type plan struct {
	ck      *model.Checkpoint
	p       quant.Params
	entries []entry
	modules []Module
	dropped []string
	mlxMeta bool // transposed Conv1D weights: mark the file "format": "mlx"
}

func makePlan(ck *model.Checkpoint, decisions []rules.Decision, p quant.Params) (*plan, error) {
	pl := &plan{ck: ck, p: p}
	byName := map[string]rules.Decision{}
	for _, d := range decisions {
		byName[d.Name] = d
		pl.modules = append(pl.modules, Module{Name: d.Module, Kind: d.Kind.String(), Shape: [2]int64{d.Rows, d.Cols},
			Quantized: d.Quantize, Reason: d.Reason})
		if d.Kind == rules.Conv1D {
			pl.mlxMeta = true
		}
	}
	modIdx := map[string]int{}
	for i, m := range pl.modules {
		modIdx[m.Name] = i
	}
	for _, name := range ck.TensorNames() {
		info, _, _ := ck.Tensor(name)
		if name == "lm_head.weight" && ck.Config.TieWordEmbeddings {
			pl.dropped = append(pl.dropped, name) // mlx-lm drops it: the embedding serves
			continue
		}
		shape := append([]int64(nil), info.Shape...)
		d, ok := byName[name]
		switch {
		case ok && d.Quantize:
			ms := &modState{idx: modIdx[d.Module], src: name, trans: d.Transposed, rows: d.Rows, cols: d.Cols, dtype: info.DType}
			w, s, b := rules.PackedTypes(d.Candidate, p.Bits, p.GroupSize)
			for part, t := range []graph.TensorType{w, s, b} {
				sh, _ := t.Shape.Ints()
				suffix := [...]string{".weight", ".scales", ".biases"}[part]
				pl.entries = append(pl.entries, entry{name: d.Module + suffix, dtype: t.DType, shape: sh, source: name, part: part, mod: ms})
				ms.users++
			}
		case ok && d.Transposed:
			pl.entries = append(pl.entries, entry{name: name, dtype: info.DType, shape: []int64{shape[1], shape[0]},
				source: name, part: -1, trans: true, rows: shape[0], cols: shape[1]})
		default:
			pl.entries = append(pl.entries, entry{name: name, dtype: info.DType, shape: shape, source: name, part: -1})
		}
	}
	sort.SliceStable(pl.entries, func(i, j int) bool { return pl.entries[i].name < pl.entries[j].name })
	return pl, nil
}

func (e entry) bytes() int64 {
	return graph.TensorType{DType: e.dtype, Shape: graph.StaticShape(e.shape...)}.ByteSize()
}

// write streams the entries into shards under dir. Each quantized module
// is quantized when its first tensor is written and released after its
// last, so memory holds one module at a time.
func (pl *plan) write(ctx context.Context, dir string, opts Options, rep *Report) error {
	var shards [][]entry
	var cur []entry
	var size int64
	for _, e := range pl.entries {
		if len(cur) > 0 && size+e.bytes() > opts.ShardBytes {
			shards, cur, size = append(shards, cur), nil, 0
		}
		cur = append(cur, e)
		size += e.bytes()
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}
	meta := map[string]string{"format": "mlx"}
	done, total := 0, len(pl.entries)
	weightMap := map[string]string{}
	var totalSize int64
	for i, sh := range shards {
		name := "model.safetensors"
		if len(shards) > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
		var ents []weights.Entry
		for _, e := range sh {
			e := e
			weightMap[e.name] = name
			totalSize += e.bytes()
			ents = append(ents, weights.Entry{Name: e.name, DType: e.dtype, Shape: e.shape, Fill: func(w io.Writer) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if opts.Progress != nil {
					opts.Progress(Progress{Tensor: e.name, Done: done, Total: total, Quantizing: e.part >= 0})
				}
				done++
				return pl.fill(w, e, rep)
			}})
		}
		path := filepath.Join(dir, name)
		if err := weights.WriteFile(path, ents, meta); err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		rep.OutputBytes += st.Size()
		rep.Files = append(rep.Files, name)
	}
	if len(shards) > 1 {
		idx := map[string]any{"metadata": map[string]any{"total_size": totalSize}, "weight_map": weightMap}
		b, _ := json.MarshalIndent(idx, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
		rep.Files = append(rep.Files, "model.safetensors.index.json")
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Done: total, Total: total})
	}
	return nil
}

func (pl *plan) fill(w io.Writer, e entry, rep *Report) error {
	src, err := pl.ck.Bytes(e.source)
	if err != nil {
		return err
	}
	switch {
	case e.part < 0 && e.trans:
		_, err = w.Write(quant.Transpose(src, int(e.rows), int(e.cols), e.dtype.Size()))
		return err
	case e.part < 0:
		_, err = w.Write(src)
		return err
	}
	ms := e.mod
	if ms.m == nil {
		data := src
		if ms.trans {
			data = quant.Transpose(src, int(ms.cols), int(ms.rows), ms.dtype.Size())
		}
		m, err := quant.QuantizeBytes(data, ms.dtype, int(ms.rows), int(ms.cols), pl.p)
		if err != nil {
			return fmt.Errorf("quantize %s: %w", ms.src, err)
		}
		ms.m = m
		rep.Modules[ms.idx].Error = relError(data, ms.dtype, m)
	}
	switch e.part {
	case 0:
		_, err = w.Write(ms.m.WordBytes())
	case 1:
		_, err = w.Write(ms.m.Scales)
	case 2:
		_, err = w.Write(ms.m.Biases)
	}
	if ms.users--; ms.users == 0 {
		ms.m = nil
	}
	return err
}

// relError is the relative RMS error of the dequantized matrix, measured
// on up to 256 rows spread over the matrix (enough to report, cheap).
func relError(data []byte, dt graph.DType, m *quant.Matrix) float64 {
	step := max(1, m.Rows/256)
	row := make([]float32, m.Cols)
	orig := make([]float32, m.Cols)
	var se, sw float64
	rb := m.Cols * dt.Size()
	for r := 0; r < m.Rows; r += step {
		m.DequantizeRow(row, r)
		quant.DecodeRow(orig, data[r*rb:(r+1)*rb], dt)
		for k := range row {
			d := float64(row[k] - orig[k])
			se += d * d
			sw += float64(orig[k]) * float64(orig[k])
		}
	}
	if sw == 0 {
		return 0
	}
	return math.Sqrt(se / sw)
}

// writeConfig copies config.json, adding MLX's quantization keys.
func writeConfig(srcDir, dir string, p quant.Params) error {
	b, err := os.ReadFile(filepath.Join(srcDir, "config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(srcDir, "config.json"), err)
	}
	q, _ := json.Marshal(map[string]any{"group_size": p.GroupSize, "bits": p.Bits, "mode": "affine"})
	cfg["quantization"] = q
	cfg["quantization_config"] = q
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(out, '\n'), 0o644)
}

// copyAuxFiles copies what mlx-lm copies next to the weights: tokenizer
// and generation files (*.json, *.txt, *.model, *.tiktoken, *.jinja, *.py),
// except config.json (rewritten) and weight indexes.
func copyAuxFiles(srcDir, dir string) error {
	ents, err := os.ReadDir(srcDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || name == "config.json" || strings.HasSuffix(name, ".index.json") {
			continue
		}
		switch filepath.Ext(name) {
		case ".json", ".txt", ".model", ".tiktoken", ".jinja", ".py":
		default:
			continue
		}
		if err := copyFile(filepath.Join(srcDir, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func checkLoads(dir string) error {
	ck, err := model.Open(dir)
	if err != nil {
		return err
	}
	defer ck.Close()
	_, err = ck.Graph(model.BuildOptions{})
	return err
}
