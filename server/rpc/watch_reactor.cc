#include "server/rpc/watch_reactor.h"

#include "absl/strings/str_cat.h"

namespace switchboard::rpc {

absl::Status CheckAfterSequence(int64_t after_sequence, int64_t head) {
  if (after_sequence < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "after_sequence is ", after_sequence, "; it must be 0 (whole log) or a sequence you have seen"));
  }
  if (after_sequence > head) {
    return absl::OutOfRangeError(absl::StrCat("after_sequence ", after_sequence,
                                              " is beyond the head of the log (", head,
                                              "); pass a sequence you have seen, or 0"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::rpc
