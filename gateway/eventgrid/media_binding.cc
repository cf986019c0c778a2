#include "gateway/eventgrid/media_binding.h"

namespace switchboard::gateway::eventgrid {

void BindMedia(const client::Connection* /*conn*/, HandlerRegistry* /*handlers*/, MediaBinding* /*binding*/) {
  // Filled when gateway/codecs/eventgrid (media issue) lands on main.
}

}  // namespace switchboard::gateway::eventgrid
