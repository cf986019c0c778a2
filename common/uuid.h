#pragma once
// Random (version 4) UUIDs in the canonical lowercase 8-4-4-4-12 form.

#include <string>

namespace switchboard {

std::string NewUuid();

}  // namespace switchboard
