package cpu

import "testing"

func TestMeasureReadBandwidth(t *testing.T) {
	if bw := MeasureReadBandwidth(4<<20, 2, 2); bw <= 0 {
		t.Fatalf("4 MiB read: %g bytes/s", bw)
	}
	if bw := MeasureReadBandwidth(0, 1, 1); bw != 0 {
		t.Fatalf("empty buffer: %g bytes/s, want 0", bw)
	}
}
