package model_test

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
)

func ExampleOpen() {
	ck, err := model.Open("../testdata/fixtures/qwen3-tiny")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Metadata[graph.MetaArchitecture], g.Metadata[graph.MetaNumLayers], "layers")
	fmt.Println(g.Input(graph.PastKey(0)).Type)
	fmt.Println(g.Output(graph.Logits).Type)
	// Output:
	// Qwen3ForCausalLM 2 layers
	// f32[batch,2,past,32]
	// f32[batch,seq,512]
}

func ExampleBuildGraph() {
	cfg, _ := model.Synthetic("qwen3-0.6b")
	g, _ := model.BuildGraph(cfg, model.BuildOptions{MergedDecoder: true})
	ops := g.OpCounts()
	fmt.Println(cfg.NumLayers, "layers,", ops["MatMul"], "MatMul,", ops["If"], "If")
	// Output: 28 layers, 253 MatMul, 56 If
}
