// @ts-check
/**
 * Worker thread: builds the country table (see country-table.ts) from fast-geoip's bundled data
 * files and posts it to its parent, the typed arrays' buffers transferred, then exits.
 *
 * Plain JavaScript on purpose: on Node 20 a loader given to a worker (`--import tsx` in its
 * execArgv) does not apply to the worker's own entry file, so a `.ts` worker would need a
 * shim calling tsx's API (measured: +200 ms and +10 MiB per start). This file needs nothing
 * but Node and runs the same under tsx, vitest and plain node.
 *
 * fast-geoip's layout (1.1.88, pinned: it is internal to the package):
 * - `index.json`: the first address of each of ~55 blocks, ascending;
 * - `i<r>.json`: the first address of each leaf of block r (NUMBER_NODES_PER_MIDINDEX leaves
 *   per block, fewer in the last), leaf files numbered r × NUMBER_NODES_PER_MIDINDEX + k;
 * - `<n>.json`: `[[start, locationIndex | null, lat, lon, accuracy], …]`, ascending. A range
 *   runs from its start to the next start; a null location is a gap (fast-geoip answers null);
 *   before the first start there is no range (fast-geoip answers null too);
 * - `locations.json`: `[` then fixed-size records of LOCATION_RECORD_SIZE bytes (space-padded
 *   JSON array, then `,` or `]`); fast-geoip parses bytes [i × size + 1, (i + 1) × size) and
 *   takes element 0 as the country.
 * Any departure from this layout fails the build (the parent then gives no country).
 *
 * workerData: `{ dataDir?: string }` (default: the installed fast-geoip's data directory).
 * Posts `{ ok: true, starts, countries, codes, sourceRanges, buildMs }` or `{ ok: false, error }`.
 */

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

const COUNTRY_RE = /^[A-Z]{2}$/;
/** The index of "no country" in the codes table. */
const NONE = 0;

/**
 * @param {boolean} condition
 * @param {string} message
 * @returns {asserts condition}
 */
function check(condition, message) {
  if (!condition) throw new Error(`fast-geoip data layout: ${message}`);
}

/** @param {unknown} value @returns {value is number} */
function isAddress(value) {
  return Number.isInteger(value) && /** @type {number} */ (value) >= 0 && /** @type {number} */ (value) <= 0xffffffff;
}

/** @param {string} dataDir @param {{ LOCATION_RECORD_SIZE: number, NUMBER_NODES_PER_MIDINDEX: number }} params */
function build(dataDir, params) {
  const started = performance.now();
  const recordSize = params.LOCATION_RECORD_SIZE;
  const perBlock = params.NUMBER_NODES_PER_MIDINDEX;
  check(Number.isInteger(recordSize) && recordSize > 2 && Number.isInteger(perBlock) && perBlock > 0, 'params.js');
  // The index and leaf files hold numbers and null only, so they are decoded as latin1 (no
  // string in them to decode differently) into one reused buffer: 3x faster than readFileSync
  // and utf8 for the ~150 MB read.
  let buffer = Buffer.allocUnsafe(1 << 17);
  /** @param {string} name @returns {unknown} */
  const readJson = (name) => {
    const fd = openSync(join(dataDir, name), 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > buffer.length) buffer = Buffer.allocUnsafe(size);
      let length = 0;
      while (length < size) {
        const read = readSync(fd, buffer, length, size - length, length);
        if (read === 0) break;
        length += read;
      }
      return JSON.parse(buffer.toString('latin1', 0, length));
    } finally {
      closeSync(fd);
    }
  };

  const locations = readFileSync(join(dataDir, 'locations.json'));
  check(locations[0] === 0x5b && (locations.length - 1) % recordSize === 0, `locations.json is not '[' and records of ${recordSize} bytes`);
  const locationCount = (locations.length - 1) / recordSize;
  /** Country index per location, -1 until first needed. */
  const locationCountry = new Int16Array(locationCount).fill(-1);
  /** @type {string[]} */
  const codes = [''];
  /** @type {Map<string, number>} */
  const codeIndex = new Map();
  /** @param {number} location */
  const countryOf = (location) => {
    const known = /** @type {number} */ (locationCountry[location]);
    if (known >= 0) return known;
    const offset = location * recordSize + 1;
    const record = JSON.parse(locations.toString('utf8', offset, offset + recordSize - 1));
    check(Array.isArray(record), `location ${location} is not an array`);
    const code = record[0];
    let index = NONE;
    if (typeof code === 'string' && COUNTRY_RE.test(code)) {
      index = codeIndex.get(code) ?? codes.push(code) - 1;
      codeIndex.set(code, index);
    }
    locationCountry[location] = index;
    return index;
  };

  const root = readJson('index.json');
  check(Array.isArray(root) && root.length > 0, 'index.json is not a non-empty array');
  /** @type {number[]} */
  const starts = [];
  /** @type {number[]} */
  const countries = [];
  let sourceRanges = 0;
  let previous = -1;
  for (let r = 0; r < root.length; r++) {
    const blockStart = root[r];
    const blockEnd = r + 1 < root.length ? root[r + 1] : 2 ** 32;
    const mid = readJson(`i${r}.json`);
    check(Array.isArray(mid) && mid.length > 0 && mid.length <= perBlock && (mid.length === perBlock || r === root.length - 1), `i${r}.json has ${Array.isArray(mid) ? mid.length : 'no'} entries`);
    check(mid[0] === blockStart, `i${r}.json does not start at index.json's entry`);
    for (let k = 0; k < mid.length; k++) {
      const leafStart = mid[k];
      const leafEnd = k + 1 < mid.length ? mid[k + 1] : blockEnd;
      const name = `${r * perBlock + k}.json`;
      const leaf = readJson(name);
      check(Array.isArray(leaf) && leaf.length > 0 && Array.isArray(leaf[0]) && leaf[0][0] === leafStart, `${name} does not start at i${r}.json's entry`);
      for (const entry of leaf) {
        if (!Array.isArray(entry)) check(false, `${name} has an entry that is not an array`);
        const start = entry[0];
        const location = entry[1];
        // (Not check(): its message would be built for each of the 3.5M entries.)
        if (!(isAddress(start) && start > previous && start < leafEnd)) check(false, `${name} has a start out of order: ${String(start)}`);
        if (!(location === null || (Number.isInteger(location) && location >= 0 && location < locationCount))) check(false, `${name} has a bad location: ${String(location)}`);
        previous = start;
        sourceRanges++;
        const country = location === null ? NONE : countryOf(location);
        if (starts.length === 0 && start > 0) {
          starts.push(0);
          countries.push(NONE);
        }
        if (countries.length === 0 || countries[countries.length - 1] !== country) {
          starts.push(start);
          countries.push(country);
        }
      }
    }
  }
  const Countries = codes.length <= 256 ? Uint8Array : Uint16Array;
  return { starts: Uint32Array.from(starts), countries: Countries.from(countries), codes, sourceRanges, buildMs: performance.now() - started };
}

function fastGeoip() {
  const require = createRequire(import.meta.url);
  const main = require.resolve('fast-geoip');
  return { dataDir: join(dirname(dirname(main)), 'data'), params: require('fast-geoip/build/params.js') };
}

const port = parentPort;
if (port === null) throw new Error('country-table-worker.mjs runs as a worker thread only');
try {
  const installed = fastGeoip();
  const data = workerData;
  const dataDir = typeof data === 'object' && data !== null && typeof data.dataDir === 'string' ? data.dataDir : installed.dataDir;
  const table = build(dataDir, installed.params);
  port.postMessage({ ok: true, ...table }, [table.starts.buffer, table.countries.buffer]);
} catch (err) {
  port.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
}
