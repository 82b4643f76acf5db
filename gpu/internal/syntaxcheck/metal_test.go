package syntaxcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/gpu"
)

// The Metal translation is type-checked twice against testdata/metal_stdlib
// (its comment says what each pass catches):
//
//   - metalOpenCL: as C++ for OpenCL 2021 with MSL's address spaces mapped
//     onto OpenCL's (threadgroup variables only in kernel scope, constant
//     read-only, no double);
//   - metalCxx14: as C++14, the language MSL 2.4 is based on, with device
//     and constant pointers in clang address spaces, so they never convert
//     to unqualified (thread) pointers.
//
// Warnings are errors and -Wall -Wextra are on: the Metal compiler returns
// its warnings through newLibraryWithSource:options:error: even when the
// library builds, and they should show up here first.
type metalMode int

const (
	metalOpenCL metalMode = iota
	metalCxx14
)

func (m metalMode) String() string {
	if m == metalOpenCL {
		return "C++ for OpenCL"
	}
	return "C++14"
}

var metalWarnings = []string{
	"-Werror", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-unused-function", "-Wno-unknown-attributes",
	"-Wdouble-promotion", "-Wconversion", "-Wno-sign-conversion", "-Wno-implicit-int-float-conversion",
	"-Wno-float-conversion", "-Wno-shorten-64-to-32",
}

func (m metalMode) args() []string {
	var a []string
	switch m {
	case metalOpenCL:
		// -cl-no-stdinc keeps OpenCL's builtin headers (and their overloads
		// of fabs, fma, ...) out; the generic address space stays on because
		// C++ for OpenCL needs it for implicit copy constructors (returning
		// a struct by value), which MSL allows.
		a = []string{"-x", "clcpp", "-cl-std=clc++2021", "-cl-no-stdinc",
			"-Xclang", "-cl-ext=-all,+cl_khr_fp16,+__opencl_c_generic_address_space"}
	case metalCxx14:
		a = []string{"-x", "c++", "-std=c++14"}
	}
	return append(a, metalWarnings...)
}

// compileMetal type-checks src (a complete Metal translation) in mode and
// returns clang's output and whether it passed.
func compileMetal(t *testing.T, src string, m metalMode) (string, bool) {
	t.Helper()
	cc := clang(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "kernels.metal")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	td, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	args := append(m.args(), "-I", td, "-fsyntax-only", path)
	out, err := exec.Command(cc, args...).CombinedOutput()
	return string(out), err == nil
}

func TestMetalSource(t *testing.T) {
	for _, m := range []metalMode{metalOpenCL, metalCxx14} {
		t.Run(m.String(), func(t *testing.T) {
			if out, ok := compileMetal(t, gpu.Source(gpu.Metal), m); !ok {
				t.Fatalf("the Metal translation does not type-check as %s:\n%s", m, out)
			}
		})
	}
}

// TestMetalStandInRejects shows the check can fail: each snippet, appended
// to the real source, is invalid MSL and must be rejected by the passes
// named (the others may accept it: each pass models part of MSL).
func TestMetalStandInRejects(t *testing.T) {
	both := []metalMode{metalOpenCL, metalCxx14}
	cases := []struct {
		name, snippet string
		modes         []metalMode
	}{
		{"device pointer as thread pointer",
			"DEVICE_FN float gp_bad(GLOBAL(float) y) { THREAD_PTR(float) q = y; return *q; }", both},
		{"device pointer as unqualified pointer",
			"DEVICE_FN float gp_bad(GLOBAL(float) y) { float* q = y; return *q; }", []metalMode{metalCxx14}},
		{"threadgroup variable outside kernel scope",
			"DEVICE_FN float gp_bad() { SHARED float s[4]; s[0] = 1.0f; return s[0]; }", []metalMode{metalOpenCL}},
		{"write through a constant reference",
			"DEVICE_FN void gp_bad(PARAMS_REF p) { p.n[0] = 1; }", []metalMode{metalOpenCL}},
		{"double",
			"DEVICE_FN float gp_bad(float x) { double d = x; return (float)d; }", []metalMode{metalOpenCL}},
		{"as_type between sizes",
			"DEVICE_FN half gp_bad(uint u) { return as_type<half>(u); }", both},
		{"simd_shuffle of bool",
			"DEVICE_FN bool gp_bad(bool b) { return simd_shuffle(b, (ushort)0); }", both},
		{"min of int and uint",
			"DEVICE_FN int gp_bad(int a, uint b) { return min(a, b); }", both},
		{"erf (MSL has none)",
			"DEVICE_FN float gp_bad(float x) { return erf(x); }", both},
		{"C++17 if constexpr",
			"DEVICE_FN int gp_bad(int a) { if constexpr (sizeof(int) == 4) { return a; } return 0; }", []metalMode{metalCxx14}},
		{"barrier without flags",
			"DEVICE_FN void gp_bad() { threadgroup_barrier(); }", both},
	}
	for _, c := range cases {
		for _, m := range c.modes {
			t.Run(c.name+"/"+m.String(), func(t *testing.T) {
				src := gpu.Source(gpu.Metal) + "\n" + c.snippet + "\n"
				if out, ok := compileMetal(t, src, m); ok {
					t.Fatalf("accepted invalid MSL:\n%s\n%s", c.snippet, out)
				}
			})
		}
	}
}

// TestMetalNoUnqualifiedPointers: MSL requires an address space on every
// pointer; the OpenCL pass cannot see a missing one (its unqualified
// pointers are generic), so the kernel source must spell every pointer
// through the prelude's macros (GLOBAL, GLOBAL_CONST, SHARED_PTR,
// THREAD_PTR, CAST_*).
func TestMetalNoUnqualifiedPointers(t *testing.T) {
	src := gpu.Source(gpu.Metal)
	i := strings.Index(src, "#line 1 \"kernels.inc\"")
	if i < 0 {
		t.Fatal("no kernels.inc marker in the Metal source")
	}
	types := []string{"float", "int", "uint", "ushort", "uchar", "half", "gp_bf16", "gp_f16", "F8", "Params", "WT", "ST", "T"}
	for n, line := range strings.Split(src[i:], "\n") {
		code := line
		if j := strings.Index(code, "//"); j >= 0 {
			code = code[:j]
		}
		if strings.HasPrefix(strings.TrimSpace(code), "#define") {
			continue
		}
		for _, ty := range types {
			for _, pat := range []string{"(" + ty + "*", " " + ty + "* ", "(" + ty + " *", " " + ty + " * ", "," + ty + "*"} {
				if strings.Contains(code, pat) {
					t.Errorf("kernels.inc:%d: pointer without an address space (%q): %s", n, strings.TrimSpace(pat), strings.TrimSpace(line))
				}
			}
		}
	}
}
