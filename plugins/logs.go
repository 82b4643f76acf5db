package plugins

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// tail keeps the last lines a plugin wrote to stderr, so an error can say
// what the plugin said before it died.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.add(string(t.part[:i]))
		t.part = t.part[i+1:]
	}
	if len(t.part) > 4096 { // a runaway line: keep its start
		t.add(string(t.part[:4096]))
		t.part = t.part[:0]
	}
	return len(p), nil
}

func (t *tail) add(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// telling returns the line that best explains a failure: the first line of
// a Go panic or fatal error, else the last error-level log line, else the
// last line.
func (t *tail) telling() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.part) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(t.part))
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return truncate(l, 300)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		var entry struct {
			Level   string `json:"@level"`
			Message string `json:"@message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal([]byte(lines[i]), &entry) == nil && entry.Message != "" {
			if entry.Level == "error" {
				msg := entry.Message
				if entry.Error != "" {
					msg += ": " + entry.Error
				}
				return truncate(msg, 300)
			}
			continue
		}
		return truncate(lines[i], 300)
	}
	return ""
}

// exitRecorder is the go-plugin client's logger sink. go-plugin logs the
// plugin's exit status there and nowhere else; everything else it logs is
// dropped (the plugin's own stderr is kept in tail).
type exitRecorder struct {
	mu   sync.Mutex
	last string
}

func (e *exitRecorder) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Info, Output: e, JSONFormat: true})
}

func (e *exitRecorder) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		var entry struct {
			Message string `json:"@message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(line, &entry) != nil || entry.Message != "plugin process exited" {
			continue
		}
		e.mu.Lock()
		e.last = entry.Error
		if e.last == "" {
			e.last = "exit status 0"
		}
		e.mu.Unlock()
	}
	return len(p), nil
}

// status returns how the process ended, e.g. "exit status 3" or
// "signal: killed", or "" if it has not been seen to end.
func (e *exitRecorder) status() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}
