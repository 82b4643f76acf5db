// Package host runs graph-rewrite passes: WebAssembly modules speaking ABI v1
// (package abi), sandboxed with wazero.
//
// A Host compiles each module once (in memory, keyed by its SHA-256, and on
// disk through wazero's compilation cache), checks its imports and exports
// and asks it for its PassInfo. Modules may be gzip-compressed (.wasm.gz).
// Every Pass.Run instantiates the module afresh, sends it the graph (types
// inferred, weights withheld), reads back a patch, applies it to a copy and
// verifies the result. A Runner chains passes into a pipeline, with
// per-pass reports and on-error policies, and can call a Validator for
// every rewrite (numerical translation validation).
//
// The sandbox is on by construction: no filesystem, environment, arguments,
// sockets or real clock; a deterministic random source; a memory limit; a
// deadline per call that closes the module; a bound on the response size
// and on the log kept. A misbehaving pass yields an *Error naming the pass
// and the reason (errors.Is against ErrTrap, ErrDeadline, …), the caller's
// graph is never modified, and the Host stays usable.
//
// # Speed
//
// A pipeline of Go passes over a large graph is dominated by work inside
// the modules and by instantiation, so the host saves what it can:
//
//   - Trusted modules (Module.Trusted: code the program carries, like the
//     built-in passes of package passes) run in a second runtime without
//     the deadline's loop checks, about 3× faster. They keep every other
//     limit; the price is that one looping forever would hang its call.
//     Modules from files are never trusted.
//   - A Runner skips a pass whose trigger ops (PassInfo.consumes, abi/SPEC.md
//     section 3.3) the graph does not hold, without instantiating it, and
//     reports it Skipped with a SkipReason.
//   - A Runner infers types and encodes the request once per version of the
//     graph, for all the passes that see it (only the options differ), and
//     reuses the types that verifying a patched graph inferred.
//   - Modules are compiled with their data segments merged: Go's linker
//     emits tens of thousands, and wazero evaluates each one at every
//     instantiation.
//
// BenchmarkDefaultPipeline (package passes) measures all of it.
package host
