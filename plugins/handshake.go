package plugins

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/graphpass/graphpass/plugins/runtimev1"
)

// ProtocolVersion is the runtime-plugin protocol version this package
// speaks (package runtimev1). A host and a plugin negotiate the highest
// version both know through go-plugin's VersionedPlugins.
const ProtocolVersion = 1

// ProtocolVersions lists every protocol version this package can speak, on
// either side, oldest first.
var ProtocolVersions = []int{ProtocolVersion}

// Handshake is the go-plugin handshake every graphpass runtime plugin and
// host share. The magic cookie is not a security measure; it stops a user
// from running a plugin binary by hand and tells a host that an executable
// is a graphpass runtime at all.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "GRAPHPASS_RUNTIME_PLUGIN",
	MagicCookieValue: "5f0c6d1e-runtime-v1-a0b6c2f4b8e1",
}

// pluginName is the name the runtime is dispensed under in each plugin set.
const pluginName = "runtime"

// maxMessageBytes raises gRPC's 4 MiB default on both sides: graphs of big
// models encode to a few MiB (weights never travel; logits are streamed in
// chunks of logitsChunkBytes).
const maxMessageBytes = 1 << 30

// grpcPlugin adapts the protocol to go-plugin. Host side it yields a
// runtimev1.RuntimeClient; plugin side it registers srv.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv runtimev1.RuntimeServer // nil on the host side
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	runtimev1.RegisterRuntimeServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return runtimev1.NewRuntimeClient(c), nil
}

// pluginSets maps each protocol version to the plugin set that speaks it.
func pluginSets(srv runtimev1.RuntimeServer, versions []int) map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{}
	for _, v := range versions {
		sets[v] = plugin.PluginSet{pluginName: &grpcPlugin{srv: srv}}
	}
	return sets
}
