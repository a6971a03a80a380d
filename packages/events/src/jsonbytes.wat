;; JSON string escaping of UTF-8 bytes, 16 bytes at a time (WebAssembly SIMD).
;;
;; Why: V8's JSON.stringify escapes about 1 GB/s, and a captured payload is escaped once
;; per event; at 1 MiB calls that alone was a third of as-sslsniff's CPU. This scans 16
;; bytes per step and copies runs that need no escape as they are. The output is what
;; JSON.stringify writes for the same text (valid UTF-8 has no lone surrogates; bytes of
;; 0x80 and up pass through): \" \\ \b \t \n \f \r, and \u00xx for other bytes below 0x20.
;;
;; Memory: 0..31 short escape letters for bytes below 0x20 (0: use \u00xx), 32..47 hex
;; digits, 48 set by escape to 1 when every byte was ASCII (then the bytes are valid UTF-8
;; without further checking); the caller's buffers start at 64. Built by `make` with
;; wat2wasm (Debian: wabt).
(module
  (memory (export "memory") 1)
  (data (i32.const 8) "btn\00fr")
  (data (i32.const 32) "0123456789abcdef")

  ;; Escape one byte at $o; returns the new end.
  (func $esc (param $c i32) (param $o i32) (result i32)
    (local $e i32)
    (i32.store8 (local.get $o) (i32.const 92))
    (if (i32.ge_u (local.get $c) (i32.const 32))
      (then
        (i32.store8 offset=1 (local.get $o) (local.get $c))
        (return (i32.add (local.get $o) (i32.const 2)))))
    (local.set $e (i32.load8_u (local.get $c)))
    (if (local.get $e)
      (then
        (i32.store8 offset=1 (local.get $o) (local.get $e))
        (return (i32.add (local.get $o) (i32.const 2)))))
    (i32.store8 offset=1 (local.get $o) (i32.const 117))
    (i32.store8 offset=2 (local.get $o) (i32.const 48))
    (i32.store8 offset=3 (local.get $o) (i32.const 48))
    (i32.store8 offset=4 (local.get $o) (i32.load8_u offset=32 (i32.shr_u (local.get $c) (i32.const 4))))
    (i32.store8 offset=5 (local.get $o) (i32.load8_u offset=32 (i32.and (local.get $c) (i32.const 15))))
    (i32.add (local.get $o) (i32.const 6)))

  ;; Escape $n bytes at $src into $dst (room for 6 * $n + 32 bytes, and 16 readable bytes
  ;; after the source); returns the end.
  (func (export "escape") (param $src i32) (param $n i32) (param $dst i32) (result i32)
    (local $i i32) (local $end i32) (local $o i32) (local $v v128) (local $m i32) (local $k i32) (local $p i32) (local $c i32)
    (local $seen v128) (local $tail i32)
    (local.set $i (local.get $src))
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (local.set $o (local.get $dst))
    (block $tail
      (loop $vec
        (br_if $tail (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load align=1 (local.get $i)))
        (local.set $seen (v128.or (local.get $seen) (local.get $v)))
        (local.set $m (i8x16.bitmask
          (v128.or
            (i8x16.lt_u (local.get $v) (i8x16.splat (i32.const 32)))
            (v128.or
              (i8x16.eq (local.get $v) (i8x16.splat (i32.const 34)))
              (i8x16.eq (local.get $v) (i8x16.splat (i32.const 92)))))))
        (if (i32.eqz (local.get $m))
          (then
            (v128.store align=1 (local.get $o) (local.get $v))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $vec)))
        ;; Each byte to escape in turn: the run before it (copied 16 bytes at a time; what
        ;; lies past the run is overwritten next), then its escape.
        (local.set $p (i32.const 0))
        (loop $bits
          (local.set $k (i32.ctz (local.get $m)))
          (v128.store align=1 (local.get $o) (v128.load align=1 (i32.add (local.get $i) (local.get $p))))
          (local.set $o (i32.add (local.get $o) (i32.sub (local.get $k) (local.get $p))))
          (local.set $o (call $esc (i32.load8_u (i32.add (local.get $i) (local.get $k))) (local.get $o)))
          (local.set $p (i32.add (local.get $k) (i32.const 1)))
          (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
          (br_if $bits (local.get $m)))
        (v128.store align=1 (local.get $o) (v128.load align=1 (i32.add (local.get $i) (local.get $p))))
        (local.set $o (i32.add (local.get $o) (i32.sub (i32.const 16) (local.get $p))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $i)))
        (local.set $tail (i32.or (local.get $tail) (local.get $c)))
        (if (i32.or (i32.lt_u (local.get $c) (i32.const 32))
                    (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92))))
          (then (local.set $o (call $esc (local.get $c) (local.get $o))))
          (else
            (i32.store8 (local.get $o) (local.get $c))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (i32.store8 (i32.const 48)
      (i32.eqz (i32.or (i8x16.bitmask (local.get $seen)) (i32.and (local.get $tail) (i32.const 128)))))
    (local.get $o)))
