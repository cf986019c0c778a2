#pragma once
// Reading the input files that sbctl commands take with --file.

#include <string>

#include "absl/status/statusor.h"

namespace switchboard::sbctl {

// Reads a whole file, or standard input for "-". NOT_FOUND names --file.
absl::StatusOr<std::string> ReadInputFile(const std::string& path);

}  // namespace switchboard::sbctl
