;; big_memory: declares 8192 initial pages (512 MiB), over the default limit.
(module
  (memory (export "memory") 8192)
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "graphpass_info") (result i64) (i64.const 0))
  (func (export "graphpass_run") (param i32 i32) (result i64) (i64.const 0)))
