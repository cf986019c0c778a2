#include "server/media/blob_info.h"

namespace switchboard::media {

v1::AccessTier ToProtoTier(blob::Tier t) {
  switch (t) {
    case blob::Tier::kHot: return v1::HOT;
    case blob::Tier::kCool: return v1::COOL;
    case blob::Tier::kCold: return v1::COLD;
    case blob::Tier::kArchive: return v1::ARCHIVE;
  }
  return v1::HOT;
}

v1::BlobInfo ToBlobInfo(const std::string& uri, const blob::BlobProperties& p) {
  v1::BlobInfo b;
  b.set_blob_uri(uri);
  b.mutable_metadata()->insert(p.metadata.begin(), p.metadata.end());
  b.set_size(p.size);
  b.set_content_type(p.content_type);
  b.set_etag(p.etag);
  b.set_access_tier(ToProtoTier(p.tier));
  b.set_rehydrating(p.rehydrating);
  b.mutable_last_modified()->set_seconds(p.last_modified_us / 1000000);
  b.mutable_last_modified()->set_nanos(static_cast<int32_t>(p.last_modified_us % 1000000) * 1000);
  return b;
}

v1::StorageEvent ToStorageEvent(v1::StorageEvent::Kind kind, const std::string& uri, const blob::BlobProperties& p,
                                const std::string& client_request_id) {
  v1::StorageEvent e;
  e.set_kind(kind);
  e.set_blob_uri(uri);
  e.set_client_request_id(client_request_id);
  e.set_content_type(p.content_type);
  e.set_content_length(p.size);
  e.set_etag(p.etag);
  return e;
}

}  // namespace switchboard::media
