#pragma once
// The answer of a mutating engine call: an absl::StatusOr<T> that also says
// whether it was replayed, that is answered from an earlier request with the
// same request_id (core::CommitResult::replayed) rather than done now. The
// service adapters turn that into the `x-switchboard-replayed: true` trailer
// in one place (server/rpc/guard.h); engines stay free of gRPC.
//
// A Reply converts from and to absl::StatusOr<T>, so callers that do not care
// about replays keep using StatusOr; only the replay paths say so:
//   return core::Replayed(std::move(run));

#include <utility>

#include "absl/status/statusor.h"

namespace switchboard::core {

template <class T>
class Reply : public absl::StatusOr<T> {
 public:
  using absl::StatusOr<T>::StatusOr;
  Reply() = default;
  // From a StatusOr; `replayed` only sticks to an OK result.
  Reply(absl::StatusOr<T> result, bool replayed = false)  // NOLINT: implicit on purpose
      : absl::StatusOr<T>(std::move(result)), replayed_(replayed && this->ok()) {}

  // True when this answer is the one of an earlier request with the same
  // request_id and nothing was done now.
  bool replayed() const { return replayed_; }

 private:
  bool replayed_ = false;
};

// An OK answer taken from an earlier request with the same request_id.
template <class T>
Reply<T> Replayed(T value) {
  return Reply<T>(absl::StatusOr<T>(std::move(value)), true);
}

// `result`, marked replayed when `replayed` and OK.
template <class T>
Reply<T> MaybeReplayed(absl::StatusOr<T> result, bool replayed) {
  return Reply<T>(std::move(result), replayed);
}
template <class T>
Reply<T> MaybeReplayed(T value, bool replayed) {
  return Reply<T>(absl::StatusOr<T>(std::move(value)), replayed);
}

}  // namespace switchboard::core
