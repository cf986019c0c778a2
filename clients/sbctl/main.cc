// sbctl: the Switchboard command-line client. See docs/sbctl.md.
#include <iostream>

#include "clients/sbctl/command.h"
#include "clients/sbctl/command_list.h"

namespace switchboard::sbctl {
#define SBCTL_DECLARE_GROUP(Name) void Register##Name##Commands(CommandRegistry& registry);
SBCTL_COMMAND_GROUPS(SBCTL_DECLARE_GROUP)
#undef SBCTL_DECLARE_GROUP
}  // namespace switchboard::sbctl

int main(int argc, char** argv) {
  using namespace switchboard::sbctl;
  CommandRegistry registry;
#define SBCTL_REGISTER_GROUP(Name) Register##Name##Commands(registry);
  SBCTL_COMMAND_GROUPS(SBCTL_REGISTER_GROUP)
#undef SBCTL_REGISTER_GROUP
  return Main(registry, argc, argv, std::cout, std::cerr);
}
