#include "common/azure/xml.h"

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

bool Tag(absl::string_view xml, absl::string_view tag, std::string* out) {
  std::string open = absl::StrCat("<", tag, ">"), close = absl::StrCat("</", tag, ">");
  auto b = xml.find(open);
  if (b == absl::string_view::npos) return false;
  auto e = xml.find(close, b);
  if (e == absl::string_view::npos) return false;
  *out = std::string(xml.substr(b + open.size(), e - b - open.size()));
  return true;
}

std::string TagText(absl::string_view xml, absl::string_view tag) {
  std::string s;
  Tag(xml, tag, &s);
  return XmlUnescape(s);
}

}  // namespace switchboard::azure
