package gpu_test

import (
	"strings"
	"testing"

	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/gpu/gputest"
)

func findCase(t *testing.T, name string) gputest.Case {
	t.Helper()
	for _, c := range gputest.Cases() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return gputest.Case{}
}

func kernels(pl *gpu.Plan) map[string]int {
	n := map[string]int{}
	for _, d := range pl.Dispatches {
		n[d.Kernel]++
	}
	return n
}

// TestFusedDecodePlan checks the launch plan of a decode step of a small
// Qwen3-style decoder (2 layers): per layer one q/k/v product with the
// input norm folded in, one attention prologue, decode attention and its
// split merge, the output product with its residual, one gate/up product
// with the norm and SwiGLU folded in, the down product; then the LM head
// with the final norm folded in. (The numbers are checked on the GPUs and
// the emulator by the gputest cases themselves.)
func TestFusedDecodePlan(t *testing.T) {
	c := findCase(t, "decoder/qwen3/prefill6+5")
	p, err := gpu.NewProgram("test", c.Graph)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		batch  int
		mv     string
		greedy bool
	}{{1, "gp_mv_bf16_m1", false}, {2, "gp_mv_bf16", false}, {1, "gp_mv_bf16_m1", true}} {
		var pl *gpu.Plan
		if tc.greedy {
			pl, err = p.PlanGreedy(tc.batch, 1, c.MaxSeq)
		} else {
			pl, err = p.Plan(tc.batch, 1, c.MaxSeq, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"gp_gather_f32": 1, tc.mv: 2*4 + 1, "gp_rope_qkv": 2, "gp_attn_decode": 2, "gp_attn_combine": 2}
		if tc.greedy {
			want["gp_argmax_part"], want["gp_argmax_final"] = 1, 1
		}
		got := kernels(pl)
		if len(got) != len(want) {
			t.Errorf("batch %d greedy %v: kernels %v, want %v", tc.batch, tc.greedy, got, want)
			continue
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("batch %d greedy %v: %d × %s, want %d (all: %v)", tc.batch, tc.greedy, got[k], k, n, got)
			}
		}
		for _, d := range pl.Dispatches {
			if strings.HasPrefix(d.Kernel, "gp_mv") && strings.Contains(d.Node, "gate_proj") != (d.Params.N[13] == 1) && strings.Contains(d.Node, "mlp") {
				t.Errorf("%s (%s): SwiGLU pair mode %d", d.Kernel, d.Node, d.Params.N[13])
			}
		}
	}
}

// TestUnfusedPlan: with GRAPHPASS_GPU_FUSE=0 every op is its own dispatch.
func TestUnfusedPlan(t *testing.T) {
	t.Setenv("GRAPHPASS_GPU_FUSE", "0")
	c := findCase(t, "decoder/qwen3/prefill6+5")
	p, err := gpu.NewProgram("test", c.Graph)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := p.Plan(1, 1, c.MaxSeq, true)
	if err != nil {
		t.Fatal(err)
	}
	got := kernels(pl)
	if got["gp_rmsnorm"] != 2*4+1 || got["gp_matvec_bf16"] != 2*7+1 || got["gp_rope_qkv"] != 0 || got["gp_kv_append"] != 2 {
		t.Errorf("unfused kernels %v", got)
	}
}
