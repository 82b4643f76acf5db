package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

// Checkpoint is an opened Hugging Face checkpoint directory: its config and
// its memory-mapped safetensors files.
type Checkpoint struct {
	Dir    string // absolute
	Config *Config
	// Store maps the weight files; graphs built from the checkpoint refer
	// to them by path, so runtimes may use this store or their own.
	Store *weights.Store
	// Files are the safetensors files in load order.
	Files []*weights.File

	tensors   map[string]tensorLoc
	ownsStore bool
}

type tensorLoc struct {
	file *weights.File
	info weights.TensorInfo
}

// Open reads the checkpoint in dir: config.json, generation_config.json
// when present, and model.safetensors or the shards listed in
// model.safetensors.index.json, all memory-mapped (no tensor data is read).
func Open(dir string) (*Checkpoint, error) { return OpenWith(dir, LoadOptions{}) }

// OpenWith is Open with options.
func OpenWith(dir string, opts LoadOptions) (*Checkpoint, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	cfg, err := LoadConfigWith(abs, opts)
	if err != nil {
		return nil, err
	}
	store := weights.NewStore()
	ck, err := openTensors(abs, cfg, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	ck.ownsStore = true
	return ck, nil
}

func openTensors(dir string, cfg *Config, store *weights.Store) (*Checkpoint, error) {
	ck := &Checkpoint{Dir: dir, Config: cfg, Store: store, tensors: map[string]tensorLoc{}}
	single := filepath.Join(dir, "model.safetensors")
	index := filepath.Join(dir, "model.safetensors.index.json")
	var shards []string
	var weightMap map[string]string
	switch {
	case fileExists(single):
		shards = []string{"model.safetensors"}
	case fileExists(index):
		var err error
		if shards, weightMap, err = readIndex(index); err != nil {
			return nil, err
		}
	default:
		// Shards without an index (model-00001-of-00002.safetensors ...).
		matches, _ := filepath.Glob(filepath.Join(dir, "model*.safetensors"))
		if len(matches) == 0 {
			return nil, fmt.Errorf("model: %s has no model.safetensors or model.safetensors.index.json", dir)
		}
		for _, m := range matches {
			shards = append(shards, filepath.Base(m))
		}
		sort.Strings(shards)
	}
	for _, name := range shards {
		f, err := store.OpenSafetensors(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		ck.Files = append(ck.Files, f)
		for _, t := range f.Header.Tensors {
			if prev, dup := ck.tensors[t.Name]; dup {
				return nil, fmt.Errorf("model: tensor %q is in both %s and %s", t.Name, filepath.Base(prev.file.Path), name)
			}
			ck.tensors[t.Name] = tensorLoc{file: f, info: t}
		}
	}
	if weightMap != nil {
		var problems errs
		for tensor, file := range weightMap {
			loc, ok := ck.tensors[tensor]
			switch {
			case !ok:
				problems.addf("index lists tensor %q in %s, which does not hold it", tensor, file)
			case filepath.Base(loc.file.Path) != file:
				problems.addf("index lists tensor %q in %s, but it is in %s", tensor, file, filepath.Base(loc.file.Path))
			}
		}
		if len(problems) > 0 {
			sort.Slice(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
			return nil, fmt.Errorf("model: %s: %w", index, problems.err())
		}
	}
	return ck, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// readIndex reads model.safetensors.index.json: the shard files (in first-
// mention order) and the tensor → file map.
func readIndex(path string) ([]string, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, nil, fmt.Errorf("model: %s is not valid JSON: %v", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("model: %s has no \"weight_map\"", path)
	}
	seen := map[string]bool{}
	var shards []string
	names := make([]string, 0, len(idx.WeightMap))
	for t := range idx.WeightMap {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		f := idx.WeightMap[t]
		if f == "" || filepath.Base(f) != f || strings.HasPrefix(f, ".") {
			return nil, nil, fmt.Errorf("model: %s: tensor %q maps to %q, not a file in the checkpoint directory", path, t, f)
		}
		if !seen[f] {
			seen[f] = true
			shards = append(shards, f)
		}
	}
	sort.Strings(shards)
	return shards, idx.WeightMap, nil
}

// TensorNames lists every tensor of the checkpoint, sorted.
func (ck *Checkpoint) TensorNames() []string {
	out := make([]string, 0, len(ck.tensors))
	for n := range ck.tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Tensor returns the named tensor's location and a reference to its bytes.
func (ck *Checkpoint) Tensor(name string) (weights.TensorInfo, *graph.WeightRef, bool) {
	loc, ok := ck.tensors[name]
	if !ok {
		return weights.TensorInfo{}, nil, false
	}
	return loc.info, &graph.WeightRef{File: loc.file.Path, Offset: loc.info.Offset, Length: loc.info.Length}, true
}

// tensor implements source.
func (ck *Checkpoint) tensor(name string) (weights.TensorInfo, *graph.WeightRef, bool) {
	return ck.Tensor(name)
}

// Bytes returns the named tensor's bytes, a read-only view of the mapping.
func (ck *Checkpoint) Bytes(name string) ([]byte, error) {
	loc, ok := ck.tensors[name]
	if !ok {
		return nil, fmt.Errorf("model: %s: no tensor %q", ck.Dir, name)
	}
	return loc.file.Bytes(name)
}

// WeightBytes is the total size of the checkpoint's tensors.
func (ck *Checkpoint) WeightBytes() int64 {
	var n int64
	for _, loc := range ck.tensors {
		n += loc.info.Length
	}
	return n
}

// mlxLayout reports whether the checkpoint was written by MLX, whose GPT-2
// keeps Conv1D weights as [out, in].
func (ck *Checkpoint) mlxLayout() bool {
	for _, f := range ck.Files {
		if f.Header.Metadata["format"] == "mlx" {
			return true
		}
	}
	return false
}

// gpt2Prefix finds the module prefix of a GPT-2 checkpoint: "transformer."
// (GPT2LMHeadModel.save_pretrained), "model." (mlx-lm) or "" (the original
// OpenAI conversion, GPT2Model).
func (ck *Checkpoint) gpt2Prefix() string {
	for _, p := range []string{"transformer.", "model.", ""} {
		if _, ok := ck.tensors[p+"wte.weight"]; ok {
			return p
		}
	}
	return "transformer."
}

// Graph builds the decoder graph, its initializers referring to the
// checkpoint's files. Every tensor the config implies is checked first
// (present, right shape and dtype, quantized triplets consistent), and all
// problems are reported in one error naming the checkpoint directory.
func (ck *Checkpoint) Graph(opts BuildOptions) (*graph.Graph, error) {
	prefix := ""
	mlx := ck.mlxLayout()
	if ck.Config.Family == GPT2 {
		prefix = ck.gpt2Prefix()
		mlx = mlx || prefix == "model."
	}
	w, err := resolveWeights(ck.Config, tensorSpecs(ck.Config, prefix), ck, mlx)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", ck.Dir, err)
	}
	g, err := build(ck.Config, opts, w, prefix)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", ck.Dir, err)
	}
	g.Metadata[graph.MetaModelDir] = ck.Dir
	return g, nil
}

// Close unmaps the checkpoint's files (when Open created the store).
// Graphs built from it stay valid: they refer to the files by path.
func (ck *Checkpoint) Close() error {
	if ck.ownsStore {
		return ck.Store.Close()
	}
	return nil
}
