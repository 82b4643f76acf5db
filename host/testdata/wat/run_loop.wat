;; run_loop: a valid pass whose run spins forever.
(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "\08\01\12\08run_loop")
  (func (export "graphpass_abi_v1"))
  ;; Requests land at 64 KiB; grow the memory to hold them.
  (func (export "graphpass_alloc") (param $n i32) (result i32)
    (drop (memory.grow (i32.add (i32.div_u (local.get $n) (i32.const 65536)) (i32.const 1))))
    (i32.const 65536))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 12)))
  (func (export "graphpass_run") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0)))
