// Package cpu is the pure-Go CPU runtime: the reference implementation of
// every op in the graph catalog (graph/ops.go) and the project's default
// runtime.
//
// It has two faces:
//
//   - Compile turns a *graph.Graph into a Program that runs on host tensors
//     (package tensor): Run takes graph inputs by name and returns the
//     graph's outputs. Tests, translation validation (package validate) and
//     the GPU runtimes' conformance checks use it directly.
//   - Runtime implements backend.Runtime: sessions that thread a KV cache
//     through the graph's past/present I/O (or hold it themselves for
//     KVCacheAttention nodes), prefill then decode, with left-padded batches
//     and Hugging Face's default positions.
//
// All math is f32 (f64 for f64 tensors). Weights stay in their checkpoint
// dtype (bf16, f16, f32, or packed affine-quantized words) and are decoded
// on the fly inside the kernels; no f32 copy of a weight is ever made.
// Weight bytes are memory-mapped, never read into the Go heap.
//
// Kernels split their work across goroutines (rows, heads or output
// columns); hot loops have AVX2/FMA assembly on amd64 with pure-Go
// fallbacks chosen at run time.
//
// Decoding a token streams every weight and every cached key and value
// once, so the layout serves that stream: quantized matrices are copied at
// load into one region in run order (streamed.go), the KV cache is carved
// from regions of its own (kvmemory.go), both on transparent huge pages on
// Linux, and the products that read one activation (q, k, v; gate, up) run
// as one parallel region in which each thread streams a contiguous share
// and takes over the end of a slow thread's (parallelOwned, quantized.go).
// Participant k of every region owns share k, so a pool worker that runs
// out of work prefetches its share of the next product (or of the next
// attention's heads) while the caller runs the serial ops between regions
// (prefetchNext). A product whose output only the residual Add (or, for
// gate and up, only the SwiGLU) reads runs that op in the same region, on
// the rows each thread computed (fuseEpilogues, epilogue.go).
package cpu
