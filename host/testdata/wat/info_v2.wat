;; info_v2: exports the v1 marker but its PassInfo says abi_version 2.
(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "\08\02\12\07info_v2")
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 11)))
  (func (export "graphpass_run") (param i32 i32) (result i64) (i64.const 0)))
