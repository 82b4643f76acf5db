// Package host runs graph-rewrite passes: WebAssembly modules speaking ABI v1
// (package abi), sandboxed with wazero.
//
// A Host compiles each module once (in memory, keyed by its SHA-256, and on
// disk through wazero's compilation cache), checks its imports and exports
// and asks it for its PassInfo. Every Pass.Run instantiates the module
// afresh, sends it the graph (types inferred, weights withheld), reads back
// a patch, applies it to a copy and verifies the result. A Runner chains
// passes into a pipeline, with per-pass reports and on-error policies, and
// can call a Validator for every rewrite (numerical translation validation).
//
// The sandbox is on by construction: no filesystem, environment, arguments,
// sockets or real clock; a deterministic random source; a memory limit; a
// deadline per call that closes the module; a bound on the response size
// and on the log kept. A misbehaving pass yields an *Error naming the pass
// and the reason (errors.Is against ErrTrap, ErrDeadline, …), the caller's
// graph is never modified, and the Host stays usable.
package host
