#pragma once
// Encode jobs (filled in with the encoders).

namespace switchboard::media {

class EncodeManager {};

}  // namespace switchboard::media
