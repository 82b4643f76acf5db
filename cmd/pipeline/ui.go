package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/graphpass/graphpass/pipeline"
	"github.com/graphpass/graphpass/plugins"
)

func init() {
	// Whatever command ran and however it ended, stop the runtime plugins
	// it started: no plugin process outlives the CLI.
	cobra.OnFinalize(plugins.KillAll)
}

// signalContext is cmd's context, cancelled on Ctrl-C or SIGTERM so that
// long work stops cleanly (and plugins are stopped by the finalizer).
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// interrupted turns the error of work stopped by Ctrl-C or SIGTERM into
// one plain message (the error itself is only the cancellation echoing
// through whatever was running).
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return err
}

// stderrIsTerminal reports whether progress bars make sense.
func stderrIsTerminal(cmd *cobra.Command) bool {
	f, ok := cmd.ErrOrStderr().(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBars renders pipeline progress on stderr when it is a terminal,
// one transient bar (or spinner) per stage; elsewhere it prints nothing.
type progressBars struct {
	w       io.Writer
	enabled bool
	mu      sync.Mutex
	stage   string
	bar     *progressbar.ProgressBar
}

func newProgressBars(cmd *cobra.Command, quiet bool) *progressBars {
	return &progressBars{w: cmd.ErrOrStderr(), enabled: !quiet && stderrIsTerminal(cmd)}
}

// report is a pipeline.Options.Progress callback.
func (p *progressBars) report(ev pipeline.Progress) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Stage != p.stage || p.bar == nil {
		p.finish()
		p.stage = ev.Stage
		max := int64(ev.Total)
		if max <= 0 {
			max = -1 // a spinner
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(ev.Stage),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(80*time.Millisecond),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionSetElapsedTime(true),
		)
	}
	if ev.Total > 0 {
		_ = p.bar.Set(ev.Done)
	} else {
		_ = p.bar.Add(0)
	}
	if ev.Finished {
		p.finish()
	}
}

// pause hides the current bar (before text goes to the terminal).
func (p *progressBars) pause() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finish()
}

func (p *progressBars) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
	}
	p.stage = ""
}

// emitJSON writes v as one indented JSON object.
func emitJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// asSpecError is errors.As for *pipeline.SpecError.
func asSpecError(err error, target **pipeline.SpecError) bool { return errors.As(err, target) }

// absPath makes a command-line path absolute (specs hold absolute paths).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// usageArgs makes a cobra argument check's failure a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
