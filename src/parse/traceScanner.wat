;; The byte walk of TraceArraySplitter, in WebAssembly with 128-bit SIMD: string contents (most of a trace
;; file's bytes) are crossed 16 bytes at a time, where the JavaScript walk takes one byte at a time. Same state
;; machine, same decisions, same errors as the JavaScript walk in TraceArraySplitter.ts; the property tests run
;; both against a full parse.
;;
;; Build: npm run wasm (wabt) writes traceScanner.wasm.ts; a test checks that the committed bytes match this file.
;;
;; Memory layout (byte offsets):
;;   0      state, 16 x i32 (see the S_ names in TraceArraySplitter.ts)
;;   512    byte kinds, 256 x u8 (the data segment below)
;;   1024   lengths of audited names, 4096 x u8 (1: some audited name has this many bytes)
;;   5120   audited names: [length u8, bytes...] x nameCount, 4096 bytes at most
;;   16384  element records: [start i32, end i32, mustParse i32] x 16384
;;   262144 bracket stack, 1 byte a level (open kind), 1 MiB
;;   1310720 the data window, 1 MiB + 16 bytes of slack for 16-byte loads past its end
(module
  (memory (export "memory") 40)

  ;; Byte kinds: 0 ordinary, 1 quote, 2 {, 3 [, 4 }, 5 ], 6 space, 7 comma, 8 colon.
  (data (i32.const 521) "\06\06\00\00\06")   ;; \t \n (11, 12 ordinary) \r
  (data (i32.const 544) "\06\00\01")         ;; space ! "
  (data (i32.const 556) "\07")               ;; ,
  (data (i32.const 570) "\08")               ;; :
  (data (i32.const 603) "\03\00\05")         ;; [ \ ]
  (data (i32.const 635) "\02\00\04")         ;; { | }

  ;; Returns 1 when the 10 bytes at DATA+from spell trace_name.
  (func $isTraceName (param $from i32) (param $end i32) (result i32)
    (if (i32.ne (i32.sub (local.get $end) (local.get $from)) (i32.const 10))
      (then (return (i32.const 0))))
    ;; "trace_na" little-endian, then "me".
    (i32.and
      (i64.eq (i64.load offset=1310720 align=1 (local.get $from)) (i64.const 0x616e5f6563617274))
      (i32.eq (i32.load16_u offset=1310728 align=1 (local.get $from)) (i32.const 0x656d))))

  ;; Whether a trace_name value (bytes from..end) may be an audited name: an escape or a non-ASCII byte may
  ;; spell one (Unicode case folding), so those are parsed; else the value is compared, ASCII case-folded,
  ;; with the audited names of its length.
  (func $audited (param $from i32) (param $end i32) (param $escapeAt i32) (result i32)
    (local $k i32) (local $n i32) (local $entry i32) (local $left i32) (local $c i32) (local $same i32)
    (if (i32.ge_s (local.get $escapeAt) (local.get $from)) (then (return (i32.const 1))))
    (local.set $k (local.get $from))
    (block $ascii
      (loop $scan
        (br_if $ascii (i32.ge_s (local.get $k) (local.get $end)))
        (if (i32.ge_u (i32.load8_u offset=1310720 (local.get $k)) (i32.const 0x80))
          (then (return (i32.const 1))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $scan)))
    (local.set $n (i32.sub (local.get $end) (local.get $from)))
    (if (i32.ge_u (local.get $n) (i32.const 4096)) (then (return (i32.const 0))))
    (if (i32.eqz (i32.load8_u offset=1024 (local.get $n))) (then (return (i32.const 0))))
    (local.set $entry (i32.const 5120))
    (local.set $left (i32.load (i32.const 56)))
    (block $none
      (loop $names
        (br_if $none (i32.eqz (local.get $left)))
        (if (i32.eq (i32.load8_u (local.get $entry)) (local.get $n))
          (then
            (local.set $same (i32.const 1))
            (local.set $k (i32.const 0))
            (block $differ
              (loop $bytes
                (br_if $differ (i32.ge_u (local.get $k) (local.get $n)))
                (local.set $c (i32.load8_u offset=1310720 (i32.add (local.get $from) (local.get $k))))
                ;; ASCII lower case: what toLowerCase does to these bytes.
                (if (i32.lt_u (i32.sub (local.get $c) (i32.const 0x41)) (i32.const 26))
                  (then (local.set $c (i32.or (local.get $c) (i32.const 0x20)))))
                (if (i32.ne (local.get $c)
                      (i32.load8_u offset=1 (i32.add (local.get $entry) (local.get $k))))
                  (then (local.set $same (i32.const 0)) (br $differ)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $bytes)))
            (if (local.get $same) (then (return (i32.const 1))))))
        (local.set $entry
          (i32.add (local.get $entry) (i32.add (i32.const 1) (i32.load8_u (local.get $entry)))))
        (local.set $left (i32.sub (local.get $left) (i32.const 1)))
        (br $names)))
    (i32.const 0))

  ;; Skips the rest of a string cut by the last window's end, from $i; returns the index after its closing
  ;; quote, or the window's length with inString (and escaped, after a trailing backslash) set.
  (func $skipString (param $i i32) (param $len i32) (result i32)
    (local $c i32)
    (block $cut
      (loop $walk
        (br_if $cut (i32.ge_s (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u offset=1310720 (local.get $i)))
        (if (i32.eq (local.get $c) (i32.const 0x22))
          (then
            (i32.store (i32.const 8) (i32.const 0))
            (return (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i
          (i32.add (local.get $i) (select (i32.const 2) (i32.const 1) (i32.eq (local.get $c) (i32.const 0x5c)))))
        (br $walk)))
    (i32.store (i32.const 8) (i32.const 1))
    (i32.store (i32.const 12) (i32.gt_s (local.get $i) (local.get $len)))
    (local.get $len))

  ;; Walks the window from state.pos to state.len. Returns 0 when the window is done, 1 when the element
  ;; records are full (call again after taking them), or an error: 2 mismatched bracket, 3 content that is not
  ;; an array (or after its end), 4 unexpected comma, 5 missing comma, 6 an element that is not an object,
  ;; 7 nesting deeper than the bracket stack. On an error, state.pos is at the offending byte.
  (func (export "scan") (result i32)
    (local $i i32) (local $len i32) (local $depth i32) (local $keyNext i32) (local $nameValueNext i32)
    (local $mustParse i32) (local $start i32) (local $nrec i32) (local $status i32)
    (local $c i32) (local $kind i32) (local $from i32) (local $escapeAt i32) (local $m i32) (local $j i32)
    (local $bb i32) (local $bq i32) (local $uq i32) (local $k i32) (local $v v128)
    (local.set $i (i32.load (i32.const 0)))
    (local.set $depth (i32.load (i32.const 4)))
    (local.set $keyNext (i32.load (i32.const 28)))
    (local.set $nameValueNext (i32.load (i32.const 32)))
    (local.set $mustParse (i32.load (i32.const 36)))
    (local.set $start (i32.load (i32.const 44)))
    (local.set $nrec (i32.load (i32.const 48)))
    (local.set $len (i32.load (i32.const 60)))

    ;; A string cut by the last window's end: what it was (key or trace_name value) was decided then.
    (if (i32.load (i32.const 8))
      (then
        (local.set $i (i32.add (local.get $i) (i32.load (i32.const 12))))
        (i32.store (i32.const 12) (i32.const 0))
        (local.set $i (call $skipString (local.get $i) (local.get $len)))
        (if (i32.and (i32.eqz (i32.load (i32.const 8))) (i32.eq (local.get $depth) (i32.const 2)))
          (then
            (if (local.get $keyNext)
              (then (local.set $keyNext (i32.const 0)))
              (else (local.set $nameValueNext (i32.const 0))))))))

    (block $exit
      (loop $main
        (br_if $exit (i32.ge_s (local.get $i) (local.get $len)))
        (local.set $kind (i32.load8_u offset=512 (i32.load8_u offset=1310720 (local.get $i))))
        (if (i32.ge_s (local.get $depth) (i32.const 2))
          (then
            ;; Inside an element.
            (if (i32.eqz (local.get $kind))
              (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $main)))
            (block $other
              (block $close
                (block $open
                  (block $punct
                    (block $quote
                      (block $skip
                        (br_table $skip $quote $open $open $close $close $skip $punct $punct $skip
                          (local.get $kind)))
                      ;; space
                      (local.set $i (i32.add (local.get $i) (i32.const 1)))
                      (br $main))
                    ;; A string, crossed 16 bytes at a time up to its next quote or backslash.
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (local.set $from (local.get $i))
                    (local.set $escapeAt (i32.const -1))
                    (block $closed
                      (loop $str
                        (if (i32.ge_s (local.get $i) (local.get $len))
                          (then
                            (i32.store (i32.const 8) (i32.const 1))
                            (i32.store (i32.const 12) (i32.gt_s (local.get $i) (local.get $len)))
                            ;; A top-level key or trace_name value cut by the window's end: decide conservatively.
                            (if (i32.and (i32.eq (local.get $depth) (i32.const 2))
                                  (i32.or (local.get $keyNext) (local.get $nameValueNext)))
                              (then (local.set $mustParse (i32.const 1))))
                            (local.set $i (local.get $len))
                            (br $exit)))
                        (local.set $v (v128.load offset=1310720 align=1 (local.get $i)))
                        (local.set $bq
                          (i8x16.bitmask
                            (i8x16.eq (local.get $v)
                              (v128.const i8x16 0x22 0x22 0x22 0x22 0x22 0x22 0x22 0x22
                                                0x22 0x22 0x22 0x22 0x22 0x22 0x22 0x22))))
                        (local.set $bb
                          (i8x16.bitmask
                            (i8x16.eq (local.get $v)
                              (v128.const i8x16 0x5c 0x5c 0x5c 0x5c 0x5c 0x5c 0x5c 0x5c
                                                0x5c 0x5c 0x5c 0x5c 0x5c 0x5c 0x5c 0x5c))))
                        (local.set $m (i32.or (local.get $bq) (local.get $bb)))
                        (if (i32.eqz (local.get $m))
                          (then
                            (local.set $i (i32.add (local.get $i) (i32.const 16)))
                            (if (i32.gt_s (local.get $i) (local.get $len)) (then (local.set $i (local.get $len))))
                            (br $str)))
                        (block $found
                          ;; A whole block in the window, no backslash after another and none last: each
                          ;; backslash escapes the byte after it, so the closing quote is the first quote not
                          ;; just after a backslash. Strings that hold JSON (request, response, user) have an
                          ;; escaped quote every few bytes, each a stop of the one-hit-at-a-time walk below.
                          (if (i32.le_s (i32.add (local.get $i) (i32.const 16)) (local.get $len))
                            (then
                              (if (i32.eqz (i32.and (local.get $bb)
                                    (i32.or (i32.shl (local.get $bb) (i32.const 1)) (i32.const 0x8000))))
                                (then
                                  (local.set $uq
                                    (i32.and (local.get $bq)
                                      (i32.xor (i32.shl (local.get $bb) (i32.const 1)) (i32.const -1))))
                                  (if (i32.eqz (local.get $uq))
                                    (then
                                      (if (local.get $bb)
                                        (then (local.set $escapeAt
                                          (i32.add (local.get $i) (i32.ctz (local.get $bb))))))
                                      (local.set $i (i32.add (local.get $i) (i32.const 16)))
                                      (br $str)))
                                  (local.set $k (i32.ctz (local.get $uq)))
                                  (if (i32.and (local.get $bb)
                                        (i32.sub (i32.shl (i32.const 1) (local.get $k)) (i32.const 1)))
                                    (then (local.set $escapeAt
                                      (i32.add (local.get $i) (i32.ctz (local.get $bb))))))
                                  (local.set $j (i32.add (local.get $i) (local.get $k)))
                                  (br $found)))))
                          ;; One hit at a time: the first quote or backslash.
                          (local.set $j (i32.add (local.get $i) (i32.ctz (local.get $m))))
                          ;; A hit past the window's end is slack, not data.
                          (if (i32.ge_s (local.get $j) (local.get $len))
                            (then (local.set $i (local.get $len)) (br $str)))
                          (if (i32.ne (i32.load8_u offset=1310720 (local.get $j)) (i32.const 0x22))
                            (then
                              ;; A backslash: the next byte is escaped.
                              (local.set $escapeAt (local.get $j))
                              (local.set $i (i32.add (local.get $j) (i32.const 2)))
                              (br $str))))
                        ;; The closing quote, at j.
                        (if (i32.eq (local.get $depth) (i32.const 2))
                          (then
                            (if (local.get $keyNext)
                              (then
                                (local.set $keyNext (i32.const 0))
                                ;; A key with an escape may spell trace_name: parse such an element.
                                (if (i32.ge_s (local.get $escapeAt) (local.get $from))
                                  (then (local.set $mustParse (i32.const 1)))
                                  (else
                                    (if (call $isTraceName (local.get $from) (local.get $j))
                                      (then (local.set $nameValueNext (i32.const 1)))))))
                              (else
                                (if (local.get $nameValueNext)
                                  (then
                                    (local.set $nameValueNext (i32.const 0))
                                    (if (i32.eqz (local.get $mustParse))
                                      (then
                                        (local.set $mustParse
                                          (call $audited (local.get $from) (local.get $j)
                                            (local.get $escapeAt)))))))))))
                        (local.set $i (i32.add (local.get $j) (i32.const 1)))
                        (br $closed)))
                    (br $main))
                  ;; , or : at the element's top level tells keys from values.
                  (if (i32.eq (local.get $depth) (i32.const 2))
                    (then
                      (if (i32.eq (local.get $kind) (i32.const 7))
                        (then (local.set $keyNext (i32.const 1)) (local.set $nameValueNext (i32.const 0)))
                        (else (local.set $keyNext (i32.const 0))))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $main))
                ;; { or [ inside an element: not a string, so not an audited trace_name.
                (if (i32.eq (local.get $depth) (i32.const 2)) (then (local.set $nameValueNext (i32.const 0))))
                (if (i32.ge_u (local.get $depth) (i32.const 1048577))
                  (then (local.set $status (i32.const 7)) (br $exit)))
                (i32.store8 offset=262144 (i32.sub (local.get $depth) (i32.const 1)) (local.get $kind))
                (local.set $depth (i32.add (local.get $depth) (i32.const 1)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $main))
              ;; } or ]: must close what is open.
              (if (i32.ne (i32.load8_u offset=262144 (i32.sub (local.get $depth) (i32.const 2)))
                    (i32.sub (local.get $kind) (i32.const 2)))
                (then (local.set $status (i32.const 2)) (br $exit)))
              (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (if (i32.eq (local.get $depth) (i32.const 1))
                (then
                  ;; The element ended: a record for the caller.
                  (i32.store offset=16384 (i32.mul (local.get $nrec) (i32.const 12)) (local.get $start))
                  (i32.store offset=16388 (i32.mul (local.get $nrec) (i32.const 12)) (local.get $i))
                  (i32.store offset=16392 (i32.mul (local.get $nrec) (i32.const 12)) (local.get $mustParse))
                  (local.set $nrec (i32.add (local.get $nrec) (i32.const 1)))
                  (local.set $start (i32.const -1))
                  (i32.store (i32.const 24) (i32.const 1))
                  (if (i32.eq (local.get $nrec) (i32.const 16384))
                    (then (local.set $status (i32.const 1)) (br $exit)))))
              (br $main))
            (br $main)))
        ;; Outside elements: the array's own brackets and commas.
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $main (i32.eq (local.get $kind) (i32.const 6)))
        (if (i32.eqz (local.get $depth))
          (then
            (if (i32.ne (local.get $kind) (i32.const 3))
              (then (local.set $status (i32.const 3)) (br $exit)))
            ;; A second array after the first: read all the same, the file fails at the end.
            (if (i32.load (i32.const 16))
              (then (i32.store (i32.const 20) (i32.add (i32.load (i32.const 20)) (i32.const 1)))))
            (i32.store (i32.const 16) (i32.const 0))
            (i32.store (i32.const 24) (i32.const 0))
            (local.set $depth (i32.const 1))
            (br $main)))
        (if (i32.eq (local.get $kind) (i32.const 5))
          (then
            (local.set $depth (i32.const 0))
            (i32.store (i32.const 16) (i32.const 1))
            (br $main)))
        (if (i32.eq (local.get $kind) (i32.const 7))
          (then
            (if (i32.eqz (i32.load (i32.const 24)))
              (then (local.set $status (i32.const 4)) (br $exit)))
            (i32.store (i32.const 24) (i32.const 0))
            (br $main)))
        (if (i32.eq (local.get $kind) (i32.const 2))
          (then
            (if (i32.load (i32.const 24))
              (then (local.set $status (i32.const 5)) (br $exit)))
            (i32.store8 offset=262144 (i32.const 0) (local.get $kind))
            (local.set $depth (i32.const 2))
            (local.set $start (i32.sub (local.get $i) (i32.const 1)))
            (local.set $keyNext (i32.const 1))
            (local.set $nameValueNext (i32.const 0))
            (local.set $mustParse (i32.load (i32.const 40)))
            (br $main)))
        (local.set $status (i32.const 6))))

    (i32.store (i32.const 0) (local.get $i))
    (i32.store (i32.const 4) (local.get $depth))
    (i32.store (i32.const 28) (local.get $keyNext))
    (i32.store (i32.const 32) (local.get $nameValueNext))
    (i32.store (i32.const 36) (local.get $mustParse))
    (i32.store (i32.const 44) (local.get $start))
    (i32.store (i32.const 48) (local.get $nrec))
    (local.get $status))
)
