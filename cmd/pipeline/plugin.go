package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/plugins"
)

func init() {
	// The cpu runtime is embedded: `--runtime cpu` re-executes this binary
	// as `pipeline plugin serve cpu`, so the CLI alone is enough.
	plugins.RegisterEmbedded("cpu", func() (backend.Runtime, error) { return cpu.New(), nil })

	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Runtime plugins: where they are found, and serving the embedded ones",
		Long: `Runtime plugins run the rewritten graph in a separate process (go-plugin over
gRPC, protocol version ` + fmt.Sprint(plugins.ProtocolVersion) + `). A runtime NAME is found, in order:
  1. as an explicit path (a name containing a path separator),
  2. as ` + plugins.BinaryPrefix + `NAME in each directory of $` + plugins.EnvPluginDir + `,
  3. in each plugin_dir of the pipeline spec,
  4. next to this executable,
  5. embedded in this executable (re-executed as 'pipeline plugin serve NAME').`,
	}
	list := &cobra.Command{
		Use:   "list [NAME]...",
		Short: "Show where each runtime plugin would be found",
		RunE: func(cmd *cobra.Command, args []string) error {
			names := args
			if len(names) == 0 {
				names = knownRuntimeNames()
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RUNTIME\tFOUND\tEXECUTABLE")
			for _, n := range names {
				bin, err := plugins.Find(n, plugins.FindOptions{})
				if err != nil {
					fmt.Fprintf(w, "%s\t-\t%v\n", n, err)
					continue
				}
				exe := bin.Path
				for _, a := range bin.Args {
					exe += " " + a
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", n, bin.Source, exe)
			}
			return w.Flush()
		},
	}
	serve := &cobra.Command{
		Use:    "serve NAME",
		Short:  "Serve an embedded runtime as a plugin (started by the CLI itself)",
		Hidden: true,
		Args:   usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			open, ok := plugins.Embedded(args[0])
			if !ok {
				return usagef("plugin serve: no embedded runtime %q (embedded: %v)", args[0], plugins.EmbeddedNames())
			}
			rt, err := open()
			if err != nil {
				return err
			}
			plugins.Serve(rt, plugins.ServeConfig{Version: moduleVersion()})
			return nil
		},
	}
	cmd.AddCommand(list, serve)
	root.AddCommand(cmd)
}

// knownRuntimeNames lists the embedded runtimes and the plugin executables
// found in the search path, plus the runtimes the project ships.
func knownRuntimeNames() []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range plugins.EmbeddedNames() {
		add(n)
	}
	for _, n := range []string{"cpu", "cuda", "metal"} {
		add(n)
	}
	dirs := filepath.SplitList(os.Getenv(plugins.EnvPluginDir))
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, plugins.BinaryPrefix+"*"))
		for _, m := range matches {
			add(filepath.Base(m)[len(plugins.BinaryPrefix):])
		}
	}
	return names
}
