#include "gateway/eventgrid/topic_rule.h"

namespace switchboard::gateway::eventgrid {

bool PublishedToTopic(const v1::MediaEvent& event) {
  if (event.operation().empty()) return event.has_storage();
  return event.echo().origin() == v1::REQUEST_ORIGIN_EVENT_GRID;
}

}  // namespace switchboard::gateway::eventgrid
