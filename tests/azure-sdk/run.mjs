// Runs blob_conformance.mjs against switchboardd's blob listener and against
// Azurite (Microsoft's reference emulator) and compares their answers
// operation by operation:
//
//   node run.mjs --local <container SAS URL> --azurite <container SAS URL>
//
// Each URL names an existing, empty container with a SAS granting racwdl.
// An operation passes when both lines are equal, or when it is one of the
// DOCUMENTED differences below and each side answers exactly as documented
// (so a difference that changes still fails). Prints one line per
// operation and exits 1 if any differs, 2 on bad arguments.

import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

// Where the listener answers unlike Azurite, on purpose (docs/media.md,
// "Azure Blob operations"): what each side answers, and why. An entry with
// `fields` instead of local/azurite: those fields may differ (the local
// value must be `local`), the rest must be equal.
const DOCUMENTED = {
  commitBlockList: {
    fields: { contentMD5: null },
    why: "Azure keeps no MD5 for a blob committed from blocks unless the client sends x-ms-blob-content-md5, so Get Blob sends none; Azurite computes one when it serves a small one",
  },
  syncUploadFromURL: {
    local: { status: 201, code: null, size: 9437184, sha: "293b5ea59f9ef0a0" },
    azurite: { status: 500, code: "RestError" },
    why: "Azurite 3.x does not implement Put Blob From URL (500, empty body); the listener copies the bytes, as Azure does",
  },
  "syncUploadFromURL.missingSource": {
    local: { status: 404, code: "CannotVerifyCopySource" },
    azurite: { status: 500, code: "RestError" },
    why: "as syncUploadFromURL; Azure answers a missing source with 404 CannotVerifyCopySource",
  },
  createSnapshot: {
    local: { status: 501, code: "NotImplemented" },
    azurite: { status: 201, code: null },
    why: "the listener keeps no snapshots: it refuses Snapshot Blob (and ?snapshot= reads) rather than pretend",
  },
  acquireLease: {
    local: { status: 501, code: "NotImplemented" },
    azurite: { status: 201, code: null },
    why: "the listener has no leases: it refuses Lease Blob, and a request naming a lease id gets 412 LeaseNotPresentWithBlobOperation",
  },
  "download.missingContainer": {
    local: { status: 403, code: "AuthenticationFailed" },
    azurite: { status: 403, code: "AuthorizationFailure" },
    why: "a SAS signed for another container: Azure answers a signature that does not match with 403 AuthenticationFailed; Azurite says AuthorizationFailure",
  },
};

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, "")] = a[i + 1];
  if (!out.local || !out.azurite) {
    console.error("usage: node run.mjs --local <container SAS URL> --azurite <container SAS URL>");
    process.exit(2);
  }
  return out;
}

const here = dirname(fileURLToPath(import.meta.url));
function run(url) {
  const text = execFileSync(process.execPath, [join(here, "blob_conformance.mjs"), url], {
    encoding: "utf8",
    maxBuffer: 16 << 20,
    timeout: 300e3,
  });
  const lines = new Map();
  for (const line of text.split("\n").filter(Boolean)) {
    const j = JSON.parse(line);
    lines.set(j.op, j);
  }
  return lines;
}

const { local, azurite } = args();
const ours = run(local);
const theirs = run(azurite);
let failed = 0;
const rest = (o) => {
  if (!o) return o;
  const { op, ...r } = o;
  return r;
};
for (const op of new Set([...theirs.keys(), ...ours.keys()])) {
  const a = rest(ours.get(op));
  const b = rest(theirs.get(op));
  const doc = DOCUMENTED[op];
  let verdict;
  if (doc?.fields) {
    const strip = (o) => Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => !(k in doc.fields)));
    const localOk = Object.entries(doc.fields).every(([k, v]) => isDeepStrictEqual(a?.[k], v));
    verdict = localOk && isDeepStrictEqual(strip(a), strip(b)) ? "documented" : "DIFFERENT";
  } else if (doc) {
    verdict = isDeepStrictEqual(a, doc.local) && isDeepStrictEqual(b, doc.azurite) ? "documented" : "DIFFERENT";
  } else {
    verdict = isDeepStrictEqual(a, b) ? "same" : "DIFFERENT";
  }
  if (verdict === "DIFFERENT") failed++;
  console.log(`${verdict.padEnd(10)} ${op}`);
  if (verdict !== "same") {
    console.log(`           local:   ${JSON.stringify(a)}`);
    console.log(`           azurite: ${JSON.stringify(b)}`);
    if (doc) console.log(`           why: ${doc.why}`);
  }
}
console.log(failed ? `${failed} operation(s) differ from Azurite` : `all ${ours.size} operations answer as Azurite does (or as documented)`);
process.exit(failed ? 1 : 0);
