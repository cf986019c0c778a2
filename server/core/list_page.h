#pragma once
// One page of a List RPC over stored resources: the one paging helper of
// every List RPC over the store. It reads the listing's kind in name order
// from the page token's position, a page at a time, parses each value as T,
// keeps those `keep` accepts, and reads on until the page is full, so a
// filtered listing never returns short pages while more remain. Unfiltered,
// it reads one page of the store (and one more row, to know whether more
// remain).
//
// A listing whose order is not its records' name order (newest first, say)
// reads an index instead: a kind whose names sort in the listing's order and
// whose values name the records (Listing::record_kind). The page then reads
// one page of the index and each record it names.
//
// Page tokens (paging.h) name the listing's collection, so that a token of
// one List RPC is refused by another, and hold the last record's name.

#include <functional>
#include <optional>
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

// What a List RPC lists, and how.
template <class T>
struct Listing {
  // Names the RPC in its page tokens ("runs"); empty: `kind`.
  std::string collection;
  // The stored kind read in name order: the records, or an index of them.
  std::string kind;
  // Only names under it are listed.
  std::string prefix;
  // Which records the page keeps; null keeps all.
  std::function<bool(const T&)> keep;
  // Set when `kind` is an index: the kind of the records its values name.
  // An entry whose record is gone is skipped.
  std::string record_kind;
  // With an index: the index entry's name for a record's name (the token
  // holds the record's name, so tokens look the same either way).
  std::function<std::string(absl::string_view record_name)> entry_of;
};

template <class T>
absl::StatusOr<Page<T>> ListPage(Store& store, const Listing<T>& listing, int page_size,
                                 absl::string_view page_token) {
  ASSIGN_OR_RETURN(int limit, PageSize(page_size));
  const std::string& collection = listing.collection.empty() ? listing.kind : listing.collection;
  ASSIGN_OR_RETURN(std::string last, DecodePageToken(collection, page_token));
  std::string after = last.empty() || !listing.entry_of ? last : listing.entry_of(last);
  if (after < listing.prefix) after = listing.prefix;
  Page<T> page;
  bool more = true;
  while (more && static_cast<int>(page.items.size()) < limit) {
    ASSIGN_OR_RETURN(ResourcePage rp, store.ListResources(listing.kind, after, limit));
    more = !rp.next_after.empty();
    for (size_t i = 0; i < rp.items.size(); ++i) {
      auto& [name, value] = rp.items[i];
      if (!absl::StartsWith(name, listing.prefix)) {
        more = false;
        break;
      }
      after = name;
      const std::string* bytes = &value;
      std::optional<std::string> record;
      if (listing.record_kind.empty()) {
        last = name;
      } else {
        last = value;
        ASSIGN_OR_RETURN(record, store.GetResource(listing.record_kind, value));
        if (!record.has_value()) continue;
        bytes = &*record;
      }
      T item;
      if (!item.ParseFromString(*bytes)) return absl::DataLossError(absl::StrCat("stored ", last, " is corrupt"));
      if (listing.keep && !listing.keep(item)) continue;
      page.items.push_back(std::move(item));
      if (static_cast<int>(page.items.size()) == limit) {
        more = more || i + 1 < rp.items.size();
        break;
      }
    }
  }
  if (more) page.next_page_token = EncodePageToken(collection, last);
  return page;
}

// The records of `kind` themselves, in name order, under `prefix`; the
// tokens name `kind`.
template <class T>
absl::StatusOr<Page<T>> ListPage(Store& store, absl::string_view kind, int page_size, absl::string_view page_token,
                                 const std::function<bool(const T&)>& keep, absl::string_view prefix = "") {
  Listing<T> listing;
  listing.kind = std::string(kind);
  listing.prefix = std::string(prefix);
  listing.keep = keep;
  return ListPage(store, listing, page_size, page_token);
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

// Every resource that `list(after)` gives (Store::ListResources or
// TxnReader::List bound to one kind and a page size: the names > after)
// whose name starts with `prefix`, in name order, a page at a time:
// fn(name, value), whose error ends the walk.
template <class ListFn, class Fn>
absl::Status ForEachResource(ListFn list, absl::string_view prefix, Fn fn) {
  std::string after(prefix);
  for (;;) {
    ASSIGN_OR_RETURN(ResourcePage page, list(after));
    for (const auto& [name, value] : page.items) {
      if (!absl::StartsWith(name, prefix)) return absl::OkStatus();
      RETURN_IF_ERROR(fn(name, value));
    }
    if (page.next_after.empty()) return absl::OkStatus();
    after = std::move(page.next_after);
  }
}

}  // namespace switchboard::core
