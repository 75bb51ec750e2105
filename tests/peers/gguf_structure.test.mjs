// hearth's GGUF reader against @huggingface/gguf's, on every GGUF file in shared/testdata/quants
// and shared/testdata/vocab: `hearth inspect --json --full` must report the same version, every
// metadata key with its type and value (arrays element by element), and every tensor's name,
// type, shape and offset. Tensor type names are also checked against llama.cpp's own
// ggml_type_name (via the harness).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { isDeepStrictEqual } from "node:util";
import { gguf } from "@huggingface/gguf";
import { SHARED_DIR, hearth, listGguf, llamaTypes } from "./lib.mjs";

// GGUFValueType numbering (gguf spec) -> the names hearth's JSON uses.
const VALUE_TYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
  "string", "array", "uint64", "int64", "float64"];
const WIDE_INTS = new Set(["uint64", "int64"]);
// @huggingface/gguf reports these header fields as if they were metadata keys.
const HEADER_KEYS = new Set(["version", "tensor_count", "kv_count"]);

// JSON.parse, except that integer literals too long for a double come back as BigInt: 64-bit
// metadata values must survive exactly.
function parseJsonExact(text) {
  let out = "";
  let i = 0;
  let inString = false;
  while (i < text.length) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") { out += text[i + 1]; i += 2; continue; }
      if (c === '"') inString = false;
      ++i;
      continue;
    }
    if (c === '"') { inString = true; out += c; ++i; continue; }
    const m = /^-?\d+(?![\d.eE])/.exec(text.slice(i, i + 32));
    if (m && (c === "-" || (c >= "0" && c <= "9"))) {
      const n = BigInt(m[0]);
      out += n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)
        ? `{"$bigint":"${m[0]}"}` : m[0];
      i += m[0].length;
      continue;
    }
    out += c;
    ++i;
  }
  return JSON.parse(out, (_k, v) => (v && typeof v === "object" && "$bigint" in v ? BigInt(v.$bigint) : v));
}

// @huggingface/gguf 0.4.6 decodes strings with a default TextDecoder, which drops a leading
// UTF-8 BOM: the llama-spm and phi-3 vocabularies' token 30143 is the 3 bytes EF BB BF (checked
// with gguf-py), which it reports as "". Accept exactly that difference.
function sameString(got, want) {
  return isDeepStrictEqual(got, want) || (typeof got === "string" && got === "\uFEFF" + want);
}

function sameScalar(typeName, want, got, where) {
  if (WIDE_INTS.has(typeName)) {
    assert.equal(typeof got === "bigint" || typeof got === "number", true, `${where}: not an integer: ${got}`);
    assert.equal(BigInt(got), BigInt(want), where);
  } else if (typeName === "float32" || typeName === "float64") {
    if (Number.isNaN(want)) assert.equal(got, null, `${where}: NaN must be written as null`);
    else if (!Number.isFinite(want)) assert.equal(got, null, `${where}: ${want} must be written as null`);
    else assert.equal(got, want, where);
  } else if (!sameString(got, want)) {
    assert.equal(got, want, where);
  }
}

function compareMetadata(file, hf, mine) {
  const keys = Object.keys(hf.typedMetadata).filter((k) => !HEADER_KEYS.has(k));
  assert.deepEqual(Object.keys(mine.metadata).sort(), [...keys].sort(), `${file}: metadata keys`);
  for (const key of keys) {
    const want = hf.typedMetadata[key];
    const got = mine.metadata[key];
    const typeName = VALUE_TYPES[want.type];
    assert.equal(got.type, typeName, `${file}: ${key} type`);
    if (typeName !== "array") {
      sameScalar(typeName, want.value, got.value, `${file}: ${key}`);
      continue;
    }
    const elemName = VALUE_TYPES[want.subType];
    assert.equal(got.elem_type, elemName, `${file}: ${key} elem_type`);
    assert.ok(Array.isArray(got.value), `${file}: ${key}: --full must give the whole array in "value"`);
    assert.equal(got.value.length, want.value.length, `${file}: ${key} length`);
    if (elemName === "array") throw new Error(`${file}: ${key}: nested arrays are not compared yet`);
    if (WIDE_INTS.has(elemName) || elemName.startsWith("float")) {
      for (let i = 0; i < want.value.length; ++i) sameScalar(elemName, want.value[i], got.value[i], `${file}: ${key}[${i}]`);
    } else {
      // Strings, bools and narrow integers compare exactly; deepEqual over the whole array is
      // far faster than per-element asserts on 150k-token vocabularies.
      if (!isDeepStrictEqual(got.value, want.value)) {
        const i = want.value.findIndex((v, j) => !sameString(got.value[j], v));
        if (i >= 0) {
          assert.fail(`${file}: ${key}[${i}]: hearth ${JSON.stringify(got.value[i])}, @huggingface/gguf ${JSON.stringify(want.value[i])}`);
        }
      }
    }
  }
}

function compareTensors(file, hf, mine) {
  assert.equal(mine.tensors.length, hf.tensorInfos.length, `${file}: tensor count`);
  const llama = hf.tensorInfos.length > 0 ? llamaTypes(file) : new Map();
  const dataBytes = BigInt(fs.statSync(file).size) - hf.tensorDataOffset;
  for (let i = 0; i < hf.tensorInfos.length; ++i) {
    const want = hf.tensorInfos[i];
    const got = mine.tensors[i];
    const where = `${file}: tensor ${i} (${want.name})`;
    assert.equal(got.name, want.name, `${where} name`);
    assert.equal(got.type_id, want.dtype, `${where} type_id`);
    assert.equal(got.type, llama.get(want.name), `${where} type name (llama.cpp's ggml_type_name)`);
    assert.deepEqual(got.shape.map((d) => BigInt(d)), want.shape, `${where} shape`);
    assert.equal(BigInt(got.offset), want.offset, `${where} offset`);
    assert.ok(BigInt(got.bytes) > 0n && BigInt(got.offset) + BigInt(got.bytes) <= dataBytes, `${where} bytes ${got.bytes} inside the data section`);
  }
}

const files = [
  ...listGguf(path.join(SHARED_DIR, "testdata", "quants")),
  ...listGguf(path.join(SHARED_DIR, "testdata", "vocab")),
];

test("test data is present", () => {
  assert.ok(files.length >= 38, `expected the shared quants and vocab files under ${SHARED_DIR}, found ${files.length}`);
});

for (const file of files) {
  test(`gguf structure: ${path.relative(SHARED_DIR, file)}`, async () => {
    const hf = await gguf(file, { allowLocalFile: true, typedMetadata: true });
    const mine = parseJsonExact(hearth("inspect", "--json", "--full", file));
    assert.equal(mine.format, "gguf");
    assert.equal(mine.gguf_version, hf.typedMetadata.version.value, "gguf_version");
    assert.equal(mine.architecture, hf.typedMetadata["general.architecture"]?.value, "architecture");
    compareMetadata(file, hf, mine);
    compareTensors(file, hf, mine);
  });
}
