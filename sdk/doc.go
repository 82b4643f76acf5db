// Package sdk is the Go SDK for writing graph rewrite passes: the code a
// pass author writes, compiled to a WebAssembly module that speaks ABI v1
// (package abi) or run natively in tests.
//
// A pass is a name, a version, a description, an options struct and rules:
//
//	var Pass = &sdk.Pass{
//		Name: "swiglu", Version: "1.0.0",
//		Description: "Mul(Silu(gate), up) → SwiGLU(gate, up)",
//		Rules: []sdk.Rule{{
//			Pattern: sdk.Op("Mul", sdk.Op("Silu", sdk.Any("gate")), sdk.Any("up")),
//			Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
//				rw.Replace(m.Root(), rw.Add("SwiGLU", []string{m.Value("gate"), m.Value("up")}, nil))
//				return nil
//			},
//		}},
//	}
//
// and a module is a tiny main package built for GOOS=wasip1 with
// -buildmode=c-shared (a WASI reactor):
//
//	//go:build wasip1
//	package main
//	func init() { sdk.Main(swiglu.Pass) }
//	func main() {}
//
// # Matching
//
// Patterns (Op, Any, Const, Scalar, Initializer, GraphInput, OneOf and the
// Optional, Attr, Where, DType, Rank and OneUse constraints) describe a
// subgraph by example, as torch.fx's replace_pattern does: a pattern is a
// DAG of the graph's own ops, a pattern node used twice must match one
// value, and Add, Mul, Max and Min match their operands in either order.
// A Rule's Where rejects a match silently; its Check rejects it with a
// reason that becomes a Note ("report why"). When a pattern cannot say it,
// a Rule's Func matches by hand over the View: producers and consumers,
// every value's type, the values of small constants, and which nodes die
// with a rewrite (View.Dead).
//
// The engine visits a rule's candidate roots from the graph's outputs
// backwards, so the largest match claims a subgraph first, and skips a
// match that overlaps a node an earlier rewrite removes or kills.
//
// # Rewriting
//
// Rewrite builds one rewrite of the patch: Replace(root, value) removes the
// root and redirects its outputs, which is usually all a fusion needs,
// since graph.Apply's dead-code elimination removes the rest of the match
// if nothing else reads it (and keeps it when something does). Nodes added
// get fresh names under the root's scope. Rewrites of one run compose in
// one patch whatever order they fire in: new nodes and remaps name values
// as they are after the rewrites committed before (Context.Resolve),
// including the graph-output names graph.Apply preserves.
//
// # Running
//
// Pass.Run runs a pass natively; Pass.Serve answers an abi.RunRequest;
// Main registers the pass a module serves through the ABI exports. A rule
// that panics or fails yields a structured error (Error, with the ABI's
// error codes), never a crash of the host. Package sdk/passtest runs a
// pass natively and inside wazero and checks both give the same patch.
//
// In a module, stay clear of packages that add much code: module size is
// start-up time. fmt alone (with os, which it initialises) adds about
// 0.4-0.7 MB to a 1.8 MB Go runtime, so the SDK and the built-in passes do
// not import it: use Sprintf and Errorf, which format like fmt for the
// verbs messages need. The SDK reads options with its own small JSON
// reader, and inside a module NewView does not infer types (requests carry
// them), so the op catalog's inference code is not linked either. A
// module's Go runtime is tuned for one short call: GOGC=400 under a soft
// memory limit of 128 MiB.
//
// # Trigger ops
//
// Pass.Consumes lists the ops that every match of the pass involves (see
// abi/SPEC.md section 3.3): a host skips the pass without running it on a
// graph that holds none of them. Pass.Triggered reports what a host
// decides; the built-in passes' tests check that an untriggered pass
// finds nothing.
package sdk
