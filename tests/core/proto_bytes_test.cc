// Fields appended to serialized bytes: what a parser reads back, including
// values that need the longest varints.

#include "common/proto_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "switchboard/v1/media.pb.h"

namespace switchboard {
namespace {

TEST(ProtoBytes, AnAppendedVarintFieldWinsOverTheEarlierValue) {
  for (int64_t seq : {int64_t{0}, int64_t{1}, int64_t{300}, std::numeric_limits<int64_t>::max(), int64_t{-1}}) {
    v1::Operation op;
    op.set_name("operations/x");
    op.set_last_sequence(7);
    std::string bytes = op.SerializeAsString();
    AppendVarintField(bytes, v1::Operation::kLastSequenceFieldNumber, static_cast<uint64_t>(seq));
    v1::Operation back;
    ASSERT_TRUE(back.ParseFromString(bytes)) << seq;
    EXPECT_EQ(back.last_sequence(), seq);
    EXPECT_EQ(back.name(), "operations/x");
  }
}

TEST(ProtoBytes, AnAppendedMessageFieldIsReadBack) {
  v1::Operation op;
  op.set_name("operations/y");
  std::string bytes = op.SerializeAsString();
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(123456000);
  AppendMessageField(bytes, v1::Operation::kCreateTimeFieldNumber, ts);
  v1::Operation back;
  ASSERT_TRUE(back.ParseFromString(bytes));
  EXPECT_EQ(back.create_time().seconds(), 1700000000);
  EXPECT_EQ(back.create_time().nanos(), 123456000);
  EXPECT_EQ(back.name(), "operations/y");
  // The same bytes as the field set and serialized the ordinary way.
  v1::Operation whole;
  *whole.mutable_create_time() = ts;
  std::string expected = op.SerializeAsString() + whole.SerializeAsString();
  EXPECT_EQ(bytes, expected);
}

TEST(ProtoBytes, AnAppendedBytesFieldIsTheSameAsTheMessageAppended) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(5);
  std::string from_message = "x", from_bytes = "x";
  AppendMessageField(from_message, v1::Operation::kCreateTimeFieldNumber, ts);
  AppendBytesField(from_bytes, v1::Operation::kCreateTimeFieldNumber, ts.SerializeAsString());
  EXPECT_EQ(from_bytes, from_message);
  v1::Operation back;
  ASSERT_TRUE(back.ParseFromString(from_bytes.substr(1)));
  EXPECT_EQ(back.create_time().seconds(), 1700000000);
  EXPECT_EQ(back.create_time().nanos(), 5);
}

TEST(ProtoBytes, FieldsLeftOutGiveTheBytesOfTheMessageWithThemCleared) {
  v1::SetBlobMetadataRequest req;
  req.set_request_id("r-1");
  req.set_blob_uri("https://acct.blob.core.windows.net/c/b.mp4");
  (*req.mutable_blob_metadata())["b"] = "2";
  (*req.mutable_blob_metadata())["a"] = "1";
  (*req.mutable_operation_context()->mutable_fields())["k"].set_string_value("v");
  req.set_return_when_accepted(true);
  req.set_origin(v1::REQUEST_ORIGIN_EVENT_GRID);
  v1::SetBlobMetadataRequest plain = req;
  plain.clear_return_when_accepted();
  plain.clear_origin();
  const std::string stripped =
      WithoutFields(DeterministicBytes(req), {v1::SetBlobMetadataRequest::kReturnWhenAcceptedFieldNumber,
                                              v1::SetBlobMetadataRequest::kOriginFieldNumber});
  EXPECT_EQ(stripped, DeterministicBytes(plain));
  EXPECT_NE(stripped, DeterministicBytes(req));
  // Nothing to leave out: the same bytes.
  EXPECT_EQ(WithoutFields(DeterministicBytes(plain), {v1::SetBlobMetadataRequest::kOriginFieldNumber}),
            DeterministicBytes(plain));
  // Bytes that are not fields (a truncated length): unchanged.
  std::string broken = DeterministicBytes(req);
  broken.resize(broken.size() - 1);
  EXPECT_EQ(WithoutFields(broken, {v1::SetBlobMetadataRequest::kOriginFieldNumber}), broken);
}

}  // namespace
}  // namespace switchboard
