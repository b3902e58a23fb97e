#!/usr/bin/env node
// `npm test`: builds what the tests need (TypeScript, the emulated-CUDA addon), then runs jest with
// the emulated build loaded in-process, so every CUDA kernel runs through the CPU emulator. Tests that
// need another build (CPU, real CUDA, the packaged prebuild) start child processes of their own.
// Extra arguments go to jest (e.g. `npm test -- conformance`).
const { execSync, spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const step = (what, cmd) => {
  console.log(`\n[test] ${what}\n$ ${cmd}`);
  execSync(cmd, { cwd: root, stdio: 'inherit' });
};

step('TypeScript', `${bin('tsc')} -p tsconfig.json`);
step('emulated-CUDA addon (cuda/*.cu compiled by g++ against cuda/emu/)',
  `${bin('cmake-js')} compile --out build-emu --CDONELIP_CUDA_EMU=ON`);
const args = ['--runInBand', ...process.argv.slice(2)];
console.log(`\n[test] jest ${args.join(' ')} (ONELIP_ADDON=emu)`);
const r = spawnSync(bin('jest'), args, { cwd: root, stdio: 'inherit', env: { ...process.env, ONELIP_ADDON: 'emu' } });
process.exit(r.status ?? 1);
