package abi_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/graphpass/graphpass/abi"
	pb "github.com/graphpass/graphpass/abi/abiv1pb"
)

var fieldSep = regexp.MustCompile(`(?m)^(\s*[a-z_]+):\s+`)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

// goldens are the ABI v1 test vectors other-language implementations check
// themselves against: NAME.bin is the exact deterministic encoding and
// NAME.txt the same message in protobuf text format.
var goldens = []struct {
	name   string
	encode func() []byte
	msg    func() proto.Message
	rehand func([]byte) ([]byte, error)
}{
	{"request", func() []byte { return abi.EncodeRunRequest(sampleRequest()) }, func() proto.Message { return &pb.RunRequest{} }, rerequest},
	{"response", func() []byte { return abi.EncodeRunResponse(sampleResponse()) }, func() proto.Message { return &pb.RunResponse{} }, reresponse},
	{"response_exotic", func() []byte { return abi.EncodeRunResponse(exoticResponse()) }, func() proto.Message { return &pb.RunResponse{} }, reresponse},
	{"info", func() []byte { return abi.EncodePassInfo(sampleInfo()) }, func() proto.Message { return &pb.PassInfo{} }, reinfo},
	{"graph_exotic", func() []byte { return abi.EncodeGraph(exoticGraph()) }, func() proto.Message { return &pb.Graph{} }, regraph},
}

// TestGoldenVectors decodes each committed .bin with the hand codec and
// re-encodes it byte for byte; checks the samples still encode to it; and
// checks the .txt parses (with protobuf-go) to a message that marshals to
// the same bytes.
func TestGoldenVectors(t *testing.T) {
	for _, gv := range goldens {
		t.Run(gv.name, func(t *testing.T) {
			binPath := filepath.Join("testdata", gv.name+".bin")
			txtPath := filepath.Join("testdata", gv.name+".txt")
			if *update {
				b := gv.encode()
				m := gv.msg()
				if err := proto.Unmarshal(b, m); err != nil {
					t.Fatal(err)
				}
				txt, err := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				header := "# ABI v1 golden vector: the protobuf text form of " + gv.name + ".bin (" + string(m.ProtoReflect().Descriptor().FullName()) + ").\n# Regenerate with: go test ./abi -run TestGoldenVectors -update\n"
				must(t, os.WriteFile(binPath, b, 0o644))
				// prototext adds random spaces on purpose; tidy them for readers.
				txt = fieldSep.ReplaceAll(txt, []byte("$1: "))
				must(t, os.WriteFile(txtPath, append([]byte(header), txt...), 0o644))
			}
			bin, err := os.ReadFile(binPath)
			must(t, err)
			again, err := gv.rehand(bin)
			if err != nil {
				t.Fatalf("hand decoder: %v", err)
			}
			if !bytes.Equal(again, bin) {
				t.Errorf("hand decode+encode differs from %s at byte %d", binPath, firstDiff(again, bin))
			}
			if got := gv.encode(); !bytes.Equal(got, bin) {
				t.Errorf("sample encodes differently from %s (at byte %d); run with -update if the change is intended and additive", binPath, firstDiff(got, bin))
			}
			txt, err := os.ReadFile(txtPath)
			must(t, err)
			m := gv.msg()
			if err := prototext.Unmarshal(txt, m); err != nil {
				t.Fatalf("%s: %v", txtPath, err)
			}
			fromTxt, err := deterministic.Marshal(m)
			must(t, err)
			if !bytes.Equal(fromTxt, bin) {
				t.Errorf("%s and %s disagree at byte %d", txtPath, binPath, firstDiff(fromTxt, bin))
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
