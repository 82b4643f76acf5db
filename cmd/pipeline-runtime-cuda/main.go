// Command pipeline-runtime-cuda is the CUDA runtime as a standalone runtime
// plugin. The pipeline CLI embeds the same runtime (`--runtime cuda`
// re-executes the CLI as `pipeline plugin serve cuda`), so this binary is
// only needed to run the cuda runtime from another build: put it next to the
// CLI, in $GRAPHPASS_PLUGIN_DIR, or name it by path.
//
// Without a usable GPU it still answers the host: Capabilities says why
// and Load returns that error, so the host reports one clear line.
package main

import (
	"runtime/debug"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cuda"
	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/plugins"
)

func main() {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	var rt backend.Runtime
	if r, err := cuda.NewRuntime(); err != nil {
		rt = gpu.Unavailable("cuda", err)
	} else {
		rt = r
	}
	plugins.Serve(rt, plugins.ServeConfig{Version: version})
}
