;; fs_escape: tries to reach the host filesystem through WASI: asks for a
;; preopened directory (fd 3) and opens etc/passwd relative to it, then
;; fd 0..5 directly. Reports RunResponse{error: {code: "escaped"}} if any
;; call succeeds, else RunResponse{notes: [{message: "denied"}]}.
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "\08\01\12\09fs_escape")
  (data (i32.const 1100) "etc/passwd")
  (data (i32.const 1200) "\12\09\0a\07escaped")
  (data (i32.const 1300) "\1a\08\12\06denied")
  (func (export "graphpass_abi_v1"))
  (func (export "graphpass_alloc") (param $n i32) (result i32)
    (drop (memory.grow (i32.add (i32.div_u (local.get $n) (i32.const 65536)) (i32.const 1))))
    (i32.const 65536))
  (func (export "graphpass_info") (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 13)))
  (func $escaped (result i64)
    (i64.or (i64.shl (i64.const 1200) (i64.const 32)) (i64.const 11)))
  (func (export "graphpass_run") (param i32 i32) (result i64)
    (local $fd i32)
    ;; fd_prestat_get(3, 2000): 0 means a directory is preopened.
    (if (i32.eqz (call $prestat (i32.const 3) (i32.const 2000))) (then (return (call $escaped))))
    ;; path_open(3, follow symlinks, "etc/passwd", 0, rights all, all, 0, &fd at 2100)
    (if (i32.eqz (call $path_open (i32.const 3) (i32.const 1) (i32.const 1100) (i32.const 10)
                   (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 2100)))
      (then (return (call $escaped))))
    ;; Reading fds 3..5 must fail too (iovec at 2200: buf 3000, len 100).
    (i32.store (i32.const 2200) (i32.const 3000))
    (i32.store (i32.const 2204) (i32.const 100))
    (local.set $fd (i32.const 3))
    (loop $next
      (if (i32.eqz (call $fd_read (local.get $fd) (i32.const 2200) (i32.const 1) (i32.const 2300)))
        (then (return (call $escaped))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.le_u (local.get $fd) (i32.const 5))))
    (i64.or (i64.shl (i64.const 1300) (i64.const 32)) (i64.const 10))))
