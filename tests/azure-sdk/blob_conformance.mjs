// The Azure Blob operations Switchboard's users run, through Azure's own SDK
// (@azure/storage-blob, pinned in package.json), against one target:
//
//   node blob_conformance.mjs <container SAS URL>
//
// The URL names an existing, empty container and carries a SAS with
// permissions racwdl (a container SAS, sr=c). Prints one JSON line per
// operation: {"op", "status", "code", ...the properties that matter}, with
// nothing that differs between two correct targets (no ETags, no dates, no
// request ids). run.mjs runs it against switchboardd's listener and Azurite
// and compares the lines. Exits 0 once every operation has run (a failed
// operation is a line, not an exit), 2 on bad arguments.

import "./webcrypto.mjs";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { AnonymousCredential, ContainerClient, newPipeline } from "@azure/storage-blob";

const target = process.argv[2];
if (!target || !/^https?:\/\/[^?]+\?.*sig=/.test(target)) {
  console.error("usage: node blob_conformance.mjs <container SAS URL (sr=c, sp=racwdl)>");
  process.exit(2);
}
// No retries: every answer is the target's first one (a retried 500 would
// also take the SDK's back-off, half a minute).
const pipeline = newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 1 } });
const container = new ContainerClient(target, pipeline);
const MiB = 1024 * 1024;

// Deterministic bytes: the same blob on both targets.
function bytes(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
const sha = (b) => createHash("sha256").update(b).digest("hex").slice(0, 16);
const md5 = (b) => createHash("md5").update(b).digest();
async function drain(stream) {
  const parts = [];
  for await (const p of stream) parts.push(typeof p === "string" ? Buffer.from(p) : p);
  return Buffer.concat(parts);
}
const b64 = (s) => Buffer.from(s).toString("base64");
const statusOf = (r) => r?._response?.status;

// One operation: `fn` returns the properties to print (and may set status).
async function op(name, fn) {
  const line = { op: name };
  try {
    const out = await fn();
    Object.assign(line, { status: out?.status ?? null, code: null }, out?.props ?? {});
  } catch (e) {
    line.status = e.statusCode ?? null;
    line.code = e.code ?? e.details?.errorCode ?? e.name;
    if (line.status == null || process.env.SB_CONFORMANCE_MESSAGES) line.message = String(e.message).slice(0, 300);
  }
  console.log(JSON.stringify(line));
  return line;
}
const headersOf = (p) => ({
  contentType: p.contentType ?? null,
  contentEncoding: p.contentEncoding ?? null,
  contentLanguage: p.contentLanguage ?? null,
  contentDisposition: p.contentDisposition ?? null,
  cacheControl: p.cacheControl ?? null,
  contentMD5: p.contentMD5 ? Buffer.from(p.contentMD5).toString("base64") : null,
});

const small = Buffer.from("hello, switchboard\n");
const smallClient = container.getBlockBlobClient("small.txt");
const allHeaders = {
  blobContentType: "text/plain; charset=utf-8",
  blobContentEncoding: "identity",
  blobContentLanguage: "en-GB",
  blobContentDisposition: 'attachment; filename="small.txt"',
  blobCacheControl: "max-age=60",
  blobContentMD5: md5(small),
};

// --- the container --------------------------------------------------------
await op("container.getProperties", async () => {
  const r = await container.getProperties();
  return { status: statusOf(r), props: { hasEtag: !!r.etag, hasLastModified: !!r.lastModified } };
});
await op("container.exists", async () => ({ status: 200, props: { exists: await container.exists() } }));

// --- Put Blob with content headers and metadata ----------------------------
await op("upload.small", async () => {
  const r = await smallClient.upload(small, small.length, { blobHTTPHeaders: allHeaders, metadata: { origin: "sdk", n: "1" } });
  return { status: statusOf(r), props: { hasEtag: !!r.etag, contentMD5: r.contentMD5 ? Buffer.from(r.contentMD5).toString("base64") : null } };
});
let smallEtag;
await op("getProperties.small", async () => {
  const p = await smallClient.getProperties();
  smallEtag = p.etag;
  return { status: statusOf(p), props: { size: p.contentLength, blobType: p.blobType, metadata: p.metadata, ...headersOf(p) } };
});
await op("download.small", async () => {
  const r = await smallClient.download();
  const body = await drain(r.readableStreamBody);
  return { status: statusOf(r), props: { body: body.toString(), size: r.contentLength, ...headersOf(r) } };
});
await op("download.range", async () => {
  const r = await smallClient.download(7, 11);
  const body = await drain(r.readableStreamBody);
  return { status: statusOf(r), props: { body: body.toString(), contentRange: r.contentRange ?? null } };
});
await op("upload.transactionalMd5.ok", async () => {
  const r = await container.getBlockBlobClient("md5.txt").upload(small, small.length, { transactionalContentMD5: md5(small) });
  return { status: statusOf(r) };
});
await op("upload.transactionalMd5.wrong", async () => {
  const r = await container.getBlockBlobClient("md5-wrong.txt").upload(small, small.length, { transactionalContentMD5: md5(Buffer.from("x")) });
  return { status: statusOf(r) };
});
await op("exists.afterMd5Mismatch", async () => ({ status: 200, props: { exists: await container.getBlockBlobClient("md5-wrong.txt").exists() } }));
await op("setMetadata", async () => {
  const r = await container.getBlockBlobClient("md5.txt").setMetadata({ a: "1", b: "two" });
  const p = await container.getBlockBlobClient("md5.txt").getProperties();
  return { status: statusOf(r), props: { metadata: p.metadata } };
});

// --- conditions -------------------------------------------------------------
await op("upload.ifNoneMatchStar.existing", async () => {
  const r = await smallClient.upload("x", 1, { conditions: { ifNoneMatch: "*" } });
  return { status: statusOf(r) };
});
await op("upload.ifNoneMatchStar.new", async () => {
  const r = await container.getBlockBlobClient("fresh.txt").upload("x", 1, { conditions: { ifNoneMatch: "*" } });
  return { status: statusOf(r) };
});
await op("upload.ifMatch.stale", async () => {
  const r = await smallClient.upload("x", 1, { conditions: { ifMatch: '"0x8D000000000000"' } });
  return { status: statusOf(r) };
});
await op("download.ifMatch.stale", async () => {
  const r = await smallClient.download(0, undefined, { conditions: { ifMatch: '"0x8D000000000000"' } });
  return { status: statusOf(r) };
});
await op("download.ifMatch.current", async () => {
  const r = await smallClient.download(0, undefined, { conditions: { ifMatch: smallEtag } });
  return { status: statusOf(r), props: { body: (await drain(r.readableStreamBody)).toString() } };
});
await op("download.ifNoneMatch.current", async () => {
  const r = await smallClient.download(0, undefined, { conditions: { ifNoneMatch: smallEtag } });
  return { status: statusOf(r) };
});
await op("download.ifModifiedSince.future", async () => {
  const r = await smallClient.download(0, undefined, { conditions: { ifModifiedSince: new Date(Date.now() + 3600e3) } });
  return { status: statusOf(r) };
});
await op("download.ifUnmodifiedSince.past", async () => {
  const r = await smallClient.download(0, undefined, { conditions: { ifUnmodifiedSince: new Date(Date.now() - 3600e3) } });
  return { status: statusOf(r) };
});
await op("getProperties.ifNoneMatch.current", async () => {
  const r = await smallClient.getProperties({ conditions: { ifNoneMatch: smallEtag } });
  return { status: statusOf(r) };
});
await op("upload.ifMatch.current", async () => {
  const r = await smallClient.upload(small, small.length, { blobHTTPHeaders: allHeaders, conditions: { ifMatch: smallEtag } });
  return { status: statusOf(r) };
});

// --- blocks -------------------------------------------------------------------
const big = bytes(9 * MiB, 7);
const bigClient = container.getBlockBlobClient("dir/big.bin");
await op("uploadData.9MiB.blocks", async () => {
  const r = await bigClient.uploadData(big, {
    maxSingleShotSize: 4 * MiB, blockSize: 4 * MiB, concurrency: 2,
    blobHTTPHeaders: { blobContentType: "application/x-test" }, metadata: { kind: "blocks" },
  });
  return { status: statusOf(r) };
});
await op("download.9MiB", async () => {
  const r = await bigClient.download();
  const body = await drain(r.readableStreamBody);
  return { status: statusOf(r), props: { size: body.length, sha: sha(body), contentType: r.contentType, metadata: r.metadata, contentMD5: headersOf(r).contentMD5 === md5(body).toString("base64") } };
});
await op("uploadData.blocks.ifNoneMatchStar.existing", async () => {
  const r = await bigClient.uploadData(big.subarray(0, 5 * MiB), { maxSingleShotSize: 4 * MiB, blockSize: 4 * MiB, conditions: { ifNoneMatch: "*" } });
  return { status: statusOf(r) };
});
await op("getProperties.afterRefusedCommit", async () => {
  const p = await bigClient.getProperties();
  return { status: statusOf(p), props: { size: p.contentLength } };
});
await op("getBlockList.committed", async () => {
  const r = await bigClient.getBlockList("committed");
  return { status: statusOf(r), props: { committed: r.committedBlocks.map((b) => b.size), uncommitted: (r.uncommittedBlocks ?? []).length, contentLength: r.blobContentLength ?? null } };
});
await op("uploadStream.5MiB", async () => {
  const data = bytes(5 * MiB + 123, 11);
  const r = await container.getBlockBlobClient("dir/stream.bin").uploadStream(Readable.from([data.subarray(0, 3 * MiB), data.subarray(3 * MiB)]), 2 * MiB, 2, {
    blobHTTPHeaders: { blobContentType: "video/mp4" },
  });
  const p = await container.getBlockBlobClient("dir/stream.bin").download();
  const body = await drain(p.readableStreamBody);
  return { status: statusOf(r), props: { same: body.equals(data), contentType: p.contentType } };
});
const blocksClient = container.getBlockBlobClient("staged.bin");
const id = (n) => b64(`block-${String(n).padStart(6, "0")}`);
await op("stageBlock.1", async () => ({ status: statusOf(await blocksClient.stageBlock(id(1), "one-", 4)) }));
await op("stageBlock.2", async () => ({ status: statusOf(await blocksClient.stageBlock(id(2), "two-", 4)) }));
await op("stageBlock.md5.wrong", async () => ({ status: statusOf(await blocksClient.stageBlock(id(3), "three", 5, { transactionalContentMD5: md5(Buffer.from("x")) })) }));
await op("stageBlock.idOfAnotherLength", async () => ({ status: statusOf(await blocksClient.stageBlock(b64("short"), "x", 1)) }));
await op("exists.beforeCommit", async () => ({ status: 200, props: { exists: await blocksClient.exists() } }));
await op("getBlockList.uncommitted.noBlob", async () => {
  const r = await blocksClient.getBlockList("all");
  return { status: statusOf(r), props: { committed: r.committedBlocks.length, uncommitted: r.uncommittedBlocks.map((b) => [Buffer.from(b.name, "base64").toString(), b.size]) } };
});
await op("commitBlockList.unknownBlock", async () => ({ status: statusOf(await blocksClient.commitBlockList([id(1), id(9)])) }));
await op("commitBlockList", async () => {
  const r = await blocksClient.commitBlockList([id(2), id(1), id(2)], { blobHTTPHeaders: { blobContentType: "text/x-blocks", blobCacheControl: "no-cache" }, metadata: { m: "x" } });
  const d = await blocksClient.download();
  return { status: statusOf(r), props: { body: (await drain(d.readableStreamBody)).toString(), ...headersOf(d), metadata: d.metadata } };
});
await op("getBlockList.afterCommit", async () => {
  const r = await blocksClient.getBlockList("all");
  return { status: statusOf(r), props: { committed: r.committedBlocks.map((b) => [Buffer.from(b.name, "base64").toString(), b.size]), uncommitted: r.uncommittedBlocks.length } };
});
await op("recommit.latestAndCommitted", async () => {
  await blocksClient.stageBlock(id(1), "ONE-", 4);
  // id(1) is now both committed ("one-") and uncommitted ("ONE-"): Latest
  // takes the uncommitted one; id(2) only committed.
  const r = await blocksClient.commitBlockList([id(1), id(2)]);
  const d = await blocksClient.download();
  return { status: statusOf(r), props: { body: (await drain(d.readableStreamBody)).toString(), contentType: d.contentType } };
});

// --- listing --------------------------------------------------------------------
for (const n of ["list/a.txt", "list/b/1.txt", "list/b/2.txt", "list/c.txt", "list/d/x/y.txt", "lists.txt"]) {
  await container.getBlockBlobClient(n).upload(n, n.length);
}
await op("listBlobsFlat.prefix.paged", async () => {
  const pages = [];
  for await (const page of container.listBlobsFlat({ prefix: "list/" }).byPage({ maxPageSize: 2 })) {
    pages.push(page.segment.blobItems.map((b) => `${b.name}:${b.properties.contentLength}`));
  }
  return { status: 200, props: { pages } };
});
await op("listBlobsFlat.all", async () => {
  const names = [];
  for await (const b of container.listBlobsFlat({ includeMetadata: true })) names.push([b.name, b.properties.contentType, b.metadata ?? {}]);
  return { status: 200, props: { names } };
});
await op("listBlobsByHierarchy.root", async () => {
  const items = [];
  for await (const i of container.listBlobsByHierarchy("/")) items.push(`${i.kind}:${i.name}`);
  return { status: 200, props: { items } };
});
await op("listBlobsByHierarchy.prefix.paged", async () => {
  const pages = [];
  for await (const page of container.listBlobsByHierarchy("/", { prefix: "list/" }).byPage({ maxPageSize: 2 })) {
    pages.push([...(page.segment.blobPrefixes ?? []).map((p) => `prefix:${p.name}`), ...page.segment.blobItems.map((b) => `blob:${b.name}`)]);
  }
  return { status: 200, props: { pages } };
});

// --- delete -----------------------------------------------------------------------
await op("delete", async () => ({ status: statusOf(await container.getBlockBlobClient("lists.txt").delete()) }));
await op("delete.again", async () => ({ status: statusOf(await container.getBlockBlobClient("lists.txt").delete()) }));
await op("download.deleted", async () => ({ status: statusOf(await container.getBlockBlobClient("lists.txt").download()) }));
await op("getProperties.missing", async () => ({ status: statusOf(await container.getBlockBlobClient("nope.txt").getProperties()) }));
await op("deleteIfExists.missing", async () => {
  const r = await container.getBlockBlobClient("nope.txt").deleteIfExists();
  return { status: 200, props: { succeeded: r.succeeded } };
});

// --- copies -----------------------------------------------------------------------
// The source: a blob of this container, read through the same SAS.
const sas = new URL(target).search;
const sourceUrl = `${bigClient.url.split("?")[0]}${sas}`;
await op("syncUploadFromURL", async () => {
  const dest = container.getBlockBlobClient("copy/from-url.bin");
  const r = await dest.syncUploadFromURL(sourceUrl);
  const d = await dest.download();
  const body = await drain(d.readableStreamBody);
  return { status: statusOf(r), props: { size: body.length, sha: sha(body) } };
});
await op("syncUploadFromURL.missingSource", async () => {
  const missing = `${container.getBlockBlobClient("nope.txt").url.split("?")[0]}${sas}`;
  const r = await container.getBlockBlobClient("copy/missing.bin").syncUploadFromURL(missing);
  return { status: statusOf(r) };
});
await op("exists.afterFailedCopy", async () => ({ status: 200, props: { exists: await container.getBlockBlobClient("copy/missing.bin").exists() } }));
await op("beginCopyFromURL", async () => {
  const dest = container.getBlockBlobClient("copy/copied.txt");
  const poller = await dest.beginCopyFromURL(`${smallClient.url.split("?")[0]}${sas}`);
  const r = await poller.pollUntilDone();
  const d = await dest.download();
  return { status: statusOf(r), props: { copyStatus: r.copyStatus, body: (await drain(d.readableStreamBody)).toString(), contentType: d.contentType, metadata: d.metadata } };
});

// --- properties and tier ------------------------------------------------------------
await op("setHTTPHeaders", async () => {
  const r = await smallClient.setHTTPHeaders({ blobContentType: "text/x-other", blobCacheControl: "no-cache" });
  const p = await smallClient.getProperties();
  return { status: statusOf(r), props: headersOf(p) };
});
await op("setAccessTier", async () => {
  const r = await smallClient.setAccessTier("Cool");
  const p = await smallClient.getProperties();
  return { status: statusOf(r), props: { accessTier: p.accessTier } };
});

// --- what the listener refuses (documented in run.mjs) -------------------------------
const refused = container.getBlockBlobClient("refusals.txt");
await refused.upload("r", 1);
await op("createSnapshot", async () => ({ status: statusOf(await refused.createSnapshot()) }));
await op("acquireLease", async () => ({ status: statusOf(await refused.getBlobLeaseClient().acquireLease(15)) }));

// --- what a target may not do ----------------------------------------------------
await op("download.missingContainer", async () => {
  const u = new URL(target);
  u.pathname = u.pathname.replace(/[^/]+$/, "no-such-container-sb");
  return { status: statusOf(await new ContainerClient(u.toString(), pipeline).getBlockBlobClient("a").download()) };
});
