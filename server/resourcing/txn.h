#pragma once
// Read-modify-write of resourcing records inside one store transaction.
// A Txn wraps the store's TxnReader and Mutation during `prepare`: reads see
// this transaction's own earlier writes, writes are flushed once at the end,
// and events are appended in order.

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/core/store.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

class Txn {
 public:
  Txn(core::TxnReader& reader, core::Mutation& mutation, std::string request_id)
      : reader_(reader), mutation_(mutation), request_id_(std::move(request_id)) {}

  template <class T>
  absl::StatusOr<std::optional<T>> Get(const std::string& kind, const std::string& name) {
    auto it = pending_.find({kind, name});
    std::optional<std::string> bytes;
    if (it != pending_.end()) {
      bytes = it->second;
    } else {
      auto r = reader_.Get(kind, name);
      if (!r.ok()) return r.status();
      bytes = std::move(*r);
    }
    if (!bytes.has_value()) return std::optional<T>();
    T out;
    if (!out.ParseFromString(*bytes)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
    return std::optional<T>(std::move(out));
  }

  // Reads a record that must exist (NOT_FOUND otherwise).
  template <class T>
  absl::StatusOr<T> Must(const std::string& kind, const std::string& name) {
    auto r = Get<T>(kind, name);
    if (!r.ok()) return r.status();
    if (!r->has_value()) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    return std::move(**r);
  }

  void Put(const std::string& kind, const std::string& name, const google::protobuf::Message& value) {
    pending_[{kind, name}] = value.SerializeAsString();
  }
  void PutRaw(const std::string& kind, const std::string& name, std::string value) {
    pending_[{kind, name}] = std::move(value);
  }
  void Erase(const std::string& kind, const std::string& name) {
    pending_.erase({kind, name});
    erased_.push_back({kind, name});
  }

  // Appends an event; `resource` and `related` are what watches filter on.
  void Emit(const std::string& kind, const std::string& resource, const std::string& related,
            v1::ResourcingEvent event) {
    event.set_request_id(request_id_);
    mutation_.events.push_back({"resourcing", kind, resource, related, event.SerializeAsString()});
  }

  // A job write (job.h) applied in this transaction, after the body and
  // before its writes: a run's job is enqueued with the run, renewed with
  // each checkpoint and completed with the run's end. A refused one (a
  // lease lost) refuses the whole transaction.
  void AddJob(core::JobWrite write) { mutation_.jobs.push_back(std::move(write)); }
  size_t job_count() const { return mutation_.jobs.size(); }

  int64_t NextSequence() const { return reader_.NextSequence(); }
  // What a repeat of this request_id gets back (see Transact).
  void set_response(std::string response) { response_ = std::move(response); }
  const std::string& response() const { return response_; }
  const std::string& request_id() const { return request_id_; }

  // Moves the writes into the mutation; called once after the body ran.
  void Flush() {
    for (auto& [key, name] : erased_) mutation_.writes.push_back({key, name, "", true});
    for (auto& [key, value] : pending_) mutation_.writes.push_back({key.first, key.second, std::move(value), false});
    pending_.clear();
    erased_.clear();
  }

 private:
  core::TxnReader& reader_;
  core::Mutation& mutation_;
  std::string request_id_;
  std::string response_;
  std::map<std::pair<std::string, std::string>, std::string> pending_;
  std::vector<std::pair<std::string, std::string>> erased_;
};

}  // namespace switchboard::resourcing
