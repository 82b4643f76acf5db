;; noop: the smallest valid ABI v1 pass. It allocates with a bump pointer,
;; reports PassInfo{abi_version: 1, name: "noop"} and answers every run with
;; an empty RunResponse (no patch, no error): "nothing to rewrite".
(module
  (memory (export "memory") 1)
  ;; PassInfo: 08 01 (abi_version 1) 12 04 "noop" (name)
  (data (i32.const 1024) "\08\01\12\04noop")
  (global $top (mut i32) (i32.const 65536))
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (local.get $n)))
    (if (i32.gt_u (global.get $top) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (i32.div_u (i32.add (global.get $top) (i32.const 65535)) (i32.const 65536)) (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (local.get $p))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 8)))
  (func (export "graphpass_run") (param i32 i32) (result i64)
    (i64.const 0)))
