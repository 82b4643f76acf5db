package host

import (
	"errors"
	"fmt"
	"strings"
)

// Reasons a pass fails. An *Error wraps exactly one of them; test with
// errors.Is.
var (
	ErrInvalidModule    = errors.New("invalid module")                // not WebAssembly, or does not instantiate
	ErrPinMismatch      = errors.New("sha256 mismatch")               // the module is not the one pinned
	ErrForbiddenImport  = errors.New("forbidden import")              // imports something the host does not offer
	ErrABIMismatch      = errors.New("ABI mismatch")                  // no ABI version both sides know, or wrong export types
	ErrMissingExport    = errors.New("missing export")                // a required export is absent
	ErrTrap             = errors.New("trap")                          // the module trapped (unreachable, bad memory access …)
	ErrExit             = errors.New("exited")                        // the module called proc_exit (a Go panic does)
	ErrDeadline         = errors.New("deadline exceeded")             // the call ran past the deadline and was closed
	ErrMemoryLimit      = errors.New("memory limit reached")          // the module ran out of its memory limit
	ErrOutputLimit      = errors.New("output limit exceeded")         // the response is larger than allowed
	ErrMalformed        = errors.New("malformed response")            // bad pointers or bytes that do not decode
	ErrPassReported     = errors.New("pass reported an error")        // RunResponse.error was set
	ErrPatchRejected    = errors.New("patch rejected")                // the patch does not apply or the result does not verify
	ErrValidationFailed = errors.New("translation validation failed") // a Validator rejected a rewrite
	ErrInvalidOptions   = errors.New("invalid options")               // options are not a JSON object
	ErrInvalidGraph     = errors.New("invalid input graph")           // the graph given to Run does not verify
)

// Error is the failure of one pass: which pass (name and file), the reason
// (one of the Err variables) and details. Its message is one line.
type Error struct {
	Pass   string // the pass's name, or the file's base name before it is known
	File   string // the module's path, or the name given to LoadBytes
	Reason error  // one of the Err variables of this package
	Err    error  // the details; may wrap further errors (abi.ErrMalformed, graph.ErrPatch …)
}

func (e *Error) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "pass %q", e.Pass)
	if e.File != "" && e.File != e.Pass {
		fmt.Fprintf(&sb, " (%s)", e.File)
	}
	sb.WriteString(": ")
	sb.WriteString(e.Reason.Error())
	if e.Err != nil {
		sb.WriteString(": ")
		sb.WriteString(oneLine(e.Err.Error()))
	}
	return sb.String()
}

// Unwrap returns the reason and the details, so errors.Is finds both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// oneLine folds a multi-line message (a wasm stack trace, a Go panic) into
// one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " | ")
}
