#pragma once
// The little XML the Azure Storage REST APIs need: escaping text for request
// bodies, and reading the text of a tag from a response (list results, error
// bodies). Not a general XML parser: no attributes, no nesting of the same
// tag, which Azure's documents do not need.

#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::azure {

// &, <, >, " and ' as entities.
std::string XmlEscape(absl::string_view s);
// The five named entities and numeric ones (&#65; &#x42;) back to UTF-8;
// anything else is left as it is.
std::string XmlUnescape(absl::string_view s);
// The raw text of the first <tag>...</tag> in `xml`; false if there is none.
bool Tag(absl::string_view xml, absl::string_view tag, std::string* out);
// The unescaped text of the first <tag>...</tag>, or "".
std::string TagText(absl::string_view xml, absl::string_view tag);

}  // namespace switchboard::azure
