package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// callLog collects what a pass says during one call: graphpass.log lines,
// stdout and stderr. It keeps the first limit bytes of lines and, apart,
// the first and last bytes of stderr, which explain crashes (a Go panic
// prints there before aborting).
type callLog struct {
	mu      sync.Mutex
	pass    string
	limit   int
	used    int
	dropped int
	lines   []string
	head    []byte // the first stderrKeep bytes of stderr
	tail    []byte // the last stderrKeep bytes of stderr

	stderrBytes int
	w           io.Writer // Config.WithLogWriter, or nil
	partial     map[string]*bytes.Buffer
}

const stderrKeep = 4 << 10

func newCallLog(pass string, limit int, w io.Writer) *callLog {
	return &callLog{pass: pass, limit: limit, w: w, partial: map[string]*bytes.Buffer{}}
}

var levelNames = map[uint32]string{0: "debug", 1: "info", 2: "warn"}

func (l *callLog) add(prefix, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := prefix + ": " + strings.TrimRight(text, "\r\n")
	if l.used+len(line) > l.limit {
		l.dropped += len(line)
		return
	}
	l.used += len(line)
	l.lines = append(l.lines, line)
	if l.w != nil {
		fmt.Fprintf(l.w, "pass %s: %s\n", l.pass, line)
	}
}

// stream returns a writer for stdout or stderr that turns writes into lines.
func (l *callLog) stream(name string) io.Writer { return streamWriter{l, name} }

type streamWriter struct {
	l    *callLog
	name string
}

func (s streamWriter) Write(p []byte) (int, error) {
	l := s.l
	l.mu.Lock()
	if s.name == "stderr" {
		if room := stderrKeep - len(l.head); room > 0 {
			l.head = append(l.head, p[:min(room, len(p))]...)
		}
		l.tail = append(l.tail, p...)
		if len(l.tail) > stderrKeep {
			l.tail = append(l.tail[:0], l.tail[len(l.tail)-stderrKeep:]...)
		}
		l.stderrBytes += len(p)
	}
	buf := l.partial[s.name]
	if buf == nil {
		buf = &bytes.Buffer{}
		l.partial[s.name] = buf
	}
	// Stop buffering once the log is full: count instead.
	if l.used+buf.Len() > l.limit {
		l.dropped += len(p)
		l.mu.Unlock()
		return len(p), nil
	}
	buf.Write(p)
	var lines []string
	for {
		i := bytes.IndexByte(buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(buf.Next(i+1)))
	}
	l.mu.Unlock()
	for _, line := range lines {
		l.add(s.name, line)
	}
	return len(p), nil
}

// finish flushes unterminated output and returns the lines kept.
func (l *callLog) finish() []string {
	l.mu.Lock()
	var rest [][2]string
	for _, name := range []string{"stdout", "stderr"} {
		if buf := l.partial[name]; buf != nil && buf.Len() > 0 {
			rest = append(rest, [2]string{name, buf.String()})
			buf.Reset()
		}
	}
	l.mu.Unlock()
	for _, r := range rest {
		l.add(r[0], r[1])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := append([]string(nil), l.lines...)
	if l.dropped > 0 {
		lines = append(lines, fmt.Sprintf("host: %d more bytes of log dropped (limit %d)", l.dropped, l.limit))
	}
	return lines
}

// crashSummary picks from stderr what explains a crash, on one line: a Go
// "panic: " or "fatal error: " line and the first source location after
// it, else the last lines written.
func (l *callLog) crashSummary() string {
	l.mu.Lock()
	text := string(l.head)
	if l.stderrBytes > len(l.head) {
		text += "\n" + string(l.tail)
	}
	l.mu.Unlock()
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "panic: ") && !strings.HasPrefix(line, "fatal error: ") {
			continue
		}
		for _, next := range lines[i+1:] {
			if next = strings.TrimSpace(next); strings.Contains(next, ".go:") && !strings.HasPrefix(next, "runtime/") {
				return line + " at " + strings.Fields(next)[0]
			}
		}
		return line
	}
	var last []string
	for i := len(lines) - 1; i >= 0 && len(last) < 3; i-- {
		if t := strings.TrimSpace(lines[i]); t != "" {
			last = append([]string{t}, last...)
		}
	}
	return strings.Join(last, " | ")
}

type callLogKey struct{}

// hostLog implements graphpass.log(level, ptr, len).
func hostLog(ctx context.Context, m api.Module, level, ptr, n uint32) {
	l, _ := ctx.Value(callLogKey{}).(*callLog)
	if l == nil {
		return
	}
	name := levelNames[level]
	if name == "" {
		name = fmt.Sprintf("level%d", level)
	}
	l.mu.Lock()
	room := l.limit - l.used
	l.mu.Unlock()
	if room <= 0 {
		l.mu.Lock()
		l.dropped += int(n)
		l.mu.Unlock()
		return
	}
	if int(n) > room {
		n = uint32(room) // read no more than could be kept
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		l.add("host", fmt.Sprintf("graphpass.log(%d, %d, %d) out of bounds of memory (%d bytes); ignored", level, ptr, n, m.Memory().Size()))
		return
	}
	l.add(name, string(b))
}

// detRand is a deterministic random source: SHA-256 in counter mode over a
// fixed seed. Every instance gets a fresh one, so runs repeat exactly.
type detRand struct {
	ctr uint64
	buf []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var block [16]byte
			copy(block[:], "graphpass")
			binary.LittleEndian.PutUint64(block[8:], r.ctr)
			r.ctr++
			sum := sha256.Sum256(block[:])
			r.buf = sum[:]
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return n, nil
}

// moduleConfig is the sandbox of one instance: anonymous (so instances can
// coexist), no start function (the host calls _initialize itself), no
// args, env or filesystem, wazero's fake clocks (which advance 1 ms per
// reading) and no-op sleep, deterministic randomness, output into log.
func moduleConfig(log *callLog) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithRandSource(&detRand{}).
		WithStdout(log.stream("stdout")).
		WithStderr(log.stream("stderr"))
}
