package model

import (
	"fmt"
	"math"
)

// InvFreq returns the rotary inverse frequencies [head_dim/2] exactly as
// transformers computes them (ROPE_INIT_FUNCTIONS), in float32 arithmetic:
// base^(-2k/d), then divided by the factor for "linear", or smoothed
// between low and high frequency bands for "llama3". Types built unscaled
// (LoadOptions.AllowUnknownRopeScaling) get the default frequencies.
func InvFreq(r RopeConfig, headDim int) []float32 {
	half := headDim / 2
	inv := make([]float32, half)
	d := float32(headDim)
	for k := range inv {
		// torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), f32 tensors.
		e := float32(2*k) / d
		p := float32(math.Pow(r.Theta, float64(e)))
		inv[k] = 1 / p
	}
	switch r.Type {
	case "linear":
		f := float32(r.Factor)
		for k := range inv {
			inv[k] /= f
		}
	case "llama3":
		llama3Scale(inv, r)
	}
	return inv
}

// llama3Scale applies transformers' _compute_llama3_parameters in place.
func llama3Scale(inv []float32, r RopeConfig) {
	factor := float32(r.Factor)
	low, high := float32(r.LowFreqFactor), float32(r.HighFreqFactor)
	old := float32(r.OriginalMaxPositions)
	lowWavelen := old / low
	highWavelen := old / high
	twoPi := float32(2 * math.Pi)
	for k, f := range inv {
		wavelen := twoPi / f
		scaled := f
		if wavelen > lowWavelen {
			scaled = f / factor
		}
		if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
			smooth := (old/wavelen - low) / (high - low)
			scaled = (1-smooth)*scaled/factor + smooth*scaled
		}
		inv[k] = scaled
	}
}

func (r RopeConfig) String() string {
	switch r.Type {
	case "llama3":
		return fmt.Sprintf("llama3(theta=%g, factor=%g, low=%g, high=%g, original=%d)", r.Theta, r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OriginalMaxPositions)
	case "linear":
		return fmt.Sprintf("linear(theta=%g, factor=%g)", r.Theta, r.Factor)
	}
	return fmt.Sprintf("%s(theta=%g)", r.Type, r.Theta)
}
