#pragma once
// Identifiers that must be unique, not secret: event ids, etags, temporary
// file names. One generator per thread, seeded once from the system's
// randomness (256 bits), so making one costs no system call.

#include <cstdint>
#include <string>

namespace switchboard {

// 64 random bits.
uint64_t UniqueRandom64();

// A random (version 4) UUID in the canonical lowercase 8-4-4-4-12 form.
std::string NewUuid();

}  // namespace switchboard
