// Package examples holds example pipeline specs (pipeline.yaml files; see
// the README's pipeline.yaml reference). The default spec is embedded, so
// `pipeline run` without arguments works from any directory.
package examples

import _ "embed"

// Default is default.yaml: the bundled model, the default passes, the cpu
// runtime plugin, a short greedy generation.
//
//go:embed default.yaml
var Default []byte
