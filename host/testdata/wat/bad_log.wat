;; bad_log: calls graphpass.log with a pointer past the end of memory and
;; with a length of 4 GiB, then returns an empty response. The host must
;; ignore both calls and survive.
(module
  (import "graphpass" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "\08\01\12\07bad_log")
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param $n i32) (result i32)
    (drop (memory.grow (i32.add (i32.div_u (local.get $n) (i32.const 65536)) (i32.const 1))))
    (i32.const 65536))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 11)))
  (func (export "graphpass_run") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 0xfffffff0) (i32.const 100))
    (call $log (i32.const 2) (i32.const 0) (i32.const 0xffffffff))
    (call $log (i32.const 7) (i32.const 1024) (i32.const 11))
    (i64.const 0)))
