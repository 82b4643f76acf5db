package abi_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

// addSeeds seeds a fuzz target with the golden vectors and samples.
func addSeeds(f *testing.F, extra ...[]byte) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range extra {
		f.Add(b)
	}
	f.Add([]byte{})
}

// fuzzCanonical checks a decoder never panics and that whatever it accepts
// re-encodes to a canonical form that is a fixed point of decode+encode.
func fuzzCanonical[T any](f *testing.F, decode func([]byte) (T, error), encode func(T) []byte) {
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(b)
		if err != nil {
			return
		}
		canon := encode(v)
		v2, err := decode(canon)
		if err != nil {
			t.Fatalf("canonical re-encoding does not decode: %v", err)
		}
		if again := encode(v2); !bytes.Equal(again, canon) {
			t.Fatalf("decode+encode is not idempotent")
		}
	})
}

func FuzzDecodeRunRequest(f *testing.F) {
	addSeeds(f, abi.EncodeRunRequest(sampleRequest()))
	fuzzCanonical(f, abi.DecodeRunRequest, abi.EncodeRunRequest)
}

func FuzzDecodeRunResponse(f *testing.F) {
	addSeeds(f, abi.EncodeRunResponse(sampleResponse()), abi.EncodeRunResponse(exoticResponse()))
	fuzzCanonical(f, abi.DecodeRunResponse, abi.EncodeRunResponse)
}

func FuzzDecodePassInfo(f *testing.F) {
	addSeeds(f, abi.EncodePassInfo(sampleInfo()))
	fuzzCanonical(f, abi.DecodePassInfo, abi.EncodePassInfo)
}

func FuzzDecodeGraph(f *testing.F) {
	addSeeds(f, abi.EncodeGraph(sampleGraph()), abi.EncodeGraph(exoticGraph()))
	fuzzCanonical(f, abi.DecodeGraph, abi.EncodeGraph)
}

// FuzzApplyDecodedPatch applies whatever patch a (hostile) pass could send
// to a fixed graph: graph.Apply must never panic, must leave its input
// untouched, and must return either an error or a graph that verifies.
func FuzzApplyDecodedPatch(f *testing.F) {
	addSeeds(f, abi.EncodePatch(samplePatch()))
	for _, rw := range samplePatch().Rewrites {
		f.Add(abi.EncodePatch(&graph.Patch{Rewrites: []graph.Rewrite{rw}}))
	}
	base := sampleGraph()
	before := abi.EncodeGraph(base)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := abi.DecodePatch(b)
		if err != nil {
			return
		}
		out, err := graph.Apply(base, p)
		if !bytes.Equal(abi.EncodeGraph(base), before) {
			t.Fatal("Apply modified its input graph")
		}
		if err != nil {
			return
		}
		if err := graph.Verify(out); err != nil {
			t.Fatalf("Apply returned a graph that does not verify: %v", err)
		}
	})
}
