// Blob URIs and names as every media request carries them: the router's
// URI forms (server/media/blob_router.h) and Azure's naming rules
// (server/blob/blob_names.h). A blob a URI resolves to must be addressed
// again by the URL the store gives it.

#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "server/blob/blob_names.h"
#include "server/blob/local_blob_store.h"
#include "server/media/blob_router.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

namespace {

constexpr char kLocal[] = "127.0.0.1:10000";

struct Router {
  std::unique_ptr<blob::LocalBlobStore> store;
  media::BlobRouter router;
  Router() {
    char dir[] = "/tmp/sb-blob-uri-fuzz.XXXXXX";
    SB_FUZZ_CHECK(mkdtemp(dir) != nullptr, "mkdtemp");
    blob::LocalBlobStoreOptions o;
    o.root = dir;
    o.accounts = {"devstoreaccount1", "media1"};
    o.base_url = [] { return std::string("http://") + kLocal; };
    auto s = blob::LocalBlobStore::Open(o);
    SB_FUZZ_CHECK(s.ok(), s.status().ToString());
    store = std::move(*s);
    router.Add(store.get(), {"storage.example:443"});
    router.SetLocalHost([] { return std::string(kLocal); });
  }
};

Router& Get() {
  static Router* r = new Router();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in = fuzz::Input(data, size);
  Router& r = Get();

  (void)blob::ValidateContainerName(in, "container");
  (void)blob::ValidateAccountName(in, "account");
  (void)blob::ValidateBlobName(in, "blob");
  // "name=value" lines as metadata.
  blob::Metadata metadata;
  for (absl::string_view rest = in; !rest.empty();) {
    absl::string_view line = rest.substr(0, rest.find('\n'));
    rest.remove_prefix(std::min(rest.size(), line.size() + 1));
    auto eq = line.find('=');
    metadata[std::string(line.substr(0, eq))] = eq == absl::string_view::npos ? "" : std::string(line.substr(eq + 1));
  }
  (void)blob::ValidateMetadata(metadata, "metadata");

  if (auto c = r.router.ResolveContainer(in, "containerUri"); c.ok()) {
    SB_FUZZ_CHECK(c->ref.name.empty(), "a container with a blob name");
    SB_FUZZ_CHECK(blob::ValidateContainerName(c->ref.container, "c").ok(), c->ref.container);
  } else {
    fuzz::CheckError(c.status(), absl::StatusCode::kInvalidArgument);
  }
  auto b = r.router.ResolveBlob(in, "blobUri");
  if (!b.ok()) {
    fuzz::CheckError(b.status(), absl::StatusCode::kInvalidArgument);
    return 0;
  }
  SB_FUZZ_CHECK(blob::ValidateBlobName(b->ref.name, "b").ok(), fuzz::Printable(b->ref.name));
  // The URL the store serves the blob at leads back to the same blob.
  std::string url = b->store->BlobUrl(b->ref);
  auto again = r.router.ResolveBlob(url, "blobUri");
  SB_FUZZ_CHECK(again.ok(), again.status().ToString());
  SB_FUZZ_CHECK(again->ref.account == b->ref.account && again->ref.container == b->ref.container &&
                    again->ref.name == b->ref.name,
                fuzz::Printable(url) + " names '" + fuzz::Printable(again->ref.name) + "', not '" +
                    fuzz::Printable(b->ref.name) + "'");
  return 0;
}
