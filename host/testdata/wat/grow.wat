;; grow: run grows memory 4 MiB at a time until memory.grow fails (at
;; the host's limit), then traps, like an allocator that runs out.
(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "\08\01\12\04grow")
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param $n i32) (result i32)
    (drop (memory.grow (i32.add (i32.div_u (local.get $n) (i32.const 65536)) (i32.const 1))))
    (i32.const 65536))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 8)))
  (func (export "graphpass_run") (param i32 i32) (result i64)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 64)) (i32.const -1))))
    unreachable))
