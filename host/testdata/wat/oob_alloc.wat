;; oob_alloc: graphpass_alloc returns a pointer past the end of memory.
(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "\08\01\12\09oob_alloc")
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param i32) (result i32) (i32.const 0xfffffff0))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 13)))
  (func (export "graphpass_run") (param i32 i32) (result i64) (i64.const 0)))
