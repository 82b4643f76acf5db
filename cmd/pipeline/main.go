// Command pipeline turns a Hugging Face checkpoint into a compute graph,
// rewrites it with sandboxed WebAssembly passes and runs it on a runtime
// plugin. Run `pipeline --help` for the commands.
//
// Each subcommand lives in its own file and registers itself with root in
// an init function; main only maps errors to exit codes.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, stable for scripts.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed (bad input, pass error, runtime error)
	exitUsage   = 2 // bad flags or arguments
)

// usageError marks errors that are the caller's invocation, not the input.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef builds a usage error.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

var root = &cobra.Command{
	Use:           "pipeline",
	Short:         "Rewrite LLM graphs with sandboxed WebAssembly passes and run them on native runtimes",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	err := root.Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "pipeline:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(exitUsage)
	}
	os.Exit(exitFailure)
}
