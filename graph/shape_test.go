package graph

import "testing"

func TestDimArithmetic(t *testing.T) {
	tests := []struct {
		name string
		got  Dim
		want string
	}{
		{"static add", D(3).Add(D(4)), "7"},
		{"sym add", S("past").Add(S("seq")), "past+seq"},
		{"canonical order", S("seq").Add(S("past")), "past+seq"},
		{"sym plus const", S("past").Add(D(1)), "past+1"},
		{"sub sym", S("past+seq").Sub(S("seq")), "past"},
		{"sub const", S("past+3").Sub(D(1)), "past+2"},
		{"sub missing sym", S("past").Sub(S("seq")), "?"},
		{"unknown add", Unknown.Add(D(1)), "?"},
		{"numeric sum parses static", S("2+3"), "5"},
		{"repeated symbol", S("seq").Add(S("seq")), "seq+seq"},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if !S("past+seq").Equal(S("seq+past")) {
		t.Error("canonical forms differ")
	}
	if !D(3).Compatible(Unknown) || D(3).Compatible(D(4)) {
		t.Error("Compatible wrong")
	}
}

func TestParseShapeRoundTrip(t *testing.T) {
	for _, s := range []string{"[]", "[1]", "[batch,seq,64]", "[batch,past+seq]", "[?,3]"} {
		sh, err := ParseShape(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if sh.String() != s {
			t.Errorf("round trip %s → %s", s, sh)
		}
	}
	for _, bad := range []string{"", "[", "batch", "[a b]", "[-1]", "[1,,2]", "[1x]"} {
		if _, err := ParseShape(bad); err == nil {
			t.Errorf("ParseShape(%q) accepted", bad)
		}
	}
}

func TestBroadcast(t *testing.T) {
	tests := []struct {
		a, b, want string
		fail       bool
	}{
		{a: "[batch,seq,64]", b: "[64]", want: "[batch,seq,64]"},
		{a: "[batch,1,seq,64]", b: "[batch,4,1,1]", want: "[batch,4,seq,64]"},
		{a: "[]", b: "[3,4]", want: "[3,4]"},
		{a: "[3]", b: "[4]", fail: true},
		{a: "[seq]", b: "[past]", fail: true},
		{a: "[?]", b: "[seq]", want: "[seq]"},
	}
	for _, tt := range tests {
		a, _ := ParseShape(tt.a)
		b, _ := ParseShape(tt.b)
		got, err := Broadcast(a, b)
		if tt.fail {
			if err == nil {
				t.Errorf("Broadcast(%s,%s) = %s, want error", tt.a, tt.b, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Broadcast(%s,%s) = %s, %v; want %s", tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestDTypes(t *testing.T) {
	for d := F32; d <= Bool; d++ {
		back, err := ParseDType(d.String())
		if err != nil || back != d {
			t.Errorf("dtype %v round trip: %v %v", d, back, err)
		}
		if d.Size() == 0 {
			t.Errorf("dtype %v has no size", d)
		}
	}
	if _, err := ParseDType("q4"); err == nil {
		t.Error("unknown dtype accepted")
	}
	tests := []struct{ a, b, want DType }{
		{F32, BF16, F32}, {BF16, F16, F32}, {BF16, BF16, BF16}, {I64, F16, F16}, {I32, I64, I64}, {F64, F32, F64},
	}
	for _, tt := range tests {
		if got := Promote(tt.a, tt.b); got != tt.want {
			t.Errorf("Promote(%v,%v)=%v want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
