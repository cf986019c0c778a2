#pragma once
// The external programs switchboardd runs (ffmpeg for the encoders, the
// resourcing pipeline command), looked up the way execvp looks them up, so
// that a missing one is named with its config key at start and in the error
// of the operation that needs it, instead of an empty exit status 127.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::core {

// Where execvp would find `program`: itself when it holds a '/', else the
// first executable regular file named `program` in a folder of $PATH
// ("/bin:/usr/bin" when PATH is unset; an empty entry is the working
// folder). NOT_FOUND or PERMISSION_DENIED saying what was looked at.
absl::StatusOr<std::string> FindProgram(absl::string_view program);

// Where FindProgram finds `program`; otherwise FAILED_PRECONDITION, e.g.
//   program '/nonexistent/ffmpeg' (media.ffmpeg_path, used by the encoders
//   flip, cloudport) does not exist; install it or set media.ffmpeg_path
absl::StatusOr<std::string> CheckProgram(absl::string_view program, absl::string_view config_key,
                                         absl::string_view used_for);

}  // namespace switchboard::core
