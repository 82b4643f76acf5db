package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/plugins/runtimev1"
)

// ErrPluginFailed is wrapped by every error that means the plugin process
// itself failed: it would not start, crashed, or stopped answering. The
// process is gone (killed if need be) and the Runtime unusable.
var ErrPluginFailed = errors.New("runtime plugin failed")

// PluginError says which plugin failed, in which call and how.
type PluginError struct {
	Runtime string // the runtime name, e.g. "cpu"
	Path    string // the executable
	Call    string // "start", "Load", "Forward", "Generate", …
	Reason  string // what happened, e.g. "exited with exit status 3"
	Stderr  string // the most telling line of the plugin's stderr, if any
}

func (e *PluginError) Error() string {
	s := fmt.Sprintf("runtime plugin %s (%s): %s", e.Runtime, e.Path, e.Reason)
	if e.Call != "" && e.Call != "start" {
		s = fmt.Sprintf("runtime plugin %s (%s): %s: %s", e.Runtime, e.Path, e.Call, e.Reason)
	}
	if e.Stderr != "" {
		s += "; plugin stderr: " + e.Stderr
	}
	return s
}

func (e *PluginError) Unwrap() error { return ErrPluginFailed }

// Config tunes Start. Zero fields take the documented defaults.
type Config struct {
	// SHA256, when set, is the hex sha256 the plugin executable must have;
	// a mismatch refuses to start it (go-plugin SecureConfig).
	SHA256 string
	// StartTimeout bounds the process start and handshake. Default 30 s.
	StartTimeout time.Duration
	// CallTimeout bounds every call but Load and Generate: Capabilities,
	// NewSession, one Forward, Free, Stats. Default 2 min.
	CallTimeout time.Duration
	// LoadTimeout bounds Load (mapping weights, planning, compiling
	// kernels). Default 10 min.
	LoadTimeout time.Duration
	// StepTimeout bounds the silence between two tokens of Generate (the
	// prefill counts as one step). Default: CallTimeout.
	StepTimeout time.Duration
	// Stderr receives a copy of the plugin's stderr; nil discards it. The
	// last lines are kept regardless, for error messages.
	Stderr io.Writer
}

func (c Config) withDefaults() Config {
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 2 * time.Minute
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 10 * time.Minute
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = c.CallTimeout
	}
	return c
}

// Info describes a started plugin.
type Info struct {
	Name            string   // the runtime's name from Capabilities
	Path            string   // the executable
	Source          string   // where Find found it
	ProtocolVersion int      // negotiated protocol version
	ABIVersions     []uint32 // graph encodings it decodes
	Version         string   // the plugin's own version string
	PID             int
}

// Runtime is a backend.Runtime served by a plugin process.
type Runtime struct {
	cfg    Config
	bin    *Binary
	client *plugin.Client
	rpc    runtimev1.RuntimeClient
	caps   backend.Capabilities
	info   Info
	logs   *tail
	exit   *exitRecorder

	mu     sync.Mutex
	broken error // set once the process failed; every later call returns it
	closed bool
}

var _ backend.Runtime = (*Runtime)(nil)

var live struct {
	sync.Mutex
	set map[*Runtime]bool
}

// KillAll stops every plugin process this process started and has not
// closed yet. Call it before exiting on a signal.
func KillAll() {
	live.Lock()
	rs := make([]*Runtime, 0, len(live.set))
	for r := range live.set {
		rs = append(rs, r)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.Close() }()
	}
	wg.Wait()
}

// Start launches the plugin bin, performs the handshake (protocol
// version negotiated from ProtocolVersions, checksum when cfg.SHA256 is
// set) and asks for its capabilities. The returned Runtime owns the
// process: Close stops it.
func Start(ctx context.Context, bin *Binary, cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	r := &Runtime{cfg: cfg, bin: bin, logs: newTail(64), exit: &exitRecorder{}}
	fail := func(reason string) error {
		return &PluginError{Runtime: bin.Name, Path: bin.Path, Call: "start", Reason: reason, Stderr: r.logs.telling()}
	}
	if _, err := os.Stat(bin.Path); err != nil {
		if os.IsNotExist(err) {
			return nil, fail("executable not found")
		}
		return nil, fail(err.Error())
	}
	var secure *plugin.SecureConfig
	if cfg.SHA256 != "" {
		want, err := hex.DecodeString(cfg.SHA256)
		if err != nil || len(want) != sha256.Size {
			return nil, fail(fmt.Sprintf("sha256 %q is not 64 hex digits", cfg.SHA256))
		}
		got, err := fileSHA256(bin.Path)
		if err != nil {
			return nil, fail(err.Error())
		}
		if got != strings.ToLower(cfg.SHA256) {
			return nil, fail(fmt.Sprintf("sha256 mismatch: the file has %s, expected %s", got, strings.ToLower(cfg.SHA256)))
		}
		secure = &plugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	var stderr io.Writer = r.logs
	if cfg.Stderr != nil {
		stderr = io.MultiWriter(r.logs, cfg.Stderr)
	}
	cmd := exec.Command(bin.Path, bin.Args...)
	// The plugin inherits our environment, with bin.Env taking precedence
	// (go-plugin would otherwise append ours after it).
	cmd.Env = append(os.Environ(), bin.Env...)
	r.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(nil, ProtocolVersions),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     cfg.StartTimeout,
		Stderr:           stderr,
		SyncStdout:       stderr,
		SyncStderr:       stderr,
		Logger:           r.exit.logger(),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes))},
	})
	rpcClient, err := r.client.Client()
	if err != nil {
		r.client.Kill()
		return nil, fail(startReason(err))
	}
	raw, err := rpcClient.Dispense(pluginName)
	if err != nil {
		r.client.Kill()
		return nil, fail("dispense: " + err.Error())
	}
	r.rpc = raw.(runtimev1.RuntimeClient)
	r.info = Info{Name: bin.Name, Path: bin.Path, Source: bin.Source, ProtocolVersion: r.client.NegotiatedVersion()}
	if rc := r.client.ReattachConfig(); rc != nil {
		r.info.PID = rc.Pid
	}
	live.Lock()
	if live.set == nil {
		live.set = map[*Runtime]bool{}
	}
	live.set[r] = true
	live.Unlock()

	var caps *runtimev1.CapabilitiesResponse
	err = r.do(ctx, "Capabilities", cfg.CallTimeout, func(ctx context.Context) (err error) {
		caps, err = r.rpc.Capabilities(ctx, &runtimev1.CapabilitiesRequest{})
		return err
	})
	if err != nil {
		r.Close()
		return nil, err
	}
	if !containsU32(caps.AbiVersions, abi.Version1) {
		r.Close()
		return nil, fail(fmt.Sprintf("it decodes graph encodings %v; this pipeline writes abi version %d", caps.AbiVersions, abi.Version1))
	}
	r.caps = backend.Capabilities{Name: caps.Name, Device: caps.Device, Ops: caps.Ops}
	for _, d := range caps.Dtypes {
		r.caps.DTypes = append(r.caps.DTypes, graph.DType(d))
	}
	if r.caps.Name != "" {
		r.info.Name = caps.Name
	}
	r.info.ABIVersions = caps.AbiVersions
	r.info.Version = caps.Version
	return r, nil
}

// startReason rewords go-plugin's start errors into what a user can act on.
func startReason(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return "sha256 mismatch"
	case strings.Contains(msg, "incompatible API version"):
		// "incompatible API version with plugin. Plugin version: 2, Client versions: [1]"
		pv, cv := "?", fmt.Sprint(ProtocolVersions)
		if i := strings.Index(msg, "Plugin version: "); i >= 0 {
			pv = strings.TrimSpace(strings.SplitN(msg[i+len("Plugin version: "):], ",", 2)[0])
		}
		return fmt.Sprintf("it speaks runtime-plugin protocol version %s, this pipeline speaks %s: use a plugin built from the same release", pv, cv)
	case strings.Contains(msg, "incompatible core API version"):
		return "it was built with an incompatible go-plugin core protocol: rebuild it"
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimPrefix(strings.SplitN(msg, "\n", 2)[0], "Unrecognized remote plugin message: ")
		if line == "" {
			return "it exited before the plugin handshake (it failed to start, or it is not a graphpass runtime plugin)"
		}
		return fmt.Sprintf("not a graphpass runtime plugin: it printed %q instead of the plugin handshake", truncate(line, 80))
	case strings.Contains(msg, "plugin exited before we could connect"):
		return "it exited before the plugin handshake (it failed to start, or it is not a graphpass runtime plugin)"
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return "no plugin handshake within the start timeout (is it a graphpass runtime plugin?)"
	}
	return firstLine(msg)
}

// Capabilities implements backend.Runtime.
func (r *Runtime) Capabilities() backend.Capabilities { return r.caps }

// Info describes the plugin process.
func (r *Runtime) Info() Info { return r.info }

// Close stops the plugin process. It is safe to call more than once.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.client.Kill()
	live.Lock()
	delete(live.set, r)
	live.Unlock()
	return nil
}

// Exited reports whether the plugin process has ended.
func (r *Runtime) Exited() bool { return r.client.Exited() }

// do runs one call under its deadline and turns transport failures into a
// PluginError, killing the plugin when its state is unknown.
func (r *Runtime) do(ctx context.Context, call string, timeout time.Duration, f func(context.Context) error) error {
	r.mu.Lock()
	broken, closed := r.broken, r.closed
	r.mu.Unlock()
	if broken != nil {
		return broken
	}
	if closed {
		return fmt.Errorf("runtime plugin %s: %s after Close", r.info.Name, call)
	}
	cctx, cancel := context.WithCancel(ctx)
	if timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	err := f(cctx)
	if err == nil {
		return nil
	}
	return r.classify(ctx, cctx, call, timeout, err)
}

func (r *Runtime) classify(parent, cctx context.Context, call string, timeout time.Duration, err error) error {
	if parent.Err() != nil {
		// The caller gave up (e.g. Ctrl-C); the plugin may still be busy.
		return fmt.Errorf("runtime plugin %s: %s: %w", r.info.Name, call, parent.Err())
	}
	if errors.Is(err, errStepTimeout) {
		return r.fail(call, fmt.Sprintf("no token within %s; the plugin was stopped", r.cfg.StepTimeout))
	}
	st, _ := status.FromError(err)
	// Past the deadline, whichever side noticed first: the server enforces
	// the propagated deadline too and may reset the stream before our own
	// timer fires.
	if dl, ok := cctx.Deadline(); errors.Is(cctx.Err(), context.DeadlineExceeded) || (ok && !time.Now().Before(dl)) {
		return r.fail(call, fmt.Sprintf("no answer within %s; the plugin was stopped", timeout))
	}
	switch st.Code() {
	case codes.Aborted, codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Unimplemented, codes.OutOfRange, codes.ResourceExhausted:
		// The runtime answered with an error of its own.
		return fmt.Errorf("runtime %s: %s: %s", r.info.Name, call, st.Message())
	}
	// The transport broke: the process died or closed the connection.
	if r.waitExit(2 * time.Second) {
		reason := "the plugin process exited"
		if s := r.exit.status(); s != "" {
			reason = "the plugin process exited (" + s + ")"
		}
		return r.fail(call, reason)
	}
	return r.fail(call, "connection lost ("+firstLine(st.Message())+"); the plugin was stopped")
}

// fail records the plugin as broken, stops it and returns the error.
func (r *Runtime) fail(call, reason string) error {
	r.client.Kill()
	err := &PluginError{Runtime: r.info.Name, Path: r.info.Path, Call: call, Reason: reason, Stderr: r.logs.telling()}
	r.mu.Lock()
	if r.broken == nil {
		r.broken = err
	}
	r.mu.Unlock()
	live.Lock()
	delete(live.set, r)
	live.Unlock()
	return err
}

func (r *Runtime) waitExit(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !r.client.Exited() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Load implements backend.Runtime: the graph travels encoded (abi v1) with
// its weight references; the plugin maps the weight files itself.
func (r *Runtime) Load(ctx context.Context, g *graph.Graph, opts backend.LoadOptions) (backend.Model, error) {
	if err := r.caps.Check(g); err != nil {
		return nil, err
	}
	for _, in := range g.Initializers {
		if in.Derive != nil && in.Data == nil && in.Ref == nil {
			return nil, fmt.Errorf("runtime plugin %s: initializer %q is derived (%s of %s) and was not materialised (weights.Materialize)", r.info.Name, in.Name, in.Derive.Op, in.Derive.Source)
		}
	}
	req := &runtimev1.LoadRequest{AbiVersion: abi.Version1, Graph: abi.EncodeGraph(g), Threads: int32(opts.Threads)}
	var resp *runtimev1.LoadResponse
	err := r.do(ctx, "Load", r.cfg.LoadTimeout, func(ctx context.Context) (err error) {
		resp, err = r.rpc.Load(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if u := resp.Unsupported; u != nil {
		return nil, &backend.UnsupportedError{Runtime: u.Runtime, Missing: u.Missing}
	}
	return &model{r: r, id: resp.ModelId}, nil
}

type model struct {
	r  *Runtime
	id uint64
}

func (m *model) NewSession(ctx context.Context, opts backend.SessionOptions) (backend.Session, error) {
	var resp *runtimev1.NewSessionResponse
	err := m.r.do(ctx, "NewSession", m.r.cfg.CallTimeout, func(ctx context.Context) (err error) {
		resp, err = m.r.rpc.NewSession(ctx, &runtimev1.NewSessionRequest{ModelId: m.id, Batch: int32(opts.Batch), MaxSeq: int32(opts.MaxSeq)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Session{r: m.r, id: resp.SessionId}, nil
}

// Stats implements backend.Model. A failing plugin reports zero stats.
func (m *model) Stats() backend.Stats {
	var resp *runtimev1.StatsResponse
	err := m.r.do(context.Background(), "Stats", m.r.cfg.CallTimeout, func(ctx context.Context) (err error) {
		resp, err = m.r.rpc.Stats(ctx, &runtimev1.StatsRequest{ModelId: m.id})
		return err
	})
	if err != nil {
		return backend.Stats{}
	}
	return backend.Stats{
		WeightBytes: resp.WeightBytes, DeviceBytes: resp.DeviceBytes, MappedBytes: resp.MappedBytes,
		KVCacheBytes: resp.KvCacheBytes, CompileMillis: resp.CompileMillis, ForwardCalls: resp.ForwardCalls,
		ForwardMillis: resp.ForwardMillis, Extra: resp.Extra,
	}
}

func (m *model) Close() error {
	return m.r.free(&runtimev1.FreeRequest{ModelId: m.id})
}

func (r *Runtime) free(req *runtimev1.FreeRequest) error {
	r.mu.Lock()
	gone := r.broken != nil || r.closed
	r.mu.Unlock()
	if gone {
		return nil // the process is gone and took everything with it
	}
	return r.do(context.Background(), "Free", r.cfg.CallTimeout, func(ctx context.Context) error {
		_, err := r.rpc.Free(ctx, req)
		return err
	})
}

// Session is a backend.Session held by a plugin. Besides Forward it can
// run the whole generation loop inside the plugin (Generate).
type Session struct {
	r  *Runtime
	id uint64
}

var _ backend.Session = (*Session)(nil)

// forwardRequest is the ForwardRequest of step in this session, with the
// default logits mode (the last position's); callers set Logits.
func (s *Session) forwardRequest(step backend.Step) *runtimev1.ForwardRequest {
	req := &runtimev1.ForwardRequest{SessionId: s.id, Tokens: toRows32(step.Tokens)}
	if step.Mask != nil {
		req.Mask = toRows32(step.Mask)
	}
	if step.Positions != nil {
		req.Positions = toRows64(step.Positions)
	}
	return req
}

// Forward implements backend.Session.
func (s *Session) Forward(ctx context.Context, step backend.Step) (*backend.Logits, error) {
	req := s.forwardRequest(step)
	if step.AllLogits {
		req.Logits = runtimev1.LogitsMode_LOGITS_ALL
	}
	var lg *backend.Logits
	err := s.r.do(ctx, "Forward", s.r.cfg.CallTimeout, func(ctx context.Context) error {
		stream, err := s.r.rpc.Forward(ctx, req)
		if err != nil {
			return err
		}
		lg, err = recvLogits(stream)
		return err
	})
	if err != nil {
		return nil, err
	}
	return lg, nil
}

// ForwardGreedy implements backend.GreedySession: the plugin picks each
// row's greedy next token (on the device where the runtime can) and only
// the ids come back.
func (s *Session) ForwardGreedy(ctx context.Context, step backend.Step) ([]int32, error) {
	req := s.forwardRequest(step)
	req.Logits = runtimev1.LogitsMode_LOGITS_GREEDY
	var ids []int32
	err := s.r.do(ctx, "Forward", s.r.cfg.CallTimeout, func(ctx context.Context) error {
		stream, err := s.r.rpc.Forward(ctx, req)
		if err != nil {
			return err
		}
		c, err := stream.Recv()
		if err != nil {
			return err
		}
		if len(c.GreedyIds) != len(step.Tokens) {
			return status.Errorf(codes.OutOfRange, "plugin sent %d greedy ids for %d rows", len(c.GreedyIds), len(step.Tokens))
		}
		ids = c.GreedyIds
		for {
			if _, err := stream.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func recvLogits(stream runtimev1.Runtime_ForwardClient) (*backend.Logits, error) {
	var lg *backend.Logits
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if lg == nil {
			lg = &backend.Logits{Batch: int(c.Batch), Positions: int(c.Positions), Vocab: int(c.Vocab)}
			n := lg.Batch * lg.Positions * lg.Vocab
			if n < 0 || lg.Batch < 0 || lg.Positions < 0 || lg.Vocab < 0 {
				return nil, status.Errorf(codes.OutOfRange, "plugin sent logits of shape [%d %d %d]", lg.Batch, lg.Positions, lg.Vocab)
			}
			lg.Data = make([]float32, 0, n)
		}
		if len(c.Data)%4 != 0 || len(lg.Data)+len(c.Data)/4 > cap(lg.Data) {
			return nil, status.Errorf(codes.OutOfRange, "plugin sent more logits than their shape [%d %d %d] holds", lg.Batch, lg.Positions, lg.Vocab)
		}
		for i := 0; i < len(c.Data); i += 4 {
			lg.Data = append(lg.Data, math.Float32frombits(binary.LittleEndian.Uint32(c.Data[i:])))
		}
	}
	if lg == nil {
		return nil, status.Error(codes.OutOfRange, "plugin sent no logits")
	}
	if len(lg.Data) != cap(lg.Data) {
		return nil, status.Errorf(codes.OutOfRange, "plugin sent %d of the %d logits of shape [%d %d %d]", len(lg.Data), cap(lg.Data), lg.Batch, lg.Positions, lg.Vocab)
	}
	return lg, nil
}

// Close implements backend.Session.
func (s *Session) Close() error {
	return s.r.free(&runtimev1.FreeRequest{SessionId: s.id})
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileSHA256 returns the hex sha256 of a file, the value Config.SHA256 and
// pipeline.yaml's sha256 fields expect.
func FileSHA256(path string) (string, error) { return fileSHA256(path) }

func containsU32(xs []uint32, v uint32) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
