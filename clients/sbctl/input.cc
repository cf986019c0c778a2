#include "clients/sbctl/input.h"

#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace switchboard::sbctl {

absl::StatusOr<std::string> ReadInputFile(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return text;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--file: cannot read '", path, "'"));
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return text;
}

absl::StatusOr<std::string> SecretFromFlags(const std::string& value, const std::string& file_flag,
                                            const std::string& file) {
  if (file.empty()) return value;
  auto text = ReadInputFile(file);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("--", file_flag, ": cannot read '", file, "'"));
  return std::string(absl::StripTrailingAsciiWhitespace(*text));
}

}  // namespace switchboard::sbctl
