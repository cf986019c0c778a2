// The Azure XML reader (common/azure/xml.h): list results and error bodies
// that Azure Storage (or anything pretending to be it) sends back.

#include "common/azure/xml.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view xml = fuzz::Input(data, size);
  // The tags the blob store and queue client read.
  for (absl::string_view tag : {"Code", "Message", "Name", "Blob", "NextMarker", "Content-Length", "MessageText",
                                "MessageId", "PopReceipt", "Metadata", "Properties"}) {
    std::string raw;
    if (azure::Tag(xml, tag, &raw)) SB_FUZZ_CHECK(raw.size() <= xml.size(), "a tag longer than the document");
    (void)azure::TagText(xml, tag);
  }
  std::string text = azure::XmlUnescape(xml);
  // Escaping is undone exactly, whatever the text.
  SB_FUZZ_CHECK(azure::XmlUnescape(azure::XmlEscape(xml)) == xml, fuzz::Printable(xml));
  (void)text;
  return 0;
}
