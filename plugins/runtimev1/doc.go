// Package runtimev1 holds the generated gRPC code of the runtime-plugin
// protocol v1 (runtime.proto). Package plugins wraps it; use that.
package runtimev1

//go:generate ./gen.sh
