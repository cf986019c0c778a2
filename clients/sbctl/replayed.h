#pragma once
// How sbctl's mutating commands show a replay: the server answered from an
// earlier request with the same request_id (client::Replayed), so the text
// says "already ..." instead of claiming the work was done now, and the
// --json object carries "replayed": true (false otherwise).

#include <google/protobuf/message.h>

#include <string>

#include "clients/sbctl/output.h"

namespace switchboard::sbctl {

// MessageJson(message) with a last member "replayed": <replayed>.
inline std::string ReplayedJson(const google::protobuf::Message& message, bool replayed) {
  std::string json = MessageJson(message);
  if (json.size() < 2 || json.back() != '}') return json;
  json.pop_back();
  if (json.size() > 1) json += ",";
  json += replayed ? "\"replayed\":true}" : "\"replayed\":false}";
  return json;
}

}  // namespace switchboard::sbctl
