#!/bin/sh
# run-fuzz.sh: builds tests/fuzz-frame.c with clang's libFuzzer and runs it for a bounded time.
#
# Usage: run-fuzz.sh SOURCE_ROOT BUILD_ROOT [SECONDS]
#
# The target is compiled straight from the library sources (not from the gcc-built objects)
# with -fsanitize=fuzzer,address,undefined. The corpus lives in BUILD_ROOT/tests/fuzz-frame-corpus
# and grows from run to run; crashes are written next to it. Registered as the meson test
# "fuzz-frame" in the "fuzz" suite, which a plain `meson test` leaves out: run it with
#   meson test -C build --setup fuzz --suite fuzz
# Exit status 77 (skip) when clang or its libFuzzer runtime is missing.
set -eu

src=$1
build=$2
seconds=${3:-20}
clang=${CLANG:-/usr/bin/clang}
out="$build/tests/fuzz-frame"
corpus="$build/tests/fuzz-frame-corpus"

if ! [ -x "$clang" ]; then
    echo "run-fuzz: no clang at $clang; skipping" >&2
    exit 77
fi

cflags=$(pkg-config --cflags glib-2.0 gobject-2.0 gio-2.0 gio-unix-2.0 json-glib-1.0)
libs=$(pkg-config --libs glib-2.0 gobject-2.0 gio-2.0 gio-unix-2.0 json-glib-1.0)

# Rebuild when any input is newer than the binary.
if ! [ -x "$out" ] || [ -n "$(find "$src/libmp" "$src/tests/fuzz-frame.c" -newer "$out" -name '*.[ch]' | head -n 1)" ]; then
    # shellcheck disable=SC2086
    if ! "$clang" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
            -fno-sanitize=function -fno-sanitize-recover=undefined \
            -D_GNU_SOURCE -DMP_COMPILATION \
            -DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 -DGLIB_VERSION_MAX_ALLOWED=GLIB_VERSION_2_74 \
            -I"$build/libmp" -I"$src/libmp" $cflags \
            "$src"/libmp/*.c "$src/tests/fuzz-frame.c" \
            $libs -ldl -lpthread -o "$out.tmp" 2> "$out.log"; then
        if grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$out.log"; then
            echo "run-fuzz: clang has no libFuzzer runtime; skipping" >&2
            exit 77
        fi
        cat "$out.log" >&2
        exit 1
    fi
    mv "$out.tmp" "$out"
fi

mkdir -p "$corpus"
# Seeds: a few well-formed streams for each mode.
printf '\002\000\000\000\000\005hello\000\000\000\000' > "$corpus/seed-raw"
printf '\002\001\000\377\377\377\377\000\000\000\000\000\000\000\003abc' > "$corpus/seed-long"
printf '\003\001\000\000\000\000\002hi' > "$corpus/seed-pipe"
printf '\000\377\377\377\377\000\000\000\001\000\000\000\000' > "$corpus/seed-header"
printf '\001\052\000\000\000\000i' > "$corpus/seed-variant"

cd "$build/tests"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
LIBMP_TRACE=off \
    "$out" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$build/tests/fuzz-frame-" "$corpus"
