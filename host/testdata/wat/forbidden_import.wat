;; forbidden_import: imports a socket call, which the host does not offer.
(module
  (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "graphpass_info") (result i64) (i64.const 0))
  (func (export "graphpass_run") (param i32 i32) (result i64) (i64.const 0)))
