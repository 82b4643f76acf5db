// Package benchmark holds the benchmarks of package host on a real-sized
// graph (a 28-layer Qwen3-0.6B-shaped decoder from model.BuildGraph) with
// the real passes under passes/. They live apart from host's own tests so
// that those depend on nothing but package abi and the test modules.
//
//	go test ./host/internal/benchmark -run '^$' -bench . -benchtime 20x
package benchmark
