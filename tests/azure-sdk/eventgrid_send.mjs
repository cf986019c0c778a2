// Sends Event Grid events with Azure's own SDK (@azure/eventgrid's
// EventGridPublisherClient, Event Grid schema, key credential), as an Event
// Grid topic's publisher or a system that speaks Event Grid would:
//
//   node eventgrid_send.mjs --endpoint https://127.0.0.1:8080/api/eventgrid --key KEY --file batch.json [--context JSON]
//
// The file is an Event Grid batch (a JSON array, examples/wire/eventgrid);
// --context replaces each event's data.operationContext. The endpoint is
// used as given: https:// is verified against the system's CAs and
// NODE_EXTRA_CA_CERTS, and http:// is refused by the SDK (this script never
// sets allowInsecureConnection). Prints "sent N" and exits 0, or prints the
// SDK's error and exits 1; 2 on bad arguments.

import "./webcrypto.mjs";
import { readFileSync } from "node:fs";
import { AzureKeyCredential, EventGridPublisherClient } from "@azure/eventgrid";

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined;
}

const endpoint = arg("endpoint");
const key = arg("key");
const file = arg("file");
const context = arg("context");
if (!endpoint || !key || !file) {
  console.error("usage: node eventgrid_send.mjs --endpoint URL --key KEY --file BATCH.json [--context JSON]");
  process.exit(2);
}

const batch = JSON.parse(readFileSync(file, "utf8"));
const events = batch.map((e) => ({
  id: e.id,
  subject: e.subject,
  eventType: e.eventType,
  dataVersion: e.dataVersion,
  eventTime: new Date(e.eventTime),
  data: context === undefined ? e.data : { ...e.data, operationContext: JSON.parse(context) },
}));

try {
  const client = new EventGridPublisherClient(endpoint, "EventGrid", new AzureKeyCredential(key));
  await client.send(events);
  console.log(`sent ${events.length}`);
} catch (err) {
  console.log(`error: ${err.code ?? ""} ${err.statusCode ?? ""} ${err.message}`);
  process.exit(1);
}
