// Package attnweights is the attn_weights pass: it removes the attention
// probability outputs attentions.<i>, so the softmax subgraphs that only
// fed them die and sdpa's fusion is complete (the seed's :attn_weights
// rewrite). Inference never reads attention weights.
package attnweights

import (
	"strings"

	"github.com/graphpass/graphpass/sdk"
)

// Pass removes attentions.<i> outputs.
var Pass = &sdk.Pass{
	Name:        "attn_weights",
	Version:     "1.0.0",
	Description: "remove the attentions.<i> graph outputs so unused softmax subgraphs die",
	Rules: []sdk.Rule{{
		Name: "attn_weights",
		Func: func(c *sdk.Context) error {
			for _, out := range c.View().Graph().Outputs {
				if !strings.HasPrefix(out.Name, "attentions.") {
					continue
				}
				rw := c.NewRewrite("remove attention weights output " + out.Name)
				rw.RemoveOutput(out.Name)
				if err := c.Commit(rw); err != nil {
					return err
				}
			}
			return nil
		},
	}},
}
