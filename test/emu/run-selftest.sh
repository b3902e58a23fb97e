#!/usr/bin/env bash
# Builds and runs the CUDA emulator self-test (test/emu/selftest.cu) in several modes.
#
#   test/emu/run-selftest.sh            optimized build; runs with CUDA_EMU_THREADS=1, =2 and
#                                       CUDA_EMU_REVERSE=1 (threads of a block in reverse order)
#   test/emu/run-selftest.sh --asan     also: ASan + UBSan build with the ucontext fallback
#   test/emu/run-selftest.sh --nvcc     also: nvcc -arch=sm_80 -Xptxas -v -c, and an sm_90 build that
#                                       runs on a GPU (prints "no CUDA device: skipping" without one)
#   test/emu/run-selftest.sh --bench    also: emulator micro-benchmarks (test/emu/bench.cu)
#   test/emu/run-selftest.sh --all      all of the above
#
# Build outputs go to build-test/emu/. Exit status: non-zero if any build or run failed.
set -u
cd "$(dirname "$0")/../.."

want_asan=0 want_nvcc=0 want_bench=0
for arg in "$@"; do
  case "$arg" in
    --asan) want_asan=1 ;;
    --nvcc) want_nvcc=1 ;;
    --bench) want_bench=1 ;;
    --all) want_asan=1 want_nvcc=1 want_bench=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

out=build-test/emu
mkdir -p "$out"
CXX=${CXX:-g++}
EMU_FLAGS=(-std=c++17 -x c++ -I cuda/emu -include cuda/emu/prelude.h -pthread
           -Wall -Wextra -Werror -Wno-unknown-pragmas)
failures=0

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

# run NAME ENV... -- CMD...: runs CMD with the environment assignments, reports its status.
run() {
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  step "$name"
  local t0=$SECONDS
  if env "${envs[@]}" "$@"; then
    echo "-- $name: ok ($((SECONDS - t0)) s)"
  else
    fail "$name"
  fi
}

step "build (g++ -O2, x86-64 assembly context switch)"
if "$CXX" "${EMU_FLAGS[@]}" -O2 test/emu/selftest.cu -o "$out/selftest"; then
  run "emulated, CUDA_EMU_THREADS=1" CUDA_EMU_THREADS=1 -- "$out/selftest"
  run "emulated, CUDA_EMU_THREADS=2" CUDA_EMU_THREADS=2 -- "$out/selftest"
  run "emulated, CUDA_EMU_REVERSE=1 (reverse thread order), CUDA_EMU_THREADS=2" \
      CUDA_EMU_REVERSE=1 CUDA_EMU_THREADS=2 -- "$out/selftest"
else
  fail "g++ build"
fi

if [ "$want_asan" = 1 ]; then
  step "build (ASan + UBSan, ucontext fallback)"
  if "$CXX" "${EMU_FLAGS[@]}" -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
      -fno-omit-frame-pointer -DCUDA_EMU_UCONTEXT test/emu/selftest.cu -o "$out/selftest-asan"; then
    run "emulated under ASan + UBSan, CUDA_EMU_THREADS=2" CUDA_EMU_THREADS=2 \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 -- "$out/selftest-asan"
  else
    fail "ASan build"
  fi
fi

if [ "$want_nvcc" = 1 ]; then
  NVCC=${NVCC:-$(command -v nvcc || true)}
  [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
  if [ -z "$NVCC" ]; then
    step "nvcc"
    echo "nvcc not found: skipped"
  else
    step "nvcc -arch=sm_80 -Xptxas -v -c (registers / shared memory / spills per kernel)"
    if "$NVCC" -std=c++17 -arch=sm_80 -Xptxas -v -c test/emu/selftest.cu -o "$out/selftest-sm80.o" \
        2> "$out/ptxas-sm80.txt"; then
      # One line per kernel: demangled name (without parameters), then the ptxas resource summary.
      awk -F"'" '/Compiling entry function/ { k = $2 }
                 /Used [0-9]+ registers/ { sub(/.*: /, ""); print k "\t" $0 }' "$out/ptxas-sm80.txt" |
        { command -v c++filt > /dev/null && c++filt || cat; } |
        sed -E -e 's/^void //' -e 's/\(([^()]|\([^()]*\))*\)\t/\t/' | awk -F'\t' '{ printf "  %-50s %s\n", $1, $2 }'
      grep -E "spill (stores|loads)" "$out/ptxas-sm80.txt" | grep -v " 0 bytes spill stores, 0 bytes spill loads" || true
      echo "-- sm_80 compile: ok"
    else
      cat "$out/ptxas-sm80.txt"
      fail "nvcc sm_80"
    fi
    step "nvcc -arch=sm_90 (build and run: on a GPU host the self-test runs on the device)"
    if "$NVCC" -std=c++17 -arch=sm_90 test/emu/selftest.cu -o "$out/selftest-sm90"; then
      run "nvcc sm_90 binary" -- "$out/selftest-sm90"
    else
      fail "nvcc sm_90"
    fi
  fi
fi

if [ "$want_bench" = 1 ]; then
  step "build bench (g++ -O2)"
  if "$CXX" "${EMU_FLAGS[@]}" -O2 test/emu/bench.cu -o "$out/bench"; then
    run "bench" -- "$out/bench"
  else
    fail "bench build"
  fi
fi

echo
if [ "$failures" -gt 0 ]; then
  echo "run-selftest: $failures step(s) FAILED"
  exit 1
fi
echo "run-selftest: all steps passed"
