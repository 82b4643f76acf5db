package quant

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// stTensor is one tensor of a safetensors file read by readST.
type stTensor struct {
	DType graph.DType
	Shape []int
	Data  []byte
}

// readST reads a small safetensors file whole (tests only).
func readST(t testing.TB, path string) map[string]stTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	data := b[8+n:]
	out := map[string]stTensor{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var ti struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &ti); err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		dt, err := graph.ParseDType(ti.DType)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		out[name] = stTensor{dt, ti.Shape, data[ti.Offsets[0]:ti.Offsets[1]]}
	}
	return out
}
