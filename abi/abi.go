// Package abi is version 1 of the stable, language-neutral ABI between the
// graphpass host and rewrite passes compiled to WebAssembly.
//
// A pass is a WASI preview1 reactor module that exports the functions named
// by the Export constants. The host writes an encoded RunRequest into a
// buffer the pass allocates, calls ExportRun, and reads back an encoded
// RunResponse holding a graph.Patch. Messages are protocol buffers described
// by graph.proto (package abi.v1); SPEC.md is the full specification.
//
// This package is the codec both sides link: it encodes and decodes the
// protobuf wire format itself (wire.go), without protobuf-go, so that a pass
// pays neither for protobuf's reflective runtime nor for the fmt that even
// protowire's initialisation links, in module size and start-up time. Its
// decoders are written for speed inside a module, where decoding the
// request is most of a small pass's work.
// Encodings are deterministic: fields in field-number order, attributes,
// map entries and value types sorted by name, so equal inputs give equal
// bytes (and golden vectors compare byte for byte).
package abi

//go:generate ./gen.sh

import (
	"errors"

	"github.com/graphpass/graphpass/graph"
)

// Names of the exports of a v1 pass module, and the ABI version number.
const (
	// ExportMarkerV1 is a func() export whose presence says the module
	// speaks ABI v1. A later ABI adds its own marker; a host picks the
	// highest version both sides know.
	ExportMarkerV1 = "graphpass_abi_v1"
	// ExportAlloc is func(size i32) -> ptr i32: the pass allocates size
	// bytes that the host then fills with a request. The pass owns them.
	ExportAlloc = "graphpass_alloc"
	// ExportInfo is func() -> i64: ptr<<32 | len of an encoded PassInfo,
	// valid until the next call into the module.
	ExportInfo = "graphpass_info"
	// ExportRun is func(ptr i32, len i32) -> i64: reads an encoded
	// RunRequest at [ptr, ptr+len) and returns ptr<<32 | len of an
	// encoded RunResponse, valid until the next call into the module.
	ExportRun = "graphpass_run"
	// ExportMemory is the module's linear memory.
	ExportMemory = "memory"
	// ExportInitialize is the reactor initialisation function the host
	// calls once after instantiation.
	ExportInitialize = "_initialize"

	// ImportModule is the host module passes may import from.
	ImportModule = "graphpass"
	// ImportLog is graphpass.log(level i32, ptr i32, len i32).
	ImportLog = "log"

	// Version1 is the ABI version carried in RunRequest and PassInfo.
	Version1 = 1
)

// Log levels of the graphpass.log import.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
)

// Error codes a pass may put in PassError.Code. Passes may use others;
// these are the ones hosts and tools know.
const (
	CodeInvalidOptions = "invalid_options" // options_json is not valid for the pass
	CodeInvalidGraph   = "invalid_graph"   // the graph is not one the pass can handle
	CodeUnsupportedABI = "unsupported_abi" // the request's abi_version is unknown to the pass
	CodeInternal       = "internal"        // a bug in the pass
)

// ErrMalformed wraps every decoding error: the bytes are not a valid
// encoding of the message.
var ErrMalformed = errors.New("malformed abi message")

// RunRequest is the argument of ExportRun.
type RunRequest struct {
	ABIVersion uint32
	Graph      *graph.Graph
	// ValueTypes holds the inferred type of values of Graph (encoded as the
	// graph's value_info, sorted by name), so a pass needs no inference.
	ValueTypes  map[string]graph.TensorType
	OptionsJSON string // a JSON object, "{}" when there are no options
}

// RunResponse is the result of ExportRun: a patch or an error, and notes.
type RunResponse struct {
	Patch *graph.Patch
	Error *PassError
	Notes []Note
}

// PassError is a structured failure reported by a pass.
type PassError struct {
	Code, Message string
}

func (e *PassError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// Note reports a match the pass deliberately did not rewrite, and why.
type Note struct {
	Node, Message string
}

// PassInfo describes a pass: the result of ExportInfo.
type PassInfo struct {
	ABIVersion        uint32
	Name              string
	Version           string
	Description       string
	OptionsSchemaJSON string   // a JSON Schema of the options, "" when none
	Consumes          []string // op types the pass matches
	Produces          []string // op types the pass emits
}
