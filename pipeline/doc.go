// Package pipeline is the product's front door: pipeline.yaml (Spec) and
// the orchestration every command shares.
//
// A Spec names a model, the rewrite passes to run on its graph, a runtime
// to run the result on, a verification mode and generation settings. It is
// read strictly: an unknown key, a value of the wrong type, an unknown pass
// or runtime is an error that names the file and line.
//
// Orchestration follows the flow of the whole project:
//
//	model dir ─► model.Open ─► graph ─► passes (host, sandboxed wasm) ─►
//	derived weights (weights.Materialize) ─► runtime (inproc or plugin) ─►
//	generate (tokenizer, chat template, sampling) ─► text and reports
package pipeline
