// Prints the C++ sources of the CPU-only addon (one per line) for binding.gyp.
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
for (const dir of ['native/core', 'native/ops', 'native/cpu', 'native/bind']) {
  for (const f of fs.readdirSync(path.join(root, dir)).sort()) {
    if (f.endsWith('.cc')) console.log(`${dir}/${f}`);
  }
}
