#include "common/azure/xml.h"

#include <pugixml.hpp>

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace switchboard::azure {
namespace {

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x110000) {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

constexpr unsigned kParse = pugi::parse_default | pugi::parse_ws_pcdata_single;

pugi::xml_node Node(pugi::xml_node_struct* n) { return pugi::xml_node(n); }

// Visits the elements below `top` in document order (no recursion: a deep
// document cannot exhaust the stack) until `f` returns true.
template <typename F>
void Walk(pugi::xml_node top, F f) {
  pugi::xml_node cur = top.first_child();
  while (cur && cur != top) {
    if (cur.type() == pugi::node_element && f(cur)) return;
    if (cur.first_child()) {
      cur = cur.first_child();
      continue;
    }
    while (cur != top && !cur.next_sibling()) cur = cur.parent();
    if (cur != top) cur = cur.next_sibling();
  }
}

std::string DirectText(pugi::xml_node n) {
  std::string out;
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
  }
  return out;
}

pugi::xml_node FindFirst(pugi::xml_node top, absl::string_view name) {
  pugi::xml_node found;
  Walk(top, [&](pugi::xml_node n) {
    if (absl::string_view(n.name()) != name) return false;
    found = n;
    return true;
  });
  return found;
}

}  // namespace

std::string XmlEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string XmlUnescape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == absl::string_view::npos || semi - i > 12) {
      out.push_back(s[i]);
      continue;
    }
    absl::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (!ent.empty() && ent[0] == '#') {
      uint32_t cp = 0;
      bool ok = ent.size() > 1;
      bool hex = ok && (ent[1] == 'x' || ent[1] == 'X');
      for (size_t k = hex ? 2 : 1; ok && k < ent.size(); ++k) {
        char c = ent[k];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10
                : -1;
        if (d < 0 || cp > 0x10FFFF) ok = false;
        else cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      }
      if (hex && ent.size() == 2) ok = false;
      if (!ok) {
        absl::StrAppend(&out, s.substr(i, semi - i + 1));
      } else {
        AppendUtf8(cp, &out);
      }
    } else {
      absl::StrAppend(&out, s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

std::string XmlElement::name() const { return node_ ? Node(node_).name() : ""; }

std::string XmlElement::text() const { return node_ ? DirectText(Node(node_)) : ""; }

XmlElement XmlElement::Child(absl::string_view name) const {
  if (!node_) return XmlElement();
  for (pugi::xml_node c = Node(node_).first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && absl::string_view(c.name()) == name) return XmlElement(c.internal_object());
  }
  return XmlElement();
}

std::vector<XmlElement> XmlElement::Children() const {
  std::vector<XmlElement> out;
  if (!node_) return out;
  for (pugi::xml_node c = Node(node_).first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) out.push_back(XmlElement(c.internal_object()));
  }
  return out;
}

XmlElement XmlElement::Find(absl::string_view name) const {
  if (!node_) return XmlElement();
  pugi::xml_node n = FindFirst(Node(node_), name);
  return n ? XmlElement(n.internal_object()) : XmlElement();
}

std::vector<XmlElement> XmlElement::FindAll(absl::string_view name) const {
  std::vector<XmlElement> out;
  if (!node_) return out;
  Walk(Node(node_), [&](pugi::xml_node n) {
    if (absl::string_view(n.name()) == name) out.push_back(XmlElement(n.internal_object()));
    return false;
  });
  return out;
}

XmlDocument::XmlDocument(absl::string_view xml) : doc_(std::make_unique<pugi::xml_document>()) {
  pugi::xml_parse_result r = doc_->load_buffer(xml.data(), xml.size(), kParse, pugi::encoding_utf8);
  if (!r) error_ = absl::StrCat("not well-formed XML: ", r.description(), " at byte ", r.offset);
}

XmlDocument::~XmlDocument() = default;

XmlElement XmlDocument::top() const { return XmlElement(doc_->internal_object()); }

bool Tag(absl::string_view xml, absl::string_view tag, std::string* out) {
  pugi::xml_document doc;
  doc.load_buffer(xml.data(), xml.size(), kParse & ~pugi::parse_escapes, pugi::encoding_utf8);
  pugi::xml_node n = FindFirst(doc, tag);
  if (!n) return false;
  *out = DirectText(n);
  return true;
}

std::string TagText(absl::string_view xml, absl::string_view tag) { return XmlDocument(xml).Find(tag).text(); }

}  // namespace switchboard::azure
