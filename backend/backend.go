// Package backend defines what every runtime implements: the CPU reference
// runtime in-process (package cpu), and runtime plugins (cpu, cuda, metal)
// behind go-plugin (package plugins), so the host drives them all alike.
//
// A runtime loads a rewritten decoder graph (see graph/decoder.go for its
// I/O names). Weights arrive by reference: every initializer of a graph
// handed to Load has inline Data or a Ref into a file the runtime maps
// itself; the host has already materialised derived initializers.
package backend

import (
	"context"
	"errors"

	"github.com/graphpass/graphpass/graph"
)

// ErrUnsupported is wrapped by Load when a runtime cannot execute a graph
// (an op or dtype it lacks); the message names what is missing.
var ErrUnsupported = errors.New("unsupported by runtime")

// Capabilities says what a runtime can execute, so the host can refuse a
// graph before loading it.
type Capabilities struct {
	Name   string        // "cpu", "cuda", "metal"
	Device string        // human-readable, e.g. "NVIDIA H100 80GB HBM3" or "2 x86-64 cores"
	Ops    []string      // op types it executes
	DTypes []graph.DType // weight dtypes it reads
}

// Check returns an error wrapping ErrUnsupported that lists every op and
// initializer dtype of g that c lacks, or nil.
func (c Capabilities) Check(g *graph.Graph) error {
	ops := map[string]bool{}
	for _, o := range c.Ops {
		ops[o] = true
	}
	dts := map[graph.DType]bool{}
	for _, d := range c.DTypes {
		dts[d] = true
	}
	var missing []string
	seen := map[string]bool{}
	for op := range g.OpCounts() {
		if !ops[op] && !seen[op] {
			seen[op] = true
			missing = append(missing, "op "+op)
		}
	}
	for _, in := range g.Initializers {
		if k := "dtype " + in.Type.DType.String(); !dts[in.Type.DType] && !seen[k] {
			seen[k] = true
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &UnsupportedError{Runtime: c.Name, Missing: missing}
}

// UnsupportedError lists what a runtime lacks for a graph.
type UnsupportedError struct {
	Runtime string
	Missing []string
}

func (e *UnsupportedError) Error() string {
	s := "runtime " + e.Runtime + " cannot run this graph: it lacks"
	for i, m := range e.Missing {
		if i > 0 {
			s += ","
		}
		s += " " + m
	}
	return s
}

func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// Runtime loads graphs.
type Runtime interface {
	Capabilities() Capabilities
	// Load prepares g for execution: maps or uploads its weights and plans
	// its execution. The runtime keeps no reference to g after Load returns
	// beyond what it copied.
	Load(ctx context.Context, g *graph.Graph, opts LoadOptions) (Model, error)
	Close() error
}

// LoadOptions tune Load.
type LoadOptions struct {
	Threads int // CPU worker goroutines; 0 = GOMAXPROCS
}

// Model is a loaded graph; it can serve several sessions one after another.
type Model interface {
	NewSession(ctx context.Context, opts SessionOptions) (Session, error)
	Stats() Stats
	Close() error
}

// SessionOptions size a session.
type SessionOptions struct {
	Batch  int // rows decoded together
	MaxSeq int // prompt + new tokens, the KV cache capacity; 0 = the model's max positions
}

// Session is one batch of sequences being decoded: it owns their KV cache,
// whether the graph threads it through past/present I/O or the runtime
// holds it for KVCacheAttention nodes.
type Session interface {
	// Forward appends Step.Tokens to every row and returns logits. The first
	// call is the prefill; each later call is a decode step.
	Forward(ctx context.Context, step Step) (*Logits, error)
	Close() error
}

// Step is one Forward call's input.
type Step struct {
	// Tokens holds the new token ids of each row; every row has the same
	// length (left-pad shorter prompts and mark the pads in Mask).
	Tokens [][]int32
	// Mask marks real tokens (1) and padding (0) among Tokens; nil = all real.
	// The session keeps the mask of earlier steps, so the graph's
	// attention_mask input covers past+seq.
	Mask [][]int32
	// Positions overrides position ids; nil = Hugging Face's default:
	// cumsum(mask)-1 over the whole sequence so far, with pads at 1.
	Positions [][]int64
	// AllLogits asks for logits at every new position instead of only the last.
	AllLogits bool
}

// Logits is a [Batch, Positions, Vocab] row-major f32 block.
type Logits struct {
	Batch, Positions, Vocab int
	Data                    []float32
}

// Row returns the logits of row b at position p.
func (l *Logits) Row(b, p int) []float32 {
	off := (b*l.Positions + p) * l.Vocab
	return l.Data[off : off+l.Vocab]
}

// Stats reports what a model costs.
type Stats struct {
	WeightBytes   int64 // bytes of weights the model reads per forward (all initializers)
	DeviceBytes   int64 // bytes held in device memory (GPU runtimes), or heap bytes (CPU)
	MappedBytes   int64 // bytes of checkpoint files memory-mapped
	KVCacheBytes  int64 // bytes of KV cache currently allocated
	CompileMillis float64
	ForwardCalls  int64
	ForwardMillis float64
	Extra         map[string]float64
}
