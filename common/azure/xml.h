#pragma once
// The XML of the Azure Storage REST APIs: escaping text for request bodies
// (XmlEscape), and reading answers (list results, error bodies) with
// pugixml: parse once into an XmlDocument, then find elements by name.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pugi {
struct xml_node_struct;
class xml_document;
}  // namespace pugi

namespace switchboard::azure {

// &, <, >, " and ' as entities.
std::string XmlEscape(absl::string_view s);
// The five named entities and numeric ones (&#65; &#x42;) back to UTF-8;
// anything else is left as it is. For text that is not a whole document.
std::string XmlUnescape(absl::string_view s);

// One element of an XmlDocument: a handle, valid while the document lives.
// A missing element (found() false) answers "" and finds nothing.
class XmlElement {
 public:
  XmlElement() = default;
  bool found() const { return node_ != nullptr; }
  std::string name() const;
  // The character data directly inside (text and CDATA), entities decoded.
  std::string text() const;
  // The first child element called `name`.
  XmlElement Child(absl::string_view name) const;
  // Every child element, in order.
  std::vector<XmlElement> Children() const;
  // The first element called `name` at any depth below, in document order.
  XmlElement Find(absl::string_view name) const;
  // Every element called `name` at any depth below, in document order.
  std::vector<XmlElement> FindAll(absl::string_view name) const;

 private:
  friend class XmlDocument;
  explicit XmlElement(pugi::xml_node_struct* node) : node_(node) {}
  pugi::xml_node_struct* node_ = nullptr;
};

// A parsed document. One that is not well formed (cut short, say) keeps the
// elements read before the fault, and error() says what and where it was.
class XmlDocument {
 public:
  explicit XmlDocument(absl::string_view xml);
  ~XmlDocument();
  XmlDocument(const XmlDocument&) = delete;
  XmlDocument& operator=(const XmlDocument&) = delete;

  bool ok() const { return error_.empty(); }
  // "" when well formed; otherwise pugixml's description and the byte.
  const std::string& error() const { return error_; }
  // The whole document: Find, FindAll and Child search from here.
  XmlElement top() const;
  XmlElement Find(absl::string_view name) const { return top().Find(name); }
  std::vector<XmlElement> FindAll(absl::string_view name) const { return top().FindAll(name); }

 private:
  std::unique_ptr<pugi::xml_document> doc_;
  std::string error_;
};

// The character data directly inside the first <tag> element of `xml`,
// entities left as they are; false if there is none.
bool Tag(absl::string_view xml, absl::string_view tag, std::string* out);
// The text of the first <tag> element of `xml`, entities decoded, or "".
std::string TagText(absl::string_view xml, absl::string_view tag);

}  // namespace switchboard::azure
