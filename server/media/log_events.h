#pragma once
// The media failures' stable logEventIds, their handlers and the failure
// record: the Gridwich table of wire/gridwich.h, under the names the engine
// uses (media::log_events::kCopyFailed, media::MakeFailure). docs/media.md
// has the table; MediaLogEvents.IdsAreUniqueAndFollowTheScheme checks it.

#include <vector>

#include "wire/gridwich.h"

namespace switchboard::media {

using LogEventId = wire::LogEvent;
namespace log_events = wire::log_events;

// Every id, for the uniqueness test and the docs.
inline const std::vector<LogEventId>& AllLogEventIds() { return wire::AllLogEvents(); }

// A docs/wire-formats.md failure record: a new logRecordId, the handler's
// stable handlerId (wire::HandlerId), code from `status`.
using wire::MakeFailure;

}  // namespace switchboard::media
