/**
 * ol.io checkpoints: files are safetensors (checked with an independent plain reader below, and by
 * loading a file built by hand byte by byte); save → loadInto gives identical tensors and outputs, and
 * with the optimizer state an identical next step, on cpu and cuda; corrupt or mismatched files raise
 * ERR_CHECKPOINT and leave the module and optimizer unchanged; a failed write leaves the old file.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ol from '../lib';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`io seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
let s = seed >>> 0;
function rnd(): number {
  let t = (s = (s + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const values = (n: number): number[] => Array.from({ length: n }, () => (0.25 + 2 * rnd()) * (rnd() < 0.5 ? -1 : 1));
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || ol.info().backends.cuda.available);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-io-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmpFile = () => path.join(dir, `ck${fileNo++}.safetensors`);

/** A minimal module honouring the Module contract structurally: y = x·Wᵀ + b, plus an int32 buffer. */
class TinyLinear {
  weight: ol.Tensor;
  bias: ol.Tensor;
  count: ol.Tensor;
  constructor(inF: number, outF: number, device: ol.Device) {
    this.weight = ol.tensor(values(inF * outF), { shape: [outF, inF], device });
    this.bias = ol.tensor(values(outF), { shape: [outF], dtype: 'float64', device });
    this.count = ol.tensor([Math.floor(rnd() * 100)], { dtype: 'int32', device });
    this.weight.requiresGrad = this.bias.requiresGrad = true;
  }
  namedParameters(): [string, ol.Tensor][] {
    return [['weight', this.weight], ['bias', this.bias]];
  }
  buffers(): [string, ol.Tensor][] {
    return [['count', this.count]];
  }
  stateDict(): Record<string, ol.Tensor> {
    return { weight: this.weight, bias: this.bias, count: this.count };
  }
  loadStateDict(d: Record<string, ol.Tensor>): void {
    // copies into the existing tensors' storage, as a Module keeps its tensors: sgd_step's buffer
    // initialisation (buffer ← grad exactly, lr 0 leaves the dummy parameter alone) is an exact copy
    for (const [k, t] of Object.entries(d)) {
      const own = (this as unknown as Record<string, ol.Tensor>)[k];
      if (own.dtype === 'int32') {
        (this as unknown as Record<string, ol.Tensor>)[k] = t;
        own.dispose();
        continue;
      }
      const dummy = ol.zeros(own.shape, { dtype: own.dtype, device: own.device });
      ol.optim.sgdStep(dummy, t, own, { lr: 0, momentum: 1, initBuffer: true });
      dummy.dispose();
      t.dispose();
    }
  }
  forward(x: ol.Tensor): ol.Tensor {
    return ol.ops.add(ol.ops.matmul(x, this.weight, { transB: true }), this.bias.astype('float32'));
  }
}

/** `.grad` as a writable field (set by hand here; autograd sets it in real training). */
const grad = (t: ol.Tensor) => t as { grad: ol.Tensor | null };

const snapshot = (m: TinyLinear) => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data())]));

/** An independent plain reader of the safetensors layout. */
function plainRead(file: string) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const headerText = buf.subarray(8, 8 + n).toString('utf8');
  const header = JSON.parse(headerText);
  const data = buf.subarray(8 + n);
  const tensors: Record<string, { dtype: string; shape: number[]; values: number[]; begin: number }> = {};
  for (const [k, v] of Object.entries<{ dtype: string; shape: number[]; data_offsets: [number, number] }>(header)) {
    if (k === '__metadata__') continue;
    const [b, e] = v.data_offsets;
    const size = v.dtype === 'F64' ? 8 : 4;
    const vals: number[] = [];
    for (let o = b; o < e; o += size) vals.push(v.dtype === 'F64' ? data.readDoubleLE(o) : v.dtype === 'F32' ? data.readFloatLE(o) : data.readInt32LE(o));
    tensors[k] = { dtype: v.dtype, shape: v.shape, values: vals, begin: b };
  }
  return { n, headerText, header, tensors, dataLength: data.length };
}

/** A safetensors file built by hand: header JSON string + raw data bytes. */
function handBuilt(headerJson: string, data: Buffer, lengthField?: bigint): Buffer {
  const h = Buffer.from(headerJson, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

function expectCheckpointError(fn: () => unknown, parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ol.OnelipError);
  expect((err as ol.OnelipError).code).toBe('ERR_CHECKPOINT');
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('the file layout', () => {
  test.each(devices)('a saved file reads back with a plain safetensors reader (%s tensors)', (device) => {
    const f = tmpFile();
    const a = ol.tensor(values(6), { shape: [2, 3], device });
    const b = ol.tensor(values(5), { shape: [5], dtype: 'float64', device });
    const c = ol.tensor([3, -7, 2147483647], { dtype: 'int32', device });
    const e = ol.zeros([0, 4], { device });
    const sc = ol.tensor(values(1), { shape: [], dtype: 'float64', device });
    ol.io.save(f, { 'layer.0.weight': a, 'layer.0.bias': b, steps: c, empty: e, scalar: sc }, { metadata: { epoch: 7, note: 'x' } });
    const r = plainRead(f);
    expect((8 + r.n) % 8).toBe(0);
    expect(r.headerText.trimEnd().length).toBeGreaterThan(0);
    expect(/^ *$/.test(r.headerText.slice(r.headerText.trimEnd().length))).toBe(true);
    expect(r.tensors['layer.0.weight']).toMatchObject({ dtype: 'F32', shape: [2, 3], values: Array.from(a.data()) });
    expect(r.tensors['layer.0.bias']).toMatchObject({ dtype: 'F64', shape: [5], values: Array.from(b.data()) });
    expect(r.tensors.steps).toMatchObject({ dtype: 'I32', shape: [3], values: [3, -7, 2147483647] });
    expect(r.tensors.empty).toMatchObject({ dtype: 'F32', shape: [0, 4], values: [] });
    expect(r.tensors.scalar).toMatchObject({ dtype: 'F64', shape: [], values: Array.from(sc.data()) });
    for (const t of Object.values(r.tensors)) expect(t.begin % (t.dtype === 'F64' ? 8 : 4)).toBe(0);
    expect(JSON.parse(r.header.__metadata__['onelip.metadata'])).toEqual({ epoch: 7, note: 'x' });
    const total = Object.values(r.tensors).reduce((acc, t) => acc + t.values.length * (t.dtype === 'F64' ? 8 : 4), 0);
    expect(r.dataLength).toBe(total);
    const back = ol.io.load(f, { device });
    expect(back.metadata).toEqual({ epoch: 7, note: 'x' });
    expect(Object.keys(back.tensors).sort()).toEqual(['empty', 'layer.0.bias', 'layer.0.weight', 'scalar', 'steps']);
    expect(back.tensors['layer.0.bias'].device).toBe(device);
    expect(back.tensors['layer.0.bias'].dtype).toBe('float64');
    expect(Array.from(back.tensors['layer.0.weight'].data())).toEqual(Array.from(a.data()));
    expect(back.tensors.scalar.shape).toEqual([]);
    expect(back.optimizer).toBeUndefined();
  });

  test('a file built by hand byte by byte loads', () => {
    const data = Buffer.alloc(8 + 12 + 4);
    data.writeDoubleLE(-1.25, 0);
    data.writeFloatLE(0.5, 8);
    data.writeFloatLE(3, 12);
    data.writeFloatLE(-2, 16);
    data.writeInt32LE(-42, 20);
    const header = JSON.stringify({
      __metadata__: { format: 'pt', author: 'hand' },
      w: { dtype: 'F32', shape: [1, 3], data_offsets: [8, 20] },
      d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
      i: { dtype: 'I32', shape: [], data_offsets: [20, 24] },
    });
    const f = tmpFile();
    fs.writeFileSync(f, handBuilt(header, data));
    const r = ol.io.load(f);
    expect(r.metadata).toEqual({ format: 'pt', author: 'hand' });
    expect(r.tensors.w.dtype).toBe('float32');
    expect(r.tensors.w.shape).toEqual([1, 3]);
    expect(Array.from(r.tensors.w.data())).toEqual([0.5, 3, -2]);
    expect(Array.from(r.tensors.d.data())).toEqual([-1.25]);
    expect(r.tensors.i.item()).toBe(-42);
  });
});

describe.each(devices)('checkpoints of a module and optimizer on %s', (device) => {
  test('save → loadInto: identical tensors and outputs; with the optimizer, an identical next step', () => {
    const x = ol.tensor(values(12), { shape: [4, 3], device });
    const a = new TinyLinear(3, 2, device);
    const optA = new ol.optim.Adam([a.weight, a.bias], { lr: 0.05, amsgrad: true });
    const grads = () => [ol.tensor(values(6), { shape: [2, 3], device }), ol.tensor(values(2), { shape: [2], dtype: 'float64', device })];
    for (let i = 0; i < 2; i++) {
      const [gw, gb] = grads();
      grad(a.weight).grad = gw;
      grad(a.bias).grad = gb;
      optA.step();
    }
    const f = tmpFile();
    ol.io.save(f, a, { optimizer: optA, metadata: { epoch: 2, rng: [1, 2, 3] } });

    const b = new TinyLinear(3, 2, device);
    const optB = new ol.optim.Adam([b.weight, b.bias], { lr: 0.5 });
    const weightObject = b.weight;
    const { metadata } = ol.io.loadInto(b, f, { optimizer: optB });
    expect(metadata).toEqual({ epoch: 2, rng: [1, 2, 3] });
    expect(b.weight).toBe(weightObject);  // loaded into the module's own tensors
    expect(b.weight.device).toBe(device);
    expect(snapshot(b)).toEqual(snapshot(a));
    expect(Array.from(b.forward(x).data())).toEqual(Array.from(a.forward(x).data()));
    expect(optB.paramGroups[0].lr).toBe(0.05);
    expect(optB.stateDict().state[1].step).toBe(2);
    const [gw, gb] = grads();
    grad(a.weight).grad = gw;
    grad(a.bias).grad = gb;
    grad(b.weight).grad = ol.tensor(Array.from(gw.data()), { shape: [2, 3], device });
    grad(b.bias).grad = ol.tensor(Array.from(gb.data()), { shape: [2], dtype: 'float64', device });
    optA.step();
    optB.step();
    expect(snapshot(b)).toEqual(snapshot(a));
  });

  test('corrupt or mismatched files raise ERR_CHECKPOINT and change nothing', () => {
    const src = new TinyLinear(3, 2, device);
    const opt0 = new ol.optim.SGD([src.weight, src.bias], { lr: 0.1, momentum: 0.9 });
    grad(src.weight).grad = ol.tensor(values(6), { shape: [2, 3], device });
    grad(src.bias).grad = ol.tensor(values(2), { shape: [2], dtype: 'float64', device });
    opt0.step();
    const good = tmpFile();
    ol.io.save(good, src, { optimizer: opt0 });
    const bytes = fs.readFileSync(good);
    const r = plainRead(good);

    const m = new TinyLinear(3, 2, device);
    const opt = new ol.optim.SGD([m.weight, m.bias], { lr: 0.3, momentum: 0.5 });
    grad(m.weight).grad = ol.tensor(values(6), { shape: [2, 3], device });
    opt.step();
    const before = snapshot(m);
    const optBefore = Array.from((opt.stateDict().state[0].momentum_buffer as ol.Tensor).data());
    const unchanged = () => {
      expect(snapshot(m)).toEqual(before);
      expect(Array.from((opt.stateDict().state[0].momentum_buffer as ol.Tensor).data())).toEqual(optBefore);
      expect(opt.paramGroups[0].lr).toBe(0.3);
      expect(opt.stateDict().state[1]).toBeUndefined();
    };
    const tryFile = (buf: Buffer, parts: string[], opts: { strict?: boolean } = {}) => {
      const f = tmpFile();
      fs.writeFileSync(f, buf);
      expectCheckpointError(() => ol.io.loadInto(m, f, { optimizer: opt, ...opts }), parts);
      unchanged();
    };
    const withHeader = (h: Record<string, unknown>) => {
      const json = JSON.stringify(h);
      return handBuilt(json, bytes.subarray(8 + r.n));
    };
    // truncated at several points
    for (const cut of [0, 5, 8, 8 + Math.floor(r.n / 2), 8 + r.n, bytes.length - 1]) tryFile(bytes.subarray(0, cut), [cut < 8 ? 'truncated' : cut < 8 + r.n ? 'header length' : 'beyond']);
    tryFile(handBuilt('{}', Buffer.alloc(0), 1000n), ['header length 1000']);
    tryFile(handBuilt('{"a": ', Buffer.alloc(0)), ['not valid UTF-8 JSON']);
    tryFile(handBuilt('[1, 2]', Buffer.alloc(0)), ['JSON object']);
    const h = r.header;
    tryFile(withHeader({ ...h, weight: { ...h.weight, dtype: 'F16' } }), ["'weight'", 'F16', 'F32, F64, I32']);
    tryFile(withHeader({ ...h, weight: { ...h.weight, shape: [3, 3] } }), ["'weight'", 'needs 36 bytes']);
    tryFile(withHeader({ ...h, weight: { ...h.weight, data_offsets: [h.bias.data_offsets[0], h.bias.data_offsets[0] + 24] } }), ['overlap']);
    tryFile(withHeader({ ...h, weight: { ...h.weight, data_offsets: [r.dataLength - 8, r.dataLength + 16] } }), ["'weight'", 'beyond']);
    tryFile(withHeader({ ...h, weight: { ...h.weight, shape: [-2, -3] } }), ["'weight'", 'shape']);
    tryFile(withHeader({ ...h, __metadata__: { ...h.__metadata__, 'onelip.optimizer': '{oops' } }), ['onelip.optimizer']);
    const { bias: _b, ...noBias } = h;
    tryFile(withHeader(noBias), ['missing keys [bias]']);
    tryFile(withHeader({ ...h, extra: { dtype: 'F32', shape: [0], data_offsets: [0, 0] } }), ['unexpected keys [extra]']);
    // wrong shapes for the module: a file from a 4 → 2 layer
    const other = new TinyLinear(4, 2, device);
    const f2 = tmpFile();
    ol.io.save(f2, other);
    expectCheckpointError(() => ol.io.loadInto(m, f2), ["'weight'", '[2,4]', '[2,3]']);
    unchanged();
    // the optimizer state does not fit (three parameters in one group) → neither changes
    const p3 = new ol.optim.SGD([src.weight, src.bias, ol.tensor([1, 2])], { lr: 0.1, momentum: 0.9 });
    const f3 = tmpFile();
    ol.io.save(f3, src, { optimizer: p3 });
    expectCheckpointError(() => ol.io.loadInto(m, f3, { optimizer: opt }), ['optimizer state does not fit']);
    unchanged();
    // no optimizer in the file
    const f5 = tmpFile();
    ol.io.save(f5, src);
    expectCheckpointError(() => ol.io.loadInto(m, f5, { optimizer: opt }), ['holds no optimizer state']);
    expectCheckpointError(() => ol.io.loadInto(m, path.join(dir, 'does-not-exist')), ['cannot read']);
    unchanged();
    // non-strict: missing keys are fine, and only the present ones load
    const f4 = tmpFile();
    ol.io.save(f4, { bias: src.bias });
    ol.io.loadInto(m, f4, { strict: false });
    expect(Array.from(m.bias.data())).toEqual(Array.from(src.bias.data()));
    expect(Array.from(m.weight.data())).toEqual(before.weight);
  });
});

describe('atomic writes', () => {
  test('a failure midway leaves the previous file intact and no temp file behind', () => {
    const f = tmpFile();
    const a = ol.tensor(values(8), { shape: [8] });
    ol.io.save(f, { a });
    const old = fs.readFileSync(f);
    const filesBefore = fs.readdirSync(dir).sort();
    const b = ol.tensor(values(4), { shape: [4] });
    const c = ol.tensor(values(4), { shape: [4] });
    // the second tensor fails while its data is fetched: the header and the first tensor are written by then
    (c as unknown as { data: () => never }).data = () => {
      throw new Error('device lost');
    };
    expectCheckpointError(() => ol.io.save(f, { b, c }), ['write failed', 'device lost', 'unchanged']);
    expect(fs.readFileSync(f).equals(old)).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(filesBefore);
    ol.io.save(f, { b });
    expect(plainRead(f).tensors.b.values).toEqual(Array.from(b.data()));
  });

  test('bad arguments to save', () => {
    const t = ol.tensor([1]);
    const e = (fn: () => unknown, parts: string[]) => {
      try {
        fn();
        throw new Error('no error');
      } catch (err) {
        expect(err).toBeInstanceOf(ol.OnelipError);
        expect((err as ol.OnelipError).code).toBe('ERR_ARGUMENT');
        for (const p of parts) expect((err as Error).message).toContain(p);
      }
    };
    e(() => ol.io.save('', { t }), ['io.save', 'path']);
    e(() => ol.io.save(tmpFile(), { t: 3 as unknown as ol.Tensor }), ['io.save', "'t'", 'Tensor']);
    const d = ol.tensor([1]);
    d.dispose();
    e(() => ol.io.save(tmpFile(), { d }), ["'d'", 'live Tensor']);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    e(() => ol.io.save(tmpFile(), { t }, { metadata: cyc }), ['JSON']);
    e(() => ol.io.save(tmpFile(), { __metadata__: t }), ['reserved']);
  });
});
