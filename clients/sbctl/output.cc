#include "clients/sbctl/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <ostream>

#include "wire/json_util.h"

namespace switchboard::sbctl {

std::string MessageJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    // Only possible for values JSON cannot hold (e.g. invalid UTF-8 in a
    // string field); say so rather than print half a message.
    return std::string("{\"error\":\"cannot print ") + message.GetTypeName() + " as JSON\"}";
  }
  return out;
}

std::string TimeText(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return wire::FormatRfc3339(ts);
}

std::string Shorten(const std::string& text, size_t max) {
  if (text.size() <= max || max < 3) return text;
  size_t cut = max - 3;
  // Do not split a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      out << row[i];
      if (i + 1 < row.size()) out << std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << "\n";
  };
  print(header);
  for (const auto& r : rows) print(r);
}

}  // namespace switchboard::sbctl
