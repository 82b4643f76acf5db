// Package weights gives runtimes and the host read-only access to weight
// bytes without copying them: safetensors files are memory-mapped (once per
// path) and an initializer's bytes are a bounds-checked slice of the mapping.
//
// Loading a checkpoint therefore costs address space, not Go heap: the
// kernel pages weights in on first touch and may drop them again under
// memory pressure, and two runtimes (or a host and a plugin) that map the
// same file share one copy in the page cache. TestMapDoesNotGrowHeap proves
// the heap stays flat while every byte of a mapped file is read. On systems
// without mmap support the bytes are read into memory instead.
//
// The package also computes derived initializers (graph.Derivation): a pass
// asks for, say, an affine-quantized copy of a weight; Materialize runs the
// registered DeriveFunc once, stores its outputs in a content-addressed
// safetensors file under a cache directory, and points the initializers at
// that file, so plugins map derived weights exactly like checkpoint weights.
package weights
