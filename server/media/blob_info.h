#pragma once
// Store types to proto, at the edge of the engine.

#include <string>

#include <nlohmann/json.hpp>

#include "wire/json_util.h"
#include "server/blob/blob_store.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::media {

using wire::StructToJson;

v1::AccessTier ToProtoTier(blob::Tier t);
v1::BlobInfo ToBlobInfo(const std::string& uri, const blob::BlobProperties& p);
v1::StorageEvent ToStorageEvent(v1::StorageEvent::Kind kind, const std::string& uri, const blob::BlobProperties& p,
                                const std::string& client_request_id);

}  // namespace switchboard::media
