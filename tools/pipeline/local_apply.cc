// local-apply DIR: the default pipeline of the resourcing service.
//
// It does what can be done without a cloud: it checks the project folder the
// way `terraform plan` would check its inputs, then prints what
// `terraform output -json` would print.
//  1. Reads the variable declarations (*.variables.tf.json), the values
//     (*.auto.tfvars.json) and the outputs (*.outputs.tf.json) in DIR.
//  2. Fails (exit 2, reasons on stderr) if a value is not declared, a
//     required variable has no value, or a value does not match its
//     declared type (string, number, bool, list/set/tuple, map/object, any).
//  3. Evaluates each output's "value": ${var.x}, ${lower(var.x)} and
//     ${upper(var.x)} inside strings; a string that is exactly "${var.x}"
//     takes x's value as is.
//  4. Prints {name: {sensitive, type, value}} for every output, plus
//     project_cd and "<template with - as _>_status" = "completed" for each
//     <template>.auto.tfvars.json.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool ReadJson(const fs::path& p, json* out, std::vector<std::string>* errors) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = json::parse(ss.str(), nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    errors->push_back(p.filename().string() + ": not a JSON object");
    return false;
  }
  return true;
}

bool TypeMatches(const json& type, const json& value) {
  if (!type.is_string()) return true;
  std::string t = type.get<std::string>();
  // "${string}" is how older Terraform JSON spells types.
  t.erase(std::remove_if(t.begin(), t.end(), [](char c) { return c == '$' || c == '{' || c == '}'; }), t.end());
  if (t == "string") return value.is_string();
  if (t == "number") return value.is_number();
  if (t == "bool") return value.is_boolean();
  if (t.rfind("list", 0) == 0 || t.rfind("set", 0) == 0 || t.rfind("tuple", 0) == 0) return value.is_array();
  if (t.rfind("map", 0) == 0 || t.rfind("object", 0) == 0) return value.is_object();
  return true;  // any, or a type this checker does not know
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool Eval(const json& expr, const json& vars, json* out, std::string* error) {
  if (!expr.is_string()) {
    *out = expr;
    return true;
  }
  const std::string s = expr.get<std::string>();
  std::string result;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t open = s.find("${", pos);
    if (open == std::string::npos) {
      result += s.substr(pos);
      break;
    }
    size_t close = s.find('}', open);
    if (close == std::string::npos) {
      *error = "unterminated ${ in '" + s + "'";
      return false;
    }
    result += s.substr(pos, open - pos);
    std::string ref = s.substr(open + 2, close - open - 2);
    std::string fn;
    if (ref.rfind("lower(", 0) == 0 || ref.rfind("upper(", 0) == 0) {
      fn = ref.substr(0, 5);
      if (ref.back() != ')') {
        *error = "bad call in '" + s + "'";
        return false;
      }
      ref = ref.substr(6, ref.size() - 7);
    }
    if (ref.rfind("var.", 0) != 0 || !vars.contains(ref.substr(4))) {
      *error = "unknown reference ${" + ref + "} in '" + s + "'";
      return false;
    }
    const json& v = vars[ref.substr(4)];
    if (open == 0 && close == s.size() - 1 && fn.empty()) {
      *out = v;  // the whole string is one reference: keep the type
      return true;
    }
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    if (fn == "lower") text = Lower(text);
    if (fn == "upper") text = Upper(text);
    result += text;
    pos = close + 1;
  }
  *out = result;
  return true;
}

json TypeOf(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_number()) return "number";
  if (v.is_boolean()) return "bool";
  if (v.is_array()) return json::array({"list", "dynamic"});
  if (v.is_object()) return json::array({"map", "dynamic"});
  return "dynamic";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cerr << "usage: local-apply DIR\n\n"
                 "Checks the Terraform project folder DIR (*.variables.tf.json declarations against\n"
                 "*.auto.tfvars.json values) and prints its outputs (*.outputs.tf.json) the way\n"
                 "`terraform output -json` does, plus project_cd and <template>_status = completed.\n"
                 "Exit 0 on success, 2 when the inputs are invalid (reasons on stderr).\n";
    return argc == 2 ? 0 : 2;
  }
  const fs::path dir = argv[1];
  if (!fs::is_directory(dir)) {
    std::cerr << "local-apply: " << dir << " is not a folder\n";
    return 2;
  }
  std::vector<std::string> errors;
  json decls = json::object(), vars = json::object(), outputs = json::object();
  std::vector<std::string> templates;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const std::string name = p.filename().string();
    json j;
    if (EndsWith(name, ".variables.tf.json")) {
      if (!ReadJson(p, &j, &errors)) continue;
      if (j.contains("variable") && j["variable"].is_object()) {
        for (auto it = j["variable"].begin(); it != j["variable"].end(); ++it) decls[it.key()] = it.value();
      }
    } else if (EndsWith(name, ".auto.tfvars.json")) {
      if (!ReadJson(p, &j, &errors)) continue;
      templates.push_back(name.substr(0, name.size() - std::string(".auto.tfvars.json").size()));
      for (auto it = j.begin(); it != j.end(); ++it) vars[it.key()] = it.value();
    } else if (EndsWith(name, ".outputs.tf.json")) {
      if (!ReadJson(p, &j, &errors)) continue;
      if (j.contains("output") && j["output"].is_object()) {
        for (auto it = j["output"].begin(); it != j["output"].end(); ++it) outputs[it.key()] = it.value();
      }
    }
  }
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    if (!decls.contains(it.key())) {
      errors.push_back("variable '" + it.key() + "' has a value but no declaration");
    } else if (decls[it.key()].is_object() && decls[it.key()].contains("type") &&
               !TypeMatches(decls[it.key()]["type"], it.value())) {
      errors.push_back("variable '" + it.key() + "' should be " + decls[it.key()]["type"].dump() + ", got " +
                       it.value().type_name());
    }
  }
  for (auto it = decls.begin(); it != decls.end(); ++it) {
    if (vars.contains(it.key())) continue;
    if (it.value().is_object() && it.value().contains("default")) {
      vars[it.key()] = it.value()["default"];
    } else {
      errors.push_back("required variable '" + it.key() + "' has no value");
    }
  }
  json result = json::object();
  for (auto it = outputs.begin(); it != outputs.end() && errors.empty(); ++it) {
    json value;
    std::string err;
    if (!it.value().is_object() || !it.value().contains("value")) {
      errors.push_back("output '" + it.key() + "' has no value");
      continue;
    }
    if (!Eval(it.value()["value"], vars, &value, &err)) {
      errors.push_back("output '" + it.key() + "': " + err);
      continue;
    }
    result[it.key()] = {{"sensitive", it.value().value("sensitive", false)}, {"type", TypeOf(value)}, {"value", value}};
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << "local-apply: " << e << "\n";
    return 2;
  }
  const char* project = std::getenv("SB_PROJECT");
  std::string cd = project && *project ? project : dir.filename().string();
  result["project_cd"] = {{"sensitive", false}, {"type", "string"}, {"value", cd}};
  for (const auto& t : templates) {
    std::string key = t;
    std::replace(key.begin(), key.end(), '-', '_');
    result[key + "_status"] = {{"sensitive", false}, {"type", "string"}, {"value", "completed"}};
  }
  std::cout << result.dump(2) << "\n";
  return 0;
}
