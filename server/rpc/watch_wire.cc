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

// The head of field `field`, length-delimited (a message, bytes or a packed
// repeated field), of `size` bytes.
void PutFieldHead(std::string* out, int field, size_t size) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  PutVarint(out, size);
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
  PutFieldHead(out, field, bytes.size());
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
  if (!ids.empty()) AppendMessageField(&head, 1, ids);  // watch_ids, packed int64
  // The event message: its head here, its bytes not copied.
  PutFieldHead(&head, 2, event->data.size());
  grpc::Slice slices[2] = {grpc::Slice(head), EventSlice(std::move(event))};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace switchboard::rpc
