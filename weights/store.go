package weights

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/graphpass/graphpass/graph"
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("weights: store is closed")

// ErrNoData is wrapped when an initializer has neither inline data nor a
// file reference: a shape-only graph (model.BuildGraph) or a derived
// initializer that has not been materialised yet.
var ErrNoData = errors.New("initializer has no data")

// Store maps weight files once per path and hands out read-only views of
// them. It is safe for concurrent use. Slices it returns are valid until
// Close and must never be written to (the mapping is read-only; a write
// faults).
type Store struct {
	mu     sync.Mutex
	files  map[string]*mapping
	mapped int64
	closed bool
}

type mapping struct {
	data  []byte
	unmap func() error
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{files: map[string]*mapping{}} }

// Map returns the whole content of the file at path, mapping it on first
// use. Later calls for the same file (by absolute, cleaned path) return the
// same mapping.
func (s *Store) Map(path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if m, ok := s.files[abs]; ok {
		return m.data, nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("weights: %s is not a regular file", abs)
	}
	data, unmap, err := mapFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", abs, err)
	}
	s.files[abs] = &mapping{data: data, unmap: unmap}
	s.mapped += int64(len(data))
	return data, nil
}

// Slice returns the bytes ref points to, checking that they lie inside the file.
func (s *Store) Slice(ref graph.WeightRef) ([]byte, error) {
	data, err := s.Map(ref.File)
	if err != nil {
		return nil, err
	}
	if ref.Offset < 0 || ref.Length < 0 || ref.Offset > int64(len(data)) || ref.Length > int64(len(data))-ref.Offset {
		return nil, fmt.Errorf("weights: %s: byte range [%d, %d) is outside the file's %d bytes",
			ref.File, ref.Offset, ref.Offset+ref.Length, len(data))
	}
	return data[ref.Offset : ref.Offset+ref.Length : ref.Offset+ref.Length], nil
}

// Bytes returns the element bytes of an initializer: its inline Data, or its
// Ref's range of a mapped file. The length always equals in.Type.ByteSize().
func (s *Store) Bytes(in *graph.Initializer) ([]byte, error) {
	size := in.Type.ByteSize()
	if size < 0 {
		return nil, fmt.Errorf("weights: initializer %q has non-static shape %s", in.Name, in.Type.Shape)
	}
	switch {
	case in.Data != nil:
		if int64(len(in.Data)) != size {
			return nil, fmt.Errorf("weights: initializer %q holds %d bytes, %s needs %d", in.Name, len(in.Data), in.Type, size)
		}
		return in.Data, nil
	case in.Ref != nil:
		if in.Ref.Length != size {
			return nil, fmt.Errorf("weights: initializer %q refers to %d bytes, %s needs %d", in.Name, in.Ref.Length, in.Type, size)
		}
		b, err := s.Slice(*in.Ref)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", in.Name, err)
		}
		return b, nil
	case in.Derive != nil:
		return nil, fmt.Errorf("weights: initializer %q is derived (%s of %q) and not materialised: %w",
			in.Name, in.Derive.Op, in.Derive.Source, ErrNoData)
	}
	return nil, fmt.Errorf("weights: initializer %q (%s): %w (a shape-only graph?)", in.Name, in.Type, ErrNoData)
}

// MappedBytes is the total size of the files mapped so far.
func (s *Store) MappedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mapped
}

// Files lists the mapped files' absolute paths, sorted.
func (s *Store) Files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.files))
	for p := range s.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Close unmaps every file. Slices handed out before are invalid afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for p, m := range s.files {
		if err := m.unmap(); err != nil {
			errs = append(errs, fmt.Errorf("weights: unmap %s: %w", p, err))
		}
	}
	s.files = nil
	s.mapped = 0
	return errors.Join(errs...)
}

// MmapSupported reports whether this platform maps files (true) or reads
// them into memory (false).
func MmapSupported() bool { return mmapSupported }
