// Package graphfile saves and loads rewritten graphs (gob, gzip) with their
// weight file references made relative to a base directory, so a graph
// rewritten here can run on the device machine, which has no Go toolchain
// and gets only a small carried folder: the device tests load these
// instead of linking the pass host and the wasm passes.
package graphfile

import (
	"compress/gzip"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/graphpass/graphpass/graph"
)

// Save writes g to path, with every Ref.File under base made relative to it.
func Save(path string, g *graph.Graph, base string) error {
	g = g.Clone()
	for _, in := range g.Initializers {
		if in.Ref == nil {
			continue
		}
		rel, err := filepath.Rel(base, in.Ref.File)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("initializer %s: %s is not under %s", in.Name, in.Ref.File, base)
		}
		in.Ref.File = rel
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	if err := gob.NewEncoder(zw).Encode(g); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Load reads a graph saved by Save and resolves its references against base.
func Load(path, base string) (*graph.Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var g graph.Graph
	if err := gob.NewDecoder(zr).Decode(&g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, in := range g.Initializers {
		if in.Ref != nil {
			in.Ref.File = filepath.Join(base, in.Ref.File)
		}
	}
	return &g, nil
}
