// Command pipeline-runtime-cpu is the pure-Go CPU runtime as a standalone
// runtime plugin. The pipeline CLI embeds the same runtime (and serves it
// by re-executing itself), so this binary is only needed to run the cpu
// runtime from another build, or to test the plugin path on its own: put
// it next to the CLI, in $GRAPHPASS_PLUGIN_DIR, or name it by path
// (`--runtime ./pipeline-runtime-cpu`).
//
// Run by hand it explains that it is a plugin and exits with status 1.
package main

import (
	"runtime/debug"

	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/plugins"
)

func main() {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	plugins.Serve(cpu.New(), plugins.ServeConfig{Version: version})
}
