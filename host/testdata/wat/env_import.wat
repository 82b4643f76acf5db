;; env_import: imports from a module the host does not know (what an
;; Emscripten or AssemblyScript build would ask for).
(module
  (import "env" "abort" (func (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "graphpass_info") (result i64) (i64.const 0))
  (func (export "graphpass_run") (param i32 i32) (result i64) (i64.const 0)))
