package weights

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graphpass/graphpass/graph"
)

// Entry is one tensor to write into a safetensors file.
type Entry struct {
	Name  string
	DType graph.DType
	Shape []int64
	// Data holds the tensor's little-endian bytes; when nil, Fill streams
	// them instead (for tensors too large to hold in memory at once).
	Data []byte
	Fill func(w io.Writer) error
}

// ByteSize is the entry's data size.
func (e Entry) ByteSize() int64 {
	return graph.TensorType{DType: e.DType, Shape: graph.StaticShape(e.Shape...)}.ByteSize()
}

// Write writes a safetensors file: header (padded with spaces to a multiple
// of 8 bytes, as Hugging Face's writer does) and the entries' data in order.
func Write(w io.Writer, entries []Entry, metadata map[string]string) error {
	header, err := encodeHeader(entries, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	bw.Write(n[:])
	bw.Write(header)
	for _, e := range entries {
		cw := &countingWriter{w: bw}
		switch {
		case e.Data != nil:
			cw.Write(e.Data)
		case e.Fill != nil:
			if err := e.Fill(cw); err != nil {
				return fmt.Errorf("safetensors: tensor %q: %w", e.Name, err)
			}
		}
		if cw.err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", e.Name, cw.err)
		}
		if cw.n != e.ByteSize() {
			return fmt.Errorf("safetensors: tensor %q: wrote %d bytes, %s%v needs %d", e.Name, cw.n, e.DType, e.Shape, e.ByteSize())
		}
	}
	return bw.Flush()
}

func encodeHeader(entries []Entry, metadata map[string]string) ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		b.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kj, _ := json.Marshal(k)
			vj, _ := json.Marshal(metadata[k])
			b.Write(kj)
			b.WriteByte(':')
			b.Write(vj)
		}
		b.WriteByte('}')
	}
	seen := map[string]bool{}
	var off int64
	for _, e := range entries {
		if e.Name == "" || e.Name == "__metadata__" || seen[e.Name] {
			return nil, fmt.Errorf("safetensors: bad or duplicate tensor name %q", e.Name)
		}
		seen[e.Name] = true
		st := STDType(e.DType)
		if st == "" {
			return nil, fmt.Errorf("safetensors: tensor %q: dtype %s cannot be stored", e.Name, e.DType)
		}
		size := e.ByteSize()
		if size < 0 {
			return nil, fmt.Errorf("safetensors: tensor %q: bad shape %v", e.Name, e.Shape)
		}
		shape := e.Shape
		if shape == nil {
			shape = []int64{}
		}
		nj, _ := json.Marshal(e.Name)
		sj, _ := json.Marshal(shape)
		sep()
		fmt.Fprintf(&b, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, nj, st, sj, off, off+size)
		off += size
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return []byte(b.String()), nil
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error // the first write error, reported over a short count
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// WriteFile writes a safetensors file atomically: into a temporary file in
// the same directory, renamed over path once complete, so a reader never
// sees a half-written file.
func WriteFile(path string, entries []Entry, metadata map[string]string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := Write(tmp, entries, metadata); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
