#include "clients/sbctl/input.h"

#include <fstream>
#include <iostream>
#include <iterator>

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

}  // namespace switchboard::sbctl
