import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInstanceCsv, writeInstanceCsv, writeOffsetsCsv, capacityFromName, InstanceParser, parseInstanceColumns, offsetsCsvBytes, prepareColumns, plan, validate } from '../../main/plan';

test('reads id,lower,upper,size', () => {
  const { buffers, offsets } = parseInstanceCsv('id,lower,upper,size\nb1,0,3,4\r\nb2,3,9,4\n\n');
  assert.deepEqual(buffers, [
    { id: 'b1', start: 0, end: 3, size: 4 },
    { id: 'b2', start: 3, end: 9, size: 4 },
  ]);
  assert.equal(offsets, undefined);
});

test('reads the older buffer,start,end,size header with inclusive end', () => {
  const { buffers } = parseInstanceCsv('buffer,start,end,size\n0,0,2,8\n');
  assert.deepEqual(buffers, [{ id: '0', start: 0, end: 3, size: 8 }]);
});

test('reads alignment and offset columns', () => {
  const { buffers, offsets } = parseInstanceCsv('id,lower,upper,size,alignment,offset\na,0,1,4,8,16\n');
  assert.deepEqual(buffers, [{ id: 'a', start: 0, end: 1, size: 4, align: 8 }]);
  assert.deepEqual(offsets, [16]);
});

test('round-trips instances and writes solutions', () => {
  const text = 'id,lower,upper,size\nx,0,5,10\ny,2,4,3\n';
  const { buffers } = parseInstanceCsv(text);
  assert.equal(writeInstanceCsv(buffers), text);
  assert.equal(writeOffsetsCsv(buffers, [0, 10]), 'id,lower,upper,size,offset\nx,0,5,10,0\ny,2,4,3,10\n');
  assert.throws(() => writeOffsetsCsv(buffers, [0]), /1 offsets for 2 buffers/);
});

test('error messages name the line', () => {
  const bad = (body: string): RegExp | string => {
    try {
      parseInstanceCsv('id,lower,upper,size\nok,0,1,1\n' + body, 'f.csv');
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };
  assert.equal(bad('a,1,2\n'), "f.csv:3: expected 4 fields (id,lower,upper,size), got 3: 'a,1,2'");
  assert.equal(bad('a,1,,4\n'), 'f.csv:3: missing upper');
  assert.equal(bad('a,1.5,2,4\n'), "f.csv:3: lower must be an integer, got '1.5'");
  assert.equal(bad('a,x,2,4\n'), "f.csv:3: lower must be an integer, got 'x'");
  assert.equal(bad('a,5,5,4\n'), 'f.csv:3: upper (5) must be greater than lower (5)');
  assert.equal(bad('a,5,3,4\n'), 'f.csv:3: upper (3) must be greater than lower (5)');
  assert.equal(bad('a,1,2,-4\n'), 'f.csv:3: size must be >= 0, got -4');
  assert.equal(bad('ok,1,2,4\n'), "f.csv:3: duplicate id 'ok' (first on line 2)");
  assert.equal(bad(',1,2,4\n'), 'f.csv:3: missing id');
  assert.throws(() => parseInstanceCsv('', 'e.csv'), /e.csv: empty file/);
  assert.throws(() => parseInstanceCsv('a,b,c\n1,2,3\n', 'h.csv'), /h.csv:1: header must name the columns id,lower,upper,size/);
});

test('capacity from MiniMalloc file names', () => {
  assert.equal(capacityFromName('/x/minimalloc-challenging-A.1048576.csv'), 1048576);
  assert.equal(capacityFromName('resnet50.csv'), undefined);
});

test('streaming: any split into chunks parses the same; integer ids stay numbers', () => {
  const text = 'id,lower,upper,size,alignment\r\n7,0,3,4,8\r\n12, 3 ,9,4,1\n\n0,1,2,16,16';
  const whole = parseInstanceColumns(Buffer.from(text));
  assert.deepEqual(Array.from(whole.ids), [7, 12, 0]);
  assert.deepEqual(Array.from(whole.start), [0, 3, 1]);
  assert.deepEqual(Array.from(whole.end), [3, 9, 2]);
  assert.deepEqual(Array.from(whole.align), [8, 1, 16]);
  const bytes = Buffer.from(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    for (const step of [1, 3]) {
      const p = new InstanceParser('s.csv');
      p.push(bytes.subarray(0, cut));
      for (let i = cut; i < bytes.length; i += step) p.push(bytes.subarray(i, i + step));
      const c = p.end();
      assert.deepEqual([Array.from(c.ids), Array.from(c.start), Array.from(c.end), Array.from(c.size)], [[7, 12, 0], [0, 3, 1], [3, 9, 2], [4, 4, 16]], `cut ${cut}`);
    }
  }
  // Not every id is a plain integer: all become strings, as written.
  assert.deepEqual(Array.from(parseInstanceColumns(Buffer.from('id,lower,upper,size\n1,0,1,1\n01,0,1,1\nx,0,1,1\n')).ids), ['1', '01', 'x']);
  assert.throws(() => parseInstanceColumns(Buffer.from('id,lower,upper,size\n5,0,1,1\n6,0,1,1\n5,0,1,1\n'), 'd.csv'), /d.csv:4: duplicate id '5' \(first on line 2\)/);
  assert.throws(() => parseInstanceColumns(Buffer.from('id,lower,upper,size\n5,0,1,1\nq,0,1,1\n5,0,1,1\n'), 'd.csv'), /d.csv:4: duplicate id '5' \(first on line 2\)/);
});

test('streaming: 200,000 rows parse into columns, plan and write back without an object per buffer', () => {
  const rows = ['id,lower,upper,size'];
  for (let i = 0; i < 200_000; i++) rows.push(`${i},${i},${i + 1 + (i % 7)},${64 * (1 + (i % 13))}`);
  const cols = parseInstanceColumns(Buffer.from(rows.join('\n') + '\n'), 'big.csv');
  assert.equal(cols.n, 200_000);
  assert.ok(cols.ids instanceof Float64Array, 'numeric ids in a typed array');
  const r = plan('best-fit', prepareColumns(cols));
  const out = Buffer.from(offsetsCsvBytes(cols, r.offsets)).toString('utf8').split('\n');
  assert.equal(out[0], 'id,lower,upper,size,offset');
  assert.equal(out[1], `0,0,1,64,${r.offsets[0]}`);
  assert.equal(out.length, 200_002);
  const small = parseInstanceCsv(rows.slice(0, 1001).join('\n'));
  assert.deepEqual(validate(small.buffers, r.offsets.slice(0, 1000)), [], 'a prefix of a valid plan is valid');
});
