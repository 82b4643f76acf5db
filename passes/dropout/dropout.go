// Package dropout is the dropout pass: at inference Dropout is the
// identity whatever its rate, so every Dropout node is removed and its
// readers read its input (the seed's :dropout rewrite).
package dropout

import "github.com/graphpass/graphpass/sdk"

// Pass removes Dropout nodes.
var Pass = &sdk.Pass{
	Name:        "dropout",
	Version:     "1.0.0",
	Description: "remove Dropout nodes (the identity at inference, any rate)",
	Consumes:    []string{"Dropout"},
	Rules: []sdk.Rule{{
		Name:    "dropout",
		Pattern: sdk.Op("Dropout", sdk.Any("x")),
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			rw.Reason("Dropout %s (rate %g) is the identity at inference", m.Root().Name, m.Root().Float("rate"))
			rw.Replace(m.Root(), m.Value("x"))
			return nil
		},
	}},
}
