// Writes the bench corpus (bench/corpus.js, the same seed as the browser bench) as a file of
// frames, each a 4-byte little-endian length and the frame's bytes, for the native profile
// (`cargo run --release --example feed_corpus`, docs/PERFORMANCE.md "Native profile").
// Usage: node bench/dump-corpus.mjs OUT [MB]
import { writeFileSync } from 'node:fs';
import { makeCorpus } from './corpus.js';

const [out, mb = '10'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node bench/dump-corpus.mjs OUT [MB]');
  process.exit(2);
}
const { frames, bytes } = makeCorpus(Number(mb) * 1e6);
const buf = Buffer.alloc(bytes + 4 * frames.length);
let o = 0;
for (const f of frames) {
  buf.writeUInt32LE(f.length, o);
  buf.set(f, o + 4);
  o += 4 + f.length;
}
writeFileSync(out, buf);
console.log(`${frames.length} frames, ${bytes} bytes -> ${out}`);
