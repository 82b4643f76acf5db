package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/pipeline"
	"github.com/graphpass/graphpass/plugins"
)

// moduleVersion is the version of the module this binary was built from:
// the tag for `go install …@vX`, "(devel)" in a source tree.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of the CLI, its Go toolchain, the pass ABI and the plugin protocol",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := struct {
				Version          string   `json:"version"`
				Go               string   `json:"go"`
				Platform         string   `json:"platform"`
				PassABI          []int    `json:"pass_abi_versions"`
				PluginProtocol   []int    `json:"plugin_protocol_versions"`
				PipelineSpec     int      `json:"pipeline_spec_version"`
				EmbeddedRuntimes []string `json:"embedded_runtimes"`
			}{
				Version:          moduleVersion(),
				Go:               runtime.Version(),
				Platform:         runtime.GOOS + "/" + runtime.GOARCH,
				PassABI:          []int{abi.Version1},
				PluginProtocol:   plugins.ProtocolVersions,
				PipelineSpec:     pipeline.SpecVersion,
				EmbeddedRuntimes: plugins.EmbeddedNames(),
			}
			if asJSON {
				return emitJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "pipeline %s\n", v.Version)
			fmt.Fprintf(w, "go:                       %s %s\n", v.Go, v.Platform)
			fmt.Fprintf(w, "pass ABI versions:        %v\n", v.PassABI)
			fmt.Fprintf(w, "plugin protocol versions: %v\n", v.PluginProtocol)
			fmt.Fprintf(w, "pipeline.yaml version:    %d\n", v.PipelineSpec)
			fmt.Fprintf(w, "embedded runtimes:        %v\n", v.EmbeddedRuntimes)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	root.AddCommand(cmd)
}
