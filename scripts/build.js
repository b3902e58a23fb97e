#!/usr/bin/env node
// `npm run build`: TypeScript → dist/, the CPU addon (node-gyp, build/) when missing, and the CUDA
// addon (cmake-js + nvcc, build-cuda/) when nvcc is available. Each step says what it does.
const { execSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const step = (what, cmd, env) => {
  console.log(`\n[build] ${what}\n$ ${cmd}`);
  execSync(cmd, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
};

function hasNvcc() {
  try {
    execSync('nvcc --version', { stdio: 'ignore' });
    return true;
  } catch {
    return fs.existsSync('/usr/local/cuda/bin/nvcc');
  }
}

step('TypeScript', `${bin('tsc')} -p tsconfig.json`);
if (!fs.existsSync(path.join(root, 'build', 'Release', 'onelip.node'))) {
  step('CPU addon (node-gyp, binding.gyp)', 'npm run build:native:cpu --silent');
} else {
  console.log('\n[build] CPU addon: build/Release/onelip.node exists (rebuild with `npm run build:native:cpu`)');
}
if (hasNvcc()) {
  const cudaPath = fs.existsSync('/usr/local/cuda/bin') ? { PATH: `${process.env.PATH}:/usr/local/cuda/bin` } : {};
  step('CUDA addon (cmake-js + nvcc: sm_80, sm_90 SASS + sm_90 PTX)', `${bin('cmake-js')} compile --out build-cuda`, cudaPath);
} else {
  console.log('\n[build] CUDA addon: SKIPPED — nvcc not found (install the CUDA 13 toolkit to build it)');
}
