#include "server/rpc/watch_wire.h"

#include <string>

namespace switchboard::rpc {
namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace

grpc::Slice EventSlice(std::shared_ptr<const core::EventRecord> event) {
  auto* holder = new std::shared_ptr<const core::EventRecord>(std::move(event));
  return grpc::Slice(
      const_cast<char*>((*holder)->data.data()), (*holder)->data.size(),
      [](void* p) { delete static_cast<std::shared_ptr<const core::EventRecord>*>(p); }, holder);
}

grpc::ByteBuffer EventBytes(std::shared_ptr<const core::EventRecord> event) {
  grpc::Slice slice = EventSlice(std::move(event));
  return grpc::ByteBuffer(&slice, 1);
}

void AppendMessageField(std::string* out, int field, std::string_view bytes) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  PutVarint(out, bytes.size());
  out->append(bytes);
}

grpc::ByteBuffer OwnedBytes(std::string bytes) {
  auto* held = new std::string(std::move(bytes));
  grpc::Slice slice(held->data(), held->size(), [](void* p) { delete static_cast<std::string*>(p); }, held);
  return grpc::ByteBuffer(&slice, 1);
}

grpc::ByteBuffer WatchManyEventBytes(const std::vector<int64_t>& watch_ids,
                                     std::shared_ptr<const core::EventRecord> event) {
  std::string ids;
  for (int64_t id : watch_ids) PutVarint(&ids, static_cast<uint64_t>(id));
  std::string head;
  head.reserve(ids.size() + 24);
  if (!ids.empty()) {
    head.push_back(0x0a);  // field 1, length-delimited (packed int64)
    PutVarint(&head, ids.size());
    head.append(ids);
  }
  head.push_back(0x12);  // field 2, length-delimited (the event message)
  PutVarint(&head, event->data.size());
  grpc::Slice slices[2] = {grpc::Slice(head), EventSlice(std::move(event))};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace switchboard::rpc
