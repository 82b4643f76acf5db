// Package plugins runs graphpass runtimes as separate processes: the
// runtime-plugin protocol (gRPC over hashicorp/go-plugin, see
// runtimev1/runtime.proto), the host-side client that implements
// backend.Runtime, Model and Session on top of it, the server a plugin
// binary calls from main, and the rules for finding plugin binaries.
//
// A plugin is any executable that calls Serve. The host starts it with
// Start (a Command from Find), negotiates the protocol version in a
// versioned handshake, and then drives it exactly like an in-process
// runtime: Load takes the rewritten graph (weights travel as file
// references, never as bytes), sessions prefill and decode, and Generate
// runs the decoding loop inside the plugin and streams tokens back.
//
// Every call has a deadline. A plugin that crashes or stops answering
// mid-call turns into one clear error naming the runtime, the call and what
// happened (exit status, last line of its stderr), and its process is
// killed: the host never hangs and leaves no orphan behind.
package plugins
