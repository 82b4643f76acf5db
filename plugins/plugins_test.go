package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// envServe makes the test binary act as a plugin (or a misbehaving
// executable) instead of running tests; the value says which.
const envServe = "GRAPHPASS_PLUGINS_TEST_SERVE"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(envServe); mode {
	case "":
		os.Exit(m.Run())
	case "fake", "exit-in-forward", "hang-in-forward", "panic-in-load", "refuse-load":
		Serve(&fakeRuntime{fault: strings.TrimPrefix(mode, "fake")}, ServeConfig{Version: "test"})
	case "v2":
		Serve(&fakeRuntime{}, ServeConfig{ProtocolVersions: []int{2}})
	case "not-a-plugin":
		fmt.Println("hello, world")
	case "silent":
		os.Exit(1)
	case "host":
		// A host that starts a plugin, reports its pid and waits to be killed.
		r, err := Start(context.Background(), self("fake"), Config{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(r.Info().PID)
		time.Sleep(time.Hour)
	default:
		fmt.Fprintln(os.Stderr, "unknown", envServe, mode)
		os.Exit(2)
	}
	os.Exit(0)
}

// self is this test binary started as a plugin in the given mode.
func self(mode string) *Binary {
	return &Binary{Name: "fake", Path: os.Args[0], Env: []string{envServe + "=" + mode}, Source: "test"}
}

// startSession starts the test plugin in mode, loads the fake model into
// it and opens a batch-1 session.
func startSession(t *testing.T, mode string, cfg Config) (*Runtime, backend.Model, backend.Session) {
	t.Helper()
	g, err := fakeGraph(t.TempDir(), 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, mode, cfg)
	ctx := context.Background()
	m, err := r.Load(ctx, g, backend.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r, m, s
}

func start(t *testing.T, mode string, cfg Config) *Runtime {
	t.Helper()
	r, err := Start(context.Background(), self(mode), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// alive reports whether a process exists.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPluginForwardMatchesInProcess(t *testing.T) {
	// vocab 40000: a prefill of 2×8 positions is 2.5 MB of logits, more
	// than one chunk and more than gRPC's default message limit.
	g, err := fakeGraph(t.TempDir(), 40000, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, "fake", Config{})
	if info := r.Info(); info.Name != "fake" || info.ProtocolVersion != ProtocolVersion || info.Version != "test" || info.PID == 0 {
		t.Fatalf("info = %+v", info)
	}
	if caps := r.Capabilities(); !reflect.DeepEqual(caps, (&fakeRuntime{}).Capabilities()) {
		t.Fatalf("capabilities = %+v", caps)
	}
	ctx := context.Background()
	steps := []backend.Step{
		{Tokens: [][]int32{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11, 12, 13, 14, 15, 16}}, AllLogits: true},
		{Tokens: [][]int32{{39999}, {0}}},
		{Tokens: [][]int32{{17}, {18}}, Mask: [][]int32{{1}, {1}}},
	}
	run := func(rt backend.Runtime) []*backend.Logits {
		m, err := rt.Load(ctx, g, backend.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 2, MaxSeq: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out []*backend.Logits
		for _, st := range steps {
			lg, err := s.Forward(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, lg)
		}
		if st := m.Stats(); st.ForwardCalls != int64(len(steps)) || st.WeightBytes != 4*40000*4 || st.Extra["fake"] != 1 {
			t.Errorf("stats = %+v", st)
		}
		return out
	}
	want := run(&fakeRuntime{})
	got := run(r)
	for i := range want {
		if got[i].Batch != want[i].Batch || got[i].Positions != want[i].Positions || got[i].Vocab != want[i].Vocab {
			t.Fatalf("step %d: shape %d×%d×%d, want %d×%d×%d", i, got[i].Batch, got[i].Positions, got[i].Vocab, want[i].Batch, want[i].Positions, want[i].Vocab)
		}
		if !reflect.DeepEqual(got[i].Data, want[i].Data) {
			t.Fatalf("step %d: logits differ", i)
		}
	}
	if want[0].Positions != 8 || want[1].Positions != 1 {
		t.Fatalf("fake returned %d and %d positions", want[0].Positions, want[1].Positions)
	}
}

func TestPluginErrorFromRuntimeKeepsPluginAlive(t *testing.T) {
	_, m, s := startSession(t, "fake", Config{})
	ctx := context.Background()
	_, err := s.Forward(ctx, backend.Step{Tokens: [][]int32{{99}}})
	if err == nil || !strings.Contains(err.Error(), "token 99 out of range") || errors.Is(err, ErrPluginFailed) {
		t.Fatalf("err = %v, want the runtime's own error", err)
	}
	if _, err := s.Forward(ctx, backend.Step{Tokens: [][]int32{{3}}}); err != nil {
		t.Fatalf("plugin unusable after a runtime error: %v", err)
	}
	if _, err := m.NewSession(ctx, backend.SessionOptions{Batch: 0}); err == nil || !strings.Contains(err.Error(), "fake: batch 0") {
		t.Fatalf("NewSession err = %v", err)
	}
}

func TestPluginCrashMidForward(t *testing.T) {
	r, _, s := startSession(t, "exit-in-forward", Config{})
	ctx := context.Background()
	_, err := s.Forward(ctx, backend.Step{Tokens: [][]int32{{1}}})
	var pe *PluginError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("err = %v, want a PluginError", err)
	}
	for _, want := range []string{"runtime plugin fake", "Forward", "exited (exit status 3)", "about to exit mid-Forward"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	waitGone(t, r.Info().PID)
	// Every later call reports the same failure instead of hanging.
	if _, err2 := s.Forward(ctx, backend.Step{Tokens: [][]int32{{1}}}); !errors.Is(err2, ErrPluginFailed) {
		t.Fatalf("second call: %v", err2)
	}
}

func TestPluginHangMidForward(t *testing.T) {
	r, _, s := startSession(t, "hang-in-forward", Config{CallTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	t0 := time.Now()
	_, err := s.Forward(ctx, backend.Step{Tokens: [][]int32{{1}}})
	if !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), "no answer within 500ms") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("hung plugin took %v to give up on", d)
	}
	waitGone(t, r.Info().PID)
}

func TestPluginPanicInLoad(t *testing.T) {
	g, err := fakeGraph(t.TempDir(), 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, "panic-in-load", Config{})
	_, err = r.Load(context.Background(), g, backend.LoadOptions{})
	if !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), "panic: fake runtime: deliberate panic in Load") {
		t.Fatalf("err = %v", err)
	}
	waitGone(t, r.Info().PID)
}

func TestPluginUnsupported(t *testing.T) {
	g, err := fakeGraph(t.TempDir(), 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Refused by the host from Capabilities, before anything is sent.
	r := start(t, "fake", Config{})
	bad := g.Clone()
	bad.Nodes[1].Op = "Add"
	bad.Nodes[1].Attrs = nil
	bad.Nodes[1].Inputs = []string{"h", "h"}
	bad.Outputs[0].Type.Shape[2] = graph.D(4)
	_, err = r.Load(context.Background(), bad, backend.LoadOptions{})
	var ue *backend.UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, backend.ErrUnsupported) || !reflect.DeepEqual(ue.Missing, []string{"op Add"}) {
		t.Fatalf("err = %v", err)
	}
	// Refused by the plugin itself: the UnsupportedError survives the trip.
	r2 := start(t, "refuse-load", Config{})
	_, err = r2.Load(context.Background(), g, backend.LoadOptions{})
	if !errors.As(err, &ue) || ue.Runtime != "fake" || !reflect.DeepEqual(ue.Missing, []string{"op Imaginary"}) {
		t.Fatalf("err = %v", err)
	}
}

func TestPluginUnmaterialisedDerivation(t *testing.T) {
	g, err := fakeGraph(t.TempDir(), 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, "fake", Config{})
	g.Initializers[0].Ref = nil
	g.Initializers[0].Derive = &graph.Derivation{Op: "affine_quantize", Source: "w"}
	_, err = r.Load(context.Background(), g, backend.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), `initializer "embed" is derived (affine_quantize of w) and was not materialised`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStartFailures(t *testing.T) {
	sum, err := FileSHA256(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	zero := strings.Repeat("0", 64)
	tests := []struct {
		name string
		bin  *Binary
		cfg  Config
		want []string
	}{
		{"wrong protocol version", self("v2"), Config{}, []string{"speaks runtime-plugin protocol version 2, this pipeline speaks [1]"}},
		{"not a plugin", self("not-a-plugin"), Config{}, []string{"not a graphpass runtime plugin", `printed "hello, world"`}},
		{"exits at once", self("silent"), Config{}, []string{"it exited before the plugin handshake (it failed to start, or it is not a graphpass runtime plugin)"}},
		{"missing", &Binary{Name: "ghost", Path: filepath.Join(t.TempDir(), "pipeline-runtime-ghost")}, Config{}, []string{"runtime plugin ghost", "executable not found"}},
		{"sha256 mismatch", self("fake"), Config{SHA256: zero}, []string{"sha256 mismatch: the file has " + sum + ", expected " + zero}},
		{"sha256 malformed", self("fake"), Config{SHA256: "abc"}, []string{`sha256 "abc" is not 64 hex digits`}},
		{"start timeout", &Binary{Name: "sleepy", Path: os.Args[0], Args: []string{"-test.run=^TestSleepHelper$"}, Env: []string{"GRAPHPASS_PLUGINS_TEST_SLEEP=1"}},
			Config{StartTimeout: 300 * time.Millisecond}, []string{"no plugin handshake within the start timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), tt.bin, tt.cfg)
			if !errors.Is(err, ErrPluginFailed) {
				t.Fatalf("err = %v, want ErrPluginFailed", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	// The right checksum starts it.
	r := start(t, "fake", Config{SHA256: strings.ToUpper(sum)})
	if r.Info().PID == 0 {
		t.Fatal("no pid")
	}
}

// TestSleepHelper is a stand-in for an executable that never performs the
// handshake (run only as a child of TestStartFailures).
func TestSleepHelper(t *testing.T) {
	if os.Getenv("GRAPHPASS_PLUGINS_TEST_SLEEP") == "" {
		t.Skip("helper process only")
	}
	time.Sleep(time.Minute)
}

func TestCloseStopsProcess(t *testing.T) {
	r := start(t, "fake", Config{})
	pid := r.Info().PID
	if !alive(pid) {
		t.Fatal("plugin not running")
	}
	r.Close()
	waitGone(t, pid)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(context.Background(), &graph.Graph{}, backend.LoadOptions{}); err == nil {
		t.Fatal("Load after Close succeeded")
	}
}

func TestKillAll(t *testing.T) {
	a := start(t, "fake", Config{})
	b := start(t, "fake", Config{})
	KillAll()
	waitGone(t, a.Info().PID)
	waitGone(t, b.Info().PID)
}

// TestNoOrphanWhenHostIsKilled: a host killed with SIGKILL cannot stop its
// plugins; the plugin notices it was orphaned and exits by itself.
func TestNoOrphanWhenHostIsKilled(t *testing.T) {
	host := exec.Command(os.Args[0])
	host.Env = append(os.Environ(), envServe+"=host")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	buf := make([]byte, 64)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("host said %q", buf[:n])
	}
	if !alive(pid) {
		t.Fatal("plugin not running")
	}
	host.Process.Kill()
	host.Wait()
	waitGone(t, pid)
}

// TestPluginForwardGreedy: in greedy mode only the chosen ids cross the
// process boundary, and they are the argmax of the logits the same steps
// give in process.
func TestPluginForwardGreedy(t *testing.T) {
	g, err := fakeGraph(t.TempDir(), 40000, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, "fake", Config{})
	ctx := context.Background()
	steps := []backend.Step{
		{Tokens: [][]int32{{1, 2, 3}, {9, 10, 11}}},
		{Tokens: [][]int32{{39999}, {0}}},
	}
	ids := func(rt backend.Runtime, greedy bool) [][]int32 {
		m, err := rt.Load(ctx, g, backend.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 2, MaxSeq: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, ok := s.(backend.GreedySession); greedy != ok {
			t.Fatalf("session %T: GreedySession %v, want %v", s, ok, greedy)
		}
		var out [][]int32
		for _, st := range steps {
			got, err := backend.Greedy(ctx, s, st)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got)
		}
		return out
	}
	want := ids(&fakeRuntime{}, false)
	if want[0][0] == want[0][1] && want[1][0] == want[1][1] {
		t.Fatalf("fake logits pick the same ids for both rows (%v): the test would not see mixed-up rows", want)
	}
	if got := ids(r, true); !reflect.DeepEqual(got, want) {
		t.Fatalf("plugin greedy ids %v, in process %v", got, want)
	}
}
