// Package e2e holds the CUDA runtime's end-to-end tests: the reference
// fixtures and the synthetic Qwen3-0.6B benchmark, run from graphs that
// package devgraphs rewrote with the default passes beforehand (so this
// test binary stays small enough to carry to the GPU machine: it links no
// pass host and no wasm). Without a GPU every test skips.
package e2e
