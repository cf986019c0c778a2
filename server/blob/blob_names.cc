#include "server/blob/blob_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace switchboard::blob {

absl::Status ValidateContainerName(absl::string_view n, absl::string_view field) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, " '", n, "' ", why,
                                                   "; container names are 3-63 characters of a-z, 0-9 and '-', "
                                                   "start and end with a letter or digit, and have no '--'"));
  };
  if (n.size() < 3 || n.size() > 63) return bad("has the wrong length");
  for (char c : n) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return bad("has a character not allowed");
  }
  if (n.front() == '-' || n.back() == '-') return bad("starts or ends with '-'");
  if (absl::StrContains(n, "--")) return bad("contains '--'");
  return absl::OkStatus();
}

absl::Status ValidateBlobName(absl::string_view n, absl::string_view field) {
  if (n.empty() || n.size() > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": the blob name must be 1-1024 characters"));
  }
  for (char c : n) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": the blob name '", absl::CEscape(n), "' has a control character or backslash"));
    }
  }
  for (absl::string_view seg : absl::StrSplit(n, '/')) {
    if (seg.empty() || seg == "." || seg == "..") {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the blob name '", n,
                                                     "' has an empty, '.' or '..' segment; write it without them"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAccountName(absl::string_view n, absl::string_view field) {
  bool ok = n.size() >= 3 && n.size() <= 24;
  for (char c : n) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c));
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": storage account name '", n, "' must be 3-24 characters of a-z and 0-9"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMetadata(const Metadata& md, absl::string_view field) {
  size_t total = 0;
  for (const auto& [k, v] : md) {
    bool ident = !k.empty() && (absl::ascii_isalpha(k[0]) || k[0] == '_');
    for (char c : k) ident = ident && (absl::ascii_isalnum(c) || c == '_');
    if (!ident) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": metadata name '", absl::CEscape(k),
          "' is not a C# identifier (letters, digits and '_', not starting with a digit), as Azure requires"));
    }
    for (char c : v) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": the value of metadata '", k,
                                                       "' must be printable ASCII (it travels as an HTTP header)"));
      }
    }
    total += k.size() + v.size();
  }
  if (total > kMaxMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": metadata is ", total,
                                                   " bytes (names and values); Azure allows at most 8192"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::blob
