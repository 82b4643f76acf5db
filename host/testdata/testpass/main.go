// Command testpass is the Go pass the host tests run: by default it is the
// dropout rewrite (Dropout is the identity at inference), and the option
// {"mode": "..."} turns it into a misbehaving pass for the hostile-module
// tests. It uses package abi directly, without the SDK, so the host's tests
// depend on nothing but the ABI.
//
// Build (see ../build.sh):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -ldflags="-s -w -buildid=" -trimpath -o ../testpass.wasm . && gzip -n -9 ../testpass.wasm (see ../build.sh)
package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

func main() {}

var (
	inputs [][]byte // buffers handed to the host, kept alive until the next alloc
	output []byte   // the last encoded result, valid until the next call
	hoard  [][]byte // memory the "grow" mode never lets go
)

//go:wasmimport graphpass log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

func logf(level int32, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if s == "" {
		return
	}
	hostLog(level, unsafe.Pointer(unsafe.StringData(s)), int32(len(s)))
}

//go:wasmexport graphpass_abi_v1
func marker() {}

//go:wasmexport graphpass_alloc
func alloc(size int32) unsafe.Pointer {
	b := make([]byte, size+1) // +1: never a zero-size allocation
	inputs = append(inputs[:0], b)
	return unsafe.Pointer(unsafe.SliceData(b))
}

func pack(b []byte) uint64 {
	output = b
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))<<32 | uint64(len(b))
}

//go:wasmexport graphpass_info
func info() uint64 {
	return pack(abi.EncodePassInfo(&abi.PassInfo{
		ABIVersion:        abi.Version1,
		Name:              "testpass",
		Version:           "0.1.0",
		Description:       "Removes Dropout nodes (identity at inference); misbehaves on request for the host's tests.",
		OptionsSchemaJSON: `{"type":"object","properties":{"mode":{"type":"string"}}}`,
		Consumes:          []string{"Dropout"},
	}))
}

//go:wasmexport graphpass_run
func run(ptr unsafe.Pointer, n int32) uint64 {
	req, err := abi.DecodeRunRequest(unsafe.Slice((*byte)(ptr), n))
	if err != nil {
		return respond(&abi.RunResponse{Error: &abi.PassError{Code: abi.CodeInternal, Message: err.Error()}})
	}
	mode := ""
	if i := strings.Index(req.OptionsJSON, `"mode":"`); i >= 0 {
		mode = req.OptionsJSON[i+len(`"mode":"`):]
		mode = mode[:strings.IndexByte(mode, '"')]
	}
	g := req.Graph
	switch mode {
	case "", "dropout":
		return respond(dropout(req))
	case "panic":
		panic("testpass: boom")
	case "loop":
		for {
		}
	case "grow":
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	case "exit":
		os.Exit(3)
	case "error":
		return respond(&abi.RunResponse{Error: &abi.PassError{Code: abi.CodeInvalidOptions, Message: "mode error was asked for"}})
	case "cycle":
		// a reads b, b reads a.
		return respond(&abi.RunResponse{Patch: &graph.Patch{Rewrites: []graph.Rewrite{{
			Reason: "cycle",
			AddNodes: []*graph.Node{
				{Name: "cyc_a", Op: "Identity", Inputs: []string{"cyc_b_out"}, Outputs: []string{"cyc_a_out"}},
				{Name: "cyc_b", Op: "Identity", Inputs: []string{"cyc_a_out"}, Outputs: []string{"cyc_b_out"}},
			},
			Remaps: []graph.Remap{{From: g.Outputs[0].Name, To: "cyc_a_out"}},
		}}}})
	case "missing":
		return respond(&abi.RunResponse{Patch: &graph.Patch{Rewrites: []graph.Rewrite{{
			Reason:   "reads a value that does not exist",
			AddNodes: []*graph.Node{{Name: "ghost", Op: "Identity", Inputs: []string{"no_such_value"}, Outputs: []string{"ghost_out"}}},
			Remaps:   []graph.Remap{{From: g.Outputs[0].Name, To: "ghost_out"}},
		}}}})
	case "dtype":
		// Recomputes the first output as f16 under the same name and
		// declares it so: a patch that verifies structurally but changes
		// the graph's interface with the runtime.
		out := g.Outputs[0]
		var prod *graph.Node
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				if o == out.Name {
					prod = n
				}
			}
		}
		t := out.Type
		t.DType = graph.F16
		return respond(&abi.RunResponse{Patch: &graph.Patch{Rewrites: []graph.Rewrite{{
			Reason:      "output to f16",
			RemoveNodes: []string{prod.Name},
			AddNodes: []*graph.Node{{Name: "to_f16", Op: "Cast", Inputs: []string{prod.Inputs[0]}, Outputs: []string{out.Name},
				Attrs: map[string]graph.Attr{"to": graph.String("f16")}}},
			SetOutputTypes: []graph.ValueInfo{{Name: out.Name, Type: t}},
		}}}})
	case "rename":
		// Redirects the first output to its producer's input while the
		// producer stays: graph.Apply renames the output.
		out := g.Outputs[0]
		for _, n := range g.Nodes {
			if len(n.Outputs) > 0 && n.Outputs[0] == out.Name {
				return respond(&abi.RunResponse{Patch: &graph.Patch{Rewrites: []graph.Rewrite{{
					Reason: "rename output",
					Remaps: []graph.Remap{{From: out.Name, To: n.Inputs[0]}},
				}}}})
			}
		}
	case "huge":
		// A response of 2 MiB of notes.
		r := &abi.RunResponse{}
		msg := strings.Repeat("x", 1<<10)
		for i := 0; i < 2<<10; i++ {
			r.Notes = append(r.Notes, abi.Note{Node: "n", Message: msg})
		}
		return respond(r)
	case "oob":
		output = nil
		return uint64(0xFFFF0000)<<32 | 100
	case "garbage":
		return pack([]byte{0xff, 0xff, 0xff, 0xff})
	case "readfile":
		// No directory is preopened: every attempt must fail.
		var notes []abi.Note
		for _, p := range []string{"/etc/passwd", "/etc/hostname", "testdata/testpass.wasm.gz", "."} {
			b, err := os.ReadFile(p)
			notes = append(notes, abi.Note{Node: p, Message: fmt.Sprintf("read %d bytes, err: %v", len(b), err)})
		}
		for _, k := range []string{"HOME", "PATH"} {
			notes = append(notes, abi.Note{Node: k, Message: "env=" + os.Getenv(k)})
		}
		notes = append(notes, abi.Note{Node: "args", Message: fmt.Sprint(len(os.Args))})
		return respond(&abi.RunResponse{Notes: notes})
	case "inits":
		// Reports what the pass sees of each initializer and of value types.
		var notes []abi.Note
		for _, in := range g.Initializers {
			notes = append(notes, abi.Note{Node: in.Name, Message: fmt.Sprintf("data=%d nil=%v ref=%v derive=%v type=%s",
				len(in.Data), in.Data == nil, in.Ref != nil, in.Derive != nil, in.Type)})
		}
		notes = append(notes, abi.Note{Node: "value_types", Message: fmt.Sprint(len(req.ValueTypes))})
		notes = append(notes, abi.Note{Node: "abi_version", Message: fmt.Sprint(req.ABIVersion)})
		notes = append(notes, abi.Note{Node: "options", Message: req.OptionsJSON})
		return respond(&abi.RunResponse{Notes: notes})
	case "entropy":
		// The clock and the random source must be deterministic.
		b := make([]byte, 16)
		_, err := rand.Read(b)
		return respond(&abi.RunResponse{Notes: []abi.Note{{Node: "rand", Message: fmt.Sprintf("%x %v", b, err)},
			{Node: "time", Message: time.Now().UTC().Format(time.RFC3339Nano)}}})
	case "chatty":
		// Floods stdout, stderr and the log: the host must bound what it keeps.
		line := strings.Repeat("y", 1000)
		for i := 0; i < 2000; i++ {
			fmt.Println(line)
			fmt.Fprintln(os.Stderr, line)
			logf(abi.LogWarn, "%d %s", i, line)
		}
		return respond(dropout(req))
	}
	return respond(&abi.RunResponse{Error: &abi.PassError{Code: abi.CodeInvalidOptions, Message: "unknown mode " + mode}})
}

func respond(r *abi.RunResponse) uint64 { return pack(abi.EncodeRunResponse(r)) }

// dropout removes every Dropout node, reading its input instead.
func dropout(req *abi.RunRequest) *abi.RunResponse {
	r := &abi.RunResponse{Patch: &graph.Patch{}}
	for _, n := range req.Graph.Nodes {
		if n.Op != "Dropout" {
			continue
		}
		rate := n.Float("rate")
		if rate > 0 {
			r.Notes = append(r.Notes, abi.Note{Node: n.Name, Message: fmt.Sprintf("rate %g ignored: inference", rate)})
		}
		r.Patch.Rewrites = append(r.Patch.Rewrites, graph.Rewrite{
			Reason:      "Dropout at " + n.Scope + " is the identity at inference",
			RemoveNodes: []string{n.Name},
			Remaps:      []graph.Remap{{From: n.Outputs[0], To: n.Inputs[0]}},
		})
	}
	t := req.ValueTypes[req.Graph.Outputs[0].Name]
	logf(abi.LogInfo, "dropout: %d rewrites; output %s is %s", len(r.Patch.Rewrites), req.Graph.Outputs[0].Name, t)
	fmt.Println("stdout works")
	fmt.Fprintln(os.Stderr, "stderr works")
	return r
}
