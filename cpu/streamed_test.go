package cpu

import (
	"context"
	"slices"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/model"
)

// The matrices copied into the streamed region (4-bit words, scales and
// biases; bf16 MatMul weights) must give the same logits, bit for bit, as
// reading them from the mapped checkpoint.
func TestStreamedWeightsMatchMapped(t *testing.T) {
	if !copyStreamed {
		t.Skip("streamed weights are copied on Linux only")
	}
	for _, fixture := range []string{"qwen3-tiny-mlx4bit", "qwen3-tiny"} {
		run := func(streamed string) ([][]int32, [][]float32, backend.Stats) {
			t.Setenv("GRAPHPASS_CPU_STREAMED", streamed)
			m := loadModel(t, fixture, model.BuildOptions{})
			s, err := m.NewSession(context.Background(), backend.SessionOptions{Batch: 1, MaxSeq: 32})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ids, logits := greedy(t, s, [][]int32{{1, 2, 3, 4, 5}}, nil, 6)
			return ids, logits, m.Stats()
		}
		mappedIDs, mapped, st0 := run("0")
		streamedIDs, streamed, st1 := run("")
		if st0.Extra["streamed_weight_bytes"] != 0 {
			t.Fatalf("%s: GRAPHPASS_CPU_STREAMED=0 still copied %v bytes", fixture, st0.Extra["streamed_weight_bytes"])
		}
		if st1.Extra["streamed_weight_bytes"] <= 0 {
			t.Fatalf("%s: no weights were streamed from the packed region: %v", fixture, st1.Extra)
		}
		if !slices.Equal(mappedIDs[0], streamedIDs[0]) {
			t.Fatalf("%s: greedy ids differ: mapped %v, streamed %v", fixture, mappedIDs, streamedIDs)
		}
		for k := range mapped {
			if !slices.Equal(mapped[k], streamed[k]) {
				t.Fatalf("%s: step %d: logits differ between mapped and streamed weights", fixture, k)
			}
		}
	}
}
