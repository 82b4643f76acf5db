package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/plugins/runtimev1"
)

// ServeConfig tunes Serve. The zero value serves every protocol version
// this package knows.
type ServeConfig struct {
	// Version is the plugin's own version string, reported by
	// Capabilities (e.g. the module version of the binary).
	Version string
	// ProtocolVersions overrides the protocol versions served; tests use it
	// to build a plugin of a version the host does not speak.
	ProtocolVersions []int
	// Logger receives the plugin's own log lines (default: warnings and
	// errors to stderr, which the host shows when the plugin fails).
	Logger hclog.Logger
}

// Serve runs rt as a runtime plugin: it answers the host that started this
// process until the host closes the connection or exits, then returns.
// Call it from the main function of a plugin binary; it takes over stdin,
// stdout and stderr as go-plugin does. Run by hand (without the host's
// handshake cookie) it prints a short explanation and exits with status 1.
func Serve(rt backend.Runtime, cfg ServeConfig) {
	versions := cfg.ProtocolVersions
	if len(versions) == 0 {
		versions = ProtocolVersions
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true})
	}
	hs := Handshake
	hs.ProtocolVersion = uint(versions[len(versions)-1])
	srv := NewServer(rt, cfg.Version)
	defer srv.closeAll()
	go exitWithParent()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: pluginSets(srv, versions),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes))
			return grpc.NewServer(opts...)
		},
		Logger: logger,
	})
}

// exitWithParent ends the plugin when the host process is gone (killed
// without a chance to stop its plugins): the plugin is reparented, and an
// orphaned runtime holding gigabytes of mapped weights helps nobody.
func exitWithParent() {
	parent := os.Getppid()
	for {
		time.Sleep(500 * time.Millisecond)
		if os.Getppid() != parent {
			os.Exit(3)
		}
	}
}

// Server implements the gRPC service on top of a backend.Runtime. Serve
// uses it; it is exported for tests and for hosts that embed the protocol
// in their own gRPC server.
type Server struct {
	runtimev1.UnimplementedRuntimeServer
	rt      backend.Runtime
	version string

	mu       sync.Mutex
	nextID   uint64
	models   map[uint64]backend.Model
	sessions map[uint64]*serverSession
}

type serverSession struct {
	model uint64
	sess  backend.Session
	mu    sync.Mutex // one Forward or Generate at a time
}

// NewServer wraps rt. version is reported by Capabilities.
func NewServer(rt backend.Runtime, version string) *Server {
	return &Server{rt: rt, version: version, models: map[uint64]backend.Model{}, sessions: map[uint64]*serverSession{}}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.sessions {
		ss.sess.Close()
		delete(s.sessions, id)
	}
	for id, m := range s.models {
		m.Close()
		delete(s.models, id)
	}
	s.rt.Close()
}

// Capabilities implements runtimev1.RuntimeServer.
func (s *Server) Capabilities(context.Context, *runtimev1.CapabilitiesRequest) (*runtimev1.CapabilitiesResponse, error) {
	c := s.rt.Capabilities()
	resp := &runtimev1.CapabilitiesResponse{
		Name: c.Name, Device: c.Device, Ops: c.Ops,
		ProtocolVersion: ProtocolVersion,
		AbiVersions:     []uint32{abi.Version1},
		Version:         s.version,
	}
	for _, d := range c.DTypes {
		resp.Dtypes = append(resp.Dtypes, int32(d))
	}
	return resp, nil
}

// Load implements runtimev1.RuntimeServer.
func (s *Server) Load(ctx context.Context, req *runtimev1.LoadRequest) (*runtimev1.LoadResponse, error) {
	if req.AbiVersion != abi.Version1 {
		return nil, status.Errorf(codes.InvalidArgument, "graph encoded with abi version %d; this plugin decodes version %d", req.AbiVersion, abi.Version1)
	}
	g, err := abi.DecodeGraph(req.Graph)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decode graph: %v", err)
	}
	m, err := s.rt.Load(ctx, g, backend.LoadOptions{Threads: int(req.Threads)})
	if err != nil {
		var ue *backend.UnsupportedError
		if errors.As(err, &ue) {
			return &runtimev1.LoadResponse{Unsupported: &runtimev1.Unsupported{Runtime: ue.Runtime, Missing: ue.Missing}}, nil
		}
		return nil, appError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.models[s.nextID] = m
	return &runtimev1.LoadResponse{ModelId: s.nextID}, nil
}

// NewSession implements runtimev1.RuntimeServer.
func (s *Server) NewSession(ctx context.Context, req *runtimev1.NewSessionRequest) (*runtimev1.NewSessionResponse, error) {
	s.mu.Lock()
	m, ok := s.models[req.ModelId]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no model %d", req.ModelId)
	}
	sess, err := m.NewSession(ctx, backend.SessionOptions{Batch: int(req.Batch), MaxSeq: int(req.MaxSeq)})
	if err != nil {
		return nil, appError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.sessions[s.nextID] = &serverSession{model: req.ModelId, sess: sess}
	return &runtimev1.NewSessionResponse{SessionId: s.nextID}, nil
}

func (s *Server) session(id uint64) (*serverSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no session %d", id)
	}
	return ss, nil
}

// logitsChunkBytes bounds one ForwardChunk: big prefill logits
// ([batch, positions, vocab] f32) stream in pieces of this size.
const logitsChunkBytes = 1 << 20

// Forward implements runtimev1.RuntimeServer.
func (s *Server) Forward(req *runtimev1.ForwardRequest, stream runtimev1.Runtime_ForwardServer) error {
	ss, err := s.session(req.SessionId)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	step := backend.Step{Tokens: rows32(req.Tokens), Mask: rows32(req.Mask), Positions: rows64(req.Positions), AllLogits: req.Logits == runtimev1.LogitsMode_LOGITS_ALL}
	if req.Logits == runtimev1.LogitsMode_LOGITS_GREEDY {
		// Only the chosen ids cross the process boundary; a GPU runtime
		// takes the argmax on the device.
		ids, err := backend.Greedy(stream.Context(), ss.sess, step)
		if err != nil {
			return appError(err)
		}
		return stream.Send(&runtimev1.ForwardChunk{Batch: int32(len(ids)), GreedyIds: ids})
	}
	lg, err := ss.sess.Forward(stream.Context(), step)
	if err != nil {
		return appError(err)
	}
	if req.Logits == runtimev1.LogitsMode_LOGITS_NONE {
		return stream.Send(&runtimev1.ForwardChunk{Batch: int32(lg.Batch), Positions: int32(lg.Positions), Vocab: int32(lg.Vocab)})
	}
	return sendLogits(stream, lg)
}

func sendLogits(stream runtimev1.Runtime_ForwardServer, lg *backend.Logits) error {
	const per = logitsChunkBytes / 4
	buf := make([]byte, 0, min(len(lg.Data), per)*4)
	first := true
	for off := 0; off < len(lg.Data) || first; off += per {
		end := min(off+per, len(lg.Data))
		buf = buf[:0]
		for _, f := range lg.Data[off:end] {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
		}
		c := &runtimev1.ForwardChunk{Data: buf}
		if first {
			c.Batch, c.Positions, c.Vocab = int32(lg.Batch), int32(lg.Positions), int32(lg.Vocab)
			first = false
		}
		if err := stream.Send(c); err != nil {
			return err
		}
	}
	return nil
}

// Free implements runtimev1.RuntimeServer.
func (s *Server) Free(_ context.Context, req *runtimev1.FreeRequest) (*runtimev1.FreeResponse, error) {
	s.mu.Lock()
	var closers []func() error
	if ss, ok := s.sessions[req.SessionId]; ok && req.SessionId != 0 {
		delete(s.sessions, req.SessionId)
		closers = append(closers, ss.sess.Close)
	}
	if m, ok := s.models[req.ModelId]; ok && req.ModelId != 0 {
		for id, ss := range s.sessions {
			if ss.model == req.ModelId {
				delete(s.sessions, id)
				closers = append(closers, ss.sess.Close)
			}
		}
		delete(s.models, req.ModelId)
		closers = append(closers, m.Close)
	}
	s.mu.Unlock()
	var errs []error
	for _, c := range closers {
		errs = append(errs, c())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, appError(err)
	}
	return &runtimev1.FreeResponse{}, nil
}

// Stats implements runtimev1.RuntimeServer.
func (s *Server) Stats(_ context.Context, req *runtimev1.StatsRequest) (*runtimev1.StatsResponse, error) {
	s.mu.Lock()
	m, ok := s.models[req.ModelId]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no model %d", req.ModelId)
	}
	st := m.Stats()
	return &runtimev1.StatsResponse{
		WeightBytes: st.WeightBytes, DeviceBytes: st.DeviceBytes, MappedBytes: st.MappedBytes,
		KvCacheBytes: st.KVCacheBytes, CompileMillis: st.CompileMillis, ForwardCalls: st.ForwardCalls,
		ForwardMillis: st.ForwardMillis, Extra: st.Extra,
	}, nil
}

// appError turns a runtime's error into a gRPC status the host shows as is.
func appError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Aborted, err.Error())
}

func rows32(rs []*runtimev1.Int32Row) [][]int32 {
	if len(rs) == 0 {
		return nil
	}
	out := make([][]int32, len(rs))
	for i, r := range rs {
		out[i] = r.GetValues()
	}
	return out
}

func rows64(rs []*runtimev1.Int64Row) [][]int64 {
	if len(rs) == 0 {
		return nil
	}
	out := make([][]int64, len(rs))
	for i, r := range rs {
		out[i] = r.GetValues()
	}
	return out
}

func toRows32(rows [][]int32) []*runtimev1.Int32Row {
	out := make([]*runtimev1.Int32Row, len(rows))
	for i, r := range rows {
		out[i] = &runtimev1.Int32Row{Values: r}
	}
	return out
}

func toRows64(rows [][]int64) []*runtimev1.Int64Row {
	out := make([]*runtimev1.Int64Row, len(rows))
	for i, r := range rows {
		out[i] = &runtimev1.Int64Row{Values: r}
	}
	return out
}
