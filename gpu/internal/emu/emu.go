// Package emu runs the shared kernel source on the CPU: a gpu.Device whose
// dispatches execute in a small C++ harness (cpp/harness.cc, built with clang++
// on first use and cached) that compiles kernels.inc after prelude_cpu.h
// and runs each threadgroup's threads as fibers, barriers and warp
// operations included. Device memory is one file-backed arena mapped by
// both processes; new allocations are filled with NaNs, each followed by a
// NaN guard, so unwritten outputs and small overreads show up in results.
//
// It lets the launch plans and kernels be checked against the CPU
// reference runtime on machines without a GPU: go test ./gpu/internal/emu
// runs the decoder cases of package gputest (every fused dispatch) and the
// greedy checks; GRAPHPASS_EMU_ONLY=all runs every case and
// GRAPHPASS_EMU_FIXTURES=1 the reference checkpoints too. Without a C++
// compiler, or with -short, it skips. The device runs remain the real
// proof of speed and of the CUDA and Metal compilers' treatment of the
// source.
package emu

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/graphpass/graphpass/gpu"
)

// ArenaBytes is the emulated device memory (a sparse file).
const ArenaBytes = 4 << 30

const guard = 4096

// Device is the emulator's gpu.Device.
type Device struct {
	mu    sync.Mutex
	file  *os.File
	mem   []byte
	top   int64
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	Calls int // dispatches run
}

type buffer struct{ off, size int64 }

func (b *buffer) Size() int64 { return b.size }

// Compiler returns the clang++ to build the harness with, or "".
func Compiler() string {
	for _, c := range []string{"clang++", "clang++-19", "clang++-18", "clang++-16", "clang++-15", "g++"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Build compiles the harness (cached under cacheDir by source hash) and
// returns its path.
func Build(cacheDir string) (string, error) {
	cxx := Compiler()
	if cxx == "" {
		return "", errors.New("no C++ compiler (clang++ or g++)")
	}
	dir := sourceDir()
	var srcs [3][]byte
	for i, f := range []string{filepath.Join(dir, "cpp", "harness.cc"), filepath.Join(dir, "cpp", "prelude_cpu.h"), filepath.Join(dir, "..", "..", "kernels", "kernels.inc")} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		srcs[i] = b
	}
	h := sha256.New()
	for _, s := range srcs {
		h.Write(s)
		h.Write([]byte{0})
	}
	key := hex.EncodeToString(h.Sum(nil)[:12])
	bin := filepath.Join(cacheDir, "harness-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	work, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	for i, f := range []string{"harness.cc", "prelude_cpu.h", "kernels.inc"} {
		if err := os.WriteFile(filepath.Join(work, f), srcs[i], 0o644); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(work, "harness")
	cmd := exec.Command(cxx, "-O1", "-std=c++17", "-rdynamic", "-w", "-o", tmp, filepath.Join(work, "harness.cc"), "-ldl")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the emulator harness: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Open starts a harness built by Build.
func Open(harness string) (*Device, error) {
	f, err := os.CreateTemp(shmDir(), "gpemu-arena-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // the open descriptors keep it
	if err := f.Truncate(ArenaBytes); err != nil {
		f.Close()
		return nil, err
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, ArenaBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, err
	}
	cmd := exec.Command(harness, "/dev/fd/3", fmt.Sprint(ArenaBytes))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Device{file: f, mem: mem, top: guard, cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func shmDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// Name implements gpu.Device.
func (d *Device) Name() string { return "emu" }

// Description implements gpu.Device.
func (d *Device) Description() string { return "CPU emulation of the kernel source" }

var nan = math.Float32bits(float32(math.NaN()))

func (d *Device) poison(off, n int64) {
	for i := off; i+4 <= off+n; i += 4 {
		binary.LittleEndian.PutUint32(d.mem[i:], nan)
	}
}

// Alloc implements gpu.Device.
func (d *Device) Alloc(size int64) (gpu.Buffer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	off := (d.top + 255) &^ 255
	if off+size+guard > ArenaBytes {
		return nil, fmt.Errorf("emu: out of memory (%d bytes)", size)
	}
	d.top = off + size + guard
	d.poison(off, size+guard)
	return &buffer{off: off, size: size}, nil
}

// Free implements gpu.Device (the arena only grows).
func (d *Device) Free(gpu.Buffer) {}

func (d *Device) span(b gpu.Buffer, off, n int64) ([]byte, error) {
	bb, ok := b.(*buffer)
	if !ok {
		return nil, errors.New("emu: not an emulator buffer")
	}
	if off < 0 || off+n > bb.size {
		return nil, fmt.Errorf("emu: %d bytes at %d outside a %d-byte buffer", n, off, bb.size)
	}
	return d.mem[bb.off+off : bb.off+off+n], nil
}

// Upload implements gpu.Device.
func (d *Device) Upload(dst gpu.Buffer, off int64, data []byte) error {
	s, err := d.span(dst, off, int64(len(data)))
	if err != nil {
		return err
	}
	copy(s, data)
	return nil
}

// Download implements gpu.Device.
func (d *Device) Download(dst []byte, src gpu.Buffer, off int64) error {
	s, err := d.span(src, off, int64(len(dst)))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// Run implements gpu.Device.
func (d *Device) Run(plan *gpu.Plan, b *gpu.Bindings) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range plan.Dispatches {
		disp := &plan.Dispatches[i]
		var sb strings.Builder
		fmt.Fprintf(&sb, "run %s %d %d %d %d %d", disp.Kernel, max(disp.Grid[0], 1), max(disp.Grid[1], 1), max(disp.Grid[2], 1), disp.Threads, len(disp.Args))
		for j, ref := range disp.Args {
			buf, off := b.Resolve(ref)
			bb, ok := buf.(*buffer)
			if !ok || off < 0 || off > bb.size {
				return fmt.Errorf("emu: dispatch %d (%s, node %s): argument %d (%s) is not a buffer", i, disp.Kernel, disp.Node, j, ref)
			}
			fmt.Fprintf(&sb, " %d", bb.off+off)
		}
		sb.WriteString(" " + hex.EncodeToString(disp.Params.Bytes()) + "\n")
		if _, err := io.WriteString(d.in, sb.String()); err != nil {
			return err
		}
		line, err := d.out.ReadString('\n')
		if err != nil {
			return fmt.Errorf("emu: harness: %v", err)
		}
		if line = strings.TrimSpace(line); line != "ok" {
			return fmt.Errorf("emu: dispatch %d (%s, node %s, grid %v, %d threads): %s", i, disp.Kernel, disp.Node, disp.Grid, disp.Threads, strings.TrimPrefix(line, "err "))
		}
		d.Calls++
	}
	return nil
}

// Release implements gpu.Device.
func (d *Device) Release(*gpu.Plan) {}

// Close implements gpu.Device.
func (d *Device) Close() error {
	io.WriteString(d.in, "quit\n")
	d.in.Close()
	d.cmd.Wait()
	syscall.Munmap(d.mem)
	return d.file.Close()
}
