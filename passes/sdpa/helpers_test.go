package sdpa_test

import (
	"math"
	"strings"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }
func sqrt(x float64) float64      { return math.Sqrt(x) }
