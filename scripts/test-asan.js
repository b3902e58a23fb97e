#!/usr/bin/env node
// `npm run test:asan`: AddressSanitizer + UBSan over the native code.
//   1. builds TypeScript (dist/) and two sanitizer builds with cmake-js (incremental `compile`):
//        build-asan-cpu  CPU kernels only          (--CDONELIP_CUDA=OFF --CDONELIP_SANITIZE=ON)
//        build-asan-emu  CPU + emulated CUDA       (--CDONELIP_CUDA_EMU=ON --CDONELIP_SANITIZE=ON)
//   2. runs jest with libasan preloaded (node itself is not instrumented, so the runtime must come
//      first: LD_PRELOAD=$(g++ -print-file-name=libasan.so)) and the loader pointed at the sanitizer
//      build through ONELIP_ADDON_PATH:
//        emu build: test/conformance/ + test/fuzz.test.ts
//        cpu build: test/fuzz.test.ts (the conformance suite needs the cuda device)
//   3. runs the emulator's own self-tests with sanitizers: test/emu/run-selftest.sh --asan
// Every step runs even when an earlier one failed; a summary with timings comes last, and the exit
// status is 1 when any step failed. Extra arguments go to jest (e.g. `npm run test:asan -- -t add`).
//
// ASAN_OPTIONS: detect_leaks=0 (V8 and node leak by design at exit);
//   allocator_may_return_null=1 (the fuzz test asks for > 1 TiB on purpose and expects
//   ERR_OUT_OF_MEMORY; without it ASan aborts with "requested allocation size exceeds maximum").
// UBSAN_OPTIONS: print_stacktrace=1:halt_on_error=1 (the first undefined behaviour aborts the process,
//   which the fuzz test reports as a crash with the sanitizer's report).
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const jestArgs = process.argv.slice(2);
const results = [];

function step(name, cmd, args, env = {}) {
  console.log(`\n[test:asan] ${name}\n$ ${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}${cmd} ${args.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  const ok = r.status === 0;
  results.push({ name, ok, secs: (Date.now() - t0) / 1000, why: ok ? '' : r.error ? r.error.message : `exit ${r.status}${r.signal ? `, signal ${r.signal}` : ''}` });
  return ok;
}

function libasan() {
  try {
    const p = execFileSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
    return path.isAbsolute(p) && fs.existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

const t0 = Date.now();
step('TypeScript', bin('tsc'), ['-p', 'tsconfig.json']);
const builds = {
  cpu: step('CPU addon with ASan+UBSan (build-asan-cpu)', bin('cmake-js'), ['compile', '--out', 'build-asan-cpu', '--CDONELIP_CUDA=OFF', '--CDONELIP_SANITIZE=ON']),
  emu: step('emulated-CUDA addon with ASan+UBSan (build-asan-emu)', bin('cmake-js'), ['compile', '--out', 'build-asan-emu', '--CDONELIP_CUDA_EMU=ON', '--CDONELIP_SANITIZE=ON']),
};

const asan = libasan();
if (!asan) results.push({ name: 'find libasan.so (g++ -print-file-name=libasan.so)', ok: false, secs: 0, why: 'not found' });
const sanEnv = asan
  ? {
      LD_PRELOAD: asan,
      ASAN_OPTIONS: 'detect_leaks=0:allocator_may_return_null=1',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
      ONELIP_NUM_THREADS: process.env.ONELIP_NUM_THREADS || '2',
    }
  : null;

if (sanEnv && builds.emu) {
  step('jest: conformance + fuzz on the emulated-CUDA ASan build', bin('jest'), ['--runInBand', 'test/conformance', 'test/fuzz.test.ts', ...jestArgs], {
    ...sanEnv,
    ONELIP_ADDON: 'emu',
    ONELIP_ADDON_PATH: path.join(root, 'build-asan-emu', 'Release', 'onelip.node'),
  });
}
if (sanEnv && builds.cpu) {
  step('jest: fuzz on the CPU ASan build', bin('jest'), ['--runInBand', 'test/fuzz.test.ts', ...jestArgs], {
    ...sanEnv,
    ONELIP_ADDON: 'cpu',
    ONELIP_ADDON_PATH: path.join(root, 'build-asan-cpu', 'Release', 'onelip.node'),
  });
}
const selftest = path.join(root, 'test', 'emu', 'run-selftest.sh');
if (fs.existsSync(selftest)) step('emulator self-tests with sanitizers (test/emu/run-selftest.sh --asan)', 'bash', [selftest, '--asan']);
else results.push({ name: 'emulator self-tests (test/emu/run-selftest.sh --asan)', ok: false, secs: 0, why: 'test/emu/run-selftest.sh is missing' });

console.log(`\n[test:asan] summary (${((Date.now() - t0) / 1000).toFixed(1)} s wall):`);
for (const r of results) console.log(`  ${r.ok ? 'ok    ' : 'FAILED'} ${r.secs.toFixed(1).padStart(6)} s  ${r.name}${r.ok ? '' : `  (${r.why})`}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
