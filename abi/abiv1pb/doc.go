// Package abiv1pb is the protobuf-go code generated from ../graph.proto
// (package abi.v1). It is the reference encoding of ABI v1 for other
// languages and the cross-check of package abi's hand-written codec; passes
// themselves use package abi, which does not link protobuf's reflective
// runtime. Regenerate with `go generate ./abi` (see ../gen.sh).
package abiv1pb
