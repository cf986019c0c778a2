#include "server/core/store_rules.h"

#include <google/protobuf/timestamp.pb.h>

#include "absl/strings/str_cat.h"
#include "common/proto_bytes.h"
#include "common/status.h"
#include "common/uuid.h"

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

uint64_t NewRoutesVersion() {
  uint64_t v = 0;
  while (v == 0) v = UniqueRandom64();
  return v;
}

absl::Status CheckClaim(absl::string_view kind, absl::string_view owner, int n, absl::Duration lease) {
  if (kind.empty()) return absl::InvalidArgumentError("claim kind is required, e.g. media.operation");
  if (owner.empty()) {
    return absl::InvalidArgumentError("claim owner is required: this replica's id (core::NewReplicaId)");
  }
  if (n < 1) return absl::InvalidArgumentError(absl::StrCat("claim n is ", n, "; ask for 1 job or more"));
  if (lease <= absl::ZeroDuration()) return absl::InvalidArgumentError("claim lease must be positive, e.g. 60 seconds");
  return absl::OkStatus();
}

absl::Status CheckPrune(int n) {
  if (n < 1) return absl::InvalidArgumentError(absl::StrCat("prune n is ", n, "; delete 1 job or more"));
  return absl::OkStatus();
}

absl::Status CheckReleasePrefix(absl::string_view owner_prefix) {
  if (owner_prefix.empty()) return absl::InvalidArgumentError("owner_prefix must not be empty");
  return absl::OkStatus();
}

absl::Status CheckFind(absl::string_view kind, absl::string_view key) {
  if (kind.empty()) return absl::InvalidArgumentError("find kind is required, e.g. cursor.lease/cursors/x");
  if (key.empty()) return absl::InvalidArgumentError("find key is required: the unfinished job's key");
  return absl::OkStatus();
}

std::optional<std::string> PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace switchboard::core
