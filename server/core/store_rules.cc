#include "server/core/store_rules.h"

#include <google/protobuf/timestamp.pb.h>

#include "absl/strings/str_cat.h"
#include "common/proto_bytes.h"
#include "common/status.h"

namespace switchboard::core {

absl::Status RequestIdConflict(absl::string_view scope, absl::string_view request_id) {
  return absl::AlreadyExistsError(absl::StrCat("request_id '", Echo(request_id), "' was already used for a different ",
                                               scope, " request; use a new request_id for a new request"));
}

absl::Status RequestIdUsedElsewhere(absl::string_view request_id, absl::string_view first, absl::string_view now) {
  return absl::AlreadyExistsError(absl::StrCat("request_id '", Echo(request_id), "' was first used for ", first,
                                               ", not ", now,
                                               "; a request_id names one request of one RPC: use a new one"));
}

std::string FinalizeEvent(std::string payload, int64_t seq, int64_t create_us) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(create_us / 1000000);
  ts.set_nanos(static_cast<int32_t>((create_us % 1000000) * 1000));
  std::string out = std::move(payload);
  AppendVarintField(out, 1, static_cast<uint64_t>(seq));
  AppendMessageField(out, 2, ts);
  return out;
}

}  // namespace switchboard::core
