package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Params mirrors the kernel source's Params block: every kernel reads its
// sizes, flags and scalars from it (each kernel's comment in kernels.inc
// lists the slots). It is passed by value (CUDA) or as bytes (Metal).
type Params struct {
	N [24]int32
	F [8]float32
}

// ParamsSize is the byte size of a packed Params.
const ParamsSize = 24*4 + 8*4

// Bytes packs p in the kernel's layout (little-endian, no padding).
func (p *Params) Bytes() []byte {
	b := make([]byte, ParamsSize)
	p.Put(b)
	return b
}

// Put packs p into b (len >= ParamsSize).
func (p *Params) Put(b []byte) {
	for i, v := range p.N {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	for i, v := range p.F {
		binary.LittleEndian.PutUint32(b[96+4*i:], math.Float32bits(v))
	}
}

// Region says which device allocation a buffer binding points into.
type Region uint8

// Regions of device memory a dispatch binds.
const (
	RegionDummy  Region = iota // an unused optional argument: any valid buffer
	RegionWeight               // Index is a weight slot (Program.Weights)
	RegionArena                // Offset is a byte offset into the plan's arena
	RegionKCache               // Index is a KV-cache layer slot: its keys
	RegionVCache               // ... its values
	RegionIO                   // Offset is a byte offset into the session's step I/O buffer
)

var regionNames = [...]string{"dummy", "weight", "arena", "kcache", "vcache", "io"}

func (r Region) String() string {
	if int(r) < len(regionNames) {
		return regionNames[r]
	}
	return fmt.Sprintf("region(%d)", r)
}

// Buf is one buffer binding: a region, an index within it where the region
// has several allocations, and a byte offset.
type Buf struct {
	Region Region
	Index  int
	Offset int64
}

func (b Buf) String() string {
	switch b.Region {
	case RegionDummy:
		return "dummy"
	case RegionWeight, RegionKCache, RegionVCache:
		return fmt.Sprintf("%s[%d]+%d", b.Region, b.Index, b.Offset)
	}
	return fmt.Sprintf("%s+%d", b.Region, b.Offset)
}

// Dispatch is one kernel launch: grid of threadgroups (x, y, z), threads
// per threadgroup (one-dimensional), buffer arguments in kernel order, then
// the Params block.
type Dispatch struct {
	Kernel  string
	Grid    [3]int
	Threads int
	Args    []Buf
	Params  Params
	Node    string // the graph node it computes, for errors and profiles
}

func (d *Dispatch) String() string {
	return fmt.Sprintf("%s grid=%v threads=%d args=%v node=%s", d.Kernel, d.Grid, d.Threads, d.Args, d.Node)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
