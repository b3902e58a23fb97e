#!/usr/bin/env node
/** The `onelip` command line. */
import { benchMain } from '../bench/kernels';
import { benchLayersMain } from '../bench/layers';
import { info } from '../index';

function printInfo(): void {
  const i = info();
  const cuda = i.backends.cuda;
  console.log(`onelip ${i.version} (addon: ${i.addon})`);
  console.log(`  cpu : ${i.backends.cpu.threads} threads, simd ${i.backends.cpu.simd}, ${i.ops.cpu.length} ops`);
  if (cuda.available) {
    const devs = cuda.devices.map((d) => `${d.name} (sm ${d.computeCapability}, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB)`);
    console.log(`  cuda: available${cuda.emulated ? ' (emulated on the CPU)' : ''}, ${devs.join(', ')}, ${i.ops.cuda.length} ops`);
  } else {
    console.log(`  cuda: not available: ${cuda.reason}`);
  }
}

function main(argv: string[]): number {
  const cmd = argv[0] ?? 'help';
  if (cmd === 'info') {
    if (argv.includes('--json')) console.log(JSON.stringify(info(), null, 2));
    else printInfo();
    return 0;
  }
  if (cmd === 'bench' && argv[1] === 'layers') return benchLayersMain(argv.slice(2));
  if (cmd === 'bench') return benchMain(argv.slice(1));
  if (cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log('usage: onelip info [--json]');
    console.log('       onelip bench [kernels] [--threads N] [--sizes 256,512,...] [--json]');
    console.log('       onelip bench layers [--threads N] [--only NAME,...] [--repeats N] [--json]');
    return 0;
  }
  console.error(`onelip: unknown command '${cmd}' (try 'onelip help')`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
