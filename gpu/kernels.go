package gpu

import "fmt"

// KernelNames lists every kernel entry point of the shared source, for the
// runtimes to look up (CUDA functions, Metal pipelines) once at start.
func KernelNames() []string {
	names := []string{
		"gp_copy2d", "gp_permute", "gp_unary", "gp_binary", "gp_reduce_last", "gp_softmax_last",
		"gp_argmax_rows", "gp_rmsnorm", "gp_layernorm", "gp_rope", "gp_kv_append", "gp_attention", "gp_attn_combine",
		"gp_rope_qkv", "gp_attn_decode", "gp_argmax_part", "gp_argmax_final",
	}
	for _, dt := range []string{"f32", "bf16", "f16"} {
		names = append(names, "gp_gather_"+dt, "gp_qgather_"+dt, "gp_matvec_"+dt, "gp_gemm_"+dt, "gp_mv_"+dt, "gp_mv_"+dt+"_m1")
		for _, b := range []int{2, 3, 4, 5, 6, 8} {
			names = append(names, fmt.Sprintf("gp_qmatvec%d_%s", b, dt), fmt.Sprintf("gp_qmv%d_%s_m1", b, dt))
		}
	}
	return names
}
