// Node 18 (Debian 12's nodejs) has no global `crypto`, which Azure's SDKs
// call (crypto.randomUUID). Imported first by every script that loads an SDK.
import { webcrypto } from "node:crypto";

if (globalThis.crypto === undefined) globalThis.crypto = webcrypto;
