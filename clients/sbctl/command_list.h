#pragma once
// Every sbctl command group, one line each. X(Name) means cmd_<name>.cc
// defines `void RegisterNameCommands(CommandRegistry&)`; groups are listed
// in --help in this order. To add a group: write its file and add one line.

#define SBCTL_COMMAND_GROUPS(X) \
  X(Health)                     \
  X(Watch)                      \
  X(Bus)                        \
  X(BusQueue)                   \
  X(App)                        \
  X(Webhook)                    \
  X(Workspace)                  \
  X(Run)                        \
  X(Pr)                         \
  X(Pipeline)                   \
  X(Media)                      \
  X(Encode)                     \
  X(Blob)                       \
  X(EventGrid)
