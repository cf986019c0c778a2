#pragma once
// The request_id of a mutating sbctl command that has no natural key: the
// --request_id given, else "sbctl-<command>-<target>-<uuid>". Readable in
// the server's log, and new on each run: the server answers a stored id with
// its first result for good, so a fixed default would make "delete q1",
// "create q1", "delete q1" leave q1 in place.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "clients/sbctl/command.h"
#include "common/uuid.h"

namespace switchboard::sbctl {

inline std::string CommandRequestId(const Invocation& inv, absl::string_view target, bool has_flag) {
  if (has_flag) {
    std::string given = inv.cli().GetString("request_id");
    if (!given.empty()) return given;
  }
  return absl::StrCat("sbctl-", absl::StrReplaceAll(inv.command(), {{" ", "-"}}), "-", target, "-", NewUuid());
}

}  // namespace switchboard::sbctl
