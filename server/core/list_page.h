#pragma once
// One page of a List RPC over stored resources of one kind: parses each
// value as T, keeps those `keep` accepts, and reads on until the page is
// full, so a filtered listing never returns short pages while more remain.
// Names are listed in order; `prefix` limits the listing to names under it.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/core/paging.h"
#include "server/core/store.h"

namespace switchboard::core {

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;
};

template <class T>
absl::StatusOr<Page<T>> ListPage(Store& store, absl::string_view kind, int page_size, absl::string_view page_token,
                                 const std::function<bool(const T&)>& keep, absl::string_view prefix = "") {
  ASSIGN_OR_RETURN(int limit, PageSize(page_size));
  ASSIGN_OR_RETURN(std::string after, DecodePageToken(kind, page_token));
  if (after < prefix) after = std::string(prefix);
  Page<T> page;
  bool more = true;
  while (more && static_cast<int>(page.items.size()) < limit) {
    ASSIGN_OR_RETURN(ResourcePage rp, store.ListResources(kind, after, limit));
    more = !rp.next_after.empty();
    for (size_t i = 0; i < rp.items.size(); ++i) {
      auto& [name, value] = rp.items[i];
      if (!absl::StartsWith(name, prefix)) {
        more = false;
        break;
      }
      after = name;
      T item;
      if (!item.ParseFromString(value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
      if (keep && !keep(item)) continue;
      page.items.push_back(std::move(item));
      if (static_cast<int>(page.items.size()) == limit) {
        more = more || i + 1 < rp.items.size();
        break;
      }
    }
  }
  if (more) page.next_page_token = EncodePageToken(kind, after);
  return page;
}

// A stored resource parsed as T; NOT_FOUND with `what` when absent.
template <class T>
absl::StatusOr<T> GetParsed(Store& store, absl::string_view kind, absl::string_view name, absl::string_view what) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, store.GetResource(kind, name));
  if (!value.has_value()) return absl::NotFoundError(absl::StrCat(what, " '", name, "' does not exist"));
  T item;
  if (!item.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
  return item;
}

}  // namespace switchboard::core
