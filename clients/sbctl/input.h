#pragma once
// Reading the input files that sbctl commands take with --file, and
// secrets from a file flag.

#include <string>

#include "absl/status/statusor.h"

namespace switchboard::sbctl {

// Reads a whole file, or standard input for "-". NOT_FOUND names --file.
absl::StatusOr<std::string> ReadInputFile(const std::string& path);

// A secret: the contents of the file `file_flag` names (trailing whitespace
// dropped) if it is set, else `value` (a flag filled from the environment
// only, never from argv). NOT_FOUND names --<file_flag> when the file cannot
// be read.
absl::StatusOr<std::string> SecretFromFlags(const std::string& value, const std::string& file_flag,
                                            const std::string& file);

}  // namespace switchboard::sbctl
