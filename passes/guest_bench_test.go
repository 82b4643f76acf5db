package passes_test

import (
	"testing"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/sdk/passtest"
)

// BenchmarkGuestNative measures what a module does per run (decode the
// request, run the rules, encode the response), natively.
func BenchmarkGuestNative(b *testing.B) {
	ps, inputs := stages(b)
	for i, p := range ps {
		req, err := passtest.Request(inputs[i], "")
		if err != nil {
			b.Fatal(err)
		}
		wire := abi.EncodeRunRequest(req)
		b.Run(p.Name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			for n := 0; n < b.N; n++ {
				r, err := abi.DecodeRunRequest(wire)
				if err != nil {
					b.Fatal(err)
				}
				_ = abi.EncodeRunResponse(p.Pass.Serve(r))
			}
		})
	}
}
