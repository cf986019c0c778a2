#pragma once
// Output helpers shared by sbctl commands: proto messages as JSON and
// aligned text tables.

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <iosfwd>
#include <string>
#include <vector>

namespace switchboard::sbctl {

// The message as proto3 JSON with the .proto field names (event_uuid, not
// eventUuid) and default values included, so scripts see every field. int64
// fields are JSON strings, as proto3 JSON requires.
std::string MessageJson(const google::protobuf::Message& message, bool pretty = false);

// "2016-05-29T15:03:50Z", or "-" for an unset timestamp.
std::string TimeText(const google::protobuf::Timestamp& ts);

// Cuts `text` to at most `max` characters, ending with "..." when cut.
std::string Shorten(const std::string& text, size_t max);

// Writes a table with a header row, columns padded to their widest cell.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace switchboard::sbctl
